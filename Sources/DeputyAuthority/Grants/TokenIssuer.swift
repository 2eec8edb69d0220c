import Crypto
import DeputyCore
import Foundation

/// The shared second half of every grant: Conditional Access, then minting, then the refresh
/// token, in that order (DESIGN.md steps 6–7). Handlers call it after validating their inputs.
struct TokenIssuer {
    let context: GrantContext

    struct UserIssuance {
        var user: User
        var authentication: Authentication
        var resolved: ResolvedScopes
        /// Granted scope values on the resource.
        var grantedScopes: [String]
        var nonce: String?
        var platform: ClientPlatform
        /// Reuse this refresh-token family (codes and refresh tokens) or start one.
        var familyID: String?
        /// For SPA families: when the family started (its 24-hour clock).
        var familyStartedAt: Date?
        var claims: ClaimsRequest
        var isInteractive: Bool
        /// Whether to include `client_info` (MSAL asks with `client_info=1`).
        var clientInfo: Bool
        /// Where Conditional Access places the sign-in when it is not the request's address: for a
        /// middle tier or an agent acting for a user, the user's own sign-in as recorded in the
        /// assertion (Microsoft Learn, "Conditional Access for agent identities": network conditions
        /// use the user's location), never the middle tier's address.
        var conditionalAccessIPAddress: String? = nil
    }

    /// Issues an access token for a user (plus id_token and refresh token when asked).
    func issueForUser(_ i: UserIssuance) async throws -> TokenResponse {
        let authority = context.authority
        let tenant = context.tenant
        let draft = context.draft
        guard let resource = i.resolved.resource else { throw OAuthError.invalidScope("", "A resource scope is required.") }
        draft.user(i.user)
        draft.resource(resource)
        draft.record.authenticationMethodsUsed = i.authentication.methods
        draft.record.signInEventTypes = [i.isInteractive ? "interactiveUser" : "nonInteractiveUser"]
        try ContinuousAccess.requireCurrentSignIn(user: i.user, authentication: i.authentication, claims: i.claims)
        let roles = tenant.appRoles(principalID: i.user.id, resource: resource, includeGroups: true)
        var ca = SignInContext(
            tenant: tenant, user: i.user, client: context.client.application, resource: resource, isInteractive: i.isInteractive,
            authentication: i.authentication, requestedAuthenticationContexts: i.claims.requestedAuthenticationContexts,
            ipAddress: i.conditionalAccessIPAddress ?? draft.record.ipAddress, authenticationProtocol: draft.record.authenticationProtocol)
        ca.agent = context.client.agent.map {
            SignInContext.AgentFacts(identity: $0.identity, blueprint: $0.blueprint, isAutonomous: false)
        }
        if let agent = context.client.agent {
            draft.agent(i.user.isAgentUser ? .asAgentUser : .forUser, identity: agent.identity, blueprint: agent.blueprint)
        }
        ca.requiredPolicyIDs = i.claims.policyIDs
        // Sign-ins that began in a browser (web apps and SPAs redeeming codes and refresh tokens)
        // are `browser`; native apps and middle tiers are `mobileAppsAndDesktopClients`.
        // A middle tier refreshing its OBO token is not a browser (it acts where the user signed in).
        if (i.platform == .spa || i.platform == .web) && i.conditionalAccessIPAddress == nil
            && ["authorization_code", "refresh_token"].contains(draft.record.authenticationProtocol)
        {
            ca.clientAppType = "browser"
        }
        let outcome = try context.conditionalAccess(ca)
        // The token's `acrs`: contexts asked for and satisfied now or earlier, or every satisfied
        // one when the resource opted in to the `acrs` optional claim (Microsoft Learn, "Developer
        // guide to Conditional Access authentication context").
        // Carried contexts are evaluated again, with the original authentication time.
        let satisfied = context.authenticationContexts(carried: i.authentication.acrs, outcome: outcome, in: ca)
        let acrs = satisfied.filter {
            resource.wantsOptionalAccessTokenClaim("acrs") || i.claims.requestedAuthenticationContexts.contains($0)
        }
        if !acrs.isEmpty { draft.record.authenticationContextClassReferences = acrs }
        let keys = try await authority.currentKeys()
        let now = context.now
        let qualified = i.resolved.qualified(i.grantedScopes)
        let minted = try TokenMinter(configuration: context.configuration).accessToken(
            .init(
                tenant: tenant, subject: .user(i.user, i.authentication), client: context.client.application,
                clientAuthenticationLevel: context.client.credential.authenticationLevel, resource: resource,
                resourceIdentifier: i.resolved.resourceIdentifier ?? resource.appId, scopes: i.grantedScopes, roles: roles,
                acrs: acrs, audience: i.resolved.audience,
                clientCapabilities: i.claims.clientCapabilities, ipAddress: i.conditionalAccessIPAddress ?? draft.record.ipAddress,
                agent: context.client.agent),
            key: keys.current, now: now)
        var response = TokenResponse(
            scope: Scopes.format(qualified), expiresIn: minted.expiresIn, extExpiresIn: minted.expiresIn,
            accessToken: minted.token)
        if i.resolved.wantsIDToken {
            response.idToken = try TokenMinter(configuration: context.configuration).idToken(
                tenant: tenant, user: i.user, authentication: i.authentication, client: context.client.application,
                nonce: i.nonce, key: keys.current, now: now)
        }
        if i.clientInfo { response.clientInfo = TokenMinter.clientInfo(userID: i.user.id, tenantID: tenant.tenantID) }
        if i.resolved.wantsRefreshToken {
            let (token, record) = newRefreshToken(i, scopes: qualified + i.resolved.openID.sorted(), now: now)
            try await authority.store.saveRefreshToken(record)
            response.refreshToken = token
        }
        draft.record.uniqueTokenIdentifier = minted.uti
        draft.record.scopes = qualified
        return response
    }

    func newRefreshToken(_ i: UserIssuance, scopes: [String], now: Date) -> (String, RefreshTokenRecord) {
        let token = "1.D" + TokenMinter.randomID(bytes: 48)
        let expires: Date =
            i.platform == .spa
            ? (i.familyStartedAt ?? now) + context.configuration.spaRefreshTokenLifetime
            : now + context.configuration.refreshTokenInactivity
        var record = RefreshTokenRecord(
            tokenHash: TokenIssuer.hash(token), familyID: i.familyID ?? TokenMinter.randomID(), tenantID: context.tenant.tenantID,
            clientID: context.client.application.appId, platform: i.platform, authentication: i.authentication,
            scopes: scopes, createdAt: now, expiresAt: expires)
        if i.conditionalAccessIPAddress != nil { record.carriesSignInLocation = true }
        return (token, record)
    }

    /// Stored form of codes, refresh tokens, device codes and session ids.
    static func hash(_ secret: String) -> String { Base64URL.encode(SHA256.hash(data: Data(secret.utf8))) }
}
