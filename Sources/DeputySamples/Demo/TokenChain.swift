import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird

/// Demo mode's token-chain report: for one request, each hop's token as that service saw it.
///
/// Each service in the chain adds its own hop (the claims of the bearer token it received) and
/// the hops its downstream reported, and answers with them in the `Deputy-Token-Chain` header
/// (base64url of `{"correlationId": …, "hops": […]}`), so the SPA can show the whole chain of
/// fresh tokens — and that no token was passed through. Only `deputy up` (or `deputy serve
/// --demo`) turns it on: outside a demo, token claims are nobody's business but the service's.
public struct TokenChainHop: Codable, Sendable, Equatable {
    /// The service's role (`webApi`, `agent`, `mcpServer`, `dataApi`, `reportsApi`).
    public var service: String
    public var name: String
    public var aud: String?
    public var azp: String?
    public var scp: String?
    public var roles: [String]?
    public var acrs: [String]?
    public var amr: [String]?
    public var exp: Int?
    /// When the token was issued: a resource that evaluates continuously refuses tokens issued
    /// before the user's latest critical event.
    public var iat: Int?
    /// Client capabilities (`cp1`: a continuous access evaluation token, which lives 20–28 hours).
    public var xms_cc: [String]?
    public var oid: String?
    public var upn: String?
    /// Microsoft Entra Agent ID facets, when an agent acted: `xms_act_fct`, `xms_sub_fct`, and the
    /// agent identity's blueprint (`xms_par_app_azp`, shown, never used to authorize).
    public var xms_act_fct: String?
    public var xms_sub_fct: String?
    public var xms_par_app_azp: String?
    /// The HTTP status this service answered with.
    public var status: Int?
    /// What failed at this hop (an AADSTS code and message, a refused token).
    public var error: String?

    public init(service: String, name: String) {
        self.service = service
        self.name = name
    }
}

/// The report carried in the header.
public struct TokenChainReport: Codable, Sendable, Equatable {
    public var correlationId: String?
    public var hops: [TokenChainHop]

    public static let headerName = HTTPField.Name("Deputy-Token-Chain")!

    public init(correlationId: String?, hops: [TokenChainHop]) {
        self.correlationId = correlationId
        self.hops = hops
    }

    public var headerValue: String { Base64URL.encode(Array((try? JSONEncoder().encode(self)) ?? Data())) }

    public init?(headerValue: String) {
        guard let data = Base64URL.decode(headerValue), let report = try? JSONDecoder().decode(Self.self, from: data) else { return nil }
        self = report
    }
}

/// Collects what this request's downstream calls reported (one per request, through a task local).
public final class TokenChainRecorder: Sendable {
    private let box = LockedBox<(downstream: [TokenChainHop], error: String?)>(([], nil))

    /// The recorder of the request being served, when demo mode is on.
    @TaskLocal public static var current: TokenChainRecorder?

    public init() {}

    /// Adds a downstream service's report (the value of its `Deputy-Token-Chain` header).
    public func downstream(headerValue: String?) {
        guard let headerValue, let report = TokenChainReport(headerValue: headerValue) else { return }
        box.withLock { $0.downstream.append(contentsOf: report.hops) }
    }

    /// Notes what failed at this hop (shown in the panel).
    public func failed(_ message: String) { box.withLock { if $0.error == nil { $0.error = message } } }

    var snapshot: (downstream: [TokenChainHop], error: String?) { box.withLock { $0 } }
}

/// Demo mode: adds the `Deputy-Token-Chain` header to every answer of the service it guards.
///
/// The hop shows the claims of the bearer token the request carried, decoded for display only
/// (the route's own validator decides whether it is accepted; a refused token is shown as refused).
public struct TokenChainMiddleware<Context: RequestContext>: RouterMiddleware {
    let service: String
    let name: String
    /// What tokens this service received, for `deputy audit` (nil: not kept).
    let received: ReceivedTokenLog?
    /// Decoded hops by token: a chain sees the same tokens again and again (they are cached
    /// upstream), and decoding one costs far more than the rest of the report.
    let decoded = LRUCache<String, TokenChainHop>(capacity: 1_024)

    public init(service: String, name: String, received: ReceivedTokenLog? = nil) {
        self.service = service
        self.name = name
        self.received = received
    }

    /// The hop for a bearer token: its claims, decoded for display only.
    public func hop(forAuthorization header: String?, now: Date = Date()) -> TokenChainHop {
        guard let header, let token = ResourceValidator.bearerToken(header) else { return TokenChainHop(service: service, name: name) }
        if let hop = decoded.value(for: token, now: now) { return hop }
        var hop = TokenChainHop(service: service, name: name)
        guard let jwt = try? UnverifiedJWT(token) else { return hop }
        let c = jwt.claims
        hop.aud = c["aud"]?.stringValue
        hop.azp = c["azp"]?.stringValue ?? c["appid"]?.stringValue
        hop.scp = c["scp"]?.stringValue
        hop.roles = c["roles"]?.arrayValue?.compactMap(\.stringValue)
        hop.acrs = c["acrs"]?.arrayValue?.compactMap(\.stringValue)
        hop.amr = c["amr"]?.arrayValue?.compactMap(\.stringValue)
        hop.exp = c["exp"]?.numberValue.map { Int($0) }
        hop.iat = c["iat"]?.numberValue.map { Int($0) }
        hop.xms_cc = c["xms_cc"]?.arrayValue?.compactMap(\.stringValue)
        hop.oid = c["oid"]?.stringValue
        hop.upn = c["preferred_username"]?.stringValue ?? c["upn"]?.stringValue
        hop.xms_act_fct = c["xms_act_fct"]?.stringValue
        hop.xms_sub_fct = c["xms_sub_fct"]?.stringValue
        hop.xms_par_app_azp = c["xms_par_app_azp"]?.stringValue
        decoded.set(hop, for: token, expiresAt: hop.exp.map { Date(timeIntervalSince1970: Double($0)) } ?? now + 300)
        return hop
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options { return try await next(request, context) }
        let recorder = TokenChainRecorder()
        var response = try await rendered(request, context) {
            try await TokenChainRecorder.$current.withValue(recorder) { try await next(request, context) }
        }
        var hop = hop(forAuthorization: request.headers[.authorization])
        hop.status = response.status.code
        if let received, let header = request.headers[.authorization], let token = ResourceValidator.bearerToken(header) {
            received.record(token: token, hop: hop, path: request.uri.path)
        }
        let recorded = recorder.snapshot
        hop.error = recorded.error
        if hop.error == nil, response.status.code >= 400, let header = response.headers[.wwwAuthenticate] {
            let error = AuthenticationChallenge.parse(header).first?.parameters.first { $0.name.lowercased() == "error" }?.value
            hop.error = "answered \(response.status.code) " + (error ?? "with a challenge")
        }
        let report = TokenChainReport(
            correlationId: request.headers[HTTPField.Name("client-request-id")!], hops: [hop] + recorded.downstream)
        response.headers[TokenChainReport.headerName] = report.headerValue
        return response
    }
}

/// Names the response headers a browser page may read (`Access-Control-Expose-Headers`) on every
/// answer to a cross-origin request, errors included. CORS (Fetch standard, §3.2.3) reads the
/// header on the actual response, not on the preflight, so without it the SPA sees neither the
/// claims challenge in `WWW-Authenticate` nor the chain report.
public struct ExposeHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let value: String

    public init(headers: [String]) { value = headers.joined(separator: ", ") }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.headers[.origin] != nil, request.method != .options else { return try await next(request, context) }
        var response = try await rendered(request, context) { try await next(request, context) }
        response.headers[.accessControlExposeHeaders] = value
        return response
    }
}

/// The answer of `next`, with an error Hummingbird knows how to render rendered here, so a
/// middleware can add headers to error answers too.
func rendered<Context: RequestContext>(_ request: Request, _ context: Context, _ next: () async throws -> Response) async throws -> Response
{
    do {
        return try await next()
    } catch let error as any HTTPResponseError {
        return try error.response(from: request, context: context)
    }
}

/// Demo mode: the bearer tokens a service received (the last 1,000), as `deputy audit` reads them
/// to tell whether a middle tier passed its caller's token through or got a token of its own by
/// On-Behalf-Of. Only a SHA-256 of each token is kept, never the token, with the decoded claims
/// the chain report shows (`GET /_deputy/received-tokens?since=<unix seconds>`).
public final class ReceivedTokenLog: Sendable {
    struct Entry: Sendable {
        var at: Date
        var sha256: String
        var hop: TokenChainHop
        var path: String
    }

    private let entries = LockedBox<[Entry]>([])
    static let capacity = 1_000

    public init() {}

    func record(token: String, hop: TokenChainHop, path: String, now: Date = Date()) {
        let digest = Base64URL.encode(SHA256.hash(data: Data(token.utf8)))
        entries.withLock { e in
            e.append(Entry(at: now, sha256: digest, hop: hop, path: path))
            if e.count > Self.capacity { e.removeFirst(e.count - Self.capacity) }
        }
    }

    /// The entries received at or after `since`, oldest first.
    public func json(since: Date) -> JSONValue {
        let list = entries.withLock { $0.filter { $0.at >= since } }
        return .array(
            list.map { e in
                var o: [String: JSONValue] = [
                    "receivedAt": .number(e.at.timeIntervalSince1970), "sha256": .string(e.sha256), "path": .string(e.path),
                    "status": .number(Double(e.hop.status ?? 0)),
                ]
                for (key, value) in [("aud", e.hop.aud), ("azp", e.hop.azp), ("oid", e.hop.oid), ("scp", e.hop.scp)] {
                    if let value { o[key] = .string(value) }
                }
                return .object(o)
            })
    }
}
