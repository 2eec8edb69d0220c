import DeputyCore
public import DeputyTokenValidation
import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore

/// A request context that carries the caller a validated token describes.
public protocol AuthenticatedRequestContext: RequestContext {
    /// Set by ``BearerTokenMiddleware`` before the route runs.
    var principal: Principal? { get set }
}

/// A ready-made context for APIs that need nothing else.
public struct BearerRequestContext: AuthenticatedRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
    }
}

/// Requires a valid access token on every request it guards (RFC 6750):
/// - no token: 401 `WWW-Authenticate: Bearer` without an error (§3.1);
/// - a bad token: 401 `error="invalid_token"`;
/// - a missing scope or role: 403 `error="insufficient_scope", scope="…"`;
/// - a missing authentication context: 401 `error="insufficient_claims"` with base64 `claims` and
///   `authorization_uri` (Entra's claims challenge, Microsoft Learn, "Claims challenges, claims requests and client capabilities");
/// each with `resource_metadata` (RFC 9728) when configured. The principal goes into the context.
public struct BearerTokenMiddleware<Context: AuthenticatedRequestContext>: RouterMiddleware {
    let validator: ResourceValidator
    let resourceMetadata: String?
    let challengeScope: [String]

    /// - Parameters:
    ///   - validator: the resource's validator (share one per resource: it caches keys and tokens).
    ///   - resourceMetadata: this resource's RFC 9728 metadata URL, for the challenges.
    ///   - challengeScope: the scopes to name in 401 challenges (RFC 6750 §3 `scope`): what a
    ///     client should ask for to call this resource (the MCP authorization specification's
    ///     "Scope Selection Strategy" has clients use it first).
    public init(validator: ResourceValidator, resourceMetadata: String? = nil, challengeScope: [String] = []) {
        self.validator = validator
        self.resourceMetadata = resourceMetadata
        self.challengeScope = challengeScope
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            var context = context
            context.principal = try await validator.validate(authorizationHeader: request.headers[.authorization])
            return try await next(request, context)
        } catch let error as ResourceValidationError {
            return Self.response(error, validator: validator, resourceMetadata: resourceMetadata, challengeScope: challengeScope)
        }
    }

    /// The response for a refused token: status, challenge, and a small RFC 6749-style JSON body.
    /// - Parameters:
    ///   - error: why the token was refused.
    ///   - validator: the resource's validator (its authorize endpoint goes into claims challenges).
    ///   - resourceMetadata: the RFC 9728 metadata URL, named in the challenge.
    ///   - challengeScope: scopes named in a 401's challenge (`missingToken`, `invalidToken`).
    public static func response(
        _ error: ResourceValidationError, validator: ResourceValidator, resourceMetadata: String?, challengeScope: [String] = []
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        if let challenge = error.challenge(
            resourceMetadata: resourceMetadata, authorizationURI: validator.authorizationEndpoint, scope: challengeScope)
        {
            headers[.wwwAuthenticate] = challenge
        }
        var body: [String: JSONValue] = [:]
        switch error {
        case .missingToken: body = ["error": .string("unauthorized"), "error_description": .string("A bearer token is required.")]
        case .invalidToken:
            body = ["error": .string("invalid_token"), "error_description": .string("The access token is not valid for this resource.")]
        case .insufficientScope(let required):
            body = [
                "error": .string("insufficient_scope"),
                "error_description": .string("The token needs one of: \(required.joined(separator: " "))."),
            ]
        case .insufficientClaims(let claims):
            body = [
                "error": .string("insufficient_claims"),
                "error_description": .string(
                    claims.contains("\"nbf\"")
                        ? "The token was issued before a critical event for its user (continuous access evaluation): sign in again."
                        : "A step-up is required."), "claims": .string(claims),
            ]
        case .keysUnavailable:
            body = ["error": .string("temporarily_unavailable"), "error_description": .string("The token issuer's keys are unavailable.")]
        }
        return Response(
            status: .init(code: error.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).serialized)))
    }
}

/// A route's own scope requirement (RFC 6750 §3.1 `insufficient_scope`), for routes that need
/// more than the middleware's baseline (e.g. writes that need `Data.Write`).
public struct InsufficientScope: Error, HTTPResponseError, Sendable {
    public let required: [String]
    public let resourceMetadata: String?

    public init(required: [String], resourceMetadata: String? = nil) {
        self.required = required
        self.resourceMetadata = resourceMetadata
    }

    public var status: HTTPResponse.Status { .forbidden }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let error = ResourceValidationError.insufficientScope(required: required)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.wwwAuthenticate] = error.challenge(resourceMetadata: resourceMetadata)
        let body: JSONValue = .object([
            "error": .string("insufficient_scope"),
            "error_description": .string("The token needs one of: \(required.joined(separator: " "))."),
        ])
        return Response(status: .forbidden, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
    }
}

extension AuthenticatedRequestContext {
    /// The caller, who must hold one of `scopes` (delegated) — else a 403 `insufficient_scope`.
    public func principal(requiring scopes: Set<String>, resourceMetadata: String? = nil) throws -> Principal {
        guard let principal else { throw HTTPError(.unauthorized) }
        guard principal.kind == .user, !scopes.isDisjoint(with: principal.scopes) else {
            throw InsufficientScope(required: scopes.sorted(), resourceMetadata: resourceMetadata)
        }
        return principal
    }
}
