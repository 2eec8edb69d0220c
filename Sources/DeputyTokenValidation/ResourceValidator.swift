public import AsyncHTTPClient
import Crypto
public import DeputyCore
public import Foundation
import Metrics
import Tracing

/// What a resource (a web API, an MCP server) accepts: whose tokens, for whom, with what.
/// Works against Microsoft Entra ID and Deputy's authority alike.
public struct ResourceConfiguration: Sendable {
    /// The kinds of access token a resource takes.
    public enum TokenKind: Sendable, Hashable {
        /// A user's token (`scp`), from an app acting for the user.
        case delegated
        /// An application's own token (`idtyp: app`, or `oid == sub` without `scp`; see ``ValidatedToken/kind``).
        case appOnly
    }

    /// Where the issuer's signing keys come from.
    public enum Keys: Sendable {
        /// The authority's OpenID configuration (`{authority}/.well-known/openid-configuration`),
        /// then its `jwks_uri` over HTTPS, cached and refreshed on an unknown `kid`.
        case discovery
        /// A JWKS document given in full, and the issuer it signs for (offline use, tests).
        case jwks(json: String, issuer: String)
    }

    /// `https://login.microsoftonline.com/{tenant}/v2.0`, or Deputy's `https://127.0.0.1:7400/{tenant}/v2.0`.
    /// With `common` or `organizations` the issuer is the template `…/{tenantid}/v2.0`, checked
    /// against the token's `tid` (and ``allowedTenants``).
    public var authority: String
    /// Accepted `aud` values, compared exactly: the API's appId and its App ID URIs.
    public var audiences: Set<String>
    /// A delegated token must carry at least one of these scopes (empty: any).
    public var requiredScopes: Set<String> = []
    /// An app-only token must carry at least one of these roles (empty: any).
    public var requiredRoles: Set<String> = []
    public var acceptedKinds: Set<TokenKind> = [.delegated, .appOnly]
    /// An authentication context (`c1`…) the token's `acrs` must contain; a token without it gets
    /// a claims challenge.
    public var requiredAuthenticationContext: String?
    /// For a multi-tenant authority: the tenants accepted (`tid` values). A multi-tenant
    /// authority needs either this or ``allowAnyTenant``.
    public var allowedTenants: Set<String>?
    /// Accept tokens of every tenant from a multi-tenant authority (`common`, `organizations`)
    /// without listing them in ``allowedTenants``. Off by default: an API that trusts any
    /// organization's users must say so, or ``ResourceValidator/init(_:client:time:)`` throws.
    public var allowAnyTenant = false
    /// Signature algorithms: RS256 by default; PS256 and ES256 may be added. `none` and HS* are never accepted.
    public var algorithms: Set<String> = ["RS256"]
    public var clockSkew: TimeInterval = 300
    public var keys: Keys = .discovery
    /// Verified tokens remembered (hash of the token → principal, until `exp`); 0 turns the cache off.
    public var cacheSize: Int = 10_000
    /// How long fetching the OpenID configuration or the JWKS may take, in seconds.
    public var fetchTimeout: TimeInterval = 10
    /// Accept v1.0 tokens of the same tenant (`https://sts.windows.net/{tid}/` from Entra) as well as v2.0.
    public var acceptV1Tokens = true
    /// Continuous access evaluation: refuse a user's tokens issued before their latest critical
    /// event (nil: tokens are good until they expire, as for any resource of Entra's but its own).
    public var continuousAccess: ContinuousAccessConfiguration?

    public init(authority: String, audiences: Set<String>) {
        var a = authority
        while a.hasSuffix("/") { a.removeLast() }
        self.authority = a
        self.audiences = audiences
    }
}

/// The caller a validated token describes.
public struct Principal: Sendable {
    public enum Kind: Sendable, Equatable {
        case user
        case application
    }
    public let kind: Kind
    /// The user's (or the application's service principal's) object id, `oid`.
    public let objectID: String?
    public let tenantID: String?
    /// `preferred_username` (v2) or `upn` / `unique_name` (v1).
    public let username: String?
    public let name: String?
    /// The application that obtained the token: `azp` (v2) or `appid` (v1).
    public let clientID: String?
    public let scopes: [String]
    public let roles: [String]
    /// Authentication contexts satisfied (`acrs`).
    public let authenticationContexts: [String]
    /// Authentication methods (`amr`).
    public let authenticationMethods: [String]
    public let expiresAt: Date
    /// Microsoft Entra Agent ID facts (Microsoft Learn, "Agent token claims"), when an agent acted:
    /// whether it acts for a user, on its own or as its agent user, and which agent identity.
    public let agent: AgentFacets?
    /// The token as received: the assertion for an OBO call.
    public let token: String
    /// Every claim, for facets this type does not name (e.g. agent identity claims).
    public let claims: [String: JSONValue]

    init(_ t: ValidatedToken, expiresAt: Date) {
        kind = t.kind == .appOnlyAccessToken ? .application : .user
        objectID = t.objectID
        tenantID = t.tenantID
        username = t.string("preferred_username") ?? t.string("upn") ?? t.string("unique_name")
        name = t.string("name")
        clientID = t.clientID
        scopes = t.scopes
        roles = t.roles
        authenticationContexts = t.authenticationContexts
        authenticationMethods = t.authenticationMethods
        self.expiresAt = expiresAt
        token = t.raw
        claims = t.claims
        agent = AgentFacets(t.claims)
    }
}

/// What a token says about a Microsoft Entra Agent ID agent (Microsoft Learn, "Agent token
/// claims"), so a resource can write rules such as "agents may read but not delete":
///
/// ```swift
/// if let agent = principal.agent, agent.kind == .actingForUser, operation.isDestructive {
///     throw HTTPError(.forbidden)  // or ask for the user's confirmation
/// }
/// ```
///
/// Decide on ``kind`` and ``agentIdentityID`` (the token's `azp`/`appid`, which the authority
/// sets to the authenticated client). ``blueprintAppID`` comes from `xms_par_app_azp`, which is
/// for logging and display only, never for authorization: Microsoft documents it as informational
/// and a blueprint is not the party acting.
public struct AgentFacets: Sendable, Equatable {
    /// How the agent acts.
    public enum Kind: Sendable, Equatable {
        /// An agent identity acting for a signed-in user (agent OBO): the subject is the user.
        case actingForUser
        /// An agent identity acting as itself (client credentials): an app-only token.
        case autonomous
        /// An agent identity acting as its own user account (the agent-user flow): `xms_sub_fct` 13.
        case agentUser
    }

    /// `xms_act_fct`: the actor's facets (`11` = agent identity).
    public let actorFacets: [Int]
    /// `xms_sub_fct`: the subject's facets (`11` agent identity, `13` agent user).
    public let subjectFacets: [Int]
    /// `xms_par_app_azp`: the agent identity blueprint (parent application) of the client — for
    /// logs and display, never for authorization.
    public let blueprintAppID: String?
    /// `xms_idrel`: how the subject relates to the tenant (1 member, 5 guest, 7 service principal, …).
    public let identityRelation: Int?
    /// The agent identity that acted: the token's client (`azp` or `appid`), when the actor is an agent.
    public let agentIdentityID: String?
    /// How the agent acts, when the actor is an agent identity.
    public let kind: Kind?

    /// The actor is an agent identity (`11` in `xms_act_fct`).
    public var actorIsAgent: Bool { actorFacets.contains(11) }
    /// The subject is an agent user account (`13` in `xms_sub_fct`).
    public var subjectIsAgentUser: Bool { subjectFacets.contains(13) }

    init?(_ claims: [String: JSONValue]) {
        func facets(_ name: String) -> [Int] {
            switch claims[name] {
            case .string(let s)?: s.split(separator: " ").compactMap { Int($0) }
            case .number(let n)?: [Int(n)]
            case .array(let a)?: a.compactMap { $0.numberValue.map(Int.init) ?? $0.stringValue.flatMap { Int($0) } }
            default: []
            }
        }
        actorFacets = facets("xms_act_fct")
        subjectFacets = facets("xms_sub_fct")
        blueprintAppID = claims["xms_par_app_azp"]?.stringValue
        identityRelation =
            claims["xms_idrel"]?.numberValue.map(Int.init)
            ?? claims["xms_idrel"]?.stringValue.flatMap { Int($0.split(separator: " ").first ?? "") }
        if actorFacets.isEmpty && subjectFacets.isEmpty && blueprintAppID == nil { return nil }
        let isAgent = actorFacets.contains(11)
        agentIdentityID = isAgent ? (claims["azp"]?.stringValue ?? claims["appid"]?.stringValue) : nil
        if !isAgent {
            kind = nil
        } else if subjectFacets.contains(13) {
            kind = .agentUser
        } else if subjectFacets.contains(11) || claims["idtyp"]?.stringValue == "app" {
            kind = .autonomous
        } else {
            kind = .actingForUser
        }
    }
}

/// Why a ``ResourceConfiguration`` cannot be used: thrown when the validator is created, so a
/// misconfigured API fails at start-up rather than accepting tokens it should not.
public struct ResourceConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Why a resource refuses a request, in RFC 6750's terms.
public enum ResourceValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No bearer token (RFC 6750 §3.1: the challenge carries no error).
    case missingToken
    /// The token is not acceptable (`invalid_token`); the reason is for logs, not for the caller.
    case invalidToken(String)
    /// The token lacks a required scope or role (`insufficient_scope`, 403).
    case insufficientScope(required: [String])
    /// The token lacks an authentication context (`insufficient_claims` with a claims challenge).
    case insufficientClaims(claims: String)
    /// The issuer's metadata or keys could not be fetched.
    case keysUnavailable(String)

    public var description: String {
        switch self {
        case .missingToken: "No bearer token."
        case .invalidToken(let reason): "Invalid token: \(reason)"
        case .insufficientScope(let required): "The token needs one of: \(required.joined(separator: " "))."
        case .insufficientClaims(let claims): "The token needs claims: \(claims)."
        case .keysUnavailable(let reason): "The issuer's keys are unavailable: \(reason)"
        }
    }

    /// The HTTP status RFC 6750 gives the case (503 when keys cannot be had).
    public var status: Int {
        switch self {
        case .missingToken, .invalidToken, .insufficientClaims: 401
        case .insufficientScope: 403
        case .keysUnavailable: 503
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3; Entra's claims-challenge form for
    /// `insufficient_claims` (Microsoft Learn, "Claims challenges, claims requests and client capabilities"):
    /// `claims` is base64 of the JSON, with `authorization_uri`).
    /// - Parameters:
    ///   - resourceMetadata: the RFC 9728 metadata URL, added as `resource_metadata`.
    ///   - authorizationURI: the authority's authorize endpoint, for claims challenges.
    ///   - clientID: the resource's client id, added to claims challenges (as Graph does).
    ///   - scope: for a missing or invalid token, the scopes the request needs (RFC 6750 §3 `scope`).
    public func challenge(
        resourceMetadata: String? = nil, authorizationURI: String? = nil, clientID: String? = nil, scope: [String] = []
    ) -> String? {
        var challenge = AuthenticationChallenge(scheme: "Bearer")
        switch self {
        case .missingToken: if !scope.isEmpty { challenge.parameters = [.init("scope", scope.joined(separator: " "))] }
        case .invalidToken:
            challenge.parameters = [.init("error", "invalid_token")]
            if !scope.isEmpty { challenge.parameters.append(.init("scope", scope.joined(separator: " "))) }
        case .insufficientScope(let required):
            challenge.parameters = [.init("error", "insufficient_scope"), .init("scope", required.joined(separator: " "))]
        case .insufficientClaims(let claims):
            challenge = ClaimsChallenge(claims: claims, authorizationURI: authorizationURI).challenge(clientID: clientID)
        case .keysUnavailable: return nil
        }
        if let resourceMetadata { challenge.parameters.append(.init("resource_metadata", resourceMetadata)) }
        return challenge.headerValue
    }
}

/// Validates access tokens for a resource: the issuer's metadata and keys (discovered and
/// cached), the checks of Microsoft Learn's "Access tokens in the Microsoft identity platform", the resource's
/// scope, role and authentication-context
/// requirements, and a bounded cache of verified tokens so a repeated token costs a lookup.
public final class ResourceValidator: Sendable {
    public let configuration: ResourceConfiguration
    let time: any TimeSource
    let client: HTTPClient
    private let metadata: AuthorityMetadataSource
    /// nil when ``ResourceConfiguration/cacheSize`` is 0.
    private let verified: LRUCache<String, Principal>?
    /// nil without ``ResourceConfiguration/continuousAccess``.
    private let criticalEvents: CriticalEventMonitor?

    /// Tokens larger than this are refused before parsing (Entra's tokens are a few KiB).
    public static let maximumTokenSize = TokenValidator.maximumTokenSize

    /// A validator for a resource.
    /// - Throws: ``ResourceConfigurationError`` when the configuration cannot be used safely: no
    ///   audience, an authority that is not a URL with a tenant, or a multi-tenant authority with
    ///   neither ``ResourceConfiguration/allowedTenants`` nor ``ResourceConfiguration/allowAnyTenant``.
    public init(
        _ configuration: ResourceConfiguration, client: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    )
        throws(ResourceConfigurationError)
    {
        try Self.check(configuration)
        self.configuration = configuration
        self.time = time
        self.client = client
        self.metadata = AuthorityMetadataSource(configuration: configuration, client: client, time: time)
        self.verified = configuration.cacheSize > 0 ? LRUCache(capacity: configuration.cacheSize) : nil
        self.criticalEvents = configuration.continuousAccess.map {
            CriticalEventMonitor(configuration: $0, client: client, time: time, timeout: configuration.fetchTimeout)
        }
    }

    static func check(_ c: ResourceConfiguration) throws(ResourceConfigurationError) {
        guard !c.audiences.isEmpty else {
            throw ResourceConfigurationError("No audience is configured: say which aud values are this API's.")
        }
        let multiTenant: Bool
        switch c.keys {
        case .discovery:
            guard let rules = IssuerRules(authority: c.authority) else {
                throw ResourceConfigurationError(
                    "The authority '\(c.authority)' is not a URL with a tenant, such as https://login.microsoftonline.com/<tenant>/v2.0.")
            }
            multiTenant = rules.isMultiTenant
        case .jwks(_, let issuer): multiTenant = issuer.contains("{tenantid}")
        }
        if multiTenant, c.allowedTenants == nil, !c.allowAnyTenant {
            throw ResourceConfigurationError(
                "The authority '\(c.authority)' is multi-tenant: set allowedTenants to the tenant ids accepted, or allowAnyTenant = true to accept every tenant."
            )
        }
    }

    /// Validates the `Authorization` header's bearer token.
    public func validate(authorizationHeader: String?) async throws(ResourceValidationError) -> Principal {
        guard let header = authorizationHeader, let token = Self.bearerToken(header) else { throw .missingToken }
        return try await validate(token)
    }

    /// The token of `Bearer <token>` (the scheme case-insensitive, RFC 9110 §11.1), read over the
    /// UTF-8 bytes: this runs on every request, and `String`'s Unicode-aware trimming of a
    /// kilobyte token cost more than the cached validation itself.
    public static func bearerToken(_ header: String) -> String? {
        let bytes = header.utf8
        var i = bytes.startIndex
        for expected in "bearer".utf8 {
            guard i != bytes.endIndex, bytes[i] | 0x20 == expected else { return nil }
            i = bytes.index(after: i)
        }
        guard i != bytes.endIndex, bytes[i] == UInt8(ascii: " ") else { return nil }
        while i != bytes.endIndex, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i = bytes.index(after: i) }
        var end = bytes.endIndex
        while end > i, case let b = bytes[bytes.index(before: end)], b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
            end = bytes.index(before: end)
        }
        guard i < end else { return nil }
        return String(Substring(bytes[i..<end]))
    }

    /// Validates a token (a `validate token` span when tracing is on).
    public func validate(_ token: String) async throws(ResourceValidationError) -> Principal {
        do {
            return try await withSpan("validate token") { span in
                do { return try await verify(token) } catch {
                    span.attributes["deputy.refused"] = "\(error)"
                    throw error
                }
            }
        } catch let e as ResourceValidationError {
            throw e
        } catch {
            throw .keysUnavailable("\(error)")
        }
    }

    func verify(_ token: String) async throws(ResourceValidationError) -> Principal {
        guard !token.isEmpty else { throw .missingToken }
        guard token.utf8.count <= Self.maximumTokenSize else {
            throw .invalidToken("The token is larger than \(Self.maximumTokenSize) bytes.")
        }
        let now = time.now()
        let key = Self.cacheKey(token)
        if let principal = verified?.value(for: key, now: now) {
            // Requirements are checked again: they are cheap and the cache holds only valid tokens.
            try check(principal)
            try await checkContinuousAccess(principal)
            return principal
        }
        let jwt: UnverifiedJWT
        do { jwt = try UnverifiedJWT(token) } catch { throw .invalidToken(error.reason) }
        // Entra's access tokens say `JWT`; RFC 9068 tokens say `at+jwt`. Anything else is not an access token.
        let typ = jwt.header["typ"]?.stringValue?.lowercased()
        guard typ == "jwt" || typ == "at+jwt" else { throw .invalidToken("The token's typ '\(typ ?? "(none)")' is not JWT or at+jwt.") }
        let tid = jwt.string("tid")
        let issuers: Set<String>
        do { issuers = try await metadata.issuers(tenantID: tid) } catch { throw .keysUnavailable("\(error)") }
        if let allowed = configuration.allowedTenants, !allowed.contains(tid ?? "") {
            throw .invalidToken("The tenant '\(tid ?? "(none)")' is not accepted.")
        }
        let policy = ValidationPolicy(
            issuers: issuers, audiences: configuration.audiences, algorithms: configuration.algorithms,
            clockSkew: configuration.clockSkew)
        let validated: ValidatedToken
        do { validated = try await metadata.validate(token, parsed: jwt, policy: policy) } catch let e as TokenValidationError {
            throw .invalidToken(e.description)
        } catch {
            // Anything else is about getting the keys (discovery, the JWKS, the network): not the caller's fault.
            throw .keysUnavailable("\(error)")
        }
        let kind: ResourceConfiguration.TokenKind
        switch validated.kind {
        case .idToken: throw .invalidToken("An ID token is not an access token.")
        case .userAccessToken: kind = .delegated
        case .appOnlyAccessToken: kind = .appOnly
        }
        guard configuration.acceptedKinds.contains(kind) else {
            throw .invalidToken(
                kind == .appOnly ? "App-only tokens are not accepted here." : "Delegated (user) tokens are not accepted here.")
        }
        // The tenant the token claims must be the one its issuer names (Microsoft Learn, "Access
        // tokens in the Microsoft identity platform": the issuer carries the tenant id).
        if let tid = validated.tenantID, let iss = validated.issuer, !IssuerRules.issuer(iss, namesTenant: tid) {
            throw .invalidToken("The token's tid '\(tid)' is not the tenant of its issuer.")
        }
        guard let exp = validated.expiresAt else { throw .invalidToken("The token has no exp.") }
        let principal = Principal(validated, expiresAt: exp)
        verified?.set(principal, for: key, expiresAt: exp + configuration.clockSkew)
        try check(principal)
        try await checkContinuousAccess(principal)
        return principal
    }

    /// A user's token issued before their latest critical event is refused: with the `nbf`
    /// claims challenge when the client declared it can take one (`xms_cc` has `cp1`), otherwise as
    /// an invalid token (Microsoft Learn, "How to use Continuous Access Evaluation enabled APIs in
    /// your applications").
    func checkContinuousAccess(_ p: Principal) async throws(ResourceValidationError) {
        guard let criticalEvents, p.kind == .user, let oid = p.objectID,
            let event = await criticalEvents.latestEvent(for: oid)
        else { return }
        let issuedAt = p.claims["iat"]?.numberValue ?? 0
        guard issuedAt < event.timeIntervalSince1970 else { return }
        let capable = p.claims["xms_cc"]?.arrayValue?.contains { $0.stringValue?.lowercased() == "cp1" } ?? false
        Counter(label: "deputy_cae_rejections_total", dimensions: [("challenge", capable ? "insufficient_claims" : "invalid_token")])
            .increment()
        if capable { throw .insufficientClaims(claims: ClaimsRequest.notBefore(event).jsonString) }
        throw .invalidToken(
            "The token was issued before a critical event for its user (sessions revoked, password changed, account disabled).")
    }

    /// Why the critical-event feed could not be read the last time, if it could not (see
    /// ``ResourceConfiguration/continuousAccess``).
    public func continuousAccessFeedError() async -> String? { await criticalEvents?.lastError }

    /// The resource's requirements: a scope (delegated) or role (app-only), and an authentication context.
    func check(_ p: Principal) throws(ResourceValidationError) {
        if p.kind == .user, !configuration.requiredScopes.isEmpty, configuration.requiredScopes.isDisjoint(with: p.scopes) {
            throw .insufficientScope(required: configuration.requiredScopes.sorted())
        }
        if p.kind == .application, !configuration.requiredRoles.isEmpty, configuration.requiredRoles.isDisjoint(with: p.roles) {
            throw .insufficientScope(required: configuration.requiredRoles.sorted())
        }
        if let acr = configuration.requiredAuthenticationContext, p.kind == .user, !p.authenticationContexts.contains(acr) {
            throw .insufficientClaims(claims: Self.authenticationContextClaims(acr))
        }
    }

    /// `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}` (Microsoft Learn,
    /// "Claims challenges, claims requests and client capabilities").
    public static func authenticationContextClaims(_ acr: String) -> String {
        String(
            decoding: JSONValue.object(["access_token": .object(["acrs": .object(["essential": .bool(true), "value": .string(acr)])])])
                .serialized,
            as: UTF8.self)
    }

    static func cacheKey(_ token: String) -> String {
        var token = token
        return token.withUTF8 { Base64URL.encode(SHA256.hash(data: $0)) }
    }

    /// The authority's authorize endpoint (for claims challenges).
    public var authorizationEndpoint: String {
        let base = configuration.authority.hasSuffix("/v2.0") ? String(configuration.authority.dropLast(5)) : configuration.authority
        return base + "/oauth2/v2.0/authorize"
    }
}
