import DeputyCore
import Foundation

/// The authorize endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2 as Entra has them), in
/// its steps: the client and its registered redirect URI (errors before this point go to an error
/// page, never to a redirect); the response type and mode; the scopes; PKCE (RFC 7636); the
/// `claims`, `resource` and `prompt` parameters; then the SSO session or the sign-in form. Once
/// the user is authenticated, ``complete(_:authentication:tenant:request:cookies:askConsent:)``
/// runs Conditional Access (``StepUpFlow``), then consent (``ConsentFlow``), then issues the code.
struct AuthorizeFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// The client, as far as the first step establishes it: errors until then go to an error page.
    struct Client {
        var tenant: DirectoryIndex
        var app: Application
        var redirectURI: String
        var platform: ClientPlatform
    }

    /// Where and how the answer goes: from here on, errors are sent to the client's redirect URI.
    struct Response {
        var types: Set<String>
        var typeText: String
        /// `response_mode` as asked (checked by ``checkResponse(_:)``).
        var mode: String
        /// The mode errors are sent in: the one asked when it is valid, else the default.
        var errorMode: String
        var state: String?
    }

    /// GET /{tenant}/oauth2/v2.0/authorize, step by step.
    func run(_ request: BrowserRequest) async -> InteractiveResult {
        let q = request.parameters
        let client: Client
        do {
            switch try await registeredClient(request) {
            case .success(let c): client = c
            case .failure(let e): return .error(e)
            }
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
        let response = responseShape(q)
        func fail(_ e: OAuthError) -> InteractiveResult {
            .respond(
                signIn.errorResponse(
                    e, redirectURI: client.redirectURI, mode: response.errorMode, state: response.state, tenant: client.tenant), cookies: []
            )
        }
        do {
            try checkResponse(response)
            let scopes = try requestedScopes(q, response: response, client: client, tenantSegment: request.tenantSegment)
            let pkce = try proofKey(q, response: response, client: client)
            let prompt = try options(q, resolved: scopes.resolved, tenant: client.tenant)
            let params = AuthorizeParameters(
                clientID: client.app.appId, redirectURI: client.redirectURI, platform: client.platform, responseType: response.typeText,
                responseMode: response.mode, scopes: scopes.requested, state: response.state, nonce: q["nonce"],
                codeChallenge: pkce?.challenge, codeChallengeMethod: pkce?.method, prompt: prompt, loginHint: q["login_hint"],
                claims: q["claims"])
            return try await sessionOrSignIn(params, client: client, request: request, fail: fail)
        } catch let e as OAuthError {
            return fail(e)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    /// Step 1: the tenant, the client and its registered redirect URI. Until the redirect URI is
    /// known to be registered, errors go to an error page, never to a redirect.
    func registeredClient(_ request: BrowserRequest) async throws -> Result<Client, OAuthError> {
        let q = request.parameters
        guard var tenant = try await authority.tenant(request.tenantSegment, clientID: q["client_id"]) else {
            return .failure(.tenantNotFound(request.tenantSegment))
        }
        do { try q.rejectDuplicates() } catch { return .failure(error) }
        guard let clientID = q["client_id"] else { return .failure(.missingParameter("client_id")) }
        // MCP spec mode: a client id that is a URL names the client's metadata document.
        do { tenant = try await authority.registerClientMetadataDocument(clientID, in: tenant) } catch let e as OAuthError {
            return .failure(e)
        }
        // Agent ID: a blueprint and an agent identity have no interactive sign-in (Microsoft
        // Learn, "Agent identity blueprints": no redirect URIs, no /authorize).
        if tenant.agentIdentity(appID: clientID) != nil || tenant.application(appID: clientID)?.isAgentIdentityBlueprint == true {
            return .failure(.noInteractiveSignInForAgents(appID: clientID))
        }
        guard let app = tenant.application(appID: clientID) else {
            return .failure(.unknownClient(clientID, tenant: request.tenantSegment))
        }
        guard let redirectURI = q["redirect_uri"] else { return .failure(.missingParameter("redirect_uri")) }
        guard let platform = InteractiveSignIn.platform(of: redirectURI, in: app) else {
            return .failure(.redirectURINotRegistered(redirectURI, appID: app.appId))
        }
        return .success(Client(tenant: tenant, app: app, redirectURI: redirectURI, platform: platform))
    }

    /// Step 2: the response type and mode (OAuth 2.0 Multiple Response Type Encoding Practices:
    /// `fragment` by default when an ID token is returned, never `query` for one).
    func responseShape(_ q: FormParameters) -> Response {
        let typeText = q["response_type"] ?? ""
        let types = Set(typeText.split(separator: " ").map(String.init))
        let modeDefault = types.contains("id_token") ? "fragment" : "query"
        let mode = q["response_mode"] ?? modeDefault
        // An unknown mode is reported in the default one.
        let errorMode = ["query", "fragment", "form_post"].contains(mode) ? mode : modeDefault
        return Response(types: types, typeText: typeText, mode: mode, errorMode: errorMode, state: q["state"])
    }

    func checkResponse(_ r: Response) throws(OAuthError) {
        guard !r.types.isEmpty else { throw .missingQueryParameter("response_type") }
        guard r.types.isSubset(of: ["code", "id_token"]) else { throw .unsupportedResponseType(r.typeText) }
        guard ["query", "fragment", "form_post"].contains(r.mode), !(r.mode == "query" && r.types.contains("id_token")) else {
            throw .invalidResponseMode(r.mode)
        }
    }

    /// Step 3: the scopes, resolved against the tenant; an ID token needs `openid` and a nonce.
    func requestedScopes(
        _ q: FormParameters, response: Response, client: Client, tenantSegment: String
    ) throws(OAuthError) -> (requested: [String], resolved: ResolvedScopes) {
        let scopes = Scopes.parse(q["scope"])
        guard !scopes.isEmpty else { throw .missingQueryParameter("scope") }
        let resolved = try ResolvedScopes.resolve(scopes, tenant: client.tenant, tenantName: tenantSegment)
        if response.types.contains("id_token") && q["nonce"] == nil { throw .nonceRequired() }
        if response.types.contains("id_token") && !resolved.wantsIDToken {
            throw .invalidScope(Scopes.format(scopes), "An id_token response needs the openid scope.")
        }
        // Entra answers an OpenID-only code flow with a Microsoft Graph token; Deputy does not
        // emulate Graph, so it says so here rather than failing at redemption.
        if response.types.contains("code") && resolved.resource == nil {
            throw .invalidScope(
                Scopes.format(scopes),
                "Deputy issues access tokens for the tenant's own applications only (Microsoft Graph is not emulated): add a scope of one of them, such as api://…/.default."
            )
        }
        return (scopes, resolved)
    }

    /// Step 4: PKCE (RFC 7636), required for SPAs (Entra) and for every code in a strict tenant
    /// (RFC 9700 §2.1.1) or one in MCP spec mode (MCP authorization, "Authorization Code
    /// Protection"), S256 only in both.
    func proofKey(_ q: FormParameters, response: Response, client: Client) throws(OAuthError) -> (challenge: String, method: String)? {
        let s256Only = client.tenant.isStrict || client.tenant.isMCPSpec
        guard let challenge = q["code_challenge"] else {
            if client.platform == .spa { throw .pkceRequired() }
            if s256Only && response.types.contains("code") {
                throw .pkceRequired(mode: client.tenant.isStrict ? "strict mode, RFC 9700 §2.1.1" : "MCP spec mode")
            }
            return nil
        }
        let method = q["code_challenge_method"] ?? "plain"
        guard method == "S256" || method == "plain" else {
            throw .invalidCodeChallenge("The code_challenge_method must be S256 or plain.")
        }
        // RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)), exactly 43 characters;
        // a plain one is a verifier (43–128 unreserved characters).
        let wellFormed = method == "S256" ? (challenge.count == 43 && Base64URL.decode(challenge) != nil) : PKCE.isWellFormed(challenge)
        guard wellFormed else {
            throw .invalidCodeChallenge(
                method == "S256" ? "An S256 code_challenge is 43 base64url characters." : "The code_challenge must be 43 to 128 characters."
            )
        }
        if s256Only && method != "S256" {
            throw .invalidCodeChallenge(
                client.tenant.isStrict
                    ? "This tenant requires code_challenge_method S256 (strict mode, RFC 9700)."
                    : "This tenant requires code_challenge_method S256 (MCP spec mode: the MCP authorization specification requires S256).")
        }
        return (challenge, method)
    }

    /// Step 5: the `claims` request, RFC 8707 `resource` indicators and `prompt`.
    func options(_ q: FormParameters, resolved: ResolvedScopes, tenant: DirectoryIndex) throws(OAuthError) -> String? {
        _ = try ClaimsRequest.parse(q["claims"])
        try checkResourceIndicators(q, resolved: resolved, tenant: tenant)
        let prompt = q["prompt"]
        if let prompt, !["login", "none", "consent", "select_account"].contains(prompt) {
            throw .invalidParameter("prompt", "Expected login, none, consent or select_account.")
        }
        return prompt
    }

    /// Step 6: the SSO session goes on silently unless `prompt` asks otherwise; without one, the
    /// sign-in form (or, with `prompt=none`, `login_required`).
    func sessionOrSignIn(
        _ params: AuthorizeParameters, client: Client, request: BrowserRequest, fail: (OAuthError) -> InteractiveResult
    ) async throws -> InteractiveResult {
        var session = try await signIn.currentSession(request, tenant: client.tenant)
        // A login_hint for someone else than the session's user never gets the session's
        // user silently (Entra: AADSTS160021 with prompt=none).
        var hintMismatch = false
        if let s = session, let hint = params.loginHint, client.tenant.user(login: hint)?.id != s.authentication.userID {
            session = nil
            hintMismatch = true
        }
        // A continuous access evaluation challenge (`nbf` in `claims`) asks for a sign-in newer than
        // the event: an older session does not answer it (Microsoft Learn, "Continuous access evaluation").
        if let s = session, let nbf = params.claims.flatMap({ try? ClaimsRequest(parsing: $0) })?.notBefore,
            s.authentication.authTime.timeIntervalSince1970.rounded(.down) < nbf.timeIntervalSince1970.rounded(.down)
        {
            session = nil
        }
        if let session, params.prompt != "login", params.prompt != "select_account" {
            return try await complete(params, authentication: session.authentication, tenant: client.tenant, request: request, cookies: [])
        }
        if params.prompt == "none" { return fail(hintMismatch ? .sessionForHintMissing() : .loginRequired()) }
        return try await signIn.startFlow(
            .authorize(params), tenant: client.tenant, app: client.app, loginHint: params.loginHint, request: request)
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
            return .respond(
                signIn.errorResponse(error, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state, tenant: tenant),
                cookies: cookies)
        }
        let resource = try? ResolvedScopes.resolve(p.scopes, tenant: tenant, tenantName: request.tenantSegment).resource
        // A silent request cannot show a step: the client gets the error and must go interactive.
        let silent: ((OAuthError) -> InteractiveResult)? =
            p.prompt != "none"
            ? nil
            : { [self] e in
                .respond(
                    signIn.errorResponse(e, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state, tenant: tenant),
                    cookies: cookies)
            }
        let outcome: ConditionalAccessOutcome
        switch try await signIn.stepUp.evaluate(
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
                    return try await signIn.consentFlow.show(
                        p, authentication: authentication, items: items, tenant: tenant, app: app, user: user, cookies: cookies)
                }
            } catch let e as OAuthError {
                return .respond(
                    signIn.errorResponse(e, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state, tenant: tenant),
                    cookies: cookies)
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
            out.append(("session_state", TokenIssuer.hash(request.cookies[InteractiveSignIn.sessionCookie] ?? user.id)))
            out += signIn.issuerParameter(tenant)
            return .respond(ClientResponse(redirectURI: p.redirectURI, responseMode: p.responseMode, parameters: out), cookies: cookies)
        } catch {
            let e = authority.normalize(error, draft: draft)
            draft.fail(e)
            var interactiveError = e
            if e.aadsts == 65001 { interactiveError = .consentRequiredInteractive(clientAppID: app.appId, clientName: app.displayName) }
            return .respond(
                signIn.errorResponse(interactiveError, redirectURI: p.redirectURI, mode: p.responseMode, state: p.state, tenant: tenant),
                cookies: cookies)
        }
    }

}
