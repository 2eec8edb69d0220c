import DeputyCore
import Foundation

/// RFC 6749 §4.4 as Entra has it: confidential clients only, `scope={resource}/.default`, the
/// client's app-role assignments on the resource become `roles`, `idtyp` is `app`.
struct ClientCredentialsGrantHandler: GrantHandler {
    let grantType = "client_credentials"
    let repeatableParameters: Set<String> = ["resource"]

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        let client = context.client
        guard client.isConfidential else { throw OAuthError.confidentialGrantForPublicClient(grantType) }
        let scope = try request.form.require("scope")
        // Agent ID's exchange step: a blueprint's credential for one of its agent identities (T1,
        // with fmi_path), or an agent identity's own (T2, for the agent-user flow).
        if let fmiPath = request.form["fmi_path"] {
            return try await agentCredential(fmiPath: fmiPath, scope: scope, context: context)
        }
        // (The agent's part in the sign-in log was recorded when it authenticated.)
        if let agent = client.agent, DirectoryIndex.isTokenExchangeScope(scope) {
            return try await AgentCredential.mint(.t2, agent: agent.identity, blueprint: agent.blueprint, context: context)
        }
        let tokens = Scopes.parse(scope)
        let named = tokens.filter { !Scopes.openIDScopes.contains($0.lowercased()) }
        guard named.count == 1, case .resourceDefault(let identifier) = RequestedScope(named[0]) else {
            throw OAuthError.clientCredentialsNeedDefaultScope(scope)
        }
        guard let resource = context.tenant.resource(named: identifier) else {
            throw OAuthError.resourceNotFound(identifier, tenant: request.tenantSegment)
        }
        let resolved = ResolvedScopes(resource: resource, resourceIdentifier: identifier, isDefault: true, values: [], openID: [])
        try checkResourceIndicators(request.form, resolved: resolved, tenant: context.tenant)
        guard let sp = client.servicePrincipal else {
            throw OAuthError.unknownClient(client.application.appId, tenant: request.tenantSegment)
        }
        context.draft.resource(resource)
        context.draft.record.signInEventTypes = ["servicePrincipal"]
        let roles = context.tenant.appRoles(principalID: sp.id, resource: resource, includeGroups: false)
        // Workload-identity policies (conditions.clientApplications) can block app-only issuance;
        // for an agent identity acting on its own, the policies assigned to agent identities.
        var ca = SignInContext(
            tenant: context.tenant, user: nil, client: client.application, resource: resource, isInteractive: false,
            authentication: nil, requestedAuthenticationContexts: [], ipAddress: request.ipAddress, authenticationProtocol: grantType)
        if let agent = client.agent { ca.agent = .init(identity: agent.identity, blueprint: agent.blueprint, isAutonomous: true) }
        _ = try context.conditionalAccess(ca)
        let claims = try request.form["claims"].map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        let keys = try await context.authority.currentKeys()
        let minted = try TokenMinter(configuration: context.configuration).accessToken(
            .init(
                tenant: context.tenant, subject: .application(sp), client: client.application,
                clientAuthenticationLevel: client.credential.authenticationLevel, resource: resource, resourceIdentifier: identifier,
                scopes: [], roles: roles, acrs: [], clientCapabilities: claims.clientCapabilities, ipAddress: request.ipAddress,
                agent: client.agent),
            key: keys.current, now: context.now)
        context.draft.record.uniqueTokenIdentifier = minted.uti
        context.draft.record.scopes = roles
        return TokenResponse(expiresIn: minted.expiresIn, extExpiresIn: minted.expiresIn, accessToken: minted.token)
    }
}

extension ClientCredentialsGrantHandler {
    /// T1 (Microsoft Learn, "Agent OBO flow" step 2): the blueprint authenticates with its own
    /// credential and names one of its agent identities in `fmi_path`; the scope is the token
    /// exchange's. Conditional Access does not apply to this step.
    func agentCredential(fmiPath: String, scope: String, context: GrantContext) async throws -> TokenResponse {
        let client = context.client
        guard client.agent == nil, client.application.isAgentIdentityBlueprint else {
            throw OAuthError.fmiPathNotAllowed(appID: client.application.appId)
        }
        guard DirectoryIndex.isTokenExchangeScope(scope) else {
            throw OAuthError.fmiPathNeedsTokenExchangeScope(scope)
        }
        guard let agent = context.tenant.agentIdentity(appID: fmiPath),
            agent.agentIdentityBlueprintId?.lowercased() == client.application.appId.lowercased()
        else { throw OAuthError.agentNotOfBlueprint(fmiPath: fmiPath, blueprintAppID: client.application.appId) }
        context.draft.agent(.credential, identity: agent, blueprint: client.application)
        guard agent.isEnabled else { throw OAuthError.agentIdentityDisabled(appID: agent.appId) }
        return try await AgentCredential.mint(.t1, agent: agent, blueprint: client.application, context: context)
    }
}

extension TokenResponse {
    init(expiresIn: Int, extExpiresIn: Int, accessToken: String) {
        self.init(scope: nil, expiresIn: expiresIn, extExpiresIn: extExpiresIn, accessToken: accessToken)
    }
}
