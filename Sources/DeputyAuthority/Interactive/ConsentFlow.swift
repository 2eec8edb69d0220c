import DeputyCore
import Foundation

/// The user's consent page (Microsoft Learn, "User and admin consent in Microsoft Entra ID"): shows
/// the permissions a sign-in still needs, then records Principal grants and issues the code, or
/// returns `access_denied` (AADSTS65004). Admin consent posts to the same page
/// (``AdminConsentFlow``).
struct ConsentFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    func show(
        _ p: AuthorizeParameters, authentication: Authentication, items: [ConsentItem], tenant: DirectoryIndex,
        app: Application, user: User, cookies: [Cookie], purpose: InteractiveFlowRecord.Purpose? = nil
    ) async throws -> InteractiveResult {
        let now = authority.time.now()
        let binding = TokenMinter.randomID(bytes: 24)
        let flow = InteractiveFlowRecord(
            id: TokenMinter.randomID(bytes: 18), tenantID: tenant.tenantID, purpose: purpose ?? .consent(p, authentication, items),
            csrfToken: TokenMinter.randomID(bytes: 24), browserBindingHash: TokenIssuer.hash(binding), loginHint: nil, createdAt: now,
            expiresAt: now + authority.configuration.interactiveFlowLifetime)
        try await authority.store.saveFlow(flow)
        var permissions: [ConsentPage.Permission] = []
        for item in items {
            guard let resource = tenant.application(appID: item.resourceAppID) else { continue }
            for value in item.scopes {
                let scope = resource.scopes.first { $0.value == value }
                let via =
                    item.clientAppID == app.appId
                    ? "" : " (through \(tenant.application(appID: item.clientAppID)?.displayName ?? item.clientAppID))"
                permissions.append(
                    .init(
                        resourceName: resource.displayName + via, scope: value,
                        description: scope?.userConsentDisplayName ?? scope?.adminConsentDisplayName ?? value))
            }
        }
        let page = ConsentPage(
            flowID: flow.id, csrfToken: flow.csrfToken, tenantDisplayName: tenant.tenant.displayName,
            applicationName: app.displayName, userPrincipalName: user.userPrincipalName, permissions: permissions,
            action: "/\(tenant.tenantID)/consent")
        let cookie = Cookie(
            name: InteractiveSignIn.bindingCookiePrefix + flow.id, value: binding,
            maxAge: Int(authority.configuration.interactiveFlowLifetime), secure: secure)
        return .consent(page, cookies: cookies + [cookie])
    }

    /// POST /{tenant}/consent: `decision=accept` records Principal grants and issues the code;
    /// anything else returns `access_denied` (AADSTS65004) to the client.
    func submit(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            let (tenant, flow) = try await signIn.postedFlow(request)
            var adminFlow: InteractiveFlowRecord.Purpose?
            switch flow.purpose {
            case .consent: break
            case .adminConsent: adminFlow = flow.purpose
            default: return .error(.signInFlowExpired())
            }
            try await authority.store.deleteFlow(id: flow.id)
            let cookies = [Cookie(name: InteractiveSignIn.bindingCookiePrefix + flow.id, value: "", maxAge: 0, secure: secure)]
            if case .adminConsent(let ap, let items) = adminFlow {
                guard form["decision"] == "accept" else {
                    return .respond(signIn.adminConsentFlow.failure(.userDeclined(), ap), cookies: cookies)
                }
                try await authority.store.updateDirectory(tenantID: tenant.tenantID) { Consent.record(items, userID: nil, in: &$0) }
                var p: [(String, String)] = [("admin_consent", "True"), ("tenant", tenant.tenantID)]
                if let scope = ap.scope { p.append(("scope", scope)) }
                if let state = ap.state { p.append(("state", state)) }
                return .respond(ClientResponse(redirectURI: ap.redirectURI, responseMode: "query", parameters: p), cookies: cookies)
            }
            guard case .consent(let p, let authentication, let items) = flow.purpose else { return .error(.signInFlowExpired()) }
            guard form["decision"] == "accept" else {
                return .respond(
                    signIn.errorResponse(.userDeclined(), redirectURI: p.redirectURI, mode: p.responseMode, state: p.state, tenant: tenant),
                    cookies: cookies)
            }
            try await authority.store.updateDirectory(tenantID: tenant.tenantID) {
                Consent.record(items, userID: authentication.userID, in: &$0)
            }
            guard let updated = try await authority.tenant(tenant.tenantID) else { return .error(.tenantNotFound(request.tenantSegment)) }
            return try await signIn.authorizeFlow.complete(
                p, authentication: authentication, tenant: updated, request: request, cookies: cookies, askConsent: false)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }
}
