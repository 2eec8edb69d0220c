import DeputyCore
public import Foundation

/// How an authority is reached and how long what it issues lives.
public struct AuthorityConfiguration: Sendable {
    /// The base URL clients use, e.g. `https://127.0.0.1:7400` (no trailing slash). Issuers are
    /// derived from it: v2 `{base}/{tenant id}/v2.0`, v1 `{base}/{tenant id}/`.
    public var baseURL: String
    /// Fetches Client ID Metadata Documents for tenants in MCP spec mode (the server adapter
    /// supplies one); without it, URL client ids are unknown clients.
    public var clientMetadataFetcher: (any ClientMetadataFetching)? = nil
    /// Range of access-token lifetimes; a random value is picked per token (Entra: 60–90 minutes).
    public var accessTokenLifetime: ClosedRange<Int> = 3600...5400
    public var idTokenLifetime = 3600
    /// Lifetimes of continuous access evaluation tokens: user tokens for a client that declared
    /// the `cp1` capability (Microsoft Learn, "Continuous access evaluation": 20 to 28 hours). At
    /// most ``CriticalEvent/retention``, so a resource always learns the events that concern them.
    public var caeAccessTokenLifetime: ClosedRange<Int> = 72_000...100_800
    /// Refresh tokens expire after this much inactivity (Entra: 90 days).
    public var refreshTokenInactivity: TimeInterval = 90 * 86_400
    /// SPA refresh tokens live a fixed 24 hours (Entra).
    public var spaRefreshTokenLifetime: TimeInterval = 86_400
    public var authorizationCodeLifetime: TimeInterval = 600
    public var deviceCodeLifetime: TimeInterval = 900
    public var deviceCodeInterval = 5
    public var sessionLifetime: TimeInterval = 24 * 3600
    public var interactiveFlowLifetime: TimeInterval = 1800
    /// bcrypt cost for the demo passwords Deputy hashes (tests lower it).
    public var passwordHashCost: UInt8 = 10
    /// Password lockout (Entra's smart lockout defaults).
    public var smartLockout = SmartLockout.Settings()
    /// Allowed clock skew for client assertions.
    public var clockSkew: TimeInterval = 300
    /// Whether the service is served over https (cookies get `Secure`).
    public var isHTTPS: Bool { baseURL.hasPrefix("https://") }

    public init(baseURL: String) {
        var b = baseURL
        while b.hasSuffix("/") { b.removeLast() }
        self.baseURL = b
    }

    public func issuerV2(tenantID: String) -> String { "\(baseURL)/\(tenantID)/v2.0" }
    public func issuerV1(tenantID: String) -> String { "\(baseURL)/\(tenantID)/" }
    public func tokenEndpoint(tenant: String) -> String { "\(baseURL)/\(tenant)/oauth2/v2.0/token" }
    public func authorizeEndpoint(tenant: String) -> String { "\(baseURL)/\(tenant)/oauth2/v2.0/authorize" }
    public var deviceVerificationURI: String { "\(baseURL)/devicelogin" }

    /// Lifetimes from a tenant's settings, falling back to these.
    func applying(_ l: TokenLifetimes?) -> AuthorityConfiguration {
        guard let l else { return self }
        var c = self
        let lo = l.accessTokenMinSeconds ?? min(c.accessTokenLifetime.lowerBound, l.accessTokenMaxSeconds ?? .max)
        let hi = l.accessTokenMaxSeconds ?? max(lo, c.accessTokenLifetime.upperBound)
        if lo > 0, lo <= hi { c.accessTokenLifetime = lo...hi }
        if let v = l.idTokenSeconds { c.idTokenLifetime = v }
        if l.caeAccessTokenMinSeconds != nil || l.caeAccessTokenMaxSeconds != nil {
            let cap = Int(CriticalEvent.retention)
            let lo = min(l.caeAccessTokenMinSeconds ?? min(c.caeAccessTokenLifetime.lowerBound, l.caeAccessTokenMaxSeconds ?? .max), cap)
            let hi = min(l.caeAccessTokenMaxSeconds ?? max(lo, c.caeAccessTokenLifetime.upperBound), cap)
            if lo > 0, lo <= hi { c.caeAccessTokenLifetime = lo...hi }
        }
        if let v = l.refreshTokenInactivitySeconds { c.refreshTokenInactivity = TimeInterval(v) }
        if let v = l.spaRefreshTokenSeconds { c.spaRefreshTokenLifetime = TimeInterval(v) }
        if let v = l.authorizationCodeSeconds { c.authorizationCodeLifetime = TimeInterval(v) }
        if let v = l.deviceCodeSeconds { c.deviceCodeLifetime = TimeInterval(v) }
        if let v = l.deviceCodeIntervalSeconds { c.deviceCodeInterval = v }
        if let v = l.sessionSeconds { c.sessionLifetime = TimeInterval(v) }
        return c
    }
}
