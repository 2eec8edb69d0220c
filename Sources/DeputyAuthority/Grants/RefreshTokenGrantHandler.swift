import DeputyCore
import Foundation

/// RFC 6749 §6 as Entra has it: a refresh token is bound to its client, every redemption returns
/// a new one, consent is re-checked, SPA tokens keep a fixed 24-hour lifetime (AADSTS700084).
/// Entra leaves a redeemed token usable; with the tenant's `strict` setting (RFC 9700 §4.14.2)
/// a second redemption revokes the whole family.
struct RefreshTokenGrantHandler: GrantHandler {
    let grantType = "refresh_token"
    let repeatableParameters: Set<String> = ["resource"]

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        let token = try request.form.require("refresh_token")
        let hash = TokenIssuer.hash(token)
        let store = context.authority.store
        let record: RefreshTokenRecord
        do {
            guard let r = try await store.refreshToken(hash: hash) else { throw OAuthError.invalidGrantValue("refresh_token") }
            record = r
        } catch StorageError.revoked {
            throw OAuthError.refreshTokenRevoked()
        }
        guard record.tenantID == context.tenant.tenantID, record.clientID.lowercased() == context.client.application.appId.lowercased()
        else {
            throw OAuthError.grantBoundToOtherClient("refresh token")
        }
        try PlatformRules.check(platform: record.platform, origin: request.origin, client: context.client, grantType: grantType)
        if record.expiresAt <= context.now {
            throw record.platform == .spa ? OAuthError.spaRefreshTokenExpired() : OAuthError.grantExpired()
        }
        guard let user = context.tenant.user(id: record.authentication.userID), user.isEnabled else { throw OAuthError.userDisabled() }
        context.draft.user(user)
        let requested = request.form["scope"].map { Scopes.parse($0) } ?? record.scopes
        let resolved = try ResolvedScopes.resolve(requested, tenant: context.tenant, tenantName: request.tenantSegment)
        try checkResourceIndicators(request.form, resolved: resolved, tenant: context.tenant)
        let granted = try Consent.grantedScopes(
            client: context.client.application, resolved: resolved, userID: user.id,
            tenant: context.tenant, draft: context.draft)
        let claims = try request.form["claims"].map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        let issuer = TokenIssuer(context: context)
        var issuance = TokenIssuer.UserIssuance(
            user: user, authentication: record.authentication, resolved: resolved, grantedScopes: granted, nonce: nil,
            platform: record.platform, familyID: record.familyID, familyStartedAt: nil, claims: claims, isInteractive: false,
            clientInfo: request.form["client_info"] == "1")
        // A refresh always answers with a refresh token (Entra), bound to the same family.
        issuance.resolved.openID.insert("offline_access")
        var response = try await withoutRefreshToken(issuer, issuance)
        let qualified = resolved.qualified(granted)
        var (newToken, successor) = issuer.newRefreshToken(
            issuance, scopes: qualified + issuance.resolved.openID.sorted(), now: context.now)
        if record.platform == .spa { successor.expiresAt = record.expiresAt }
        do {
            try await store.rotateRefreshToken(hash: hash, successor: successor, at: context.now, singleUse: context.tenant.isStrict)
        } catch StorageError.alreadyConsumed {
            try await store.revokeFamily(record.familyID)
            context.draft.record.note = "Refresh token reuse detected (strict mode): the token family was revoked."
            throw OAuthError.refreshTokenRevoked()
        } catch StorageError.revoked {
            throw OAuthError.refreshTokenRevoked()
        }
        response.refreshToken = newToken
        return response
    }

    /// Issues the access (and id) token; the refresh token is rotated by the handler itself.
    private func withoutRefreshToken(_ issuer: TokenIssuer, _ issuance: TokenIssuer.UserIssuance) async throws -> TokenResponse {
        var i = issuance
        i.resolved.openID.remove("offline_access")
        return try await issuer.issueForUser(i)
    }
}
