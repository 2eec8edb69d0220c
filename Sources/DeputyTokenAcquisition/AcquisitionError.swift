import DeputyCore
public import Foundation

/// An error body from the token endpoint, Entra's (Microsoft Learn, "Microsoft identity platform authentication and
/// authorization error codes") or RFC 6749 §5.2's.
public struct ServiceError: Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    /// The OAuth `error` (`invalid_grant`, `interaction_required`, …).
    public var error: String
    public var errorDescription: String?
    /// Entra's AADSTS numbers.
    public var errorCodes: [Int]
    /// `basic_action`, `additional_action`, `message_only`, `consent_required`, …
    public var suberror: String?
    /// The claims challenge (a JSON string), when Conditional Access asked for more.
    public var claims: String?
    public var correlationID: String?
    public var traceID: String?

    public var description: String { "\(status) \(error)" + (errorDescription.map { ": \($0)" } ?? "") }

    /// Conditional Access blocked the request (AADSTS53003): no step-up can satisfy it, so a
    /// relay must not send the user round the sign-in again.
    public var isBlock: Bool {
        errorCodes.contains(53003) || (suberror == "message_only" && errorCodes.contains { (53000...53999).contains($0) })
    }

    /// Reads a token-endpoint error body; nil when it is not one.
    public init?(status: Int, body: [UInt8]) {
        guard case .object(let o)? = try? JSONParser.parse(Data(body)), let error = o["error"]?.stringValue else {
            return nil
        }
        self.status = status
        self.error = error
        errorDescription = o["error_description"]?.stringValue
        errorCodes = o["error_codes"]?.arrayValue?.compactMap { $0.numberValue.map(Int.init) } ?? []
        suberror = o["suberror"]?.stringValue
        claims = o["claims"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        correlationID = o["correlation_id"]?.stringValue
        traceID = o["trace_id"]?.stringValue
    }

    public init(
        status: Int, error: String, errorDescription: String? = nil, errorCodes: [Int] = [], suberror: String? = nil,
        claims: String? = nil, correlationID: String? = nil
    ) {
        self.status = status
        self.error = error
        self.errorDescription = errorDescription
        self.errorCodes = errorCodes
        self.suberror = suberror
        self.claims = claims
        self.correlationID = correlationID
    }
}

/// Why a token could not be acquired, typed so a middle tier can act: relay a challenge to its
/// caller, ask for consent, fix its credential, or back off.
public enum AcquisitionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The user must interact (MFA, a block, sign-in frequency …): the error carries the claims
    /// challenge to relay (``ServiceError/claims``) — or, for a block, the reason not to.
    case interactionRequired(ServiceError)
    /// The tenant has not granted the delegated permissions (AADSTS65001).
    case consentRequired(ServiceError)
    /// The middle tier's own credential was refused (`invalid_client`).
    case invalidClient(ServiceError)
    /// The grant (assertion, refresh token) was refused.
    case invalidGrant(ServiceError)
    /// Another error from the token endpoint (`invalid_scope`, `invalid_request`, …).
    case rejected(ServiceError)
    /// 429 or 503 after the retries; `retryAfter` from the last answer.
    case throttled(retryAfter: TimeInterval?)
    /// The token endpoint could not be reached, or did not answer within the timeout
    /// (`timedOut`). `retryAfter`: when the client will try the network again — until then it
    /// fails fast, so an outage is not met with a stampede of requests.
    case unavailable(reason: String, timedOut: Bool, retryAfter: TimeInterval)
    /// The token endpoint answered something that is not OAuth.
    case transport(String)
    /// The client's credential could not be used (e.g. an assertion provider failed, a bad key).
    case credential(String)

    public var description: String {
        switch self {
        case .interactionRequired(let e): "interaction required: \(e)"
        case .consentRequired(let e): "consent required: \(e)"
        case .invalidClient(let e): "invalid client: \(e)"
        case .invalidGrant(let e): "invalid grant: \(e)"
        case .rejected(let e): "rejected: \(e)"
        case .throttled(let after): "throttled" + (after.map { " (retry after \(Int($0)) s)" } ?? "")
        case .unavailable(let reason, let timedOut, let after):
            (timedOut ? "timed out: " : "unavailable: ") + reason + " (retry after \(Int(after.rounded(.up))) s)"
        case .transport(let m): "transport: \(m)"
        case .credential(let m): "credential: \(m)"
        }
    }

    /// The service's error body, when there was one.
    public var serviceError: ServiceError? {
        switch self {
        case .interactionRequired(let e), .consentRequired(let e), .invalidClient(let e), .invalidGrant(let e), .rejected(let e): e
        default: nil
        }
    }

    /// Classifies an error body (Microsoft Learn, "Microsoft identity platform authentication and authorization
    /// error codes"; MSAL's rules: a `claims` value or
    /// `interaction_required` means the user must act; 65001 or `consent_required` is consent).
    static func classify(_ e: ServiceError) -> AcquisitionError {
        if e.errorCodes.contains(65001) || e.suberror == "consent_required" || e.error == "consent_required" { return .consentRequired(e) }
        if e.claims != nil || e.error == "interaction_required"
            || ["basic_action", "additional_action", "message_only"].contains(e.suberror ?? "")
        {
            return .interactionRequired(e)
        }
        switch e.error {
        case "invalid_client", "unauthorized_client": return .invalidClient(e)
        case "invalid_grant": return .invalidGrant(e)
        default: return .rejected(e)
        }
    }
}
