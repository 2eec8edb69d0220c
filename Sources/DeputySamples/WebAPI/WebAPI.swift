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
    let dataAPI: DataAPIClient

    /// - Parameters:
    ///   - obo: the Web API's confidential client (its own credential).
    ///   - dataAPI: the Data API's origin, e.g. `http://127.0.0.1:7405`.
    ///   - dataScopes: what the Web API asks for by OBO (`https://database.windows.net//.default`).
    ///   - callerScopes: what the caller's token for this API should carry (named in a relayed consent challenge).
    public init(
        validator: ResourceValidator, obo: ConfidentialClient, dataAPI: String,
        dataScopes: [String] = ["https://database.windows.net//.default"],
        callerScopes: [String] = ["api://contoso-expenses-api/.default"], httpClient: HTTPClient = .shared
    ) {
        self.validator = validator
        self.dataAPI = DataAPIClient(
            obo: obo, baseURL: dataAPI, scopes: dataScopes, authorizationURI: validator.authorizationEndpoint,
            callerScopes: callerScopes, httpClient: httpClient)
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
    func forward(
        _ method: NIOHTTP1.HTTPMethod, _ path: String, _ request: Request, _ context: BearerRequestContext
    ) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        var body: ByteBuffer?
        if method == .POST {
            var r = request
            body = try await r.collectBody(upTo: 64 * 1024)
        }
        let answer = try await dataAPI.call(
            method, path, body: body, assertion: principal.token,
            correlationID: request.headers[HTTPField.Name("client-request-id")!])
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType
        headers[.cacheControl] = "no-store"
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: answer.body))
    }
}
