import AsyncHTTPClient
import DeputyHummingbird
import DeputyTokenAcquisition
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1

/// A middle tier's calls to the Data API, as the Web API and the MCP server make them: its own
/// token by On-Behalf-Of (the caller's token is only the assertion, never forwarded), the call,
/// and the relay of what this middle tier cannot satisfy — a claims challenge, missing consent, a
/// block, or the Data API's own challenge — as a ``ChallengeRelay``.
public struct DataAPIClient: Sendable {
    public let obo: ConfidentialClient
    /// The Data API's origin, e.g. `http://127.0.0.1:7405`.
    public let baseURL: String
    /// What this middle tier asks for by OBO (`https://database.windows.net//.default`).
    public let scopes: [String]
    /// The authority's authorize endpoint, named in relayed challenges.
    public let authorizationURI: String
    /// What the caller's token for this middle tier should carry (named in a relayed consent challenge).
    public let callerScopes: [String]
    let http: HTTPClient

    public init(
        obo: ConfidentialClient, baseURL: String, scopes: [String] = ["https://database.windows.net//.default"],
        authorizationURI: String, callerScopes: [String], httpClient: HTTPClient = .shared
    ) {
        self.obo = obo
        self.baseURL = baseURL
        self.scopes = scopes
        self.authorizationURI = authorizationURI
        self.callerScopes = callerScopes
        self.http = httpClient
    }

    /// The Data API's answer (2xx or a plain error such as 404 or 409).
    public struct Answer: Sendable {
        public let status: Int
        public let contentType: String
        public let body: ByteBuffer
    }

    /// One call on behalf of the user whose token is `assertion`.
    public func call(
        _ method: HTTPMethod, _ path: String, body: ByteBuffer? = nil, assertion: String, correlationID: String?
    ) async throws -> Answer {
        let token: AccessToken
        do {
            token = try await obo.acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes, correlationID: correlationID)
        } catch {
            TokenChainRecorder.current?.failed(Self.describe(error))
            throw ChallengeRelay(error, authorizationURI: authorizationURI, scopes: callerScopes)
        }
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token.token)")
        if let correlationID { request.headers.add(name: "client-request-id", value: correlationID) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        let answer: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(30))
            answer = try await response.body.collect(upTo: 1 << 20)
        } catch {
            TokenChainRecorder.current?.failed("the Data API could not be reached")
            throw ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The Data API could not be reached.", retryAfter: nil))
        }
        TokenChainRecorder.current?.downstream(headerValue: response.headers.first(name: TokenChainReport.headerName.rawName))
        let status = Int(response.status.code)
        // The Data API's own challenge travels on to the caller unchanged.
        if let relay = ChallengeRelay(
            downstreamStatus: status, wwwAuthenticate: response.headers.first(name: "WWW-Authenticate"),
            authorizationURI: authorizationURI, body: Array(buffer: answer))
        {
            throw relay
        }
        if status == 401 {
            // The Data API refused this middle tier's own token: this service's problem, not the caller's sign-in.
            throw ChallengeRelay(
                outcome: .downstreamFailure(status: 502, message: "The Data API refused this service's token.", retryAfter: nil))
        }
        return Answer(status: status, contentType: response.headers.first(name: "Content-Type") ?? "application/json", body: answer)
    }

    /// A line for the token-chain panel: the AADSTS code and message of a failed acquisition.
    static func describe(_ error: AcquisitionError) -> String {
        switch error {
        case .interactionRequired(let e), .consentRequired(let e), .invalidGrant(let e), .invalidClient(let e), .rejected(let e):
            let code = e.errorCodes.first.map { "AADSTS\($0) " } ?? ""
            return "token request failed: \(code)\(e.error)"
        case .throttled: return "token request throttled"
        case .unavailable(_, let timedOut, _):
            return timedOut ? "the authority did not answer in time" : "the authority could not be reached"
        case .transport: return "the authority answered something that is not OAuth"
        case .credential: return "this service's credential could not be used"
        }
    }
}
