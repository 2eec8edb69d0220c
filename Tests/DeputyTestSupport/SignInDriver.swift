import DeputyAuthority
import DeputyCore
import DeputyDemo
import Foundation

/// Drives the authority's interactive pages in-process, as a browser would, for tests.
public enum SignInDriver {
    /// What went wrong in a scripted sign-in.
    public struct Unexpected: Error, CustomStringConvertible {
        public var description: String
    }

    /// The demo's "Require MFA for Contoso SQL" policy.
    public static let mfaPolicyID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
    /// The claims challenge that policy produces (what a middle tier relays).
    public static let mfaChallenge = #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]}}}"#

    /// A user's access token from the public CLI app through authorize with `claims` (password,
    /// then the TOTP code when a step asks for it), redeemed at the token endpoint.
    /// - Parameter beforeCode: runs before the code is computed (tests move their clock to a
    ///   fresh TOTP step: a code is accepted once).
    public static func token(
        authority: Authority, user: DemoTenant.DemoUser, scope: String = "api://contoso-expenses-api/access_as_user",
        claims: String? = mfaChallenge, beforeCode: () -> Void = {}
    ) async throws -> String {
        try await response(authority: authority, user: user, scope: scope, claims: claims, beforeCode: beforeCode).accessToken
    }

    /// The whole token response (with the refresh token) of ``token(authority:user:scope:claims:beforeCode:)``,
    /// signed in from `ipAddress`.
    public static func response(
        authority: Authority, user: DemoTenant.DemoUser, scope: String = "api://contoso-expenses-api/access_as_user",
        claims: String? = mfaChallenge, ipAddress: String = "127.0.0.1", beforeCode: () -> Void = {}
    )
        async throws -> TokenResponse
    {
        let interactive = InteractiveSignIn(authority: authority)
        let cli = DemoTenant.app("cli")
        var cookies: [String: String] = [:]
        func absorb(_ set: [Cookie]) { for c in set { cookies[c.name] = c.maxAge == 0 ? nil : c.value } }
        var query: [(String, String)] = [
            ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
            ("scope", scope + " offline_access"),
        ]
        if let claims { query.append(("claims", claims)) }
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: "contoso.com", parameters: FormParameters(query),
                cookies: cookies, correlationID: "sign-in", ipAddress: ipAddress))
        guard case .signIn(let page, let set) = start else { throw Unexpected(description: "expected the sign-in page, got \(start)") }
        absorb(set)
        var result = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters([
                    ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password),
                ]),
                cookies: cookies, correlationID: "sign-in", ipAddress: ipAddress))
        if case .step(let step, let set) = result, step.step == .mfa, let secret = user.totpSecret {
            absorb(set)
            beforeCode()
            guard let code = TOTP.code(base32Secret: secret, at: authority.time.now()) else {
                throw Unexpected(description: "bad TOTP secret")
            }
            result = await interactive.submitVerificationCode(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([("flow", step.flowID), ("csrf_token", step.csrfToken), ("otc", code)]),
                    cookies: cookies, correlationID: "sign-in", ipAddress: ipAddress))
        }
        guard case .respond(let response, _) = result, let code = response.parameters.first(where: { $0.0 == "code" })?.1 else {
            throw Unexpected(description: "expected a code, got \(result)")
        }
        return try await authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code), ("redirect_uri", "http://localhost"),
                    ("scope", scope),
                ]), correlationID: "sign-in", ipAddress: ipAddress)
        ).get()
    }
}
