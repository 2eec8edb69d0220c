import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation

/// The interactive endpoints' logic: authorize (OAuth 2.0 §4.1.1, OIDC Core §3.1.2 as Entra
/// has them), the sign-in form, the device verification page and logout.
public struct InteractiveSignIn: Sendable {
    public static let sessionCookie = "deputy_session"
    /// Prefix of the per-flow browser-binding cookie (`deputy_flow_<flow id>`).
    public static let bindingCookiePrefix = "deputy_flow_"
    public static let deviceCookie = "deputy_device"
    let authority: Authority

    public init(authority: Authority) { self.authority = authority }

    var secure: Bool { authority.configuration.isHTTPS }

    // MARK: - Authorize

    /// GET /{tenant}/oauth2/v2.0/authorize
    public func authorize(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let q = request.parameters
            guard let tenant = try await authority.tenant(request.tenantSegment, clientID: q["client_id"]) else {
                return .error(.tenantNotFound(request.tenantSegment))
            }
            // Until the redirect URI is known to be registered, errors go to an error page, never to a redirect.
            try q.rejectDuplicates()
            let clientID = try q.require("client_id")
            // Agent ID: a blueprint and an agent identity have no interactive sign-in (Microsoft
            // Learn, "Agent identity blueprints": no redirect URIs, no /authorize).
            if tenant.agentIdentity(appID: clientID) != nil || tenant.application(appID: clientID)?.isAgentIdentityBlueprint == true {
                return .error(.noInteractiveSignInForAgents(appID: clientID))
            }
            guard let app = tenant.application(appID: clientID) else {
                return .error(.unknownClient(clientID, tenant: request.tenantSegment))
            }
            let redirectURI = try q.require("redirect_uri")
            guard let platform = Self.platform(of: redirectURI, in: app) else {
                return .error(.redirectURINotRegistered(redirectURI, appID: app.appId))
            }
            let state = q["state"]
            let responseType = q["response_type"] ?? ""
            let types = Set(responseType.split(separator: " ").map(String.init))
            let modeDefault = types.contains("id_token") ? "fragment" : "query"
            let mode = q["response_mode"] ?? modeDefault
            func fail(_ e: OAuthError) -> InteractiveResult {
                .respond(
                    errorResponse(
                        e, redirectURI: redirectURI, mode: ["query", "fragment", "form_post"].contains(mode) ? mode : modeDefault,
                        state: state), cookies: [])
            }
            guard !types.isEmpty else { return fail(.missingQueryParameter("response_type")) }
            guard types.isSubset(of: ["code", "id_token"]) else { return fail(.unsupportedResponseType(responseType)) }
            guard ["query", "fragment", "form_post"].contains(mode), !(mode == "query" && types.contains("id_token")) else {
                return fail(.invalidResponseMode(mode))
            }
            let scopes = Scopes.parse(q["scope"])
            guard !scopes.isEmpty else { return fail(.missingQueryParameter("scope")) }
            let resolved: ResolvedScopes
            do { resolved = try ResolvedScopes.resolve(scopes, tenant: tenant, tenantName: request.tenantSegment) } catch {
                return fail(error)
            }
            if types.contains("id_token") && q["nonce"] == nil { return fail(.nonceRequired()) }
            if types.contains("id_token") && !resolved.wantsIDToken {
                return fail(.invalidScope(Scopes.format(scopes), "An id_token response needs the openid scope."))
            }
            // Entra answers an OpenID-only code flow with a Microsoft Graph token; Deputy does not
            // emulate Graph, so it says so here rather than failing at redemption.
            if types.contains("code") && resolved.resource == nil {
                return fail(
                    .invalidScope(
                        Scopes.format(scopes),
                        "Deputy issues access tokens for the tenant's own applications only (Microsoft Graph is not emulated): add a scope of one of them, such as api://…/.default."
                    ))
            }
            var method = q["code_challenge_method"]
            let challenge = q["code_challenge"]
            if let challenge {
                method = method ?? "plain"
                guard method == "S256" || method == "plain" else {
                    return fail(.invalidCodeChallenge("The code_challenge_method must be S256 or plain."))
                }
                // RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)), exactly 43 characters;
                // a plain one is a verifier (43–128 unreserved characters).
                let wellFormed =
                    method == "S256" ? (challenge.count == 43 && Base64URL.decode(challenge) != nil) : PKCE.isWellFormed(challenge)
                guard wellFormed else {
                    return fail(
                        .invalidCodeChallenge(
                            method == "S256"
                                ? "An S256 code_challenge is 43 base64url characters." : "The code_challenge must be 43 to 128 characters.")
                    )
                }
                if tenant.isStrict && method != "S256" {
                    return fail(.invalidCodeChallenge("This tenant requires code_challenge_method S256 (strict mode, RFC 9700)."))
                }
            } else if platform == .spa || (tenant.isStrict && types.contains("code")) {
                return fail(.pkceRequired())
            }
            if let c = q["claims"] { do { _ = try ClaimsRequest(parsing: c) } catch { return fail(error) } }
            do { try checkResourceIndicators(q, resolved: resolved, tenant: tenant) } catch { return fail(error) }
            let prompt = q["prompt"]
            if let prompt, !["login", "none", "consent", "select_account"].contains(prompt) {
                return fail(.invalidParameter("prompt", "Expected login, none, consent or select_account."))
            }
            let params = AuthorizeParameters(
                clientID: app.appId, redirectURI: redirectURI, platform: platform, responseType: responseType, responseMode: mode,
                scopes: scopes, state: state, nonce: q["nonce"], codeChallenge: challenge,
                codeChallengeMethod: challenge == nil ? nil : method,
                prompt: prompt, loginHint: q["login_hint"], claims: q["claims"])

            var session = try await currentSession(request, tenant: tenant)
            // A login_hint for someone else than the session's user never gets the session's
            // user silently (Entra: AADSTS160021 with prompt=none).
            var hintMismatch = false
            if let s = session, let hint = params.loginHint, tenant.user(login: hint)?.id != s.authentication.userID {
                session = nil
                hintMismatch = true
            }
            if let session, prompt != "login", prompt != "select_account" {
                return try await complete(params, authentication: session.authentication, tenant: tenant, request: request, cookies: [])
            }
            if prompt == "none" { return fail(hintMismatch ? .sessionForHintMissing() : .loginRequired()) }
            return try await startFlow(.authorize(params), tenant: tenant, app: app, loginHint: params.loginHint, request: request)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

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

    func errorResponse(_ e: OAuthError, redirectURI: String, mode: String, state: String?) -> ClientResponse {
        var p: [(String, String)] = [("error", e.error.rawValue), ("error_description", e.shortDescription)]
        if let aadsts = e.aadsts { p.append(("error_uri", "\(authority.configuration.baseURL)/error?code=\(aadsts)")) }
        if let suberror = e.suberror { p.append(("suberror", suberror)) }
        if let state { p.append(("state", state)) }
        return ClientResponse(redirectURI: redirectURI, responseMode: mode, parameters: p)
    }

    func currentSession(_ request: BrowserRequest, tenant: DirectoryIndex) async throws -> SessionRecord? {
        guard let id = request.cookies[Self.sessionCookie],
            let s = try await authority.store.session(hash: TokenIssuer.hash(id)),
            s.tenantID == tenant.tenantID, s.expiresAt > authority.time.now(),
            tenant.user(id: s.authentication.userID)?.isEnabled == true
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
                    name: Self.bindingCookiePrefix + flowID, value: binding,
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

    /// Issues the code (and id_token) for an authenticated user and sends them to the client.
    func complete(
        _ p: AuthorizeParameters, authentication: Authentication, tenant: DirectoryIndex, request: BrowserRequest,
        cookies: [Cookie], askConsent: Bool = true
    ) async throws -> InteractiveResult {
        guard let app = tenant.application(appID: p.clientID), let user = tenant.user(id: authentication.userID) else {
            return .error(.signInFlowExpired())
        }
        // Conditional Access comes first (MFA, then consent, as in Entra), then consent, then the code.
        let claims: ClaimsRequest
        do { claims = try p.claims.map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest() } catch {
            return .respond(errorResponse(error, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state), cookies: cookies)
        }
        let resource = try? ResolvedScopes.resolve(p.scopes, tenant: tenant, tenantName: request.tenantSegment).resource
        // A silent request cannot show a step: the client gets the error and must go interactive.
        let silent: ((OAuthError) -> InteractiveResult)? =
            p.prompt != "none"
            ? nil
            : { [self] e in
                .respond(errorResponse(e, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state), cookies: cookies)
            }
        let outcome: ConditionalAccessOutcome
        switch try await conditionalAccessStep(
            client: app, resource: resource, claims: claims, user: user, authentication: authentication,
            tenant: tenant, request: request, cookies: cookies, then: .authorize(p), silent: silent)
        {
        case .stop(let step): return step
        case .proceed(let granted): outcome = granted
        }
        // Consent comes before the code: missing grants (or prompt=consent) show the consent page.
        if askConsent {
            do {
                let resolved = try ResolvedScopes.resolve(p.scopes, tenant: tenant, tenantName: request.tenantSegment)
                let items = try Consent.pending(
                    client: app, resolved: resolved, userID: user.id, tenant: tenant, forcePrompt: p.prompt == "consent")
                if !items.isEmpty {
                    // prompt=none cannot show a page: Entra answers consent_required (AADSTS65001).
                    if p.prompt == "none" {
                        throw OAuthError.consentRequiredInteractive(clientAppID: app.appId, clientName: app.displayName)
                    }
                    return try await startConsent(
                        p, authentication: authentication, items: items, tenant: tenant, app: app, user: user, cookies: cookies)
                }
            } catch let e as OAuthError {
                return .respond(errorResponse(e, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state), cookies: cookies)
            }
        }
        let now = authority.time.now()
        let draft = SignInDraft(
            tenantID: tenant.tenantID, isInteractive: true, protocol: "authorize",
            correlationID: request.correlationID, ipAddress: request.ipAddress, now: now)
        draft.client(app, credential: .none)
        draft.user(user)
        draft.record.signInEventTypes = ["interactiveUser"]
        draft.record.authenticationMethodsUsed = authentication.methods
        let result = await issueCode(
            p, app: app, user: user, authentication: authentication, outcome: outcome, tenant: tenant, request: request,
            cookies: cookies, draft: draft, now: now)
        do { try await authority.store.appendSignIn(draft.record) } catch {
            return .error(authority.normalize(error, draft: draft))
        }
        return result
    }

    /// Issues the code (and id_token) once Conditional Access granted the sign-in (`outcome`).
    func issueCode(
        _ p: AuthorizeParameters, app: Application, user: User, authentication: Authentication, outcome: ConditionalAccessOutcome,
        tenant: DirectoryIndex, request: BrowserRequest, cookies: [Cookie], draft: SignInDraft, now: Date
    ) async -> InteractiveResult {
        do {
            let resolved = try ResolvedScopes.resolve(p.scopes, tenant: tenant, tenantName: request.tenantSegment)
            if let resource = resolved.resource {
                draft.resource(resource)
                _ = try Consent.grantedScopes(client: app, resolved: resolved, userID: user.id, tenant: tenant, draft: draft)
            }
            draft.conditionalAccess(outcome)
            // The code carries the authentication contexts satisfied now (they reach the token's `acrs`).
            var authentication = authentication
            for acr in outcome.satisfiedContexts where !authentication.acrs.contains(acr) { authentication.acrs.append(acr) }
            let config = authority.configuration(for: tenant)
            var out: [(String, String)] = []
            let types = Set(p.responseType.split(separator: " ").map(String.init))
            var issuedCode: String?
            if types.contains("code") {
                let code = "1.A" + TokenMinter.randomID(bytes: 48)
                issuedCode = code
                try await authority.store.saveCode(
                    AuthorizationCodeRecord(
                        codeHash: TokenIssuer.hash(code), tenantID: tenant.tenantID, clientID: app.appId, redirectURI: p.redirectURI,
                        platform: p.platform, authentication: authentication, scopes: p.scopes, nonce: p.nonce,
                        codeChallenge: p.codeChallenge,
                        codeChallengeMethod: p.codeChallengeMethod, claims: p.claims, createdAt: now,
                        expiresAt: now + config.authorizationCodeLifetime, familyID: TokenMinter.randomID()))
                out.append(("code", code))
            }
            if types.contains("id_token") {
                let keys = try await authority.currentKeys()
                out.append(
                    (
                        "id_token",
                        try TokenMinter(configuration: config).idToken(
                            tenant: tenant, user: user, authentication: authentication, client: app, nonce: p.nonce, code: issuedCode,
                            key: keys.current, now: now)
                    ))
            }
            if let state = p.state { out.append(("state", state)) }
            out.append(("session_state", TokenIssuer.hash(request.cookies[Self.sessionCookie] ?? user.id)))
            return .respond(ClientResponse(redirectURI: p.redirectURI, responseMode: p.responseMode, parameters: out), cookies: cookies)
        } catch {
            let e = authority.normalize(error, draft: draft)
            draft.fail(e)
            var interactiveError = e
            if e.aadsts == 65001 { interactiveError = .consentRequiredInteractive(clientAppID: app.appId, clientName: app.displayName) }
            return .respond(
                errorResponse(interactiveError, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state), cookies: cookies)
        }
    }

    // MARK: - Consent

    func startConsent(
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
            name: Self.bindingCookiePrefix + flow.id, value: binding,
            maxAge: Int(authority.configuration.interactiveFlowLifetime), secure: secure)
        return .consent(page, cookies: cookies + [cookie])
    }

    /// POST /{tenant}/consent: `decision=accept` records Principal grants and issues the code;
    /// anything else returns `access_denied` (AADSTS65004) to the client.
    public func submitConsent(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            let (tenant, flow) = try await postedFlow(request)
            var adminFlow: InteractiveFlowRecord.Purpose?
            switch flow.purpose {
            case .consent: break
            case .adminConsent: adminFlow = flow.purpose
            default: return .error(.signInFlowExpired())
            }
            try await authority.store.deleteFlow(id: flow.id)
            let cookies = [Cookie(name: Self.bindingCookiePrefix + flow.id, value: "", maxAge: 0, secure: secure)]
            if case .adminConsent(let ap, let items) = adminFlow {
                guard form["decision"] == "accept" else { return .respond(adminConsentError(.userDeclined(), ap), cookies: cookies) }
                try await authority.store.updateDirectory(tenantID: tenant.tenantID) { Consent.record(items, userID: nil, in: &$0) }
                var p: [(String, String)] = [("admin_consent", "True"), ("tenant", tenant.tenantID)]
                if let scope = ap.scope { p.append(("scope", scope)) }
                if let state = ap.state { p.append(("state", state)) }
                return .respond(ClientResponse(redirectURI: ap.redirectURI, responseMode: "query", parameters: p), cookies: cookies)
            }
            guard case .consent(let p, let authentication, let items) = flow.purpose else { return .error(.signInFlowExpired()) }
            guard form["decision"] == "accept" else {
                return .respond(
                    errorResponse(.userDeclined(), redirectURI: p.redirectURI, mode: p.responseMode, state: p.state), cookies: cookies)
            }
            try await authority.store.updateDirectory(tenantID: tenant.tenantID) {
                Consent.record(items, userID: authentication.userID, in: &$0)
            }
            guard let updated = try await authority.tenant(tenant.tenantID) else { return .error(.tenantNotFound(request.tenantSegment)) }
            return try await complete(
                p, authentication: authentication, tenant: updated, request: request, cookies: cookies, askConsent: false)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    // MARK: - Admin consent

    /// GET /{tenant}/v2.0/adminconsent (Microsoft Learn, "Admin consent on the Microsoft identity platform"): an
    /// administrator signs in and grants the
    /// client's permissions for every user (AllPrincipals grants); the redirect carries
    /// `admin_consent=True&tenant=…&scope=…&state=…`, or `error=…` as Entra sends it.
    public func adminConsent(_ request: BrowserRequest) async -> InteractiveResult {
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
            guard Self.platform(of: redirectURI, in: app) != nil else {
                return .error(.redirectURINotRegistered(redirectURI, appID: app.appId))
            }
            let ap = AdminConsentParameters(clientID: app.appId, redirectURI: redirectURI, scope: q["scope"], state: q["state"])
            var items: [ConsentItem] = []
            if let scope = ap.scope {
                let resolved: ResolvedScopes
                do { resolved = try ResolvedScopes.resolve(Scopes.parse(scope), tenant: tenant, tenantName: request.tenantSegment) } catch {
                    return .respond(adminConsentError(error, ap), cookies: [])
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
                    adminConsentError(.resourceNotInRequiredAccess(clientAppID: app.appId, resource: ap.scope ?? "(none)"), ap), cookies: []
                )
            }
            if let session = try await currentSession(request, tenant: tenant), let user = tenant.user(id: session.authentication.userID),
                tenant.isConsentAdministrator(user.id)
            {
                return try await startAdminConsentPage(ap, items: items, tenant: tenant, user: user, cookies: [])
            }
            return try await startFlow(.adminConsent(ap, items), tenant: tenant, app: app, loginHint: nil, request: request)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    func adminConsentError(_ e: OAuthError, _ ap: AdminConsentParameters) -> ClientResponse {
        var response = errorResponse(e, redirectURI: ap.redirectURI, mode: "query", state: ap.state)
        response.parameters.insert(("admin_consent", "False"), at: 0)
        return response
    }

    func startAdminConsentPage(
        _ ap: AdminConsentParameters, items: [ConsentItem], tenant: DirectoryIndex, user: User,
        cookies: [Cookie]
    ) async throws -> InteractiveResult {
        guard let app = tenant.application(appID: ap.clientID) else { return .error(.signInFlowExpired()) }
        let fake = AuthorizeParameters(
            clientID: app.appId, redirectURI: ap.redirectURI, platform: .web, responseType: "code", responseMode: "query",
            scopes: [], state: ap.state, nonce: nil, codeChallenge: nil, codeChallengeMethod: nil, prompt: nil,
            loginHint: nil, claims: nil)
        let result = try await startConsent(
            fake, authentication: Authentication(userID: user.id, authTime: authority.time.now(), methods: ["pwd"]),
            items: items, tenant: tenant, app: app, user: user, cookies: cookies, purpose: .adminConsent(ap, items))
        guard case .consent(var page, let c) = result else { return result }
        page.forOrganization = true
        return .consent(page, cookies: c)
    }

    // MARK: - The sign-in form

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
            let binding = request.cookies[Self.bindingCookiePrefix + flow.id],
            constantTimeEqual(TokenIssuer.hash(binding), flow.browserBindingHash)
        else { throw OAuthError.invalidCSRFToken() }
        return (tenant, flow)
    }

    /// POST /{tenant}/login: checks the anti-forgery token and the browser binding, then the password.
    public func submitSignIn(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            let (tenant, flow) = try await postedFlow(request)
            let clearBinding = Cookie(name: Self.bindingCookiePrefix + flow.id, value: "", maxAge: 0, secure: secure)
            var app: Application?
            if case .authorize(let p) = flow.purpose { app = tenant.application(appID: p.clientID) }
            if case .adminConsent(let ap, _) = flow.purpose { app = tenant.application(appID: ap.clientID) }
            let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
            let password = form["password"] ?? ""
            let wrong = "Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126)"
            if username.isEmpty {
                return .signIn(
                    page(for: flow, tenant: tenant, app: app, error: "Enter your email, phone, or Skype.", username: username), cookies: [])
            }
            let found = tenant.user(login: username)
            // Smart lockout, and the same bcrypt work whether or not the account exists (the page
            // says the same words for both).
            let matched: Bool
            do {
                matched = try await authority.checkPassword(
                    password, login: username, user: found, tenant: tenant, ipAddress: request.ipAddress)
            } catch let locked as OAuthError where locked.aadsts == 50053 {
                await recordInteractiveFailure(locked, tenant: tenant, app: app, login: username, request: request)
                let message = "Your account is temporarily locked to prevent unauthorized use. Try again later. (AADSTS50053)"
                return .signIn(page(for: flow, tenant: tenant, app: app, error: message, username: username), cookies: [])
            }
            guard let user = found else {
                await recordInteractiveFailure(.invalidCredentials(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(page(for: flow, tenant: tenant, app: app, error: wrong, username: username), cookies: [])
            }
            guard user.isEnabled else {
                await recordInteractiveFailure(.userDisabled(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(
                    page(
                        for: flow, tenant: tenant, app: app,
                        error: "Your account has been locked. Contact your support person to unlock it. (AADSTS50057)", username: username),
                    cookies: [])
            }
            guard matched else {
                await recordInteractiveFailure(.invalidCredentials(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(page(for: flow, tenant: tenant, app: app, error: wrong, username: username), cookies: [])
            }
            let now = authority.time.now()
            // Where the user is (the browser's address): kept through codes, refresh tokens and OBO,
            // so Conditional Access at a middle tier evaluates the user's location, not the tier's.
            let authentication = Authentication(userID: user.id, authTime: now, methods: ["pwd"], ipAddress: request.ipAddress)
            let sessionID = TokenMinter.randomID(bytes: 32)
            let config = authority.configuration(for: tenant)
            try await authority.store.saveSession(
                SessionRecord(
                    idHash: TokenIssuer.hash(sessionID), tenantID: tenant.tenantID,
                    authentication: authentication, createdAt: now, expiresAt: now + config.sessionLifetime))
            try await authority.store.deleteFlow(id: flow.id)
            let cookie = Cookie(name: Self.sessionCookie, value: sessionID, maxAge: nil, secure: secure)
            let cookies = [cookie, clearBinding]
            var withSession = request
            withSession.cookies[Self.sessionCookie] = sessionID
            switch flow.purpose {
            case .authorize, .deviceCode:
                return try await proceed(
                    flow.purpose, authentication: authentication, tenant: tenant, request: withSession, cookies: cookies)
            case .portal:
                return try await proceed(
                    flow.purpose, authentication: authentication, tenant: tenant, request: withSession, cookies: cookies)
            case .consent, .step:
                // Consent and steps are answered on their own pages, never with a password.
                return .error(.signInFlowExpired())
            case .adminConsent(let ap, let items):
                guard tenant.isConsentAdministrator(user.id) else {
                    return .respond(adminConsentError(.notAnAdministrator(), ap), cookies: cookies)
                }
                return try await startAdminConsentPage(ap, items: items, tenant: tenant, user: user, cookies: cookies)
            }
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
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

    // MARK: - Device verification page

    /// GET /devicelogin: the page where the user enters the code shown on the device.
    public func deviceLoginPage(_ request: BrowserRequest) -> InteractiveResult {
        let token = TokenMinter.randomID(bytes: 24)
        return .deviceCodeEntry(
            csrfToken: token, errorMessage: nil, cookies: [Cookie(name: Self.deviceCookie, value: token, maxAge: 1800, secure: secure)])
    }

    /// POST /devicelogin: checks the code and starts the sign-in for it.
    public func submitDeviceCode(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            try form.rejectDuplicates()
            guard let csrf = form["csrf_token"], let cookie = request.cookies[Self.deviceCookie], constantTimeEqual(csrf, cookie) else {
                return .error(.invalidCSRFToken())
            }
            let code = (form["user_code"] ?? "").uppercased().filter { !$0.isWhitespace && $0 != "-" }
            guard let record = try await authority.store.deviceCode(userCode: code), record.state == .pending,
                record.expiresAt > authority.time.now(), let tenant = try await authority.tenant(record.tenantID)
            else {
                return .deviceCodeEntry(
                    csrfToken: csrf, errorMessage: "That code didn't work. Check the code and try again. (AADSTS70018)", cookies: [])
            }
            return try await startFlow(
                .deviceCode(userCode: code), tenant: tenant, app: tenant.application(appID: record.clientID),
                loginHint: nil, request: request)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    // MARK: - Logout

    /// GET or POST /{tenant}/oauth2/v2.0/logout (OpenID Connect RP-Initiated Logout 1.0): ends the
    /// SSO session and returns to `post_logout_redirect_uri` when it is registered for the app the
    /// request names — by `id_token_hint` (an ID token this tenant issued, expired or not) or
    /// `client_id`, which must agree. Without a valid `id_token_hint` the user is asked to confirm
    /// (§2: "the OP SHOULD ask the End-User whether to log out"), so a page elsewhere cannot sign
    /// the user out by linking or posting here (logout CSRF).
    public func logout(_ request: BrowserRequest) async -> InteractiveResult {
        let p = request.parameters
        let clear = Cookie(name: Self.sessionCookie, value: "", maxAge: 0, secure: secure)
        let tenant = try? await authority.tenant(request.tenantSegment)
        var app: Application?
        var hinted = false
        if let hint = p["id_token_hint"], !hint.isEmpty {
            guard let tenant, let audience = await idTokenHintAudience(hint, tenant: tenant) else {
                return .error(.invalidLogoutRequest("The id_token_hint is not an ID token issued by this tenant."))
            }
            hinted = true
            app = tenant.application(appID: audience)
        }
        if let clientID = p["client_id"], !clientID.isEmpty {
            if let app, app.appId.lowercased() != clientID.lowercased() {
                return .error(.invalidLogoutRequest("The client_id '\(clientID)' is not the audience of the id_token_hint."))
            }
            app = app ?? tenant?.application(appID: clientID)
        }
        let sessionID = request.cookies[Self.sessionCookie]
        if let sessionID, !hinted, !constantTimeEqual(p["logout_confirmation"] ?? "", Self.logoutConfirmation(sessionID: sessionID)) {
            var fields: [(String, String)] = [("logout_confirmation", Self.logoutConfirmation(sessionID: sessionID))]
            for name in ["post_logout_redirect_uri", "state", "client_id"] { if let v = p[name] { fields.append((name, v)) } }
            return .confirmLogout(action: "/\(request.tenantSegment)/oauth2/v2.0/logout", fields: fields, cookies: [])
        }
        if let sessionID { try? await authority.store.deleteSession(hash: TokenIssuer.hash(sessionID)) }
        if let target = p["post_logout_redirect_uri"], let app,
            (app.webRedirectURIs + app.spaRedirectURIs + app.publicClientRedirectURIs).contains(target)
                || app.web?.logoutUrl == target || app.spa?.logoutUrl == target
        {
            var location = target
            if let state = p["state"] { location += (target.contains("?") ? "&" : "?") + "state=" + FormParameters.encode(state) }
            return .redirect(location, cookies: [clear])
        }
        return .message(title: "You signed out of your account", text: "It's a good idea to close all browser windows.", cookies: [clear])
    }

    /// The confirmation form's anti-forgery value: derived from the session cookie, which a page
    /// elsewhere cannot read.
    static func logoutConfirmation(sessionID: String) -> String {
        Base64URL.encode(SHA256.hash(data: Data("deputy-logout-confirmation:\(sessionID)".utf8)))
    }

    /// The application an `id_token_hint` was issued to, when this tenant's keys signed it as an
    /// ID token (expiry is not checked: RP-Initiated Logout §2 allows an expired hint).
    func idTokenHintAudience(_ hint: String, tenant: DirectoryIndex) async -> String? {
        guard let keys = try? await authority.currentKeys() else { return nil }
        let policy = ValidationPolicy(
            issuers: [authority.configuration.issuerV2(tenantID: tenant.tenantID)],
            audiences: Set(tenant.directory.applications.map(\.appId)), clockSkew: 365 * 86_400)
        guard let token = try? await keys.validator.validate(hint, policy: policy), token.kind == .idToken else { return nil }
        return token.audience
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
