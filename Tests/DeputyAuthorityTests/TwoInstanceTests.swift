import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// Two authorities on one PostgreSQL database, as behind a load balancer: whatever one issues or
/// records, the other honours at its next request. Each test gets a new database.
@Suite("two authorities on one PostgreSQL", .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
struct TwoInstanceTests {
    let cli = GrantsFixture.app("cli")
    let alice = GrantsFixture.user("alice")
    let apiScope = "api://contoso-expenses-api/access_as_user"

    /// Authorities A and B over one new database, with one clock (instances share wall time).
    func withPair(
        strict: Bool = false, edit: (@Sendable (inout TenantDirectory) -> Void)? = nil,
        _ body: (GrantsFixture, GrantsFixture) async throws -> Void
    ) async throws {
        try await TestPostgres.withStores(2) { stores in
            let a = try await GrantsFixture.make(strict: strict, store: stores[0], edit: edit)
            let b = try await GrantsFixture.make(strict: strict, store: stores[1], time: a.time, edit: edit)
            try await body(a, b)
        }
    }

    func redeem(_ f: GrantsFixture, code: String, scope: String) async -> Result<TokenResponse, OAuthError> {
        await f.token([
            ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code), ("redirect_uri", "http://localhost"),
            ("scope", scope),
        ])
    }

    /// The sign-in page's form, answered with alice's password.
    func passwordForm(_ page: SignInPage, _ browser: GrantsFixture.Browser) -> BrowserRequest {
        BrowserRequest(
            tenantSegment: DemoTenant.tenantID,
            parameters: FormParameters([
                ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", alice.upn), ("password", alice.password),
            ]),
            cookies: browser.cookies, correlationID: "c", ipAddress: nil)
    }

    func pollDevice(_ f: GrantsFixture, _ deviceCode: String) async -> Result<TokenResponse, OAuthError> {
        await f.token([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", cli.appId), ("device_code", deviceCode),
        ])
    }

    @Test("A code issued by one authority is redeemed at the other exactly once, even when both redeem it at the same moment")
    func codeRedeemedOnce() async throws {
        try await withPair { a, b in
            var browser = GrantsFixture.Browser()
            let code = try #require(
                try await a.signIn(
                    clientID: cli.appId, redirectURI: "http://localhost", scope: apiScope, user: alice,
                    browser: &browser)["code"])
            async let atA = redeem(a, code: code, scope: apiScope)
            async let atB = redeem(b, code: code, scope: apiScope)
            let results = await [atA, atB]
            #expect(results.filter { (try? $0.get()) != nil }.count == 1)
            let failures = results.compactMap { result -> OAuthError? in if case .failure(let e) = result { e } else { nil } }
            #expect(failures.count == 1)
            #expect(failures.first?.error == .invalidGrant)
        }
    }

    @Test("Refresh rotation and reuse detection hold across the two: an old token replayed at B revokes the family at A")
    func refreshAcrossInstances() async throws {
        try await withPair(strict: true) { a, b in
            var browser = GrantsFixture.Browser()
            let scope = apiScope + " offline_access"
            // Strict mode (RFC 9700) wants PKCE from every client.
            let code = try #require(
                try await a.signIn(
                    clientID: cli.appId, redirectURI: "http://localhost", scope: scope, user: alice,
                    extra: [("code_challenge", TestPKCE.challenge), ("code_challenge_method", "S256")], browser: &browser)["code"])
            let first = try await a.token([
                ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code),
                ("redirect_uri", "http://localhost"), ("scope", scope), ("code_verifier", TestPKCE.verifier),
            ]).get()
            let rt1 = try #require(first.refreshToken)
            let refresh = { (f: GrantsFixture, token: String) in
                await f.token([("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", token), ("scope", scope)])
            }
            let second = try await refresh(b, rt1).get()
            let rt2 = try #require(second.refreshToken)
            #expect(rt2 != rt1)
            // RT1 was redeemed at B: replaying it at A is reuse, which revokes the whole family (RFC 9700 §4.14.2).
            #expect(await refresh(a, rt1).failure?.error == .invalidGrant)
            #expect(await refresh(b, rt2).failure?.error == .invalidGrant)
        }
    }

    @Test("Signing keys are shared and rotate together: each validates the other's tokens, and B signs with a key rotated at A")
    func signingKeysShared() async throws {
        try await withPair { a, b in
            let reports = GrantsFixture.app("reports")
            let request: [(String, String)] = [
                ("grant_type", "client_credentials"), ("client_id", reports.appId),
                ("client_secret", reports.secret!), ("scope", "https://database.windows.net//.default"),
            ]
            let fromA = try await a.success(request).accessToken
            _ = try await b.verifiedClaims(fromA)
            let rotated = try await SigningKeyManager(store: a.store, time: a.time).rotate()
            let fromB = try await b.success(request).accessToken
            #expect(try UnverifiedJWT(fromB).header["kid"]?.stringValue == rotated.kid)
            _ = try await a.verifiedClaims(fromB)
            // The previous key stays published at both for tokens already issued.
            _ = try await b.verifiedClaims(fromA)
        }
    }

    @Test("A sign-in page served by A is answered at B (CSRF state is shared), and B then signs the user in silently (SSO)")
    func sessionsAndCSRFShared() async throws {
        try await withPair { a, b in
            let query: [(String, String)] = [
                ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                ("scope", apiScope),
            ]
            var browser = GrantsFixture.Browser()
            let start = await InteractiveSignIn(authority: a.authority).authorize(
                BrowserRequest(
                    tenantSegment: "contoso.com", parameters: FormParameters(query), cookies: browser.cookies, correlationID: "c",
                    ipAddress: nil))
            guard case .signIn(let page, let set) = start else {
                Issue.record("expected the sign-in page, got \(start)")
                return
            }
            browser.absorb(set)
            let done = await InteractiveSignIn(authority: b.authority).submitSignIn(
                passwordForm(page, browser))
            guard case .respond(let response, let more) = done else {
                Issue.record("expected a code, got \(done)")
                return
            }
            #expect(response.parameters.contains { $0.0 == "code" })
            browser.absorb(more)
            // A forged CSRF token is refused at either.
            let again = await InteractiveSignIn(authority: a.authority).authorize(
                BrowserRequest(
                    tenantSegment: "contoso.com", parameters: FormParameters(query + [("prompt", "login")]), cookies: browser.cookies,
                    correlationID: "c", ipAddress: nil))
            guard case .signIn(let page2, _) = again else {
                Issue.record("expected the sign-in page, got \(again)")
                return
            }
            let forged = await InteractiveSignIn(authority: b.authority).submitSignIn(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([
                        ("flow", page2.flowID), ("csrf_token", "forged"), ("username", alice.upn),
                        ("password", alice.password),
                    ]),
                    cookies: browser.cookies, correlationID: "c", ipAddress: nil))
            if case .respond = forged { Issue.record("a forged CSRF token was accepted") }
            // The session cookie set at B signs the user in at A without a page.
            let silent = await InteractiveSignIn(authority: a.authority).authorize(
                BrowserRequest(
                    tenantSegment: "contoso.com", parameters: FormParameters(query), cookies: browser.cookies, correlationID: "c",
                    ipAddress: nil))
            guard case .respond(let silentResponse, _) = silent else {
                Issue.record("expected SSO at A, got \(silent)")
                return
            }
            #expect(silentResponse.parameters.contains { $0.0 == "code" })
        }
    }

    @Test("A private_key_jwt assertion used at A is a replay at B")
    func clientAssertionReplay() async throws {
        let cert = try SigningKey.generate(now: Date())
        let reportsID = GrantsFixture.app("reports").appId
        try await withPair(edit: { d in
            let i = d.applications.firstIndex { $0.appId == reportsID }!
            d.applications[i].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify",
                    key: cert.certificateDER, endDateTime: nil)
            ]
        }) { a, b in
            let helper = GrantsClientAssertionTests()
            let once = try helper.assertion(cert, jti: "shared-jti", now: a.time.now())
            _ = try await helper.request(a, once).get()
            await #expect(throws: OAuthError.replayedClientAssertion()) { try await helper.request(b, once).get() }
        }
    }

    @Test("A verification code used at A is refused at B in the same time step, and a fresh one works")
    func totpReplayShared() async throws {
        try await withPair { a, b in
            _ = try await SignInDriver.token(authority: a.authority, user: alice)
            await #expect(throws: SignInDriver.Unexpected.self) { try await SignInDriver.token(authority: b.authority, user: alice) }
            a.time.advance(by: TOTP.period)
            _ = try await SignInDriver.token(authority: b.authority, user: alice)
        }
    }

    @Test("Wrong passwords at both add up to one smart lockout, in force at both")
    func lockoutShared() async throws {
        try await withPair { a, b in
            let attempt = { (f: GrantsFixture, password: String) in
                await f.token([
                    ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn), ("password", password),
                    ("scope", apiScope),
                ])
            }
            for i in 0..<SmartLockout.Settings().threshold {
                #expect(await attempt(i.isMultiple(of: 2) ? a : b, "wrong-\(i)").failure?.aadsts == 50126)
            }
            #expect(await attempt(a, alice.password).failure?.aadsts == 50053)
            #expect(await attempt(b, alice.password).failure?.aadsts == 50053)
        }
    }

    @Test("A device code started at A is pending at B, approved through B's pages and handed out once")
    func deviceCodeShared() async throws {
        try await withPair { a, b in
            let start = try await a.authority.deviceAuthorization(
                tenantSegment: "contoso.com", form: FormParameters([("client_id", cli.appId), ("scope", apiScope)])
            ).get()
            let deviceCode = start.deviceCode
            let poll = { (f: GrantsFixture) in await pollDevice(f, deviceCode) }
            await #expect(throws: OAuthError.authorizationPending()) { try await poll(b).get() }
            let interactive = InteractiveSignIn(authority: b.authority)
            guard
                case .deviceCodeEntry(let csrf, _, let cookies) = interactive.deviceLoginPage(
                    BrowserRequest(
                        tenantSegment: "", parameters: FormParameters(), cookies: [:], correlationID: "c", ipAddress: nil))
            else {
                Issue.record("expected the code page")
                return
            }
            var browser = GrantsFixture.Browser()
            browser.absorb(cookies)
            let entered = await interactive.submitDeviceCode(
                BrowserRequest(
                    tenantSegment: "", parameters: FormParameters([("csrf_token", csrf), ("user_code", start.userCode)]),
                    cookies: browser.cookies,
                    correlationID: "c", ipAddress: nil))
            guard case .signIn(let page, let more) = entered else {
                Issue.record("expected the sign-in page, got \(entered)")
                return
            }
            browser.absorb(more)
            _ = await interactive.submitSignIn(
                passwordForm(page, browser))
            a.time.advance(by: 6)
            async let atA = pollDevice(a, deviceCode)
            async let atB = pollDevice(b, deviceCode)
            let results = await [atA, atB]
            #expect(results.filter { (try? $0.get()) != nil }.count == 1)
        }
    }

    @Test("Consent granted and a policy switched off at A are in force at B on its next request")
    func directoryChangesShared() async throws {
        try await withPair { a, b in
            let mcpScope = "api://contoso-expenses-mcp/Expenses.ReadWrite"
            let ropc = { (f: GrantsFixture, scope: String) in
                await f.token([
                    ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn), ("password", alice.password),
                    ("scope", scope),
                ])
            }
            #expect(await ropc(b, mcpScope).failure?.aadsts == 65001)
            let directory = try #require(try await a.store.directories().first)
            let cliSP = try #require(directory.servicePrincipals.first { $0.appId == cli.appId }).id
            let mcpSP = try #require(directory.servicePrincipals.first { $0.appId == DemoTenant.app("mcpServer").appId }).id
            let sqlSP = try #require(directory.servicePrincipals.first { $0.appId == DemoTenant.app("dataApi").appId }).id
            try await a.store.updateDirectory(tenantID: DemoTenant.tenantID) { d in
                d.oauth2PermissionGrants.append(
                    .init(
                        id: "two-instance-mcp", clientId: cliSP, resourceId: mcpSP, consentType: "AllPrincipals",
                        principalId: nil, scope: "Expenses.ReadWrite"))
                d.oauth2PermissionGrants.append(
                    .init(
                        id: "two-instance-sql", clientId: cliSP, resourceId: sqlSP, consentType: "AllPrincipals",
                        principalId: nil, scope: "Data.Read"))
            }
            _ = try await ropc(b, mcpScope).get()

            let sql = "https://database.windows.net//Data.Read"
            #expect(await ropc(b, sql).failure?.aadsts == 50076)
            try await a.store.updateDirectory(tenantID: DemoTenant.tenantID) { d in
                for i in d.conditionalAccessPolicies.indices
                where d.conditionalAccessPolicies[i].objectValue?["id"]?.stringValue == GrantsFixture.mfaPolicyID {
                    guard case .object(var policy) = d.conditionalAccessPolicies[i] else { continue }
                    policy["state"] = .string("disabled")
                    d.conditionalAccessPolicies[i] = .object(policy)
                }
            }
            _ = try await ropc(b, sql).get()
        }
    }
}
