import Crypto
import CryptoExtras
import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// The OAuth negative matrix: each way a client, a page elsewhere or a guesser tries to get
/// what it should not, and the authority's refusal in Entra's terms. A row returns nil when the
/// attempt is refused as it should be, or says what went wrong.
@Suite("OAuth negative matrix")
struct OAuthNegativeMatrixTests {
    typealias Row = (name: String, run: @Sendable () async throws -> String?)

    static let cli = DemoTenant.app("cli")
    static let spa = DemoTenant.app("spa")
    static let reports = DemoTenant.app("reports")
    static let webApi = DemoTenant.app("webApi")
    static let alice = DemoTenant.user("alice")
    static let scope = "api://contoso-expenses-api/access_as_user"
    static let verifier = "dBjftJeZ4CK-PKCE-verifier-of-forty-three-characters"
    static var challenge: String { Base64URL.encode(SHA256.hash(data: Data(verifier.utf8))) }

    /// nil when `r` is a refusal with `aadsts` (or any refusal when nil), else what happened.
    static func refused(_ r: Result<TokenResponse, OAuthError>, _ aadsts: Int?, status: Int? = nil) -> String? {
        switch r {
        case .success: return "a token was issued"
        case .failure(let e):
            if let aadsts, e.aadsts != aadsts { return "refused with \(e) instead of AADSTS\(aadsts)" }
            if let status, e.status != status { return "refused with status \(e.status) instead of \(status)" }
            return nil
        }
    }

    /// A code for alice from the CLI, with PKCE S256 unless `pkce` is false.
    static func code(_ f: GrantsFixture, pkce: Bool = true, redirect: String = "http://localhost") async throws -> String {
        var browser = GrantsFixture.Browser()
        let extra: [(String, String)] = pkce ? [("code_challenge", challenge), ("code_challenge_method", "S256")] : []
        let p = try await f.signIn(
            clientID: cli.appId, redirectURI: redirect, scope: scope + " offline_access", user: alice, extra: extra,
            browser: &browser)
        guard let code = p["code"] else { throw OAuthError.signInFlowExpired() }
        return code
    }

    static func redeem(
        _ f: GrantsFixture, _ code: String, verifier: String? = OAuthNegativeMatrixTests.verifier,
        redirect: String = "http://localhost"
    ) async -> Result<TokenResponse, OAuthError> {
        var form = [
            ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code), ("redirect_uri", redirect), ("scope", scope),
        ]
        if let verifier { form.append(("code_verifier", verifier)) }
        return await f.token(form)
    }

    static func refresh(_ f: GrantsFixture, _ token: String) async -> Result<TokenResponse, OAuthError> {
        await f.token([("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", token), ("scope", scope)])
    }

    /// What authorize answers for these parameters (before any sign-in).
    static func authorize(_ f: GrantsFixture, _ params: [(String, String)]) async -> InteractiveResult {
        await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com", parameters: FormParameters(params), cookies: [:], correlationID: "c", ipAddress: "127.0.0.1"))
    }

    /// nil when authorize refuses without sending the browser to `redirect`.
    static func noRedirect(_ r: InteractiveResult, to redirect: String) -> String? {
        switch r {
        case .error: return nil
        case .respond(let response, _) where response.redirectURI.hasPrefix(redirect): return "the browser was sent to \(redirect)"
        case .redirect(let to, _) where to.hasPrefix(redirect): return "the browser was sent to \(to)"
        case .signIn: return "the sign-in page was shown for an unregistered redirect URI"
        default: return nil
        }
    }

    static func rows(_ f: GrantsFixture, strict s: GrantsFixture, valid: SigningKeyRecord, expired: SigningKeyRecord) -> [Row] {
        [
            // Authorization codes.
            (
                "a code redeemed twice is refused, and what it issued is revoked",
                {
                    let c = try await code(f)
                    let first = try await redeem(f, c).get()
                    if let wrong = refused(await redeem(f, c), 54005) { return wrong }
                    return refused(await refresh(f, try #require(first.refreshToken)), nil)
                }
            ),
            (
                "a code redeemed by another client is refused",
                {
                    let c = try await code(f)
                    return refused(
                        await f.token([
                            ("grant_type", "authorization_code"), ("client_id", spa.appId), ("code", c),
                            ("redirect_uri", "http://localhost"), ("code_verifier", verifier), ("scope", scope),
                        ]), nil)
                }
            ),
            (
                "an expired code is refused",
                {
                    let c = try await code(f)
                    f.time.advance(by: 601)
                    return refused(await redeem(f, c), nil)
                }
            ),
            // PKCE.
            ("PKCE: the verifier missing for a code with a challenge", { refused(await redeem(f, try await code(f), verifier: nil), nil) }),
            ("PKCE: a verifier that does not match", { refused(await redeem(f, try await code(f), verifier: verifier + "x"), nil) }),
            (
                "PKCE: plain under --strict",
                {
                    await isErrorRedirect(
                        authorize(
                            s,
                            [
                                ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                                ("scope", scope), ("code_challenge", verifier), ("code_challenge_method", "plain"),
                            ]))
                        ? nil : "plain was accepted"
                }
            ),
            (
                "PKCE: missing under --strict",
                {
                    await isErrorRedirect(
                        authorize(
                            s,
                            [
                                ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                                ("scope", scope),
                            ])) ? nil : "a code flow without PKCE was started"
                }
            ),
            // Redirect URIs.
            (
                "redirect URI: a longer host with the registered one as prefix",
                {
                    noRedirect(
                        await authorize(
                            f,
                            [
                                ("client_id", cli.appId), ("redirect_uri", "http://localhost.evil.example/"), ("response_type", "code"),
                                ("scope", scope),
                            ]), to: "http://localhost.evil.example")
                }
            ),
            (
                "redirect URI: another path's case",
                {
                    let registered = f.demo.redirectURIs("spa")[1]
                    let changed = registered.replacingOccurrences(of: "callback", with: "Callback")
                    return noRedirect(
                        await authorize(
                            f,
                            [
                                ("client_id", spa.appId), ("redirect_uri", changed), ("response_type", "code"), ("scope", scope),
                                ("code_challenge", challenge), ("code_challenge_method", "S256"),
                            ]), to: changed)
                }
            ),
            (
                "redirect URI: a fragment",
                {
                    noRedirect(
                        await authorize(
                            f,
                            [
                                ("client_id", cli.appId), ("redirect_uri", "http://localhost#x"), ("response_type", "code"),
                                ("scope", scope),
                            ]), to: "http://localhost#x")
                }
            ),
            (
                "redirect URI: an open redirect elsewhere",
                {
                    noRedirect(
                        await authorize(
                            f,
                            [
                                ("client_id", cli.appId), ("redirect_uri", "https://evil.example/callback"), ("response_type", "code"),
                                ("scope", scope),
                            ]), to: "https://evil.example")
                }
            ),
            (
                "redirect URI: redeemed with another one than authorize's",
                {
                    refused(
                        await redeem(f, try await code(f), redirect: "https://login.microsoftonline.com/common/oauth2/nativeclient"), nil)
                }
            ),
            // Refresh tokens.
            (
                "refresh token reuse under --strict revokes the family",
                {
                    let first = try await redeem(s, try await code(s)).get()
                    let old = try #require(first.refreshToken)
                    let next = try await refresh(s, old).get()
                    if let wrong = refused(await refresh(s, old), nil) { return "reuse: " + wrong }
                    return refused(await refresh(s, try #require(next.refreshToken)), nil).map { "family: " + $0 }
                }
            ),
            (
                "a refresh token used by another client",
                {
                    let first = try await redeem(f, try await code(f)).get()
                    return refused(
                        await f.token([
                            ("grant_type", "refresh_token"), ("client_id", spa.appId), ("refresh_token", try #require(first.refreshToken)),
                            ("scope", scope),
                        ]), nil)
                }
            ),
            // Client authentication.
            (
                "a wrong client secret",
                {
                    refused(
                        await f.token([
                            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", "wrong-secret"),
                            ("scope", "https://database.windows.net//.default"),
                        ]), 7_000_215, status: 401)
                }
            ),
            (
                "a client assertion signed by an expired certificate",
                {
                    let a = try clientAssertion(expired, now: f.time.now(), app: webApi.appId)
                    return refused(
                        await f.token([
                            ("grant_type", "client_credentials"), ("client_id", webApi.appId),
                            ("scope", "https://database.windows.net//.default"),
                            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", a),
                        ]),
                        700_027, status: 401)
                }
            ),
            (
                "a replayed client assertion (the same jti)",
                {
                    let a = try clientAssertion(valid, now: f.time.now(), app: reports.appId)
                    let form = [
                        ("grant_type", "client_credentials"), ("client_id", reports.appId),
                        ("scope", "https://database.windows.net//.default"),
                        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", a),
                    ]
                    _ = try await f.token(form).get()
                    if case .failure(let e) = await f.token(form), e.message.contains("jti") {
                        return refused(.failure(e), 700_027, status: 401)
                    }
                    return "the replayed assertion was not refused for its jti"
                }
            ),
            (
                "a client assertion for another audience",
                {
                    let a = try clientAssertion(
                        valid, now: f.time.now(), app: reports.appId, aud: "https://login.microsoftonline.com/other/oauth2/v2.0/token")
                    return refused(
                        await f.token([
                            ("grant_type", "client_credentials"), ("client_id", reports.appId),
                            ("scope", "https://database.windows.net//.default"),
                            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", a),
                        ]),
                        700_027, status: 401)
                }
            ),
            // Tenants.
            (
                "a token of another tenant (same authority, same key) as an OBO assertion",
                {
                    let key = try await f.authority.currentKeys().current
                    let other = "22222222-2222-4222-8222-222222222222"
                    let now = f.time.now().timeIntervalSince1970
                    let token = try key.sign(claims: [
                        "iss": .string(f.authority.configuration.issuerV2(tenantID: other)), "tid": .string(other),
                        "aud": .string(webApi.appId), "oid": .string(alice.id), "sub": "s", "scp": "access_as_user",
                        "azp": .string(cli.appId), "iat": .number(now), "nbf": .number(now), "exp": .number(now + 3600),
                    ])
                    return refused(
                        await f.token([
                            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
                            ("client_secret", webApi.secret!), ("assertion", token), ("scope", "https://database.windows.net//Data.Read"),
                            ("requested_token_use", "on_behalf_of"),
                        ]), 50013)
                }
            ),
            // Consent.
            (
                "consent bypass: ROPC for a scope nobody consented to",
                {
                    refused(
                        await f.token([
                            ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn), ("password", alice.password),
                            ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"),
                        ]), 65001)
                }
            ),
            (
                "consent bypass: prompt=none for a scope nobody consented to",
                {
                    var browser = GrantsFixture.Browser()
                    _ = try await f.signIn(
                        clientID: cli.appId, redirectURI: "http://localhost", scope: scope, user: alice, browser: &browser)
                    let r = await InteractiveSignIn(authority: f.authority).authorize(
                        BrowserRequest(
                            tenantSegment: "contoso.com",
                            parameters: FormParameters([
                                ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                                ("prompt", "none"),
                                ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"),
                            ]), cookies: browser.cookies, correlationID: "c", ipAddress: "127.0.0.1"))
                    guard case .respond(let response, _) = r else { return "no answer to the client: \(r)" }
                    let params = Dictionary(response.parameters, uniquingKeysWith: { a, _ in a })
                    return params["code"] == nil && params["error"] != nil ? nil : "prompt=none answered \(params)"
                }
            ),
            (
                "consent bypass: accepting a consent page of another browser's flow",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    guard case .consent(let c, _) = await consentPage(f).0 else { return "no consent page" }
                    // Another browser (no cookies) posts Accept with the flow and token it learned.
                    let r = await interactive.submitConsent(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", c.flowID), ("csrf_token", c.csrfToken), ("decision", "accept"),
                            ]), cookies: [:], correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error = r { return nil }
                    return "the consent was accepted from another browser: \(r)"
                }
            ),
            // CSRF.
            (
                "CSRF: the consent form with a forged anti-forgery token",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let (consent, cookies) = await consentPage(f)
                    guard case .consent(let c, let set) = consent else { return "no consent page: \(consent)" }
                    var jar = cookies
                    for cookie in set { jar[cookie.name] = cookie.value }
                    // The same browser's cookies, but a token the page never carried.
                    let r = await interactive.submitConsent(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([("flow", c.flowID), ("csrf_token", "forged"), ("decision", "accept")]),
                            cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error(let e) = r, e.aadsts == 90100 { return nil }
                    return "the consent was accepted with a forged token: \(r)"
                }
            ),
            (
                "CSRF: the sign-in form without its anti-forgery token",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let start = await authorize(
                        f, [("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", scope)])
                    guard case .signIn(let page, let cookies) = start else { return "\(start)" }
                    let jar = Dictionary(cookies.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
                    let r = await interactive.submitSignIn(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", page.flowID), ("csrf_token", "forged"), ("username", alice.upn), ("password", alice.password),
                            ]), cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error = r { return nil }
                    return "signed in with a forged token: \(r)"
                }
            ),
            (
                "CSRF: the sign-in form posted from another browser (no binding cookie)",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let start = await authorize(
                        f, [("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", scope)])
                    guard case .signIn(let page, _) = start else { return "\(start)" }
                    let r = await interactive.submitSignIn(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", alice.upn),
                                ("password", alice.password),
                            ]), cookies: [:], correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error = r { return nil }
                    return "signed in without the binding cookie: \(r)"
                }
            ),
            (
                "CSRF: the verification-code form with a forged anti-forgery token",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let bob = DemoTenant.user("bob")
                    var (step, jar) = await passwordStep(f, bob)
                    guard case .step(let st, let set) = step else { return "no verification step: \(step)" }
                    for c in set { jar[c.name] = c.value }
                    let code = try #require(TOTP.code(base32Secret: bob.totpSecret!, at: f.time.now()))
                    let r = await interactive.submitVerificationCode(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", st.flowID), ("csrf_token", "forged"), ("otc", code),
                            ]), cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error = r { return nil }
                    return "the step was accepted with a forged token: \(r)"
                }
            ),
            (
                "CSRF: the password-change form with a forged anti-forgery token",
                {
                    // The password-change step reads its post as every sign-in step does: the flow's token and cookie first.
                    let start = await authorize(
                        f, [("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", scope)])
                    guard case .signIn(let page, let cookies) = start else { return "\(start)" }
                    let jar = Dictionary(cookies.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
                    let r = await InteractiveSignIn(authority: f.authority).submitPasswordChange(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", page.flowID), ("csrf_token", "forged"), ("new_password", "Taken-Over-12345"),
                                ("confirm_password", "Taken-Over-12345"),
                            ]), cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error(let e) = r, e.aadsts == 90100 { return nil }
                    return "the password-change form took a forged token: \(r)"
                }
            ),
            (
                "CSRF: the device-code page posted without its anti-forgery cookie",
                {
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let start = try await f.authority.deviceAuthorization(
                        tenantSegment: "contoso.com", form: FormParameters([("client_id", cli.appId), ("scope", scope)])
                    ).get()
                    guard
                        case .deviceCodeEntry(let csrf, _, _) = interactive.deviceLoginPage(
                            BrowserRequest(
                                tenantSegment: "", parameters: FormParameters(), cookies: [:], correlationID: "c", ipAddress: nil))
                    else { return "no code page" }
                    // Another site posts the victim's browser a code of the attacker's device.
                    let r = await interactive.submitDeviceCode(
                        BrowserRequest(
                            tenantSegment: "", parameters: FormParameters([("csrf_token", csrf), ("user_code", start.userCode)]),
                            cookies: [:], correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error(let e) = r, e.aadsts == 90100 { return nil }
                    return "the device code was taken without the page's cookie: \(r)"
                }
            ),
            // Guessing.
            (
                "TOTP: a code accepted once is refused the second time",
                {
                    let bob = DemoTenant.user("bob")
                    f.time.advance(by: TOTP.period)
                    let interactive = InteractiveSignIn(authority: f.authority)
                    let code = try #require(TOTP.code(base32Secret: bob.totpSecret!, at: f.time.now()))
                    func submit() async -> InteractiveResult {
                        var (step, jar) = await passwordStep(f, bob)
                        guard case .step(let st, let set) = step else { return step }
                        for c in set { jar[c.name] = c.value }
                        return await interactive.submitVerificationCode(
                            BrowserRequest(
                                tenantSegment: DemoTenant.tenantID,
                                parameters: FormParameters([("flow", st.flowID), ("csrf_token", st.csrfToken), ("otc", code)]),
                                cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    }
                    switch await submit() {
                    case .step, .error: return "the code was not accepted the first time"
                    default: break
                    }
                    // The same code in the same step, in a new sign-in: the verification page again.
                    if case .step = await submit() { return nil }
                    return "the same code was accepted twice"
                }
            ),
            (
                "TOTP: brute force is locked after five wrong codes (AADSTS500121)",
                {
                    f.time.advance(by: InteractiveSignIn.lockoutWindow + 1)  // the replay row's failed attempt has aged out
                    let interactive = InteractiveSignIn(authority: f.authority)
                    var (r, jar) = await passwordStep(f, DemoTenant.user("bob"))
                    for i in 0..<6 {
                        guard case .step(let st, let set) = r else {
                            if case .error(let e) = r, e.aadsts == 500121, i == 5 { return nil }
                            return "attempt \(i): \(r)"
                        }
                        for c in set { jar[c.name] = c.value }
                        let guess = String(format: "%06d", 111_111 * (i + 1) % 1_000_000)
                        r = await interactive.submitVerificationCode(
                            BrowserRequest(
                                tenantSegment: DemoTenant.tenantID,
                                parameters: FormParameters([
                                    ("flow", st.flowID), ("csrf_token", st.csrfToken), ("otc", guess),
                                ]), cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
                    }
                    if case .error(let e) = r, e.aadsts == 500121 { return nil }
                    return "not locked after six guesses: \(r)"
                }
            ),
            (
                "password spray from one address reaches lockout (AADSTS50053)",
                {
                    for i in 0..<SmartLockout.Settings().addressThreshold {
                        _ = await f.authority.token(
                            TokenRequest(
                                tenantSegment: "contoso.com",
                                form: FormParameters([
                                    ("grant_type", "password"), ("client_id", cli.appId), ("username", "user\(i)@contoso.com"),
                                    ("password", "Winter2026!"),
                                    ("scope", scope),
                                ]), correlationID: "c", ipAddress: "192.0.2.44"))
                    }
                    return refused(
                        await f.authority.token(
                            TokenRequest(
                                tenantSegment: "contoso.com",
                                form: FormParameters([
                                    ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn),
                                    ("password", alice.password), ("scope", scope),
                                ]), correlationID: "c", ipAddress: "192.0.2.44")), 50053)
                }
            ),
        ]
    }

    /// alice signs in to the CLI for the MCP server, which nobody granted it: the consent page
    /// (or what came instead) and the browser's cookies.
    static func consentPage(_ f: GrantsFixture) async -> (InteractiveResult, [String: String]) {
        await passwordStep(f, alice, scope: "api://contoso-expenses-mcp/Expenses.ReadWrite", claims: nil)
    }

    /// Authorize (by default with the MFA policy's claims challenge), then the password form: the
    /// answer (the verification step for a user with a TOTP secret) and the browser's cookies.
    static func passwordStep(
        _ f: GrantsFixture, _ user: DemoTenant.DemoUser, scope: String = OAuthNegativeMatrixTests.scope,
        claims: String? = SignInDriver.mfaChallenge
    ) async -> (InteractiveResult, [String: String]) {
        var query = [("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", scope)]
        if let claims { query.append(("claims", claims)) }
        let start = await authorize(f, query)
        guard case .signIn(let page, let cookies) = start else { return (start, [:]) }
        let jar = Dictionary(cookies.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let r = await InteractiveSignIn(authority: f.authority).submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters([
                    ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password),
                ]), cookies: jar, correlationID: "c", ipAddress: "127.0.0.1"))
        return (r, jar)
    }

    static func isErrorRedirect(_ r: InteractiveResult) -> Bool {
        switch r {
        case .error: return true
        case .respond(let response, _): return response.parameters.contains { $0.0 == "error" }
        default: return false
        }
    }

    /// A private_key_jwt assertion with `cert` (RS256, x5t).
    static func clientAssertion(_ cert: SigningKeyRecord, now: Date, app: String, aud: String? = nil) throws -> String {
        let der = Data(base64Encoded: cert.certificateDER)!
        let header: [String: JSONValue] = ["alg": "RS256", "typ": "JWT", "x5t": .string(Base64URL.encode(Insecure.SHA1.hash(data: der)))]
        let t = now.timeIntervalSince1970
        let endpoint = aud ?? "http://127.0.0.1:7400/\(DemoTenant.tenantID)/oauth2/v2.0/token"
        let claims: [String: JSONValue] = [
            "aud": .string(endpoint), "iss": .string(app), "sub": .string(app), "jti": .string(UUID().uuidString),
            "iat": .number(t), "nbf": .number(t), "exp": .number(t + 600),
        ]
        let input = Base64URL.encode(JSONValue.object(header).serialized) + "." + Base64URL.encode(JSONValue.object(claims).serialized)
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: cert.privateKeyPEM)
        let sig = try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(sig.rawRepresentation)
    }

    @Test("Every row of the negative matrix is refused as Entra refuses it")
    func matrix() async throws {
        // The reports daemon has a valid certificate; the Web API one that expired yesterday.
        let valid = try SigningKey.generate(now: Date())
        let expired = try SigningKey.generate(now: Date())
        let edit: (inout TenantDirectory) -> Void = { d in
            let r = d.applications.firstIndex { $0.appId == DemoTenant.app("reports").appId }!
            d.applications[r].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify",
                    key: valid.certificateDER, endDateTime: nil)
            ]
            let w = d.applications.firstIndex { $0.appId == DemoTenant.app("webApi").appId }!
            d.applications[w].keyCredentials = [
                .init(
                    keyId: nil, displayName: "old cert", type: "AsymmetricX509Cert", usage: "Verify",
                    key: expired.certificateDER, endDateTime: Date().addingTimeInterval(-86_400))
            ]
        }
        let f = try await GrantsFixture.make(edit: edit)
        let strict = try await GrantsFixture.make(strict: true, edit: edit)
        var ran = 0
        for (name, run) in Self.rows(f, strict: strict, valid: valid, expired: expired) {
            ran += 1
            if let wrong = try await run() { Issue.record("\(name): \(wrong)") }
        }
        print("negative matrix: \(ran) rows")
        #expect(ran == 31)
    }
}
