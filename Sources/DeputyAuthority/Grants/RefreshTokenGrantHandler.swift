import DeputyCore
import Foundation

/// RFC 6749 §6 as Entra has it: a refresh token is bound to its client, every redemption returns
/// a new one, consent is re-checked, SPA tokens keep a fixed 24-hour lifetime (AADSTS700084).
/// Entra leaves a redeemed token usable; with the tenant's `strict` setting (RFC 9700 §4.14.2)
/// a second redemption revokes the whole family.
struct RefreshTokenGrantHandler: GrantHandler {
    let grantType = "refresh_token"
    let repeatableParameters: Set<String> = ["resource"]

    struct Validated: Sendable {
        var tokenHash: String
        var record: RefreshTokenRecord
        var issuance: TokenIssuer.UserIssuance
    }

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        let token = try request.form.require("refresh_token")
        let hash = TokenIssuer.hash(token)
        let record: RefreshTokenRecord
        do {
            guard let r = try await context.authority.store.refreshToken(hash: hash) else {
                throw OAuthError.invalidGrantValue("refresh_token")
            }
            record = r
        } catch StorageError.revoked {
            throw OAuthError.refreshTokenRevoked()
        }
        try context.requireBound(tenantID: record.tenantID, clientID: record.clientID, "refresh token")
        try PlatformRules.check(platform: record.platform, origin: request.origin, client: context.client, grantType: grantType)
        if record.expiresAt <= context.now {
            throw record.platform == .spa ? OAuthError.spaRefreshTokenExpired() : OAuthError.grantExpired()
        }
        // A deleted user is not a disabled one (Entra: AADSTS50034, the account does not exist).
        guard let user = context.tenant.user(id: record.authentication.userID) else {
            throw OAuthError.userNotFound(record.authentication.userID, tenant: context.tenant.tenant.displayName)
        }
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        context.draft.user(user)
        let requested = request.form["scope"].map { Scopes.parse($0) } ?? record.scopes
        let resolved = try context.resolveUserScopes(requested, request: request)
        let granted = try Consent.grantedScopes(
            client: context.client.application, resolved: resolved, userID: user.id,
            tenant: context.tenant, draft: context.draft)
        // The access (and id) token; the refresh token is rotated by `issue` itself, in the same family.
        var issuance = TokenIssuer.UserIssuance(
            user: user, authentication: record.authentication, resolved: resolved, grantedScopes: granted, nonce: nil,
            platform: record.platform, familyID: record.familyID, familyStartedAt: nil, claims: try request.claimsRequest(),
            isInteractive: false, clientInfo: request.wantsClientInfo)
        // A middle tier refreshing its OBO token is still acting for the user where the user signed in.
        if record.carriesSignInLocation == true { issuance.conditionalAccessIPAddress = record.authentication.ipAddress }
        return Validated(tokenHash: hash, record: record, issuance: issuance)
    }

    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse {
        let store = context.authority.store
        let record = validated.record
        let issuer = TokenIssuer(context: context)
        var withoutRefresh = validated.issuance
        withoutRefresh.resolved.openID.remove("offline_access")
        var response = try await issuer.issueForUser(withoutRefresh)
        // A refresh always answers with a refresh token (Entra), bound to the same family.
        var issuance = validated.issuance
        issuance.resolved.openID.insert("offline_access")
        let qualified = issuance.resolved.qualified(issuance.grantedScopes)
        var (newToken, successor) = issuer.newRefreshToken(
            issuance, scopes: qualified + issuance.resolved.openID.sorted(), now: context.now)
        if record.platform == .spa { successor.expiresAt = record.expiresAt }
        do {
            try await store.rotateRefreshToken(
                hash: validated.tokenHash, successor: successor, at: context.now, singleUse: context.tenant.isStrict)
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
}
