import DeputyCore
public import DeputyHummingbird
public import DeputyTokenValidation
import Foundation
public import HTTPTypes
public import Hummingbird
public import Logging
public import MCP
import NIOCore

/// What a tool handler gets besides its arguments: the caller a validated token describes and
/// the HTTP request's headers (for a correlation id, say).
public struct MCPToolContext: Sendable {
    /// The caller, validated for this MCP server's audience.
    public let principal: Principal
    /// The incoming request's headers.
    public let headers: HTTPFields

    public init(principal: Principal, headers: HTTPFields) {
        self.principal = principal
        self.headers = headers
    }
}

/// The tools an MCP server offers, independent of transport.
///
/// A tool that meets a challenge it cannot satisfy — its own authentication-context requirement
/// or one relayed from a downstream resource — throws `ChallengeRelay` (or
/// `ResourceValidationError.insufficientClaims`): the HTTP adapter answers the whole HTTP request
/// with that status and `WWW-Authenticate` (401 `insufficient_claims`, 403 consent or block), not
/// with a JSON-RPC tool error inside a 200, so any MCP client can act on it. Any other error is a
/// tool error (`isError: true`) the model can read.
public protocol MCPToolbox: Sendable {
    /// The server's name and version in `initialize`.
    var serverInfo: (name: String, version: String) { get }
    /// The tools, as `tools/list` returns them.
    var tools: [Tool] { get }
    /// Runs one tool.
    func call(_ name: String, arguments: [String: Value], context: MCPToolContext) async throws -> CallTool.Result
    /// The delegated scopes (`scp` values) a tool needs beyond the endpoint's baseline. A token
    /// without all of them gets 403 `insufficient_scope` naming every scope the tool needs (the
    /// MCP authorization specification's "Step-Up Authorization Flow"), before the tool runs.
    func requiredScopes(for tool: String) -> [String]
}

extension MCPToolbox {
    /// No tool needs more than the baseline.
    public func requiredScopes(for tool: String) -> [String] { [] }
}

/// The MCP endpoint's configuration.
public struct MCPEndpointConfiguration: Sendable {
    /// The endpoint path, e.g. `mcp`.
    public var path: String
    /// The endpoint's public URL (`https://host:port/mcp`): the RFC 9728 `resource`.
    public var resourceURL: String
    /// The v2.0 issuer of the authority the server trusts (RFC 9728 `authorization_servers`).
    public var authorizationServers: [String]
    /// Scopes advertised in the metadata (`api://…/Expenses.ReadWrite`): the baseline a client
    /// asks for first. Also named in 401 challenges (RFC 6750 §3 `scope`).
    public var scopesSupported: [String]
    /// How challenges name a tool's scopes: `{scopePrefix}/{value}` (the App ID URI, since Entra
    /// needs resource-qualified scopes); bare values when `nil`.
    public var scopePrefix: String?
    /// How many times in a row one caller may be told to step up for the same tool before the
    /// answer says the step-up is not working (the MCP authorization specification asks clients
    /// to limit retries; this tells a client that does not, instead of looping it).
    public var maxStepUps = 2
    /// Host headers and origins allowed, besides loopback (DNS-rebinding protection).
    public var allowedHosts: [String] = []
    public var allowedOrigins: [String] = []

    public init(
        path: String = "mcp", resourceURL: String, authorizationServers: [String], scopesSupported: [String] = [],
        scopePrefix: String? = nil
    ) {
        self.path = path
        self.resourceURL = resourceURL
        self.authorizationServers = authorizationServers
        self.scopesSupported = scopesSupported
        self.scopePrefix = scopePrefix
    }

    /// A scope value as challenges name it.
    func qualified(_ value: String) -> String { scopePrefix.map { "\($0)/\(value)" } ?? value }

    /// The RFC 9728 document for this endpoint.
    public var metadata: ProtectedResourceMetadata {
        ProtectedResourceMetadata(resource: resourceURL, authorizationServers: authorizationServers, scopesSupported: scopesSupported)
    }
}

extension Router where Context: AuthenticatedRequestContext {
    /// Serves an MCP server over Streamable HTTP at `configuration.path` with JSON responses,
    /// behind bearer-token validation, plus its RFC 9728 metadata at
    /// `/.well-known/oauth-protected-resource/<path>` and at the root
    /// `/.well-known/oauth-protected-resource` (the MCP authorization specification has clients
    /// try the path form, then the root).
    ///
    /// Each POST gets its own `Server` and `StatelessHTTPServerTransport`: that transport matches
    /// responses to waiters by JSON-RPC id only, so one shared instance would hand one user's
    /// result to another user who happened to pick the same id.
    public func addMCPEndpoint(
        _ toolbox: some MCPToolbox, validator: ResourceValidator, configuration: MCPEndpointConfiguration,
        logger: Logger = Logger(label: "deputy.mcp")
    ) {
        let metadata = configuration.metadata
        addProtectedResourceMetadata(metadata)
        if metadata.wellKnownPath != "/.well-known/oauth-protected-resource" {
            addProtectedResourceMetadata(metadata, path: "/.well-known/oauth-protected-resource")
        }
        // An MCP client without a registration endpoint in the authorization server's metadata
        // tries dynamic registration (RFC 7591) at the server's origin: say why there is none.
        post("register") { _, _ -> Response in
            let body: JSONValue = .object([
                "error": .string("registration_not_supported"),
                "error_description": .string(
                    "Dynamic client registration (RFC 7591) is not offered: Microsoft Entra ID has none, and the MCP authorization specification (2026-07-28) deprecates it. Use a client registered with the authorization server, or a Client ID Metadata Document where its metadata says client_id_metadata_document_supported."
                ),
            ])
            return Response(
                status: .notFound, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
        }
        let endpoint = MCPEndpoint(
            toolbox: toolbox, validator: validator, configuration: configuration, logger: logger, stepUps: StepUpTracker())
        let group = self.group(RouterPath(configuration.path))
            .add(
                middleware: BearerTokenMiddleware(
                    validator: validator, resourceMetadata: metadata.wellKnownURL, challengeScope: configuration.scopesSupported))
        group.post { request, context in try await endpoint.handle(request, context: context) }
        // Stateless: no SSE stream to open and no session to delete (Streamable HTTP allows 405).
        group.get { _, _ in Response(status: .methodNotAllowed, headers: [.allow: "POST"]) }
        group.delete { _, _ in Response(status: .methodNotAllowed, headers: [.allow: "POST"]) }
    }
}

/// A tool call refused for scopes the token lacks (RFC 6750 §3.1 `insufficient_scope`).
struct ScopeStepUp: Error {
    /// Every scope the tool needs, qualified as challenges name them.
    var scopes: [String]
    /// What is missing (bare values), for the description.
    var missing: [String]
    /// The caller was told to step up `maxStepUps` times already and still lacks them.
    var exhausted: Bool
}

/// Counts, per caller and tool, the 403 step-up answers in a row (reset by a call that has the
/// scopes), so a client that keeps coming back without them is told so. Bounded: the oldest
/// entries go first.
final class StepUpTracker: Sendable {
    /// Refusals in a row are counted within this window (an hour).
    static let window: TimeInterval = 3600
    private let counts = LRUCache<String, Int>(capacity: 10_000)

    /// Records a refusal and returns how many there have been in a row.
    func refused(_ key: String, now: Date = Date()) -> Int {
        // Two concurrent refusals may both read the same count: the count only paces a message.
        let n = (counts.value(for: key, now: now) ?? 0) + 1
        counts.set(n, for: key, expiresAt: now + Self.window)
        return n
    }

    func succeeded(_ key: String) {
        counts.remove(key)
    }
}

/// Keeps the first challenge a tool raised during one HTTP request.
final class ChallengeSlot: Sendable {
    private let box = LockedBox<(any Error)?>(nil)
    func set(_ error: any Error) { box.withLock { if $0 == nil { $0 = error } } }
    var value: (any Error)? { box.withLock { $0 } }
}

struct MCPEndpoint<Toolbox: MCPToolbox>: Sendable {
    let toolbox: Toolbox
    let validator: ResourceValidator
    let configuration: MCPEndpointConfiguration
    let logger: Logger
    let stepUps: StepUpTracker

    /// One POST: the protocol era is chosen by the `MCP-Protocol-Version` header (the MCP
    /// specification 2026-07-28, "Transports": a request of that version carries it; the older
    /// handshake sends `initialize` without it). Stateless 2026-07-28 requests are answered here
    /// (`handleStateless(_:body:principal:toolContext:slot:)`), the handshake versions
    /// by the SDK's `Server`.
    func handle<Context: AuthenticatedRequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        var r = request
        let body = try await r.collectBody(upTo: 1 << 20)
        let slot = ChallengeSlot()
        // The tools get the caller as a principal; the raw bearer token stays out of their headers
        // (the principal carries it, for On-Behalf-Of only).
        var toolHeaders = request.headers
        toolHeaders[.authorization] = nil
        let toolContext = MCPToolContext(principal: principal, headers: toolHeaders)
        if let version = request.headers[MCPHeader.protocolVersion], !StatelessMCP.handshakeVersions.contains(version) {
            let answer = await handleStateless(request, body: body, principal: principal, toolContext: toolContext, slot: slot)
            return try challengeResponse(slot, request: request, context: context) ?? answer
        }

        let server = Server(
            name: toolbox.serverInfo.name, version: toolbox.serverInfo.version,
            capabilities: .init(tools: .init(listChanged: false)))
        let toolbox = self.toolbox
        let endpoint = self
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: toolbox.tools) }
        await server.withMethodHandler(CallTool.self) { params in
            try await endpoint.callTool(
                params.name, arguments: params.arguments ?? [:], principal: principal, toolContext: toolContext, slot: slot)
        }
        let transport = StatelessHTTPServerTransport(validationPipeline: validationPipeline())
        try await server.start(transport: transport)
        let answer = await transport.handleRequest(sdkRequest(request, body: body))
        await server.stop()
        if let challenge = try challengeResponse(slot, request: request, context: context) { return challenge }
        return response(answer)
    }

    /// The request as the SDK's transports and validators see it.
    func sdkRequest(_ request: Request, body: ByteBuffer) -> MCP.HTTPRequest {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        // HTTP/1's Host travels as the request's authority: the DNS-rebinding check needs it back.
        if let authority = request.head.authority { headers["Host"] = authority }
        return MCP.HTTPRequest(method: "POST", headers: headers, body: Data(body.readableBytesView), path: request.uri.path)
    }

    /// An SDK answer as a Hummingbird response (never cached).
    func response(_ answer: MCP.HTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers { if let n = HTTPField.Name(name) { fields[n] = value } }
        fields[.cacheControl] = "no-store"
        let data = answer.bodyData ?? Data()
        return Response(status: .init(code: answer.statusCode), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs one tool for either protocol era: the scope check first (403 step-up), then the tool.
    /// A challenge the user must answer goes into `slot` (the HTTP request is answered with it);
    /// the middle tier's own trouble and ordinary failures become tool errors the model can read.
    func callTool(
        _ name: String, arguments: [String: Value], principal: Principal, toolContext: MCPToolContext, slot: ChallengeSlot
    ) async throws -> CallTool.Result {
        let needed = toolbox.requiredScopes(for: name)
        let key = "\(principal.tenantID ?? "")|\(principal.objectID ?? "")|\(principal.clientID ?? "")|\(name)"
        let missing = needed.filter { !principal.scopes.contains($0) }
        if !missing.isEmpty {
            let refusals = stepUps.refused(key)
            slot.set(
                ScopeStepUp(scopes: needed.map(configuration.qualified), missing: missing, exhausted: refusals > configuration.maxStepUps))
            throw MCPError.internalError("insufficient scope")
        }
        if !needed.isEmpty { stepUps.succeeded(key) }
        do {
            return try await toolbox.call(name, arguments: arguments, context: toolContext)
        } catch let error as ChallengeRelay {
            guard case .downstreamFailure(_, let message, _) = error.outcome else {
                slot.set(error)
                throw MCPError.internalError("authorization required")
            }
            // Not the user's to fix: a tool error the model can read.
            return CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
        } catch let error as ResourceValidationError {
            slot.set(error)
            throw MCPError.internalError("authorization required")
        } catch let error as MCPError {
            throw error
        } catch {
            return CallTool.Result(content: [.text(text: "\(error)", annotations: nil, _meta: nil)], isError: true)
        }
    }

    /// The HTTP answer for a challenge a tool raised, if any: 401/403 with `WWW-Authenticate`.
    func challengeResponse<Context: AuthenticatedRequestContext>(
        _ slot: ChallengeSlot, request: Request, context: Context
    ) throws -> Response? {
        switch slot.value {
        case let relay as ChallengeRelay:
            var response = try relay.response(from: request, context: context)
            // MCP authorization: every 401 names the resource metadata (RFC 9728 §5.1).
            if relay.status == .unauthorized, let value = relay.challenge,
                var header = AuthenticationChallenge.parse(value).first
            {
                header.parameters.append(.init("resource_metadata", configuration.metadata.wellKnownURL))
                response.headers[.wwwAuthenticate] = header.headerValue
            }
            return response
        case let error as ResourceValidationError:
            return BearerTokenMiddleware<Context>.response(
                error, validator: validator, resourceMetadata: configuration.metadata.wellKnownURL)
        case let stepUp as ScopeStepUp:
            return scopeStepUpResponse(stepUp)
        default:
            return nil
        }
    }

    /// 403 `insufficient_scope` with every scope the tool needs and the metadata URL (the MCP
    /// authorization specification's "Runtime Insufficient Scope Errors"). After `maxStepUps`
    /// refusals in a row the description says the step-up is not granting the scope, so a person
    /// reading the client's error learns why, rather than seeing the client loop.
    func scopeStepUpResponse(_ s: ScopeStepUp) -> Response {
        let missing = s.missing.joined(separator: " ")
        let description =
            s.exhausted
            ? "Step-up was asked \(configuration.maxStepUps) times for this tool and the new tokens still lack \(missing): the user or the tenant does not grant it (consent or policy). Stop retrying; ask an administrator."
            : "This tool needs \(missing) as well: sign in again for the scopes named in scope."
        var challenge = AuthenticationChallenge(scheme: "Bearer")
        challenge.parameters = [
            .init("error", "insufficient_scope"), .init("scope", s.scopes.joined(separator: " ")),
            .init("resource_metadata", configuration.metadata.wellKnownURL), .init("error_description", description),
        ]
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.wwwAuthenticate] = challenge.headerValue
        let body: JSONValue = .object([
            "error": .string("insufficient_scope"), "error_description": .string(description),
            "scope": .string(s.scopes.joined(separator: " ")),
        ])
        return Response(status: .forbidden, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
    }

    /// The SDK's checks for the handshake era: DNS rebinding, `Accept`, `Content-Type` and the
    /// protocol version.
    func validationPipeline() -> any HTTPRequestValidationPipeline {
        StandardValidationPipeline(validators: transportValidators + [ProtocolVersionValidator()])
    }

    /// The checks both eras share: DNS rebinding (`Host` and `Origin`, the MCP specification's
    /// "Transports" security warning), `Accept` and `Content-Type`.
    var transportValidators: [any HTTPRequestValidator] {
        var hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        var origins: [String] = []
        for scheme in ["http", "https"] { origins += hosts.map { "\(scheme)://\($0)" } }
        if let url = URLComponents(string: configuration.resourceURL), let host = url.host {
            let authority = host + (url.port.map { ":\($0)" } ?? "")
            hosts.append(authority)
            origins.append("\(url.scheme ?? "https")://\(authority)")
        }
        return [
            OriginValidator(allowedHosts: hosts + configuration.allowedHosts, allowedOrigins: origins + configuration.allowedOrigins),
            AcceptHeaderValidator(mode: .jsonOnly),
            ContentTypeValidator(),
        ]
    }
}
