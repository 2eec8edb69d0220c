public import DeputyCore
public import Foundation

/// What a resource accepts. Issuer and audience are required: there is no way to validate a
/// token without saying whose tokens and for whom (jwt-kit's lesson: make the safe path the only
/// easy one).
public struct ValidationPolicy: Sendable {
    /// Exact issuer strings accepted (e.g. a tenant's v2 and v1 issuers).
    public var issuers: Set<String>
    /// Exact `aud` values accepted (appId and App ID URIs), compared case-sensitively as Entra does.
    public var audiences: Set<String>
    /// Signature algorithms accepted. RS256 by default; `none` and HS* are never accepted.
    public var algorithms: Set<String>
    /// Allowed clock skew for `exp` and `nbf`.
    public var clockSkew: TimeInterval

    public init(issuers: Set<String>, audiences: Set<String>, algorithms: Set<String> = ["RS256"], clockSkew: TimeInterval = 300) {
        self.issuers = issuers
        self.audiences = audiences
        self.algorithms = algorithms.filter { $0 != "none" && !$0.hasPrefix("HS") }
        self.clockSkew = clockSkew
    }
}

/// Why a token was refused. Each case says which check failed, so callers can answer in their
/// protocol's shape (RFC 6750 `invalid_token`, or Entra's AADSTS codes for OBO assertions).
public enum TokenValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a compact JWS, or its header or payload is not JSON.
    case malformed(String)
    /// `alg` is not in the policy's allow-list (includes `none`).
    case algorithmNotAllowed(String)
    /// No key with the token's `kid`.
    case unknownKey(String)
    /// The signature does not verify.
    case badSignature
    /// `iss` is not accepted.
    case wrongIssuer(String)
    /// `exp` has passed (with skew), or `nbf` is still ahead.
    case expired(now: Date, expiry: Date?)
    case notYetValid(now: Date, notBefore: Date)
    /// `aud` is not accepted.
    case wrongAudience(String)
    /// The header lists `crit` extensions this validator does not understand (RFC 7515 §4.1.11).
    case criticalHeaderNotUnderstood([String])
    /// `iat` is later than now plus the allowed skew.
    case issuedInFuture(now: Date, issuedAt: Date)

    public var description: String {
        switch self {
        case .malformed(let r): "The token is malformed: \(r)"
        case .algorithmNotAllowed(let a): "The algorithm '\(a)' is not accepted."
        case .unknownKey(let kid): "No signing key with kid '\(kid)'."
        case .badSignature: "The signature did not verify."
        case .wrongIssuer(let i): "The issuer '\(i)' is not accepted."
        case .expired(_, let e): "The token expired at \(e.map { "\($0)" } ?? "(no exp)")."
        case .notYetValid(_, let n): "The token is not valid before \(n)."
        case .wrongAudience(let a): "The audience '\(a)' is not accepted."
        case .criticalHeaderNotUnderstood(let names): "The header's crit names extensions not understood: \(names.joined(separator: ", "))."
        case .issuedInFuture(_, let iat): "The token was issued in the future (iat \(iat))."
        }
    }
}

/// A token that passed validation, with Entra's claims read in both v1 and v2 shapes.
public struct ValidatedToken: Sendable {
    public let raw: String
    public let header: [String: JSONValue]
    public let claims: [String: JSONValue]

    public init(raw: String, header: [String: JSONValue], claims: [String: JSONValue]) {
        self.raw = raw
        self.header = header
        self.claims = claims
    }

    public func string(_ name: String) -> String? { claims[name]?.stringValue }
    public var issuer: String? { string("iss") }
    public var audience: String? { string("aud") ?? claims["aud"]?.arrayValue?.first?.stringValue }
    public var tenantID: String? { string("tid") }
    public var objectID: String? { string("oid") }
    public var subject: String? { string("sub") }
    /// `1.0` or `2.0`.
    public var version: String? { string("ver") }
    /// The client that obtained the token: `azp` (v2), `appid` (v1) or `client_id` (RFC 9068).
    public var clientID: String? { string("azp") ?? string("appid") ?? string("client_id") }
    /// Delegated scopes: Entra's `scp`, or RFC 9068's `scope` (both space-separated).
    public var scopes: [String] { Scopes.parse(string("scp") ?? string("scope")) }
    public var roles: [String] { claims["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var authenticationMethods: [String] { claims["amr"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var authenticationContexts: [String] { claims["acrs"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    public var issuedAt: Date? { claims["iat"]?.numberValue.map { Date(timeIntervalSince1970: $0) } }
    public var expiresAt: Date? { claims["exp"]?.numberValue.map { Date(timeIntervalSince1970: $0) } }

    /// What kind of token this is, decided as Microsoft Learn's access-token guidance does
    /// ("Access tokens in the Microsoft identity platform": validate that a token is app-only with
    /// `idtyp`, or, where that optional claim is absent, with `oid == sub` and no `scp`):
    /// 1. `scp` present: a delegated (user) access token, whatever else it carries;
    /// 2. `idtyp` present: `user` or `app` decides;
    /// 3. RFC 9068 tokens (`typ: at+jwt`) with `scope` and a user's `oid`: delegated;
    /// 4. no `scp`, `oid == sub`: app-only (Entra sets `sub` to the service principal's `oid` in
    ///    app-only tokens; in a user's token `sub` is pairwise and never equals `oid`);
    /// 5. no `scp`, `roles` (user-assigned app roles) and a client (`azp`/`appid`): a user's access
    ///    token that carries roles only — never an application principal;
    /// 6. anything else (no `scp`, and neither `oid == sub` nor roles with a client) is an ID token.
    public enum Kind: Sendable, Equatable { case userAccessToken, appOnlyAccessToken, idToken }
    public var kind: Kind {
        if claims["scp"] != nil { return .userAccessToken }
        switch string("idtyp") {
        case "user": return .userAccessToken
        case "app": return .appOnlyAccessToken
        default: break
        }
        if header["typ"]?.stringValue?.lowercased() == "at+jwt", claims["scope"] != nil, claims["oid"] != nil { return .userAccessToken }
        if let oid = objectID, oid == subject { return .appOnlyAccessToken }
        if claims["roles"] != nil, string("azp") ?? string("appid") != nil { return .userAccessToken }
        return .idToken
    }
}
