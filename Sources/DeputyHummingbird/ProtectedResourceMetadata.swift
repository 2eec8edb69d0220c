public import DeputyCore
import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore

/// OAuth 2.0 Protected Resource Metadata (RFC 9728): tells a client (an MCP client, say) which
/// authorization server issues tokens for this resource and which scopes it knows.
public struct ProtectedResourceMetadata: Sendable, Equatable {
    /// The resource identifier: the exact URL clients use (RFC 9728 §2), e.g. `https://host/mcp`.
    public var resource: String
    /// Issuer identifiers, exactly as the authorization servers state them (e.g. Entra's v2.0 issuer).
    public var authorizationServers: [String]
    public var scopesSupported: [String]
    public var resourceName: String?
    public var bearerMethodsSupported: [String] = ["header"]

    public init(resource: String, authorizationServers: [String], scopesSupported: [String] = [], resourceName: String? = nil) {
        self.resource = resource
        self.authorizationServers = authorizationServers
        self.scopesSupported = scopesSupported
        self.resourceName = resourceName
    }

    /// The metadata document's path for the resource (RFC 9728 §3.1: the well-known suffix goes
    /// between the host and the resource's path): `https://host/mcp` → `/.well-known/oauth-protected-resource/mcp`.
    public var wellKnownPath: String {
        let path = URLComponents(string: resource)?.path ?? ""
        return "/.well-known/oauth-protected-resource" + (path == "/" ? "" : path)
    }

    /// The metadata URL, for `resource_metadata` in challenges.
    public var wellKnownURL: String {
        guard let u = URLComponents(string: resource), let scheme = u.scheme, let host = u.host else { return wellKnownPath }
        return "\(scheme)://\(host)\(u.port.map { ":\($0)" } ?? "")\(wellKnownPath)"
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "resource": .string(resource), "authorization_servers": .array(authorizationServers.map(JSONValue.string)),
            "bearer_methods_supported": .array(bearerMethodsSupported.map(JSONValue.string)),
        ]
        if !scopesSupported.isEmpty { o["scopes_supported"] = .array(scopesSupported.map(JSONValue.string)) }
        if let resourceName { o["resource_name"] = .string(resourceName) }
        return .object(o)
    }
}

extension Router {
    /// Serves the metadata at its well-known path, to anyone (it is public), cacheable for an hour.
    /// - Parameters:
    ///   - metadata: the document.
    ///   - path: another path to serve it at (the root `/.well-known/oauth-protected-resource`
    ///     when this resource is its host's only one); the RFC 9728 §3.1 path by default.
    public func addProtectedResourceMetadata(_ metadata: ProtectedResourceMetadata, path: String? = nil) {
        let body = metadata.json.serialized
        get(RouterPath(path ?? metadata.wellKnownPath)) { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "max-age=3600"
            headers[.accessControlAllowOrigin] = "*"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
