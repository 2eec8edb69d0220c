public import DeputyCore
public import DeputyTokenAcquisition
public import Foundation
public import HTTPTypes
public import Hummingbird
import Metrics
import NIOCore

/// What a middle tier tells its caller when it could not get a downstream token, or when its
/// downstream resource answered with a challenge (Microsoft Learn, "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow").
/// Throw it from a route: Hummingbird
/// renders it.
///
/// - A claims challenge (MFA, an authentication context, sign-in frequency) becomes 401
///   `Bearer realm="", authorization_uri="…", error="insufficient_claims", claims="<base64>"`: the
///   interactive client signs the user in again with those claims and retries.
/// - Missing consent becomes 403 in Microsoft.Identity.Web's consent form
///   (`consentUri`, `scopes`, `proposedAction="consent"`).
/// - A block (AADSTS53003) becomes 403 with the AADSTS code and **no** challenge: no step-up can
///   satisfy it, so no client loops on it.
/// - The caller's token refused by the token service (`invalid_grant`) becomes 401
///   `Bearer error="invalid_token"`: the caller signs in again.
/// - The token service unreachable becomes 503, or 504 when it did not answer in time, with
///   `Retry-After`; the middle tier's own failures (its credential, an answer that is not OAuth)
///   are 502 — never a challenge to the user.
public struct ChallengeRelay: Error, HTTPResponseError, Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case stepUp(ClaimsChallenge, errorCodes: [Int])
        case consent(ConsentChallenge, errorCodes: [Int], message: String?)
        case blocked(errorCodes: [Int], message: String?)
        case downstreamFailure(status: Int, message: String, retryAfter: TimeInterval?)
        /// The token service refused the caller's token: 401 `invalid_token`, with the token
        /// service's AADSTS codes (empty when it sent none).
        case invalidCallerToken(errorCodes: [Int])
    }

    public let outcome: Outcome

    public init(outcome: Outcome) { self.outcome = outcome }

    /// `deputy_challenge_relays_total{kind}`: how many answers a middle tier relayed to its caller.
    static func count(_ outcome: Outcome) {
        let kind: String
        switch outcome {
        case .stepUp: kind = "claims_challenge"
        case .consent: kind = "consent_required"
        case .blocked: kind = "blocked"
        case .downstreamFailure: kind = "downstream_failure"
        case .invalidCallerToken: kind = "invalid_caller_token"
        }
        Counter(label: "deputy_challenge_relays_total", dimensions: [("kind", kind)]).increment()
    }

    /// The relay of a failed token acquisition.
    /// - Parameters:
    ///   - authorizationURI: the authority's authorize endpoint (where the client re-authenticates).
    ///   - scopes: what the caller's token should carry (for the consent form).
    public init(_ error: AcquisitionError, authorizationURI: String, scopes: [String] = []) {
        switch error {
        case .interactionRequired(let e) where e.isBlock:
            outcome = .blocked(errorCodes: e.errorCodes, message: e.errorDescription)
        case .interactionRequired(let e):
            // Without a claims value the client still has to sign the user in again.
            let claims = e.claims ?? #"{"access_token":{"nbf":{"essential":true,"value":"\#(Int(Date().timeIntervalSince1970))"}}}"#
            outcome = .stepUp(ClaimsChallenge(claims: claims, authorizationURI: authorizationURI), errorCodes: e.errorCodes)
        case .consentRequired(let e):
            outcome = .consent(
                ConsentChallenge(consentURI: authorizationURI, scopes: scopes, claims: e.claims), errorCodes: e.errorCodes,
                message: e.errorDescription)
        case .throttled(let after):
            outcome = .downstreamFailure(status: 503, message: "The token service is throttling this API; retry later.", retryAfter: after)
        case .invalidGrant:
            // The token service refused the caller's token as an assertion (expired, revoked, its
            // user disabled …): the caller's credentials are the problem, so the answer is RFC 6750's
            // `invalid_token`, not a server error (a client retries a 5xx with the same token).
            outcome = .invalidCallerToken(errorCodes: error.serviceError?.errorCodes ?? [])
        case .unavailable(_, let timedOut, let after):
            outcome = .downstreamFailure(
                status: timedOut ? 504 : 503,
                message: timedOut
                    ? "The token service did not answer in time; retry later." : "The token service cannot be reached; retry later.",
                retryAfter: after)
        case .invalidClient, .rejected, .transport, .credential:
            outcome = .downstreamFailure(
                status: 502, message: "This API could not get a token for its downstream resource.", retryAfter: nil)
        }
    }

    /// The relay of a downstream resource's challenge (so a challenge survives any number of
    /// hops), or nil when its answer carries none.
    ///
    /// A 403 without a challenge whose body says `access_blocked` (another middle tier's relay of
    /// a block) is relayed as the same block, with its AADSTS codes. A 401 `invalid_token` whose
    /// body carries `error_codes` (another middle tier's relay of the token service refusing the
    /// user's token, e.g. AADSTS50173 after a password change) is relayed as the same refusal: the
    /// caller signs in again. A resource's own `invalid_token` (no `error_codes`) is not relayed,
    /// since it refused this middle tier's token.
    public init?(downstreamStatus status: Int, wwwAuthenticate: String?, authorizationURI: String? = nil, body: [UInt8]? = nil) {
        if status == 401, let header = wwwAuthenticate, ClaimsChallenge(wwwAuthenticate: header) == nil,
            AuthenticationChallenge.parse(header).first(where: { $0.scheme.lowercased() == "bearer" })?["error"] == "invalid_token",
            let body, case .object(let o)? = try? JSONParser.parse(Data(body)), o["error"]?.stringValue == "invalid_token",
            let codes = o["error_codes"]?.arrayValue
        {
            outcome = .invalidCallerToken(errorCodes: codes.compactMap { $0.numberValue.map { Int($0) } })
            return
        }
        guard let header = wwwAuthenticate else {
            guard status == 403, let body, case .object(let o)? = try? JSONParser.parse(Data(body)),
                o["error"]?.stringValue == "access_blocked"
            else { return nil }
            let codes = (o["error_codes"]?.arrayValue ?? []).compactMap { $0.numberValue.map { Int($0) } }
            outcome = .blocked(errorCodes: codes, message: o["error_description"]?.stringValue)
            return
        }
        if status == 401, var challenge = ClaimsChallenge(wwwAuthenticate: header) {
            if challenge.authorizationURI == nil { challenge.authorizationURI = authorizationURI }
            outcome = .stepUp(challenge, errorCodes: [])
        } else if status == 403, let consent = ConsentChallenge(wwwAuthenticate: header) {
            outcome = .consent(consent, errorCodes: [], message: nil)
        } else {
            return nil
        }
    }

    public var status: HTTPResponse.Status {
        switch outcome {
        case .stepUp, .invalidCallerToken: .unauthorized
        case .consent, .blocked: .forbidden
        case .downstreamFailure(let status, _, _): .init(code: status)
        }
    }

    /// The `WWW-Authenticate` value, when the caller can act on one.
    public var challenge: String? {
        switch outcome {
        case .stepUp(let c, _): c.headerValue()
        case .consent(let c, _, _): c.headerValue
        case .invalidCallerToken: #"Bearer error="invalid_token", error_description="The token was refused by the token service""#
        case .blocked, .downstreamFailure: nil
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response { response(adding: [:]) }

    /// The answer, with more members in its JSON body (an agent's `resume` id, say).
    public func response(adding extra: [String: JSONValue]) -> Response {
        Self.count(outcome)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        if let challenge { headers[.wwwAuthenticate] = challenge }
        var body: [String: JSONValue]
        switch outcome {
        case .stepUp(let c, let codes):
            body = [
                "error": .string("insufficient_claims"), "error_description": .string("Sign in again with these claims, then retry."),
                "claims": .string(c.claims),
            ]
            if !codes.isEmpty { body["error_codes"] = .array(codes.map { .number(Double($0)) }) }
        case .consent(let c, let codes, let message):
            body = [
                "error": .string("consent_required"),
                "error_description": .string(message ?? "Consent is required for: \(c.scopes.joined(separator: " "))."),
                "scopes": .array(c.scopes.map(JSONValue.string)),
            ]
            if !codes.isEmpty { body["error_codes"] = .array(codes.map { .number(Double($0)) }) }
        case .blocked(let codes, let message):
            let code = codes.first.map { "AADSTS\($0)" } ?? "blocked"
            body = [
                "error": .string("access_blocked"),
                "error_description": .string(message ?? "\(code): access has been blocked by Conditional Access policies."),
                "error_codes": .array(codes.map { .number(Double($0)) }),
            ]
        case .invalidCallerToken(let codes):
            body = [
                "error": .string("invalid_token"),
                "error_description": .string("The token was refused by the token service; sign in again."),
                "error_codes": .array(codes.map { .number(Double($0)) }),
            ]
        case .downstreamFailure(_, let message, let after):
            body = ["error": .string("downstream_unavailable"), "error_description": .string(message)]
            if let after { headers[.retryAfter] = String(Int(after.rounded(.up))) }
        }
        body.merge(extra) { _, new in new }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).serialized)))
    }
}
