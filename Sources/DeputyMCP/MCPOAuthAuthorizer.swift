public import AsyncHTTPClient
import Crypto
import DeputyCore
public import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// An authorizer that can act on the MCP server's challenge: it gets a (new) token and says
/// whether the request should be sent again. ``MCPToolClient`` retries once when it does.
public protocol MCPChallengeHandling: Sendable {
    /// Handles a 401 or 403 answer; true when a new token is there to retry with.
    func handleChallenge(status: Int, wwwAuthenticate: String?, endpoint: String) async throws -> Bool
}

/// Why the sign-in of an ``MCPOAuthAuthorizer`` stopped.
public struct MCPOAuthError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// An MCP client's authorizer for a person at the client (the MCP authorization specification,
/// "Authorization Flow"): on the server's 401 it discovers the protected resource metadata (RFC
/// 9728: the challenge's `resource_metadata`, then the path-inserted and root well-known URLs),
/// then the authorization server's metadata (RFC 8414, then OpenID Connect discovery), and signs
/// the user in with the authorization code grant, PKCE S256 (RFC 7636) and a loopback redirect
/// (RFC 8252 §7.3: a one-shot listener on 127.0.0.1 and a free port), sending RFC 8707 `resource`
/// in both requests and checking RFC 9207 `iss` when the server sends it or promises it. On a
/// 403 `insufficient_scope` it signs in again for the union of the scopes it holds and those the
/// challenge names (the specification's "Step-Up Authorization Flow"), at most twice for the same
/// challenge. Tokens are renewed with the refresh token when the server says the token is invalid.
///
/// The client is registered with the authorization server beforehand (its `clientID`); a public
/// client, as MCP clients on a person's machine are.
public actor MCPOAuthAuthorizer: MCPAuthorizer, MCPChallengeHandling {
    /// Shows the authorization URL to the person (opens a browser); the sign-in ends when the
    /// browser reaches the loopback redirect.
    public typealias Present = @Sendable (_ authorizationURL: String) async throws -> Void

    let clientID: String
    let http: HTTPClient
    let present: Present
    let redirectPath: String
    let timeout: Duration
    var accessToken: String?
    var refreshToken: String?
    var granted: [String] = []
    var authorizationServer: [String: JSONValue]?
    var resource: String?
    var lastChallenge: (key: String, count: Int)?

    /// - Parameters:
    ///   - clientID: the client's id at the authorization server.
    ///   - httpClient: the client for metadata and token requests.
    ///   - redirectPath: the loopback redirect URI's path (register `http://127.0.0.1<path>`; any port).
    ///   - timeout: how long the person has to sign in.
    ///   - present: shows the authorization URL.
    public init(
        clientID: String, httpClient: HTTPClient = .shared, redirectPath: String = "/callback", timeout: Duration = .seconds(300),
        present: @escaping Present
    ) {
        self.clientID = clientID
        self.http = httpClient
        self.redirectPath = redirectPath
        self.timeout = timeout
        self.present = present
    }

    /// The scopes the current token was granted.
    public var grantedScopes: [String] { granted }

    public func authorizationHeader(for endpoint: String) async throws -> String? { accessToken.map { "Bearer \($0)" } }

    public func handleChallenge(status: Int, wwwAuthenticate: String?, endpoint: String) async throws -> Bool {
        let params = Self.bearerParameters(wwwAuthenticate)
        let error = params["error"]
        guard status == 401 || (status == 403 && error == "insufficient_scope") else { return false }
        // The same challenge again right after answering it: signing in again would loop.
        let key = "\(status)|\(error ?? "")|\(params["scope"] ?? "")"
        let count = lastChallenge?.key == key ? lastChallenge!.count + 1 : 1
        lastChallenge = (key, count)
        if count > 2 { return false }
        if status == 401, error == "invalid_token", let refreshToken, let server = authorizationServer, count == 1 {
            if (try? await refresh(refreshToken, server: server)) != nil { return true }
        }
        let metadata = try await resourceMetadata(params["resource_metadata"], endpoint: endpoint)
        let server = try await authorizationServerMetadata(metadata)
        var scopes = params["scope"].map { Scopes.parse($0) } ?? metadata["scopes_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if status == 403 { scopes = Self.union(granted, scopes) }
        try await signIn(server: server, resource: metadata["resource"]?.stringValue ?? endpoint, scopes: scopes)
        return true
    }

    // MARK: - Discovery

    func resourceMetadata(_ advertised: String?, endpoint: String) async throws -> [String: JSONValue] {
        guard let url = URLComponents(string: endpoint), let scheme = url.scheme, let host = url.host else {
            throw MCPOAuthError(description: "the MCP endpoint is not a URL")
        }
        let origin = "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
        let path = url.path == "/" ? "" : url.path
        let candidates =
            [advertised].compactMap { $0 } + [
                "\(origin)/.well-known/oauth-protected-resource\(path)", "\(origin)/.well-known/oauth-protected-resource",
            ]
        for candidate in candidates {
            guard case .object(let doc)? = try? await getJSON(candidate), let resource = doc["resource"]?.stringValue,
                doc["authorization_servers"]?.arrayValue?.isEmpty == false
            else { continue }
            // RFC 9728 §3.3: the document must be for this resource (or a parent of it).
            guard endpoint == resource || endpoint.hasPrefix(resource.hasSuffix("/") ? resource : resource + "/") else {
                throw MCPOAuthError(description: "the resource metadata names \(resource), not \(endpoint)")
            }
            return doc
        }
        throw MCPOAuthError(description: "no protected resource metadata for \(endpoint)")
    }

    func authorizationServerMetadata(_ resource: [String: JSONValue]) async throws -> [String: JSONValue] {
        if let authorizationServer { return authorizationServer }
        guard let issuer = resource["authorization_servers"]?.arrayValue?.first?.stringValue, let url = URLComponents(string: issuer),
            let scheme = url.scheme, let host = url.host
        else { throw MCPOAuthError(description: "the resource metadata names no authorization server") }
        let origin = "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
        let path = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        // RFC 8414 §3.1, then OpenID Connect's inserted and appended forms (the MCP specification's order).
        for candidate in [
            "\(origin)/.well-known/oauth-authorization-server\(path)", "\(origin)/.well-known/openid-configuration\(path)",
            "\(origin)\(path)/.well-known/openid-configuration",
        ] {
            guard case .object(let doc)? = try? await getJSON(candidate) else { continue }
            // RFC 8414 §3.3: the issuer must be the one the resource named.
            guard doc["issuer"]?.stringValue == issuer else {
                throw MCPOAuthError(
                    description: "the authorization server's metadata names issuer \(doc["issuer"]?.stringValue ?? "none"), not \(issuer)")
            }
            guard doc["authorization_endpoint"]?.stringValue != nil, doc["token_endpoint"]?.stringValue != nil else { continue }
            // The specification: refuse a server that does not say it supports S256.
            guard doc["code_challenge_methods_supported"]?.arrayValue?.contains(.string("S256")) == true else {
                throw MCPOAuthError(description: "the authorization server does not support PKCE with S256")
            }
            authorizationServer = doc
            return doc
        }
        throw MCPOAuthError(description: "no authorization server metadata for \(issuer)")
    }

    // MARK: - Sign-in

    func signIn(server: [String: JSONValue], resource: String, scopes: [String]) async throws {
        guard let authorize = server["authorization_endpoint"]?.stringValue else {
            throw MCPOAuthError(description: "no authorization endpoint")
        }
        var scopes = scopes
        if server["scopes_supported"]?.arrayValue?.contains(.string("offline_access")) == true, !scopes.contains("offline_access") {
            scopes.append("offline_access")
        }
        let verifier = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255) })
        let challenge = Base64URL.encode(SHA256.hash(data: Data(verifier.utf8)))
        let state = Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        let listener = try await LoopbackRedirect.start(path: redirectPath)
        defer { listener.stop() }
        let redirectURI = "http://127.0.0.1:\(listener.port)\(redirectPath)"
        let query = FormParameters([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI), ("scope", scopes.joined(separator: " ")),
            ("state", state), ("code_challenge", challenge), ("code_challenge_method", "S256"), ("resource", resource),
        ]).encoded
        try await present(authorize + (authorize.contains("?") ? "&" : "?") + query)
        let answer = try await listener.wait(timeout: timeout)
        guard answer["state"] == state else { throw MCPOAuthError(description: "the authorization response's state does not match") }
        // RFC 9207 §2.4: `iss` must be the issuer; a server that promises it must send it.
        let issuer = server["issuer"]?.stringValue
        if let iss = answer["iss"], iss != issuer {
            throw MCPOAuthError(description: "the authorization response comes from \(iss), not \(issuer ?? "?")")
        }
        if answer["iss"] == nil, server["authorization_response_iss_parameter_supported"] == .bool(true) {
            throw MCPOAuthError(description: "the authorization response lacks the iss its server promises")
        }
        if let error = answer["error"] {
            throw MCPOAuthError(description: "the sign-in ended with \(error): \(answer["error_description"] ?? "")")
        }
        guard let code = answer["code"] else { throw MCPOAuthError(description: "the authorization response has no code") }
        try await token(
            server: server,
            [
                ("grant_type", "authorization_code"), ("client_id", clientID), ("code", code), ("redirect_uri", redirectURI),
                ("code_verifier", verifier), ("resource", resource),
            ], requested: scopes)
        self.resource = resource
    }

    func refresh(_ refreshToken: String, server: [String: JSONValue]) async throws {
        var form = [("grant_type", "refresh_token"), ("client_id", clientID), ("refresh_token", refreshToken)]
        if !granted.isEmpty { form.append(("scope", granted.joined(separator: " "))) }
        if let resource { form.append(("resource", resource)) }
        try await token(server: server, form, requested: granted)
    }

    func token(server: [String: JSONValue], _ form: [(String, String)], requested: [String]) async throws {
        guard let endpoint = server["token_endpoint"]?.stringValue else { throw MCPOAuthError(description: "no token endpoint") }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: FormParameters(form).encoded))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard case .object(let o)? = try? JSONParser.parse(body.readableBytesView) else {
            throw MCPOAuthError(description: "the token endpoint answered \(response.status.code) without JSON")
        }
        guard response.status.code == 200, let access = o["access_token"]?.stringValue else {
            throw MCPOAuthError(
                description:
                    "the token endpoint refused: \(o["error"]?.stringValue ?? "\(response.status.code)") \(o["error_description"]?.stringValue ?? "")"
            )
        }
        accessToken = access
        if let refresh = o["refresh_token"]?.stringValue { refreshToken = refresh }
        granted = o["scope"]?.stringValue.map(Scopes.parse) ?? requested
        granted.removeAll { $0 == "offline_access" || $0 == "openid" || $0 == "profile" }
    }

    // MARK: - Helpers

    func getJSON(_ url: String) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else { throw MCPOAuthError(description: "\(url): HTTP \(response.status.code)") }
        return try JSONParser.parse(body.readableBytesView)
    }

    static func bearerParameters(_ header: String?) -> [String: String] {
        guard let header, let bearer = AuthenticationChallenge.parse(header).first(where: { $0.scheme.lowercased() == "bearer" }) else {
            return [:]
        }
        var out: [String: String] = [:]
        for p in bearer.parameters { out[p.name.lowercased()] = p.value }
        return out
    }

    /// Scopes held and scopes asked for, in that order, without repeats.
    static func union(_ a: [String], _ b: [String]) -> [String] {
        var out: [String] = []
        for s in a + b where !out.contains(s) { out.append(s) }
        return out
    }
}

/// A one-shot HTTP listener on 127.0.0.1 and a free port for the authorization response
/// (RFC 8252 §7.3, loopback interface redirection).
final class LoopbackRedirect: Sendable {
    let port: Int
    private let answers: AsyncStream<[String: String]>
    private let task: Task<Void, any Error>

    private init(port: Int, answers: AsyncStream<[String: String]>, task: Task<Void, any Error>) {
        self.port = port
        self.answers = answers
        self.task = task
    }

    static func start(path: String) async throws -> LoopbackRedirect {
        let (answers, answer) = AsyncStream<[String: String]>.makeStream()
        let (ports, port) = AsyncStream<Int>.makeStream()
        let router = Router()
        router.get(RouterPath(path)) { request, _ -> Response in
            var query: [String: String] = [:]
            for (k, v) in request.uri.queryParameters { query[String(k)] = String(v) }
            answer.yield(query)
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><title>Signed in</title><p>You can close this window.</p>")))
        }
        var logger = Logger(label: "deputy.mcp.loopback")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            task.cancel()
            throw MCPOAuthError(description: "could not listen on 127.0.0.1 for the redirect")
        }
        return LoopbackRedirect(port: bound, answers: answers, task: task)
    }

    /// The authorization response's query parameters, or an error after `timeout`.
    func wait(timeout: Duration) async throws -> [String: String] {
        try await withThrowingTaskGroup(of: [String: String]?.self) { group in
            group.addTask { [answers] in
                var iterator = answers.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else {
                throw MCPOAuthError(description: "no authorization response within \(timeout)")
            }
            return answer
        }
    }

    func stop() { task.cancel() }
}
