import DeputyCore
import DeputyTokenValidation
import Foundation

/// Entra's On-Behalf-Of grant (RFC 7523 jwt-bearer with `requested_token_use=on_behalf_of`;
/// Microsoft Learn, "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow"). The middle tier authenticates
/// as itself (secret, certificate or
/// federated credential) and presents the user's access token as `assertion`; it gets a token for
/// one downstream resource with exactly the delegated scopes the tenant granted it — never its
/// own app roles.
struct OnBehalfOfGrantHandler: GrantHandler {
    let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> TokenIssuer.UserIssuance {
        let form = request.form
        let client = context.client
        // Both are required: the middle tier's own credential and the user's token.
        guard client.isConfidential else { throw OAuthError.missingClientCredential() }
        guard try form.require("requested_token_use") == "on_behalf_of" else {
            throw OAuthError.invalidParameter("requested_token_use", "Expected 'on_behalf_of'.")
        }
        let assertion = try form.require("assertion")
        if let agent = client.agent, form["username"] != nil || form["user_id"] != nil {
            // The agent-user flow's older form (Microsoft Learn, "Agent user flow", an earlier
            // revision): jwt-bearer with assertion = T2 and the agent user's name.
            return try await UserFederatedCredentialGrantHandler.validate(
                credential: assertion, request: request, agent: agent, context: context)
        }
        // An agent identity's OBO: the user's token is for the blueprint, not for the agent
        // identity (Microsoft Learn, "Agent OBO flow").
        let audience = client.agent?.blueprint ?? client.application
        let validated = try await AssertionValidator(context).userAssertion(assertion, caller: audience)
        guard let oid = validated.objectID, let user = context.tenant.user(id: oid) else {
            throw OAuthError.invalidAssertion("The assertion's user (oid) does not exist in this tenant.")
        }
        context.draft.user(user)
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        var resolved = try ResolvedScopes.resolve(
            Scopes.parse(try form.require("scope")), tenant: context.tenant, tenantName: request.tenantSegment)
        context.draft.resource(try context.requireResource(resolved, request: request))
        resolved.audience = try checkResourceIndicators(form, resolved: resolved, tenant: context.tenant)
        let granted = try Consent.grantedScopes(
            client: client.application, resolved: resolved, userID: user.id, tenant: context.tenant,
            draft: context.draft)
        let authentication = AssertionValidator.authentication(of: validated, userID: user.id)
        var issuance = TokenIssuer.UserIssuance(
            user: user, authentication: authentication, resolved: resolved,
            grantedScopes: granted, nonce: nil, platform: .web, familyID: nil, familyStartedAt: nil, claims: try request.claimsRequest(),
            isInteractive: false, clientInfo: request.wantsClientInfo)
        // Network conditions use the user's location at sign-in, carried in the assertion.
        issuance.conditionalAccessIPAddress = authentication.ipAddress
        return issuance
    }

    func issue(_ issuance: TokenIssuer.UserIssuance, context: GrantContext) async throws -> TokenResponse {
        try await TokenIssuer(context: context).issueForUser(issuance)
    }
}
