import DeputyCore
import Foundation

/// Resource owner password credentials (RFC 6749 §4.3) as Entra has it: public clients that
/// allow public flows (`isFallbackPublicClient`) or confidential clients with their credential.
struct PasswordGrantHandler: GrantHandler {
    let grantType = "password"

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> TokenIssuer.UserIssuance {
        let app = context.client.application
        if !context.client.isConfidential && !(app.isFallbackPublicClient ?? false) {
            throw OAuthError.publicClientFlowsDisabled(appID: app.appId)
        }
        let username = try request.form.require("username")
        let password = try request.form.require("password")
        let resolved = try context.resolveUserScopes(Scopes.parse(try request.form.require("scope")), request: request)
        let found = context.tenant.user(login: username)
        // Smart lockout and the same bcrypt work whether or not the account exists.
        let matched = try await context.authority.checkPassword(
            password, login: username, user: found, tenant: context.tenant,
            ipAddress: request.ipAddress)
        guard let user = found else {
            context.draft.record.userPrincipalName = username
            throw OAuthError.userNotFound(username, tenant: context.tenant.tenant.displayName)
        }
        context.draft.user(user)
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        guard matched else { throw OAuthError.invalidCredentials() }
        _ = try context.requireResource(resolved, request: request)
        let granted = try Consent.grantedScopes(
            client: app, resolved: resolved, userID: user.id, tenant: context.tenant, draft: context.draft)
        return .init(
            user: user,
            authentication: Authentication(userID: user.id, authTime: context.now, methods: ["pwd"], ipAddress: request.ipAddress),
            resolved: resolved, grantedScopes: granted, nonce: nil, platform: context.client.isConfidential ? .web : .publicClient,
            familyID: nil, familyStartedAt: nil, claims: try request.claimsRequest(), isInteractive: false,
            clientInfo: request.wantsClientInfo)
    }

    func issue(_ issuance: TokenIssuer.UserIssuance, context: GrantContext) async throws -> TokenResponse {
        try await TokenIssuer(context: context).issueForUser(issuance)
    }
}
