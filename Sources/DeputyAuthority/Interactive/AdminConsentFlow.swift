import DeputyCore
import Foundation

/// The admin consent endpoint: an administrator signs in and grants an application's permissions
/// for every user. Steps: the client and redirect URI; the permissions asked for (`scope`, or the
/// app's required resource access); the administrator's session or the sign-in form; the consent
/// page (``ConsentFlow`` records the grants).
struct AdminConsentFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// GET /{tenant}/v2.0/adminconsent (Microsoft Learn, "Admin consent on the Microsoft identity platform"): an
    /// administrator signs in and grants the
    /// client's permissions for every user (AllPrincipals grants); the redirect carries
    /// `admin_consent=True&tenant=…&scope=…&state=…`, or `error=…` as Entra sends it.
    func start(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let q = request.parameters
            try q.rejectDuplicates()
            guard let tenant = try await authority.tenant(request.tenantSegment, clientID: q["client_id"]) else {
                return .error(.tenantNotFound(request.tenantSegment))
            }
            let clientID = try q.require("client_id")
            guard let app = tenant.application(appID: clientID) else {
                return .error(.unknownClient(clientID, tenant: request.tenantSegment))
            }
            let redirectURI = try q.require("redirect_uri")
            guard InteractiveSignIn.platform(of: redirectURI, in: app) != nil else {
                return .error(.redirectURINotRegistered(redirectURI, appID: app.appId))
            }
            let ap = AdminConsentParameters(clientID: app.appId, redirectURI: redirectURI, scope: q["scope"], state: q["state"])
            var items: [ConsentItem] = []
            if let scope = ap.scope {
                let resolved: ResolvedScopes
                do { resolved = try ResolvedScopes.resolve(Scopes.parse(scope), tenant: tenant, tenantName: request.tenantSegment) } catch {
                    return .respond(failure(error, ap), cookies: [])
                }
                if let r = resolved.resource {
                    let wanted = resolved.isDefault ? tenant.requiredScopes(of: app, on: r) : resolved.values
                    if !wanted.isEmpty { items.append(ConsentItem(clientAppID: app.appId, resourceAppID: r.appId, scopes: wanted)) }
                }
            } else {
                for access in app.requiredResourceAccess ?? [] {
                    guard let r = tenant.application(appID: access.resourceAppId) else { continue }
                    let wanted = tenant.requiredScopes(of: app, on: r)
                    if !wanted.isEmpty { items.append(ConsentItem(clientAppID: app.appId, resourceAppID: r.appId, scopes: wanted)) }
                }
            }
            guard !items.isEmpty else {
                return .respond(
                    failure(.resourceNotInRequiredAccess(clientAppID: app.appId, resource: ap.scope ?? "(none)"), ap), cookies: []
                )
            }
            if let session = try await signIn.currentSession(request, tenant: tenant),
                let user = tenant.user(id: session.authentication.userID),
                tenant.isConsentAdministrator(user.id)
            {
                return try await showPage(ap, items: items, tenant: tenant, user: user, cookies: [])
            }
            return try await signIn.startFlow(.adminConsent(ap, items), tenant: tenant, app: app, loginHint: nil, request: request)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    func failure(_ e: OAuthError, _ ap: AdminConsentParameters) -> ClientResponse {
        var response = signIn.errorResponse(e, redirectURI: ap.redirectURI, mode: "query", state: ap.state, tenant: nil)
        response.parameters.insert(("admin_consent", "False"), at: 0)
        return response
    }

    func showPage(
        _ ap: AdminConsentParameters, items: [ConsentItem], tenant: DirectoryIndex, user: User,
        cookies: [Cookie]
    ) async throws -> InteractiveResult {
        guard let app = tenant.application(appID: ap.clientID) else { return .error(.signInFlowExpired()) }
        let fake = AuthorizeParameters(
            clientID: app.appId, redirectURI: ap.redirectURI, platform: .web, responseType: "code", responseMode: "query",
            scopes: [], state: ap.state, nonce: nil, codeChallenge: nil, codeChallengeMethod: nil, prompt: nil,
            loginHint: nil, claims: nil)
        let result = try await signIn.consentFlow.show(
            fake, authentication: Authentication(userID: user.id, authTime: authority.time.now(), methods: ["pwd"]),
            items: items, tenant: tenant, app: app, user: user, cookies: cookies, purpose: .adminConsent(ap, items))
        guard case .consent(var page, let c) = result else { return result }
        page.forOrganization = true
        return .consent(page, cookies: c)
    }
}
