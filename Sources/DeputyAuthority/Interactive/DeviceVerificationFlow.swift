import DeputyCore
import Foundation

/// The device verification page (RFC 8628 §3.3): the user enters the code shown on the device,
/// signs in, passes Conditional Access for the device's app and resource, and the device code is
/// approved; the device's next poll gets the tokens.
struct DeviceVerificationFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// GET /devicelogin: the page where the user enters the code shown on the device.
    func page(_ request: BrowserRequest) -> InteractiveResult {
        let token = TokenMinter.randomID(bytes: 24)
        return .deviceCodeEntry(
            csrfToken: token, errorMessage: nil,
            cookies: [Cookie(name: InteractiveSignIn.deviceCookie, value: token, maxAge: 1800, secure: secure)])
    }

    /// POST /devicelogin: checks the code and starts the sign-in for it.
    func submit(_ request: BrowserRequest) async -> InteractiveResult {
        do {
            let form = request.parameters
            try form.rejectDuplicates()
            guard let csrf = form["csrf_token"], let cookie = request.cookies[InteractiveSignIn.deviceCookie],
                constantTimeEqual(csrf, cookie)
            else {
                return .error(.invalidCSRFToken())
            }
            let code = (form["user_code"] ?? "").uppercased().filter { !$0.isWhitespace && $0 != "-" }
            guard let record = try await authority.store.deviceCode(userCode: code), record.state == .pending,
                record.expiresAt > authority.time.now(), let tenant = try await authority.tenant(record.tenantID)
            else {
                return .deviceCodeEntry(
                    csrfToken: csrf, errorMessage: "That code didn't work. Check the code and try again. (AADSTS70018)", cookies: [])
            }
            return try await signIn.startFlow(
                .deviceCode(userCode: code), tenant: tenant, app: tenant.application(appID: record.clientID),
                loginHint: nil, request: request)
        } catch {
            return .error(authority.normalize(error, draft: nil))
        }
    }

    /// The device-code sign-in: Conditional Access for the device's app and resource, then approval.
    func approve(
        userCode: String, authentication: Authentication, tenant: DirectoryIndex, request: BrowserRequest,
        cookies: [Cookie]
    ) async throws -> InteractiveResult {
        let now = authority.time.now()
        guard let device = try await authority.store.deviceCode(userCode: userCode), device.expiresAt > now,
            let app = tenant.application(appID: device.clientID), let user = tenant.user(id: authentication.userID)
        else {
            return .message(
                title: "Code expired", text: "The code expired while you were signing in. Start again on your device. (AADSTS70019)",
                cookies: cookies)
        }
        let resource = try? ResolvedScopes.resolve(device.scopes, tenant: tenant, tenantName: tenant.tenantID).resource
        let claims = (try? device.claims.map { c throws(OAuthError) in try ClaimsRequest(parsing: c) }) ?? nil
        if case .stop(let step) = try await signIn.stepUp.evaluate(
            client: app, resource: resource, claims: claims ?? ClaimsRequest(), user: user,
            authentication: authentication, tenant: tenant, request: request, cookies: cookies,
            then: .deviceCode(userCode: userCode))
        {
            return step
        }
        do {
            try await authority.store.resolveDeviceCode(userCode: userCode, state: .approved(authentication))
        } catch StorageError.conflict {
            return .message(title: "Code already used", text: "This code was already used. Start again on your device.", cookies: cookies)
        }
        return .message(
            title: "Device sign-in complete",
            text: "You have signed in to the \(app.displayName) application on your device. You may now close this window.",
            cookies: cookies)
    }
}
