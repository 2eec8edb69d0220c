import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation

/// Logout (OpenID Connect RP-Initiated Logout 1.0): the application named by `id_token_hint` or
/// `client_id`; confirmation when the request cannot prove it comes from that application; the
/// session ended; the return to a registered `post_logout_redirect_uri`.
struct LogoutFlow: Sendable {
    let signIn: InteractiveSignIn
    var authority: Authority { signIn.authority }
    var secure: Bool { signIn.secure }

    /// GET or POST /{tenant}/oauth2/v2.0/logout (OpenID Connect RP-Initiated Logout 1.0): ends the
    /// SSO session and returns to `post_logout_redirect_uri` when it is registered for the app the
    /// request names — by `id_token_hint` (an ID token this tenant issued, expired or not) or
    /// `client_id`, which must agree. Without a valid `id_token_hint` the user is asked to confirm
    /// (§2: "the OP SHOULD ask the End-User whether to log out"), so a page elsewhere cannot sign
    /// the user out by linking or posting here (logout CSRF).
    func run(_ request: BrowserRequest) async -> InteractiveResult {
        let p = request.parameters
        let clear = Cookie(name: InteractiveSignIn.sessionCookie, value: "", maxAge: 0, secure: secure)
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
        let sessionID = request.cookies[InteractiveSignIn.sessionCookie]
        if let sessionID, !hinted, !constantTimeEqual(p["logout_confirmation"] ?? "", Self.confirmation(sessionID: sessionID)) {
            var fields: [(String, String)] = [("logout_confirmation", Self.confirmation(sessionID: sessionID))]
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
    static func confirmation(sessionID: String) -> String {
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
