import Crypto
import DeputyAuthority
import DeputyCore
import Foundation

/// The tokens the audit presents, from the authority `deputy up` runs, through its engine on the
/// same store (the same signing keys, clock and sign-in log): a user's sign-in with the password
/// and the verification code (RFC 6238, the authority's clock), refreshed for other audiences;
/// the same user with a password only (resource-owner password grant); and, for the rejection
/// rules, tokens a middle tier must refuse: expired (signed with the authority's own key), with a
/// broken signature, and unsigned (`alg: none`).
struct AuditTokens: Sendable {
    let authority: Authority
    let tenant: String
    /// The public client users sign in with (the demo CLI: consented to the audited APIs).
    let publicClient: String
    let user: (upn: String, password: String, totpSecret: String?)
    /// Told how long the audit waits for the next verification code (a code is used once).
    var onWait: (@Sendable (TimeInterval) -> Void)? = nil

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A sign-in for `scope` plus `offline_access` that satisfies the policy `mfaPolicyID` (it
    /// requires MFA: the sign-in asks for the verification code), as a client does after a
    /// claims challenge naming the policy: the access and refresh tokens.
    func signInWithMFA(scope: String, mfaPolicyID: String) async throws -> TokenResponse {
        let interactive = InteractiveSignIn(authority: authority)
        var cookies: [String: String] = [:]
        func absorb(_ set: [Cookie]) { for c in set { cookies[c.name] = c.maxAge == 0 ? nil : c.value } }
        let redirect = "http://localhost"
        let claims = #"{"access_token":{"capolids":{"essential":true,"values":["\#(mfaPolicyID)"]}}}"#
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: tenant,
                parameters: FormParameters([
                    ("client_id", publicClient), ("redirect_uri", redirect), ("response_type", "code"),
                    ("scope", scope + " offline_access"), ("claims", claims), ("prompt", "login"),
                ]), cookies: cookies, correlationID: "deputy-audit", ipAddress: "127.0.0.1"))
        guard case .signIn(let page, let set) = start else { throw Failure(description: "the authority did not show its sign-in page") }
        absorb(set)
        var result = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: tenant,
                parameters: FormParameters([
                    ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password),
                ]), cookies: cookies, correlationID: "deputy-audit", ipAddress: "127.0.0.1"))
        // The verification code of the authority's current 30-second step. A code is accepted once
        // (RFC 6238 §5.2), so right after another sign-in of this user the audit waits for the next.
        var attempts = 0
        while case .step(let step, let set) = result, step.step == .mfa, attempts < 2 {
            attempts += 1
            absorb(set)
            if step.errorMessage != nil {
                let now = authority.time.now().timeIntervalSince1970
                let wait = TOTP.period - now.truncatingRemainder(dividingBy: TOTP.period) + 0.2
                onWait?(wait)
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            }
            guard let secret = user.totpSecret, let code = TOTP.code(base32Secret: secret, at: authority.time.now()) else {
                throw Failure(description: "\(user.upn) has no TOTP secret in the manifest: the audit cannot complete MFA")
            }
            result = await interactive.submitVerificationCode(
                BrowserRequest(
                    tenantSegment: tenant,
                    parameters: FormParameters([("flow", step.flowID), ("csrf_token", step.csrfToken), ("otc", code)]),
                    cookies: cookies, correlationID: "deputy-audit", ipAddress: "127.0.0.1"))
        }
        if case .consent(let consent, let set) = result {
            absorb(set)
            result = await interactive.submitConsent(
                BrowserRequest(
                    tenantSegment: tenant,
                    parameters: FormParameters([("flow", consent.flowID), ("csrf_token", consent.csrfToken), ("decision", "accept")]),
                    cookies: cookies, correlationID: "deputy-audit", ipAddress: "127.0.0.1"))
        }
        guard case .respond(let response, _) = result, let code = response.parameters.first(where: { $0.0 == "code" })?.1 else {
            if case .step(let step, _) = result, let message = step.errorMessage {
                throw Failure(description: "the sign-in of \(user.upn) stopped: \(message)")
            }
            throw Failure(description: "the sign-in of \(user.upn) did not complete")
        }
        return try await token([
            ("grant_type", "authorization_code"), ("client_id", publicClient), ("code", code), ("redirect_uri", redirect),
            ("scope", scope + " offline_access"),
        ])
    }

    /// A new access token for `scope` from the refresh token (same sign-in, new token).
    func refreshed(_ refreshToken: String, scope: String) async throws -> String {
        try await token([
            ("grant_type", "refresh_token"), ("client_id", publicClient), ("refresh_token", refreshToken), ("scope", scope),
        ]).accessToken
    }

    /// The user with a password only (no MFA): what a Conditional Access MFA policy challenges.
    func passwordOnly(scope: String) async throws -> String {
        try await token([
            ("grant_type", "password"), ("client_id", publicClient), ("username", user.upn), ("password", user.password), ("scope", scope),
        ]).accessToken
    }

    func token(_ form: [(String, String)]) async throws -> TokenResponse {
        switch await authority.token(
            TokenRequest(tenantSegment: tenant, form: FormParameters(form), correlationID: "deputy-audit", ipAddress: "127.0.0.1"))
        {
        case .success(let r): return r
        case .failure(let e): throw Failure(description: "the authority refused the audit's token request: \(e.shortDescription)")
        }
    }

    /// The claims of `token` again with `exp`, `nbf` and `iat` an hour and more in the past,
    /// signed with the authority's current key: a token that is genuine but expired.
    func expired(_ token: String) async throws -> String {
        let jwt = try UnverifiedJWT(token)
        var claims = jwt.claims
        let past = authority.time.now().timeIntervalSince1970.rounded(.down) - 7200
        claims["iat"] = .number(past)
        claims["nbf"] = .number(past)
        claims["exp"] = .number(past + 3600)
        let key = try await authority.currentKeys().current
        return try key.sign(claims: claims, type: jwt.header["typ"]?.stringValue ?? "JWT")
    }

    /// `token` with one signature byte changed.
    static func badSignature(_ token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, var signature = Base64URL.decode(parts[2]), !signature.isEmpty else { return token + "x" }
        signature[signature.count / 2] ^= 0x5A
        return parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
    }

    /// `token`'s claims with `alg: none` and no signature (RFC 7519 §6, an unsecured JWT).
    static func unsigned(_ token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let header = Base64URL.encode(JSONValue.object(["alg": .string("none"), "typ": .string("JWT")]).serialized)
        return header + "." + (parts.count > 1 ? parts[1] : "") + "."
    }

    /// The SHA-256 of a token as the demo services' received-token log names it.
    static func digest(_ token: String) -> String { Base64URL.encode(SHA256.hash(data: Data(token.utf8))) }
}
