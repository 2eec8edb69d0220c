import Foundation

/// The one error type of Deputy's token service and libraries: an OAuth 2.0 error (RFC 6749 §5.2)
/// with the Microsoft Entra details (`AADSTS` code, suberror, claims challenge) that Entra adds.
///
/// Every failure a client can see is built from the catalogue in `OAuthError+Catalogue.swift`, so
/// the wire text of each AADSTS code lives in one place. Equality compares ``error`` and
/// ``aadsts`` only, on purpose: tests ask "is this the 50126 error", not "is the message equal".
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The RFC 6749 / OIDC `error` value, e.g. `invalid_grant`.
    public var error: Code
    /// The Entra error number (the digits after `AADSTS`), when the error has one.
    public var aadsts: Int?
    /// Client-safe message; becomes the text after `AADSTS<code>: ` in `error_description`.
    public var message: String
    /// Entra's `suberror` (e.g. `consent_required`, `basic_action`, `message_only`).
    public var suberror: String?
    /// A claims challenge (plain JSON string) for the client to send back at authorize.
    public var claims: String?
    /// The HTTP status to answer with (400 unless the catalogue says otherwise).
    public var status: Int
    /// Detail for the server log only; never rendered to the client.
    public var logDetail: String?
    /// Render as RFC 6749 §5.2 alone (`error`, `error_description`), without Entra's additions:
    /// the standards-only grants (RFC 8693 token exchange) answer this way.
    public var rfc6749Only = false

    /// Creates an error. Prefer the named factories of the catalogue.
    public init(
        _ error: Code, aadsts: Int? = nil, message: String, suberror: String? = nil,
        claims: String? = nil, status: Int? = nil, logDetail: String? = nil
    ) {
        self.error = error
        self.aadsts = aadsts
        self.message = message
        self.suberror = suberror
        self.claims = claims
        self.status = status ?? (error == .invalidClient ? 401 : 400)
        self.logDetail = logDetail
    }

    public static func == (lhs: OAuthError, rhs: OAuthError) -> Bool {
        lhs.error == rhs.error && lhs.aadsts == rhs.aadsts
    }

    public var description: String {
        if let aadsts { return "\(error.rawValue): AADSTS\(aadsts): \(message)" }
        return "\(error.rawValue): \(message)"
    }

    /// The `error_description` text without Entra's trace lines.
    public var shortDescription: String {
        if let aadsts { return "AADSTS\(aadsts): \(message)" }
        return message
    }
}

extension OAuthError {
    /// An OAuth `error` code: RFC 6749, RFC 6750, RFC 8628, OpenID Connect and Entra's additions.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        // RFC 6749 §5.2 and §4.1.2.1
        public static let invalidRequest: Code = "invalid_request"
        public static let invalidClient: Code = "invalid_client"
        public static let invalidGrant: Code = "invalid_grant"
        public static let unauthorizedClient: Code = "unauthorized_client"
        public static let unsupportedGrantType: Code = "unsupported_grant_type"
        public static let invalidScope: Code = "invalid_scope"
        public static let accessDenied: Code = "access_denied"
        public static let unsupportedResponseType: Code = "unsupported_response_type"
        public static let serverError: Code = "server_error"
        public static let temporarilyUnavailable: Code = "temporarily_unavailable"
        // RFC 6750 §3.1
        public static let invalidToken: Code = "invalid_token"
        public static let insufficientScope: Code = "insufficient_scope"
        // OpenID Connect Core §3.1.2.6
        public static let interactionRequired: Code = "interaction_required"
        public static let loginRequired: Code = "login_required"
        public static let consentRequired: Code = "consent_required"
        // RFC 8628 §3.5
        public static let authorizationPending: Code = "authorization_pending"
        public static let slowDown: Code = "slow_down"
        public static let expiredToken: Code = "expired_token"
        public static let authorizationDeclined: Code = "authorization_declined"
        // Entra
        public static let invalidResource: Code = "invalid_resource"
        public static let invalidTenant: Code = "invalid_tenant"
        public static let invalidInstance: Code = "invalid_instance"
        // RFC 8707
        public static let invalidTarget: Code = "invalid_target"
    }
}
