import DeputyCore
import Foundation

/// The sign-in form (POST /{tenant}/login). Steps: the posted flow (its anti-forgery token and the
/// cookie binding it to this browser); the password, under smart lockout and with the same work
/// whether or not the account exists; the SSO session; then the flow the form was shown for
/// continues (authorize, device code, the portal, admin consent).
struct SignInFormFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// POST /{tenant}/login: checks the anti-forgery token and the browser binding, then the password.
    func submit(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            let (tenant, flow) = try await signIn.postedFlow(request)
            let clearBinding = Cookie(name: InteractiveSignIn.bindingCookiePrefix + flow.id, value: "", maxAge: 0, secure: secure)
            var app: Application?
            if case .authorize(let p) = flow.purpose { app = tenant.application(appID: p.clientID) }
            if case .adminConsent(let ap, _) = flow.purpose { app = tenant.application(appID: ap.clientID) }
            let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
            let password = form["password"] ?? ""
            let wrong = "Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126)"
            if username.isEmpty {
                return .signIn(
                    signIn.page(for: flow, tenant: tenant, app: app, error: "Enter your email, phone, or Skype.", username: username),
                    cookies: [])
            }
            let found = tenant.user(login: username)
            // Smart lockout, and the same bcrypt work whether or not the account exists (the page
            // says the same words for both).
            let matched: Bool
            do {
                matched = try await authority.checkPassword(
                    password, login: username, user: found, tenant: tenant, ipAddress: request.ipAddress)
            } catch let locked as OAuthError where locked.aadsts == 50053 {
                await signIn.recordInteractiveFailure(locked, tenant: tenant, app: app, login: username, request: request)
                let message = "Your account is temporarily locked to prevent unauthorized use. Try again later. (AADSTS50053)"
                return .signIn(signIn.page(for: flow, tenant: tenant, app: app, error: message, username: username), cookies: [])
            }
            guard let user = found else {
                await signIn.recordInteractiveFailure(.invalidCredentials(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(signIn.page(for: flow, tenant: tenant, app: app, error: wrong, username: username), cookies: [])
            }
            guard user.isEnabled else {
                await signIn.recordInteractiveFailure(.userDisabled(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(
                    signIn.page(
                        for: flow, tenant: tenant, app: app,
                        error: "Your account has been locked. Contact your support person to unlock it. (AADSTS50057)", username: username),
                    cookies: [])
            }
            guard matched else {
                await signIn.recordInteractiveFailure(.invalidCredentials(), tenant: tenant, app: app, login: username, request: request)
                return .signIn(signIn.page(for: flow, tenant: tenant, app: app, error: wrong, username: username), cookies: [])
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
            let cookie = Cookie(name: InteractiveSignIn.sessionCookie, value: sessionID, maxAge: nil, secure: secure)
            let cookies = [cookie, clearBinding]
            var withSession = request
            withSession.cookies[InteractiveSignIn.sessionCookie] = sessionID
            switch flow.purpose {
            case .authorize, .deviceCode:
                return try await signIn.proceed(
                    flow.purpose, authentication: authentication, tenant: tenant, request: withSession, cookies: cookies)
            case .portal:
                return try await signIn.proceed(
                    flow.purpose, authentication: authentication, tenant: tenant, request: withSession, cookies: cookies)
            case .consent, .step:
                // Consent and steps are answered on their own pages, never with a password.
                return .error(.signInFlowExpired())
            case .adminConsent(let ap, let items):
                guard tenant.isConsentAdministrator(user.id) else {
                    return .respond(signIn.adminConsentFlow.failure(.notAnAdministrator(), ap), cookies: cookies)
                }
                return try await signIn.adminConsentFlow.showPage(ap, items: items, tenant: tenant, user: user, cookies: cookies)
            }
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }
}
