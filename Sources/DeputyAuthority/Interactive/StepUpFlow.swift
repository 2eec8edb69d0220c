import DeputyCore
import Foundation

/// The steps Conditional Access adds to an interactive sign-in: TOTP verification (RFC 6238),
/// MFA registration, password change, signing in again for sign-in frequency, and the block page.
/// They run after the password and before consent, as in Entra. ``evaluate(client:resource:claims:user:authentication:tenant:request:cookies:then:silent:)``
/// decides; each step has its page and its form post; ``finish(_:authentication:tenant:request:then:)``
/// records what was satisfied in the SSO session and continues the flow the step interrupted.
struct StepUpFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// The Conditional Access context of an interactive sign-in.
    func context(
        client: Application, resource: Application?, claims: ClaimsRequest, user: User,
        authentication: Authentication, tenant: DirectoryIndex, request: BrowserRequest
    ) -> SignInContext {
        var c = SignInContext(
            tenant: tenant, user: user, client: client, resource: resource, isInteractive: true,
            authentication: authentication, requestedAuthenticationContexts: claims.requestedAuthenticationContexts,
            ipAddress: request.ipAddress, authenticationProtocol: "authorize")
        c.requiredPolicyIDs = claims.policyIDs
        c.clientAppType = "browser"
        c.devicePlatform = request.devicePlatform
        return c
    }

    /// What Conditional Access lets an interactive sign-in do next.
    enum Decision {
        /// Go on (to consent and the code); the outcome goes into the sign-in record.
        case proceed(ConditionalAccessOutcome)
        /// Show this step or page instead.
        case stop(InteractiveResult)
    }

    /// Evaluates Conditional Access once, before the user goes on. `then` is where the sign-in
    /// continues once a step is done; `silent` answers a request that cannot show a page
    /// (`prompt=none`) with the error it is given.
    func evaluate(
        client: Application, resource: Application?, claims: ClaimsRequest, user: User, authentication: Authentication,
        tenant: DirectoryIndex, request: BrowserRequest, cookies: [Cookie], then: InteractiveFlowRecord.Purpose,
        silent: ((OAuthError) -> InteractiveResult)? = nil
    ) async throws -> Decision {
        var context = context(
            client: client, resource: resource, claims: claims, user: user, authentication: authentication,
            tenant: tenant, request: request)
        if let place = user.signInIPAddress { context.ipAddress = place }
        let outcome = authority.evaluator.evaluate(context)
        guard outcome.decision != .grant, let error = outcome.error(resource: resource, style: nil) else { return .proceed(outcome) }
        // Every interrupted or blocked attempt is in the sign-in log, with each policy's result.
        let draft = SignInDraft(
            tenantID: tenant.tenantID, isInteractive: true, protocol: "authorize", correlationID: request.correlationID,
            ipAddress: context.ipAddress, now: authority.time.now())
        draft.client(client, credential: .none)
        draft.user(user)
        if let resource { draft.resource(resource) }
        draft.record.signInEventTypes = ["interactiveUser"]
        draft.record.authenticationMethodsUsed = authentication.methods
        draft.conditionalAccess(outcome)
        draft.fail(error)
        try await authority.store.appendSignIn(draft.record)

        if let silent {
            var e = error
            if outcome.decision == .interrupt { e.error = .interactionRequired }
            return .stop(silent(e))
        }
        if outcome.decision == .block { return .stop(.error(error)) }
        switch outcome.requirements.first ?? .mfa {
        case .mfa:
            return .stop(
                try await start(
                    user.totpSecret == nil ? .mfaRegistration : .mfa, authentication: authentication, user: user,
                    tenant: tenant, cookies: cookies, then: then))
        case .passwordChange:
            return .stop(
                try await start(
                    .passwordChange, authentication: authentication, user: user, tenant: tenant, cookies: cookies, then: then))
        case .reauthentication:
            return .stop(
                try await signIn.startFlow(
                    then, tenant: tenant, app: client, loginHint: user.userPrincipalName, request: request,
                    notice: "Your organization requires you to sign in again (sign-in frequency).", extraCookies: cookies))
        case .compliantDevice, .domainJoinedDevice:
            return .stop(.error(error))
        }
    }

    /// Saves a step's flow and shows its page.
    func start(
        _ step: InteractiveStep, authentication: Authentication, user: User, tenant: DirectoryIndex, cookies: [Cookie],
        then: InteractiveFlowRecord.Purpose, error: String? = nil
    ) async throws -> InteractiveResult {
        let now = authority.time.now()
        let binding = TokenMinter.randomID(bytes: 24)
        let secret = step == .mfaRegistration ? TOTP.newSecret() : nil
        let flow = InteractiveFlowRecord(
            id: TokenMinter.randomID(bytes: 18), tenantID: tenant.tenantID,
            purpose: .step(step, authentication, secret: secret, then: then), csrfToken: TokenMinter.randomID(bytes: 24),
            browserBindingHash: TokenIssuer.hash(binding), loginHint: user.userPrincipalName, createdAt: now,
            expiresAt: now + authority.configuration.interactiveFlowLifetime)
        try await authority.store.saveFlow(flow)
        let cookie = Cookie(
            name: InteractiveSignIn.bindingCookiePrefix + flow.id, value: binding,
            maxAge: Int(authority.configuration.interactiveFlowLifetime), secure: secure)
        return page(flow, step: step, secret: secret, user: user, tenant: tenant, error: error, cookies: cookies + [cookie])
    }

    func page(
        _ flow: InteractiveFlowRecord, step: InteractiveStep, secret: String?, user: User, tenant: DirectoryIndex, error: String?,
        cookies: [Cookie]
    ) -> InteractiveResult {
        var page = StepPage(
            step: step, flowID: flow.id, csrfToken: flow.csrfToken, tenantDisplayName: tenant.tenant.displayName,
            userPrincipalName: user.userPrincipalName, errorMessage: error, action: "/\(tenant.tenantID)/\(step.path)")
        if let secret {
            page.secret = secret
            page.provisioningURI = TOTP.provisioningURI(
                secret: secret, account: user.userPrincipalName, issuer: "Deputy (\(tenant.tenant.displayName))")
        }
        return .step(page, cookies: cookies)
    }

    /// POST /{tenant}/mfa: checks the verification code (or, at registration, confirms the new
    /// secret with one code), then continues the sign-in with `mfa` and `otp` satisfied.
    func submitVerificationCode(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let (tenant, flow) = try await signIn.postedFlow(request)
            guard case .step(let step, var authentication, let pendingSecret, let then) = flow.purpose,
                step == .mfa || step == .mfaRegistration,
                let user = tenant.user(id: authentication.userID), let secret = pendingSecret ?? user.totpSecret
            else { return .error(.signInFlowExpired()) }
            let now = authority.time.now()
            let key = "totp:\(tenant.tenantID):\(user.id)"
            func again(_ message: String) -> InteractiveResult {
                page(flow, step: step, secret: pendingSecret, user: user, tenant: tenant, error: message, cookies: [])
            }
            // The attempt is counted before the code is checked (and the count cleared on success):
            // counting only failures, after the check, let a burst of concurrent guesses all pass
            // a check that read the count before any of them was recorded.
            let count = try await authority.store.recordFailure(key, at: now, window: InteractiveSignIn.lockoutWindow)
            if count > InteractiveSignIn.maxCodeFailures {
                await signIn.recordInteractiveFailure(
                    .multifactorLockedOut(), tenant: tenant, app: nil, login: user.userPrincipalName, request: request)
                return .error(.multifactorLockedOut())
            }
            guard let matched = TOTP.match(request.parameters["otc"] ?? "", base32Secret: secret, at: now) else {
                if count >= InteractiveSignIn.maxCodeFailures {
                    await signIn.recordInteractiveFailure(
                        .multifactorLockedOut(), tenant: tenant, app: nil, login: user.userPrincipalName, request: request)
                    return .error(.multifactorLockedOut())
                }
                return again("You didn't enter the expected verification code. Please try again.")
            }
            // RFC 6238 §5.2: a code that was accepted once is never accepted again.
            guard try await authority.store.useOnce("\(key):\(matched)", until: now + TOTP.period * 3, now: now) else {
                return again("That code was already used. Wait for your app to show a new code.")
            }
            try await authority.store.clearFailures(key)
            var current = tenant
            if step == .mfaRegistration {
                try await authority.store.updateDirectory(tenantID: tenant.tenantID) { d in
                    if let i = d.users.firstIndex(where: { $0.id == user.id }) { d.users[i].totpSecret = secret }
                }
                current = try await authority.tenant(tenant.tenantID) ?? tenant
            }
            for method in ["mfa", "otp"] where !authentication.methods.contains(method) { authentication.methods.append(method) }
            authentication.mfaTime = now
            return try await finish(flow, authentication: authentication, tenant: current, request: request, then: then)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    /// POST /{tenant}/passwordchange: sets a new password, which remediates the user's risk (as
    /// Identity Protection does), then continues the sign-in.
    func submitPasswordChange(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let (tenant, flow) = try await signIn.postedFlow(request)
            guard case .step(.passwordChange, let authentication, _, let then) = flow.purpose,
                let user = tenant.user(id: authentication.userID)
            else {
                return .error(.signInFlowExpired())
            }
            let new = request.parameters["new_password"] ?? ""
            func again(_ message: String) -> InteractiveResult {
                page(flow, step: .passwordChange, secret: nil, user: user, tenant: tenant, error: message, cookies: [])
            }
            guard new.count >= 8 else { return again("Your new password must have at least 8 characters.") }
            guard new == request.parameters["confirm_password"] else { return again("The passwords don't match.") }
            guard await !authority.passwords.verify(new, user: user, tenantID: tenant.tenantID) else {
                return again("You can't reuse your current password. Choose a new one.")
            }
            let hash = await authority.passwords.hash(new)
            try await authority.store.updateDirectory(tenantID: tenant.tenantID) { d in
                guard let i = d.users.firstIndex(where: { $0.id == user.id }) else { return }
                d.users[i].passwordHash = hash
                if d.users[i].userRiskLevel != nil { d.users[i].userRiskLevel = "none" }
            }
            let current = try await authority.tenant(tenant.tenantID) ?? tenant
            return try await finish(flow, authentication: authentication, tenant: current, request: request, then: then)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    /// Ends a step: the SSO session remembers what was satisfied and when, then the sign-in goes on.
    func finish(
        _ flow: InteractiveFlowRecord, authentication: Authentication, tenant: DirectoryIndex, request: BrowserRequest,
        then: InteractiveFlowRecord.Purpose
    ) async throws -> InteractiveResult {
        try await authority.store.deleteFlow(id: flow.id)
        if let id = request.cookies[InteractiveSignIn.sessionCookie],
            var session = try await authority.store.session(hash: TokenIssuer.hash(id)),
            session.authentication.userID == authentication.userID
        {
            session.authentication = authentication
            try await authority.store.saveSession(session)
        }
        let cookies = [Cookie(name: InteractiveSignIn.bindingCookiePrefix + flow.id, value: "", maxAge: 0, secure: secure)]
        return try await signIn.proceed(then, authentication: authentication, tenant: tenant, request: request, cookies: cookies)
    }
}
