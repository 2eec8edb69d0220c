import Crypto
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("authorization_code, refresh_token, password and device_code")
struct GrantsUserFlowsTests {
    let cli = GrantsFixture.app("cli")
    let spa = GrantsFixture.app("spa")
    let webApi = GrantsFixture.app("webApi")
    let alice = GrantsFixture.user("alice")
    let bob = GrantsFixture.user("bob")
    let apiScope = "api://contoso-expenses-api/access_as_user"

    func redeem(
        _ f: GrantsFixture, code: String, client: String = GrantsFixture.app("cli").appId, redirect: String = "http://localhost",
        verifier: String? = TestPKCE.verifier, origin: String? = nil, extra: [(String, String)] = []
    ) async -> Result<TokenResponse, OAuthError> {
        var p: [(String, String)] = [
            ("grant_type", "authorization_code"), ("client_id", client), ("code", code), ("redirect_uri", redirect),
        ]
        if let verifier { p.append(("code_verifier", verifier)) }
        return await f.token(p + extra, origin: origin)
    }

    func pkce() -> [(String, String)] { [("code_challenge", TestPKCE.challenge), ("code_challenge_method", "S256")] }

    // MARK: authorization_code

    @Test("A public client redeems its code with PKCE and gets access, id and refresh tokens shaped like Entra's")
    func authorizationCode() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let q = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "\(apiScope) openid profile offline_access",
            user: alice, extra: pkce() + [("nonce", "n-1")], browser: &browser)
        #expect(q["state"] == "s1")
        let code = try #require(q["code"])
        let r = try await redeem(f, code: code, extra: [("client_info", "1")]).get()
        let at = try await f.verifiedClaims(r.accessToken)
        #expect(at["aud"]?.string == webApi.appId && at["azp"]?.string == cli.appId && at["azpacr"]?.string == "0")
        #expect(at["scp"]?.string == "access_as_user" && at["idtyp"]?.string == "user")
        #expect(at["oid"]?.string == alice.id && at["preferred_username"]?.string == alice.upn && at["name"]?.string == "Alice Adams")
        #expect(at["amr"]?.strings == ["pwd"])
        #expect(at["sub"]?.string?.count == 43)
        let aioText = try #require(at["aio"]?.string)
        let aio = try #require(TokenMinter.readAIO(aioText))
        #expect(aio.methods == ["pwd"] && aio.authTime != nil)
        #expect(r.scope == apiScope)
        let idToken = try #require(r.idToken)
        let id = try await f.verifiedClaims(idToken)
        #expect(id["aud"]?.string == cli.appId && id["nonce"]?.string == "n-1" && id["sub"]?.string != at["sub"]?.string)
        #expect(r.refreshToken != nil)
        let clientInfo = try #require(r.clientInfo)
        let info = try #require(Base64URL.decode(clientInfo))
        #expect(String(decoding: info, as: UTF8.self) == "{\"uid\":\"\(alice.id)\",\"utid\":\"\(DemoTenant.tenantID)\"}")
    }

    @Test("A code is single use: the second redemption fails with AADSTS54005 and revokes the tokens the first one issued")
    func codeReuse() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let code = try #require(
            try await f.signIn(
                clientID: cli.appId, redirectURI: "http://localhost", scope: "\(apiScope) offline_access",
                user: alice, extra: pkce(), browser: &browser)["code"])
        let first = try await redeem(f, code: code).get()
        let again = await redeem(f, code: code)
        #expect(throws: OAuthError.codeAlreadyRedeemed()) { try again.get() }
        let firstToken = try #require(first.refreshToken)
        let refresh = await f.token([("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", firstToken)])
        #expect(throws: OAuthError.refreshTokenRevoked()) { try refresh.get() }
    }

    @Test(
        "A redemption that fails validation spends nothing: after a wrong verifier, a wrong redirect URI and another client, the code still redeems"
    )
    func failedValidationDoesNotSpendTheCode() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let code = try #require(
            try await f.signIn(
                clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, extra: pkce(), browser: &browser)[
                    "code"])
        #expect(await redeem(f, code: code, verifier: String(repeating: "a", count: 43)).failure == .pkceMismatch())
        #expect(await redeem(f, code: code, redirect: "http://localhost/other").failure == .redirectURIMismatchAtRedemption())
        let reports = GrantsFixture.app("reports")
        let other = await redeem(f, code: code, client: reports.appId, extra: [("client_secret", reports.secret!)])
        #expect(other.failure == .grantBoundToOtherClient("authorization code"))
        // Validation happens before the code is spent (two phases): the rightful redemption still works, once.
        let token = try await redeem(f, code: code).get()
        #expect(try await f.verifiedClaims(token.accessToken)["oid"]?.string == alice.id)
        #expect(await redeem(f, code: code).failure == .codeAlreadyRedeemed())
    }

    @Test("Redemption checks PKCE, the redirect URI, the client and the expiry")
    func codeBindings() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        func code() async throws -> String {
            try #require(
                try await f.signIn(
                    clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, extra: pkce(), browser: &browser)[
                        "code"])
        }
        await #expect(throws: OAuthError.pkceMismatch()) {
            try await redeem(f, code: try await code(), verifier: String(repeating: "a", count: 43)).get()
        }
        await #expect(throws: OAuthError.missingParameter("code_verifier")) {
            try await redeem(f, code: try await code(), verifier: nil).get()
        }
        await #expect(throws: OAuthError.redirectURIMismatchAtRedemption()) {
            try await redeem(f, code: try await code(), redirect: "http://localhost/other").get()
        }
        let other = await redeem(
            f, code: try await code(), client: GrantsFixture.app("reports").appId,
            extra: [("client_secret", GrantsFixture.app("reports").secret!)])
        #expect(throws: OAuthError.grantBoundToOtherClient("authorization code")) { try other.get() }
        let late = try await code()
        f.time.advance(by: 601)
        await #expect(throws: OAuthError.grantExpired()) { try await redeem(f, code: late).get() }
        await #expect(throws: OAuthError.invalidGrantValue("code")) { try await redeem(f, code: "not-a-code").get() }
    }

    @Test("A SPA code is redeemed only cross-origin (AADSTS9002327) and its refresh token lives a fixed 24 hours")
    func spaRules() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let redirect = "http://127.0.0.1:7401/"
        let scope = "\(apiScope) offline_access"
        let noOrigin = try #require(
            try await f.signIn(clientID: spa.appId, redirectURI: redirect, scope: scope, user: alice, extra: pkce(), browser: &browser)[
                "code"])
        await #expect(throws: OAuthError.spaRequiresCrossOrigin()) {
            try await redeem(f, code: noOrigin, client: spa.appId, redirect: redirect).get()
        }
        let code = try #require(
            try await f.signIn(clientID: spa.appId, redirectURI: redirect, scope: scope, user: alice, extra: pkce(), browser: &browser)[
                "code"])
        let r = try await redeem(f, code: code, client: spa.appId, redirect: redirect, origin: "http://127.0.0.1:7401").get()
        let refresh = { (rt: String) in
            await f.token(
                [("grant_type", "refresh_token"), ("client_id", self.spa.appId), ("refresh_token", rt), ("scope", scope)],
                origin: "http://127.0.0.1:7401")
        }
        f.time.advance(by: 23 * 3600)
        let renewed = try await refresh(try #require(r.refreshToken)).get()
        f.time.advance(by: 3600 + 1)
        let renewedToken = try #require(renewed.refreshToken)
        await #expect(throws: OAuthError.spaRefreshTokenExpired()) { try await refresh(renewedToken).get() }
    }

    @Test("A SPA redirect URI without PKCE is refused at authorize (AADSTS9002325), sent back to the redirect URI")
    func spaNeedsPKCE() async throws {
        let f = try await GrantsFixture.make()
        let result = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters([
                    ("client_id", spa.appId), ("redirect_uri", "http://127.0.0.1:7401/"), ("response_type", "code"), ("scope", apiScope),
                ]),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .respond(let response, _) = result else {
            Issue.record("expected a redirect, got \(result)")
            return
        }
        #expect(response.parameters.first { $0.0 == "error" }?.1 == "invalid_request")
        #expect(response.parameters.first { $0.0 == "error_description" }?.1.hasPrefix("AADSTS9002325") == true)
    }

    @Test("A code request with OpenID scopes only is refused at authorize with AADSTS70011 (Graph is not emulated)")
    func openIDOnlyCodeRequest() async throws {
        let f = try await GrantsFixture.make()
        let result = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [
                        ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                        ("scope", "openid profile"),
                    ] + pkce()),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .respond(let response, _) = result else {
            Issue.record("expected a redirect, got \(result)")
            return
        }
        #expect(response.parameters.first { $0.0 == "error" }?.1 == "invalid_scope")
        #expect(response.parameters.first { $0.0 == "error_description" }?.1.contains("Microsoft Graph is not emulated") == true)
    }

    @Test("A code presented by another client or with another redirect URI is refused without being spent")
    func codeNotBurnedByOthers() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let code = try #require(
            try await f.signIn(
                clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, extra: pkce(), browser: &browser)[
                    "code"])
        let reports = GrantsFixture.app("reports")
        let stolen = await redeem(f, code: code, client: reports.appId, extra: [("client_secret", reports.secret!)])
        #expect(stolen.failure?.aadsts == 70000)
        #expect(await redeem(f, code: code, redirect: "http://localhost/elsewhere").failure == .redirectURIMismatchAtRedemption())
        await #expect(throws: Never.self) { try await redeem(f, code: code).get() }
    }

    @Test("A code_verifier for a code issued without a challenge is refused (RFC 9700 §2.1.1)")
    func pkceDowngrade() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let code = try #require(
            try await f.signIn(clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, browser: &browser)[
                "code"])
        #expect(await redeem(f, code: code).failure == .pkceMismatch())
    }

    @Test("The hybrid flow's id_token carries c_hash of the code, and scope values match case-insensitively")
    func hybridAndScopeCase() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let q = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "openid api://contoso-expenses-api/ACCESS_AS_USER",
            user: alice, extra: pkce() + [("response_type", "code id_token"), ("response_mode", "form_post"), ("nonce", "n")],
            browser: &browser)
        let code = try #require(q["code"])
        let idToken = try #require(q["id_token"])
        let expected = Base64URL.encode(SHA256.hash(data: Data(code.utf8)).prefix(16))
        #expect(try UnverifiedJWT(idToken).string("c_hash") == expected)
        let token = try await redeem(f, code: code).get()
        #expect(try UnverifiedJWT(token.accessToken).string("scp") == "access_as_user")
    }

    @Test("prompt=none with a login_hint for another user than the session's answers interaction_required (AADSTS160021)")
    func loginHintMismatch() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        _ = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, extra: pkce(), browser: &browser)
        let result = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [
                        ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", apiScope),
                        ("prompt", "none"), ("login_hint", bob.upn),
                    ] + pkce()),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .respond(let r, _) = result else {
            Issue.record("expected a redirect, got \(result)")
            return
        }
        #expect(r.parameters.first { $0.0 == "error" }?.1 == "interaction_required")
        #expect(r.parameters.first { $0.0 == "error_description" }?.1.hasPrefix("AADSTS160021") == true)
    }

    @Test("An unregistered redirect URI is never redirected to (AADSTS50011 on an error page)")
    func unregisteredRedirect() async throws {
        let f = try await GrantsFixture.make()
        let result = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters([
                    ("client_id", cli.appId), ("redirect_uri", "https://evil.example/cb"), ("response_type", "code"), ("scope", apiScope),
                ]),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .error(let e) = result else {
            Issue.record("expected an error page, got \(result)")
            return
        }
        #expect(e.aadsts == 50011)
    }

    @Test("A second authorize in the same browser is silent; prompt=none without a session gets login_required")
    func singleSignOn() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        _ = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice, extra: pkce(), browser: &browser)
        #expect(browser.cookies[InteractiveSignIn.sessionCookie] != nil)
        let silent = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [
                        ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                        ("scope", apiScope), ("prompt", "none"),
                    ] + pkce()),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .respond(let ok, _) = silent else {
            Issue.record("expected a silent code")
            return
        }
        #expect(ok.parameters.contains { $0.0 == "code" })
        let none = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [
                        ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                        ("scope", apiScope), ("prompt", "none"),
                    ] + pkce()),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .respond(let err, _) = none else {
            Issue.record("expected a redirect")
            return
        }
        #expect(err.parameters.first { $0.0 == "error" }?.1 == "login_required")
    }

    @Test("The sign-in form refuses a post without the anti-forgery token or from another browser")
    func csrf() async throws {
        let f = try await GrantsFixture.make()
        let interactive = InteractiveSignIn(authority: f.authority)
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", apiScope)]
                        + pkce()),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .signIn(let page, let cookies) = start else {
            Issue.record("expected the sign-in page")
            return
        }
        let binding = Dictionary(cookies.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        let forged = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", "guess"), ("username", alice.upn), ("password", alice.password)]),
                cookies: binding, correlationID: "c", ipAddress: nil))
        guard case .error(let e1) = forged else {
            Issue.record("expected an error")
            return
        }
        #expect(e1 == .invalidCSRFToken())
        let otherBrowser = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", alice.upn), ("password", alice.password)]),
                cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .error(let e2) = otherBrowser else {
            Issue.record("expected an error")
            return
        }
        #expect(e2 == .invalidCSRFToken())
        let wrongPassword = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", alice.upn), ("password", "nope")]),
                cookies: binding, correlationID: "c", ipAddress: nil))
        guard case .signIn(let again, _) = wrongPassword else {
            Issue.record("expected the form again")
            return
        }
        #expect(again.errorMessage?.contains("AADSTS50126") == true)
    }

    // MARK: refresh_token

    @Test("Each refresh returns a new refresh token; Entra leaves the old one usable, strict mode revokes the family on reuse")
    func refreshRotation() async throws {
        for strict in [false, true] {
            let f = try await GrantsFixture.make(strict: strict)
            let r = try await f.success([
                ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
                ("scope", "\(apiScope) offline_access"),
            ])
            let first = try #require(r.refreshToken)
            let refresh = { (rt: String) in
                await f.token([("grant_type", "refresh_token"), ("client_id", self.cli.appId), ("refresh_token", rt)])
            }
            let second = try await refresh(first).get()
            #expect(second.refreshToken != nil && second.refreshToken != first)
            let reuse = await refresh(first)
            if strict {
                #expect(throws: OAuthError.refreshTokenRevoked()) { try reuse.get() }
                let secondToken = try #require(second.refreshToken)
                await #expect(throws: OAuthError.refreshTokenRevoked()) { try await refresh(secondToken).get() }
            } else {
                #expect(throws: Never.self) { try reuse.get() }
            }
        }
    }

    @Test("A refresh token is bound to its client")
    func refreshBinding() async throws {
        let f = try await GrantsFixture.make()
        let r = try await f.success([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
            ("scope", "\(apiScope) offline_access"),
        ])
        let reports = GrantsFixture.app("reports")
        let token = try #require(r.refreshToken)
        let stolen = await f.token([
            ("grant_type", "refresh_token"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("refresh_token", token),
        ])
        #expect(throws: OAuthError.grantBoundToOtherClient("refresh token")) { try stolen.get() }
    }

    // MARK: password

    @Test("ROPC signs bob in; wrong passwords, unknown users, apps without public flows and missing consent fail as in Entra")
    func password() async throws {
        let f = try await GrantsFixture.make()
        func ropc(
            _ client: String = GrantsFixture.app("cli").appId, user: String, password: String, scope: String
        ) async -> Result<TokenResponse, OAuthError> {
            await f.token([("grant_type", "password"), ("client_id", client), ("username", user), ("password", password), ("scope", scope)])
        }
        let ok = try await ropc(user: bob.upn, password: bob.password, scope: "\(apiScope) openid").get()
        #expect(try UnverifiedJWT(ok.accessToken).claims["amr"]?.strings == ["pwd"])
        #expect(ok.idToken != nil && ok.refreshToken == nil)
        await #expect(throws: OAuthError.invalidCredentials()) { try await ropc(user: bob.upn, password: "wrong", scope: apiScope).get() }
        await #expect(throws: OAuthError.userNotFound("x", tenant: "")) {
            try await ropc(user: "nobody@contoso.com", password: "x", scope: apiScope).get()
        }
        await #expect(throws: OAuthError.publicClientFlowsDisabled(appID: "")) {
            try await ropc(spa.appId, user: bob.upn, password: bob.password, scope: apiScope).get()
        }
        let consent = await ropc(user: bob.upn, password: bob.password, scope: "https://database.windows.net//Data.Read")
        let e = try #require(consent.failure)
        #expect(e.aadsts == 65001 && e.suberror == "consent_required" && e.error == .invalidGrant)
        let log = try await f.store.recentSignIns(limit: 1)[0]
        #expect(log.status.errorCode == 65001 && log.note?.contains("Missing delegated grant") == true)
        await #expect(throws: OAuthError.invalidScope("", "")) {
            try await ropc(user: bob.upn, password: bob.password, scope: "\(apiScope) api://contoso-expenses-api/.default").get()
        }
        await #expect(throws: OAuthError.multipleResources("")) {
            try await ropc(user: bob.upn, password: bob.password, scope: "\(apiScope) https://database.windows.net//Data.Read").get()
        }
    }

    // MARK: device_code

    @Test("Device code: pending until the user signs in at the verification page, then one token, then expired codes fail")
    func deviceCode() async throws {
        let f = try await GrantsFixture.make()
        let start = try await f.authority.deviceAuthorization(
            tenantSegment: "contoso.com",
            form: FormParameters([("client_id", cli.appId), ("scope", apiScope)])
        ).get()
        #expect(start.verificationURI == "http://127.0.0.1:7400/devicelogin" && start.userCode.count == 9 && start.interval == 5)
        let poll = {
            await f.token([
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", self.cli.appId),
                ("device_code", start.deviceCode),
            ])
        }
        await #expect(throws: OAuthError.authorizationPending()) { try await poll().get() }
        f.time.advance(by: 1)
        await #expect(throws: OAuthError.slowDown()) { try await poll().get() }
        // The user enters the code and signs in.
        let interactive = InteractiveSignIn(authority: f.authority)
        guard
            case .deviceCodeEntry(let csrf, _, let cookies) = interactive.deviceLoginPage(
                BrowserRequest(tenantSegment: "", parameters: FormParameters(), cookies: [:], correlationID: "c", ipAddress: nil))
        else {
            Issue.record("expected the code page")
            return
        }
        var browser = GrantsFixture.Browser()
        browser.absorb(cookies)
        let entered = await interactive.submitDeviceCode(
            BrowserRequest(
                tenantSegment: "", parameters: FormParameters([("csrf_token", csrf), ("user_code", start.userCode.lowercased())]),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .signIn(let page, let more) = entered else {
            Issue.record("expected the sign-in page, got \(entered)")
            return
        }
        browser.absorb(more)
        let done = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", alice.upn), ("password", alice.password)]),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .message(let title, _, _) = done else {
            Issue.record("expected the done page, got \(done)")
            return
        }
        #expect(title == "Device sign-in complete")
        f.time.advance(by: 5)
        let token = try await poll().get()
        #expect(try UnverifiedJWT(token.accessToken).string("oid") == alice.id)
        await #expect(throws: OAuthError.invalidGrantValue("device_code")) { try await poll().get() }
        let late = try await f.authority.deviceAuthorization(
            tenantSegment: "contoso.com", form: FormParameters([("client_id", cli.appId), ("scope", apiScope)])
        ).get()
        f.time.advance(by: 901)
        await #expect(throws: OAuthError.deviceCodeExpired()) {
            try await f.token([
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", self.cli.appId),
                ("device_code", late.deviceCode),
            ]).get()
        }
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}
