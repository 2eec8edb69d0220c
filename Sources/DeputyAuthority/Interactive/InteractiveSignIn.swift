import DeputyCore
public import Foundation

/// The interactive endpoints (authorize, the sign-in form, consent, admin consent, the Conditional
/// Access steps, device verification, logout), each one flow type with its steps:
/// `AuthorizeFlow`, `SignInFormFlow`, `ConsentFlow`, `AdminConsentFlow`, `StepUpFlow`,
/// `DeviceVerificationFlow`, `LogoutFlow`. This type is their entry point for the HTTP adapter
/// and holds what they share: the cookies, the SSO session, the flow records that carry a sign-in
/// across pages, and where a sign-in continues once the user is authenticated.
public struct InteractiveSignIn: Sendable {
    public static let sessionCookie = "deputy_session"
    /// Prefix of the per-flow browser-binding cookie (`deputy_flow_<flow id>`).
    public static let bindingCookiePrefix = "deputy_flow_"
    public static let deviceCookie = "deputy_device"
    /// Wrong codes allowed within ``lockoutWindow`` before the user's TOTP is locked.
    public static let maxCodeFailures = 5
    public static let lockoutWindow: TimeInterval = 600

    let authority: Authority

    public init(authority: Authority) { self.authority = authority }

    var secure: Bool { authority.configuration.isHTTPS }

    var authorizeFlow: AuthorizeFlow { AuthorizeFlow(signIn: self) }
    var signInForm: SignInFormFlow { SignInFormFlow(signIn: self) }
    var consentFlow: ConsentFlow { ConsentFlow(signIn: self) }
    var adminConsentFlow: AdminConsentFlow { AdminConsentFlow(signIn: self) }
    var stepUp: StepUpFlow { StepUpFlow(signIn: self) }
    var deviceFlow: DeviceVerificationFlow { DeviceVerificationFlow(signIn: self) }
    var logoutFlow: LogoutFlow { LogoutFlow(signIn: self) }

    // MARK: - Endpoints

    /// GET /{tenant}/oauth2/v2.0/authorize
    public func authorize(_ request: BrowserRequest) async -> InteractiveResult { await authorizeFlow.run(request) }
    /// POST /{tenant}/login: the sign-in form.
    public func submitSignIn(_ request: BrowserRequest) async -> InteractiveResult { await signInForm.submit(request) }
    /// POST /{tenant}/consent: `decision=accept` records the grants; anything else is `access_denied`.
    public func submitConsent(_ request: BrowserRequest) async -> InteractiveResult { await consentFlow.submit(request) }
    /// GET /{tenant}/v2.0/adminconsent
    public func adminConsent(_ request: BrowserRequest) async -> InteractiveResult { await adminConsentFlow.start(request) }
    /// POST /{tenant}/mfa: a verification code, or the first code of a new authenticator.
    public func submitVerificationCode(_ request: BrowserRequest) async -> InteractiveResult {
        await stepUp.submitVerificationCode(request)
    }
    /// POST /{tenant}/passwordchange
    public func submitPasswordChange(_ request: BrowserRequest) async -> InteractiveResult { await stepUp.submitPasswordChange(request) }
    /// GET /devicelogin
    public func deviceLoginPage(_ request: BrowserRequest) -> InteractiveResult { deviceFlow.page(request) }
    /// POST /devicelogin
    public func submitDeviceCode(_ request: BrowserRequest) async -> InteractiveResult { await deviceFlow.submit(request) }
    /// GET or POST /{tenant}/oauth2/v2.0/logout
    public func logout(_ request: BrowserRequest) async -> InteractiveResult { await logoutFlow.run(request) }

    /// The logout confirmation form's anti-forgery value (``LogoutFlow``).
    static func logoutConfirmation(sessionID: String) -> String { LogoutFlow.confirmation(sessionID: sessionID) }

    // MARK: - Shared by the flows

    /// Which platform a redirect URI is registered under (exact match; for public clients a
    /// loopback `http://localhost` matches any port, as in Entra).
    static func platform(of uri: String, in app: Application) -> ClientPlatform? {
        if app.spaRedirectURIs.contains(uri) { return .spa }
        if app.webRedirectURIs.contains(uri) { return .web }
        if app.publicClientRedirectURIs.contains(uri) { return .publicClient }
        // Only the port may differ: RFC 6749 §3.1.2 forbids a fragment, and a query is not the registered URI.
        if let u = URLComponents(string: uri), u.scheme == "http", u.host == "localhost" || u.host == "127.0.0.1", u.fragment == nil,
            u.query == nil
        {
            for registered in app.publicClientRedirectURIs {
                guard let r = URLComponents(string: registered), r.scheme == "http", r.host == u.host, r.port == nil else { continue }
                if (r.path.isEmpty ? "/" : r.path) == (u.path.isEmpty ? "/" : u.path) { return .publicClient }
            }
        }
        return nil
    }

    /// An error sent to the client's redirect URI.
    /// - Parameter tenant: the tenant the request is for, when known: a tenant in MCP spec mode
    ///   adds `iss` (RFC 9207 §2: error responses carry it too).
    func errorResponse(_ e: OAuthError, redirectURI: String, mode: String, state: String?, tenant: DirectoryIndex?) -> ClientResponse {
        var p: [(String, String)] = [("error", e.error.rawValue), ("error_description", e.shortDescription)]
        if let aadsts = e.aadsts { p.append(("error_uri", "\(authority.configuration.baseURL)/error?code=\(aadsts)")) }
        if let suberror = e.suberror { p.append(("suberror", suberror)) }
        if let state { p.append(("state", state)) }
        p += issuerParameter(tenant)
        return ClientResponse(redirectURI: redirectURI, responseMode: mode, parameters: p)
    }

    /// RFC 9207 §2: `iss` in every authorization response, in a tenant in MCP spec mode (the MCP
    /// authorization specification 2026-07-28 asks for it; Entra does not send it).
    func issuerParameter(_ tenant: DirectoryIndex?) -> [(String, String)] {
        guard let tenant, tenant.isMCPSpec else { return [] }
        return [("iss", authority.configuration.issuerV2(tenantID: tenant.tenantID))]
    }

    func currentSession(_ request: BrowserRequest, tenant: DirectoryIndex) async throws -> SessionRecord? {
        guard let id = request.cookies[InteractiveSignIn.sessionCookie],
            let s = try await authority.store.session(hash: TokenIssuer.hash(id)),
            s.tenantID == tenant.tenantID, s.expiresAt > authority.time.now(),
            let user = tenant.user(id: s.authentication.userID), user.isEnabled,
            // Sessions from before `revokeSignInSessions` or a password change are over.
            user.signInIsCurrent(s.authentication.authTime)
        else { return nil }
        return s
    }

    func startFlow(
        _ purpose: InteractiveFlowRecord.Purpose, tenant: DirectoryIndex, app: Application?, loginHint: String?,
        request: BrowserRequest, notice: String? = nil, extraCookies: [Cookie] = []
    ) async throws -> InteractiveResult {
        let now = authority.time.now()
        // The binding cookie is always minted here, one per flow, so no page can plant a value
        // it knows in the browser beforehand (login CSRF).
        let binding = TokenMinter.randomID(bytes: 24)
        let flowID = TokenMinter.randomID(bytes: 18)
        let cookies =
            extraCookies + [
                Cookie(
                    name: InteractiveSignIn.bindingCookiePrefix + flowID, value: binding,
                    maxAge: Int(authority.configuration.interactiveFlowLifetime), secure: secure)
            ]
        let flow = InteractiveFlowRecord(
            id: flowID, tenantID: tenant.tenantID, purpose: purpose, csrfToken: TokenMinter.randomID(bytes: 24),
            browserBindingHash: TokenIssuer.hash(binding), loginHint: loginHint, createdAt: now,
            expiresAt: now + authority.configuration.interactiveFlowLifetime)
        try await authority.store.saveFlow(flow)
        return .signIn(page(for: flow, tenant: tenant, app: app, error: notice), cookies: cookies)
    }

    func page(
        for flow: InteractiveFlowRecord, tenant: DirectoryIndex, app: Application?, error: String?, username: String? = nil
    ) -> SignInPage {
        SignInPage(
            flowID: flow.id, csrfToken: flow.csrfToken, tenantDisplayName: tenant.tenant.displayName,
            applicationName: app?.displayName ?? "your device", username: username ?? flow.loginHint, errorMessage: error,
            action: "/\(tenant.tenantID)/login")
    }

    /// The flow a form post continues, after the checks every form shares: the tenant, no
    /// duplicate fields, a live flow of this tenant, its anti-forgery token, and the cookie that
    /// binds it to this browser.
    /// - Throws: the ``OAuthError`` to show on the error page, or a store error.
    func postedFlow(_ request: BrowserRequest) async throws -> (DirectoryIndex, InteractiveFlowRecord) {
        guard let tenant = try await authority.tenant(request.tenantSegment) else { throw OAuthError.tenantNotFound(request.tenantSegment) }
        let form = request.parameters
        try form.rejectDuplicates()
        guard let flowID = form["flow"], let flow = try await authority.store.flow(id: flowID), flow.tenantID == tenant.tenantID,
            flow.expiresAt > authority.time.now()
        else { throw OAuthError.signInFlowExpired() }
        guard let csrf = form["csrf_token"], constantTimeEqual(csrf, flow.csrfToken),
            let binding = request.cookies[InteractiveSignIn.bindingCookiePrefix + flow.id],
            constantTimeEqual(TokenIssuer.hash(binding), flow.browserBindingHash)
        else { throw OAuthError.invalidCSRFToken() }
        return (tenant, flow)
    }

    func recordInteractiveFailure(_ e: OAuthError, tenant: DirectoryIndex, app: Application?, login: String, request: BrowserRequest) async
    {
        let draft = SignInDraft(
            tenantID: tenant.tenantID, isInteractive: true, protocol: "authorize", correlationID: request.correlationID,
            ipAddress: request.ipAddress, now: authority.time.now())
        if let app { draft.client(app, credential: .none) }
        if let user = tenant.user(login: login) { draft.user(user) } else { draft.record.userPrincipalName = login }
        draft.record.signInEventTypes = ["interactiveUser"]
        draft.fail(e)
        try? await authority.store.appendSignIn(draft.record)
    }

    /// Continues a sign-in once the user is authenticated (after the password or a step).
    func proceed(
        _ purpose: InteractiveFlowRecord.Purpose, authentication: Authentication, tenant: DirectoryIndex, request: BrowserRequest,
        cookies: [Cookie]
    ) async throws -> InteractiveResult {
        switch purpose {
        case .authorize(let p):
            return try await authorizeFlow.complete(p, authentication: authentication, tenant: tenant, request: request, cookies: cookies)
        case .deviceCode(let userCode):
            return try await deviceFlow.approve(
                userCode: userCode, authentication: authentication, tenant: tenant, request: request, cookies: cookies)
        case .portal(let path):
            // The administrator's own sign-in to the authority's pages is in the log too.
            let draft = SignInDraft(
                tenantID: tenant.tenantID, isInteractive: true, protocol: "authorize", correlationID: request.correlationID,
                ipAddress: request.ipAddress, now: authority.time.now())
            if let user = tenant.user(id: authentication.userID) { draft.user(user) }
            draft.record.appDisplayName = "Deputy sign-in log"
            draft.record.signInEventTypes = ["interactiveUser"]
            draft.record.authenticationMethodsUsed = authentication.methods
            try await authority.store.appendSignIn(draft.record)
            return .redirect(path, cookies: cookies)
        case .consent, .adminConsent, .step:
            return .error(.signInFlowExpired())
        }
    }

    /// Who may see the authority's administrator pages: the signed-in user when they hold an
    /// administrator role; otherwise the sign-in page (coming back to `path`) or nil (signed in, not an administrator).
    public func portalAccess(_ request: BrowserRequest, path: String) async throws -> (DirectoryIndex, User?, InteractiveResult?) {
        guard let tenant = try await authority.tenant(request.tenantSegment) else { throw OAuthError.tenantNotFound(request.tenantSegment) }
        if let session = try await currentSession(request, tenant: tenant), let user = tenant.user(id: session.authentication.userID) {
            return (tenant, tenant.isAuditReader(user.id) ? user : nil, nil)
        }
        return (tenant, nil, try await startFlow(.portal(path: path), tenant: tenant, app: nil, loginHint: nil, request: request))
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var d: UInt8 = 0
    for i in x.indices { d |= x[i] ^ y[i] }
    return d == 0
}
