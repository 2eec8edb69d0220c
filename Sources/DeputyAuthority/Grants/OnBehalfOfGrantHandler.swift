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

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
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
            return try await UserFederatedCredentialGrantHandler.issue(
                credential: assertion, request: request, agent: agent, context: context)
        }
        // An agent identity's OBO: the user's token is for the blueprint, not for the agent
        // identity (Microsoft Learn, "Agent OBO flow").
        let audience = client.agent?.blueprint ?? client.application
        let validated = try await OnBehalfOfGrantHandler.validateAssertion(assertion, caller: audience, context: context)
        guard let oid = validated.objectID, let user = context.tenant.user(id: oid) else {
            throw OAuthError.invalidAssertion("The assertion's user (oid) does not exist in this tenant.")
        }
        context.draft.user(user)
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        let resolved = try ResolvedScopes.resolve(
            Scopes.parse(try form.require("scope")), tenant: context.tenant, tenantName: request.tenantSegment)
        guard let resource = resolved.resource else {
            throw OAuthError.resourceNotFound(RequestedScope.microsoftGraph, tenant: request.tenantSegment)
        }
        context.draft.resource(resource)
        try checkResourceIndicators(form, resolved: resolved, tenant: context.tenant)
        let granted = try Consent.grantedScopes(
            client: client.application, resolved: resolved, userID: user.id, tenant: context.tenant,
            draft: context.draft)
        let claims = try form["claims"].map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        let authentication = OnBehalfOfGrantHandler.authentication(of: validated, userID: user.id)
        var issuance = TokenIssuer.UserIssuance(
            user: user, authentication: authentication, resolved: resolved,
            grantedScopes: granted, nonce: nil, platform: .web, familyID: nil, familyStartedAt: nil, claims: claims,
            isInteractive: false, clientInfo: form["client_info"] == "1")
        // Network conditions use the user's location at sign-in, carried in the assertion.
        issuance.conditionalAccessIPAddress = authentication.ipAddress
        return try await TokenIssuer(context: context).issueForUser(issuance)
    }

    /// Checks the assertion as Entra does (Microsoft Learn, "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow"),
    /// with the resources' validator:
    /// signature by this authority's keys and issuer of this tenant (v1 or v2) — AADSTS50013;
    /// lifetime — AADSTS500133; audience = the caller's appId or an identifier URI, exactly —
    /// AADSTS500131; a user token — AADSTS7000114 for app-only; not an ID token — AADSTS240002.
    static func validateAssertion(_ assertion: String, caller: Application, context: GrantContext) async throws -> ValidatedToken {
        let config = context.configuration
        let policy = ValidationPolicy(
            issuers: [config.issuerV2(tenantID: context.tenant.tenantID), config.issuerV1(tenantID: context.tenant.tenantID)],
            audiences: Set(context.tenant.audiences(of: caller)))
        let validator = try await context.authority.currentKeys().validator
        let token: ValidatedToken
        do {
            token = try await validator.validate(assertion, policy: policy)
        } catch {
            switch error {
            case .expired(let now, let expiry): throw OAuthError.assertionOutsideLifetime(now: now, expiry: expiry)
            case .notYetValid(let now, _): throw OAuthError.assertionOutsideLifetime(now: now, expiry: nil)
            case .wrongAudience(let aud) where aud == DirectoryIndex.tokenExchangeAppID:
                // T1 or T2 where the user's token belongs.
                throw OAuthError.agentTokenMisused(
                    "An agent identity's credential is not a user's token; the OBO assertion is the user's token for the blueprint.",
                    asClientCredential: false)
            case .wrongAudience(let aud):
                throw OAuthError.assertionAudienceMismatch(audience: aud, clientID: caller.appId, clientName: caller.displayName)
            default: throw OAuthError.invalidAssertion(error.description)
            }
        }
        if let tid = token.tenantID, tid.lowercased() != context.tenant.tenantID.lowercased() {
            throw OAuthError.invalidAssertion("The assertion's tid '\(tid)' is not this tenant.")
        }
        switch token.kind {
        case .userAccessToken: return token
        case .appOnlyAccessToken: throw OAuthError.appOnlyAssertion(appID: caller.appId)
        case .idToken: throw OAuthError.idTokenAssertion()
        }
    }

    /// How the user authenticated, carried from the assertion: `amr`, `acrs`, and the
    /// authentication time Deputy keeps in `aio` (the token's `iat` when it is not Deputy's).
    static func authentication(of token: ValidatedToken, userID: String) -> Authentication {
        let aio = token.string("aio").flatMap(TokenMinter.readAIO)
        let methods = token.authenticationMethods.isEmpty ? (aio?.methods ?? []) : token.authenticationMethods
        let authTime = aio?.authTime ?? token.claims["auth_time"]?.numberValue.map { Date(timeIntervalSince1970: $0) } ?? token.issuedAt
        return Authentication(
            userID: userID, authTime: authTime ?? Date(timeIntervalSince1970: 0),
            methods: methods.isEmpty ? ["pwd"] : methods, acrs: token.authenticationContexts,
            mfaTime: aio?.mfaTime ?? (methods.contains("mfa") ? aio?.authTime ?? token.issuedAt : nil),
            ipAddress: aio?.ipAddress ?? token.string("ipaddr"))
    }
}
