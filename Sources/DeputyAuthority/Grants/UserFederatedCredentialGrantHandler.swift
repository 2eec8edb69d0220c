import DeputyCore
import DeputyTokenValidation
import Foundation

/// The agent-user flow's last step (Microsoft Learn, "Agent user flow"; MSAL.NET
/// `AcquireTokenByUserFederatedIdentityCredential`): `grant_type=user_fic`, the agent identity
/// authenticated by T1, `user_federated_identity_credential` = T2 (the agent identity's own
/// exchange token) and the agent user by `username` or `user_id`. The token is a user token whose
/// subject is the agent user (`xms_sub_fct` 13); the delegated scopes are those granted to the
/// agent identity for that user (or inherited from the blueprint).
struct UserFederatedCredentialGrantHandler: GrantHandler {
    let grantType = "user_fic"

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> TokenIssuer.UserIssuance {
        guard let agent = context.client.agent else { throw OAuthError.userFICNeedsAgentIdentity(appID: context.client.application.appId) }
        let credential = try request.form.require("user_federated_identity_credential")
        return try await Self.validate(credential: credential, request: request, agent: agent, context: context)
    }

    func issue(_ issuance: TokenIssuer.UserIssuance, context: GrantContext) async throws -> TokenResponse {
        try await TokenIssuer(context: context).issueForUser(issuance)
    }

    /// Shared with the older jwt-bearer form (`assertion` = T2 with `username`).
    static func validate(
        credential: String, request: TokenRequest, agent: AgentClient, context: GrantContext
    ) async throws -> TokenIssuer.UserIssuance {
        let form = request.form
        // The credential is this grant's input, not the client's authentication: invalid_grant.
        let t2 = try await AssertionValidator(context).agentCredential(credential, use: .userCredential)
        let issuedTo = t2.clientID ?? ""
        let subject = t2.subject ?? ""
        if issuedTo.lowercased() != subject.lowercased() {
            // A T1 (issued to the blueprint) where the agent's own T2 belongs.
            throw OAuthError.agentTokenMisused(
                "The user federated identity credential must be the agent identity's own token for api://AzureADTokenExchange (client_credentials as the agent identity), not its blueprint's.",
                asClientCredential: false)
        }
        guard subject.lowercased() == agent.identity.appId.lowercased() else {
            throw OAuthError.userCredentialForOtherAgent(subject: subject, expected: agent.identity.appId)
        }
        let named: String
        let found: User?
        if let id = form["user_id"] {
            named = id
            found = context.tenant.user(id: id)
        } else {
            named = try form.require("username")
            found = context.tenant.user(login: named)
        }
        guard let user = found else {
            context.draft.record.userPrincipalName = named
            throw OAuthError.userNotFound(named, tenant: context.tenant.tenant.displayName)
        }
        context.draft.user(user)
        guard user.isAgentUser, user.identityParentId == agent.identity.id else {
            throw OAuthError.agentUserOfOtherAgent(user: named, agentAppID: agent.identity.appId)
        }
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        var resolved = try ResolvedScopes.resolve(
            Scopes.parse(try form.require("scope")), tenant: context.tenant, tenantName: request.tenantSegment)
        _ = try context.requireResource(resolved, request: request)
        resolved.audience = try checkResourceIndicators(form, resolved: resolved, tenant: context.tenant)
        let granted = try Consent.grantedScopes(
            client: context.client.application, resolved: resolved, userID: user.id, tenant: context.tenant,
            draft: context.draft)
        // The agent user authenticates through its agent identity's federated credential.
        let authentication = Authentication(userID: user.id, authTime: context.now, methods: ["fed"])
        return .init(
            user: user, authentication: authentication, resolved: resolved, grantedScopes: granted, nonce: nil, platform: .web,
            familyID: nil, familyStartedAt: nil, claims: try request.claimsRequest(), isInteractive: false,
            clientInfo: request.wantsClientInfo)
    }
}
