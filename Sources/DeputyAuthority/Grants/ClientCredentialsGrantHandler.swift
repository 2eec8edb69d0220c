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
        guard let sp = client.servicePrincipal else { throw OAuthError.unknownClient(client.application.appId, tenant: request.tenantSegment) }
        context.draft.resource(resource)
        context.draft.record.signInEventTypes = ["servicePrincipal"]
        let roles = context.tenant.appRoles(principalID: sp.id, resource: resource, includeGroups: false)
        // Workload-identity policies (conditions.clientApplications) can block app-only issuance.
        _ = try context.conditionalAccess(SignInContext(
            tenant: context.tenant, user: nil, client: client.application, resource: resource, isInteractive: false,
            authentication: nil, requestedAuthenticationContexts: [], ipAddress: request.ipAddress, authenticationProtocol: grantType))
        let claims = try request.form["claims"].map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        let keys = try await context.authority.currentKeys()
        let minted = try TokenMinter(configuration: context.configuration).accessToken(.init(
            tenant: context.tenant, subject: .application(sp), client: client.application,
            clientAuthenticationLevel: client.credential.authenticationLevel, resource: resource, resourceIdentifier: identifier,
            scopes: [], roles: roles, acrs: [], clientCapabilities: claims.clientCapabilities, ipAddress: request.ipAddress),
            key: keys.current, now: context.now)
        context.draft.record.uniqueTokenIdentifier = minted.uti
        context.draft.record.scopes = roles
        return TokenResponse(expiresIn: minted.expiresIn, extExpiresIn: minted.expiresIn, accessToken: minted.token)
    }
}

extension TokenResponse {
    init(expiresIn: Int, extExpiresIn: Int, accessToken: String) {
        self.init(scope: nil, expiresIn: expiresIn, extExpiresIn: extExpiresIn, accessToken: accessToken)
    }
}
