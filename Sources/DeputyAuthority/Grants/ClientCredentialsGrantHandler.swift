import DeputyCore
import Foundation

/// RFC 6749 §4.4 as Entra has it: confidential clients only, `scope={resource}/.default`, the
/// client's app-role assignments on the resource become `roles`, `idtyp` is `app`.
struct ClientCredentialsGrantHandler: GrantHandler {
    let grantType = "client_credentials"
    let repeatableParameters: Set<String> = ["resource"]

    enum Validated: Sendable {
        /// Agent ID's exchange step: T1 (a blueprint for one of its agent identities, `fmi_path`)
        /// or T2 (an agent identity for itself).
        case agentCredential(AgentCredential.Kind, agent: ServicePrincipal, blueprint: Application)
        /// An app-only token for `resource`, with the client's app roles on it.
        case appOnly(AppOnlyIssuance)
    }

    struct AppOnlyIssuance: Sendable {
        var servicePrincipal: ServicePrincipal
        var resource: Application
        var resourceIdentifier: String
        /// The RFC 8707 indicator the audience is bound to (MCP spec mode).
        var audience: String? = nil
        var roles: [String]
        var claims: ClaimsRequest
        var ipAddress: String?
    }

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        let client = context.client
        guard client.isConfidential else { throw OAuthError.confidentialGrantForPublicClient(grantType) }
        let scope = try request.form.require("scope")
        if let fmiPath = request.form["fmi_path"] {
            let agent = try agentOfBlueprint(fmiPath: fmiPath, scope: scope, context: context)
            return .agentCredential(.t1, agent: agent, blueprint: client.application)
        }
        // (The agent's part in the sign-in log was recorded when it authenticated.)
        if let agent = client.agent, DirectoryIndex.isTokenExchangeScope(scope) {
            return .agentCredential(.t2, agent: agent.identity, blueprint: agent.blueprint)
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
        let audience = try checkResourceIndicators(request.form, resolved: resolved, tenant: context.tenant)
        guard let sp = client.servicePrincipal else {
            throw OAuthError.unknownClient(client.application.appId, tenant: request.tenantSegment)
        }
        context.draft.resource(resource)
        context.draft.record.signInEventTypes = ["servicePrincipal"]
        return .appOnly(
            .init(
                servicePrincipal: sp, resource: resource, resourceIdentifier: identifier, audience: audience,
                roles: context.tenant.appRoles(principalID: sp.id, resource: resource, includeGroups: false),
                claims: try request.claimsRequest(), ipAddress: request.ipAddress))
    }

    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse {
        switch validated {
        case .agentCredential(let kind, let agent, let blueprint):
            return try await AgentCredential.mint(kind, agent: agent, blueprint: blueprint, context: context)
        case .appOnly(let i):
            let client = context.client
            // Workload-identity policies (conditions.clientApplications) can block app-only issuance;
            // for an agent identity acting on its own, the policies assigned to agent identities.
            var ca = SignInContext(
                tenant: context.tenant, user: nil, client: client.application, resource: i.resource, isInteractive: false,
                authentication: nil, requestedAuthenticationContexts: [], ipAddress: i.ipAddress, authenticationProtocol: grantType)
            if let agent = client.agent { ca.agent = .init(identity: agent.identity, blueprint: agent.blueprint, isAutonomous: true) }
            _ = try context.conditionalAccess(ca)
            let keys = try await context.authority.currentKeys()
            let minted = try TokenMinter(configuration: context.configuration).accessToken(
                .init(
                    tenant: context.tenant, subject: .application(i.servicePrincipal), client: client.application,
                    clientAuthenticationLevel: client.credential.authenticationLevel, resource: i.resource,
                    resourceIdentifier: i.resourceIdentifier, scopes: [], roles: i.roles, acrs: [], audience: i.audience,
                    clientCapabilities: i.claims.clientCapabilities, ipAddress: i.ipAddress, agent: client.agent),
                key: keys.current, now: context.now)
            context.draft.record.uniqueTokenIdentifier = minted.uti
            context.draft.record.scopes = i.roles
            return TokenResponse(expiresIn: minted.expiresIn, extExpiresIn: minted.expiresIn, accessToken: minted.token)
        }
    }
}

extension ClientCredentialsGrantHandler {
    /// T1 (Microsoft Learn, "Agent OBO flow" step 2): the blueprint authenticates with its own
    /// credential and names one of its agent identities in `fmi_path`; the scope is the token
    /// exchange's. Conditional Access does not apply to this step.
    func agentOfBlueprint(fmiPath: String, scope: String, context: GrantContext) throws(OAuthError) -> ServicePrincipal {
        let client = context.client
        guard client.agent == nil, client.application.isAgentIdentityBlueprint else {
            throw .fmiPathNotAllowed(appID: client.application.appId)
        }
        guard DirectoryIndex.isTokenExchangeScope(scope) else { throw .fmiPathNeedsTokenExchangeScope(scope) }
        guard let agent = context.tenant.agentIdentity(appID: fmiPath),
            agent.agentIdentityBlueprintId?.lowercased() == client.application.appId.lowercased()
        else { throw .agentNotOfBlueprint(fmiPath: fmiPath, blueprintAppID: client.application.appId) }
        context.draft.agent(.credential, identity: agent, blueprint: client.application)
        guard agent.isEnabled else { throw .agentIdentityDisabled(appID: agent.appId) }
        return agent
    }
}

extension TokenResponse {
    init(expiresIn: Int, extExpiresIn: Int, accessToken: String) {
        self.init(scope: nil, expiresIn: expiresIn, extExpiresIn: extExpiresIn, accessToken: accessToken)
    }
}
