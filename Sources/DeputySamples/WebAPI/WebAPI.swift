import AsyncHTTPClient
import DeputyCore
import DeputyHummingbird
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// The classic middle tier: `/api/expenses` (list, submit, approve) for a user signed in to the
/// SPA. It validates tokens minted for itself, gets its own token for the Data API by
/// On-Behalf-Of — never forwarding the user's token — and relays what it cannot satisfy:
/// Conditional Access's claims challenges (401), missing consent (403), blocks (403 without a
/// challenge), and the Data API's own challenges.
public struct WebAPI: Sendable {
    let validator: ResourceValidator
    let obo: ConfidentialClient
    /// The Data API's origin, e.g. `http://127.0.0.1:7405`.
    let dataAPI: String
    /// What the Web API asks for by OBO (`https://database.windows.net//.default`).
    let dataScopes: [String]
    /// What the caller's token for this API should carry (named in a relayed consent challenge).
    let callerScopes: [String]
    let http: HTTPClient

    public init(validator: ResourceValidator, obo: ConfidentialClient, dataAPI: String,
                dataScopes: [String] = ["https://database.windows.net//.default"],
                callerScopes: [String] = ["api://contoso-expenses-api/.default"], httpClient: HTTPClient = .shared) {
        self.callerScopes = callerScopes
        self.validator = validator
        self.obo = obo
        self.dataAPI = dataAPI
        self.dataScopes = dataScopes
        self.http = httpClient
    }

    /// The validator configuration for the Web API: its appId and App ID URI, `access_as_user`, delegated tokens.
    public static func configuration(authority: String, appID: String, appIDURI: String) -> ResourceConfiguration {
        var c = ResourceConfiguration(authority: authority, audiences: [appID, appIDURI])
        c.acceptedKinds = [.delegated]
        c.requiredScopes = ["access_as_user"]
        return c
    }

    public func addRoutes(to router: Router<BearerRequestContext>) {
        let api = router.group("api/expenses").add(middleware: BearerTokenMiddleware(validator: validator))
        api.get { request, context in try await forward(.GET, "/expenses", request, context) }
        api.post { request, context in try await forward(.POST, "/expenses", request, context) }
        api.post(":id/approve") { request, context in
            guard let id = context.parameters.get("id", as: Int.self) else { throw HTTPError(.notFound) }
            return try await forward(.POST, "/expenses/\(id)/approve", request, context)
        }
    }

    /// One downstream call: OBO for the Data API, then the request with the Web API's own token.
    func forward(_ method: NIOHTTP1.HTTPMethod, _ path: String, _ request: Request, _ context: BearerRequestContext) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        let correlation = request.headers[HTTPField.Name("client-request-id")!]
        let token: AccessToken
        do {
            token = try await obo.acquireTokenOnBehalfOf(assertion: principal.token, scopes: dataScopes, correlationID: correlation)
        } catch {
            throw ChallengeRelay(error, authorizationURI: validator.authorizationEndpoint, scopes: callerScopes)
        }
        var downstream = HTTPClientRequest(url: dataAPI + path)
        downstream.method = method
        downstream.headers.add(name: "Authorization", value: "Bearer \(token.token)")
        if let correlation { downstream.headers.add(name: "client-request-id", value: correlation) }
        if method == .POST {
            var r = request
            let body = try await r.collectBody(upTo: 64 * 1024)
            downstream.headers.add(name: "Content-Type", value: "application/json")
            downstream.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do { response = try await http.execute(downstream, timeout: .seconds(30)) } catch {
            throw ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The Data API could not be reached.", retryAfter: nil))
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        // The Data API's own challenge travels on to the caller unchanged.
        if let relay = ChallengeRelay(downstreamStatus: Int(response.status.code), wwwAuthenticate: response.headers.first(name: "WWW-Authenticate"),
                                      authorizationURI: validator.authorizationEndpoint) {
            throw relay
        }
        if response.status == .unauthorized {
            // The Data API refused the Web API's own token: that is this service's problem, not the caller's sign-in.
            throw ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The Data API refused this API's token.", retryAfter: nil))
        }
        var headers = HTTPFields()
        headers[.contentType] = response.headers.first(name: "Content-Type") ?? "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: body))
    }
}
