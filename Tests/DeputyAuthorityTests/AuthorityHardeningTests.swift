import DeputyAuthoritySQLite
import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// The authority's answers to a security review: facts of the user's sign-in carried through
/// token exchange and OBO and evaluated again, actor tokens bound to their caller, stored policies
/// that cannot be read failing closed, and logout that another site cannot trigger.
@Suite("Authority hardening")
struct AuthorityHardeningTests {
    static let tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    let webApi = GrantsFixture.app("webApi")
    let dataApi = GrantsFixture.app("dataApi")
    let mcpServer = GrantsFixture.app("mcpServer")
    let cli = GrantsFixture.app("cli")

    /// The demo tenant, plus: the Data API may act for users towards the MCP server; `policies`
    /// appended (Graph JSON).
    static func fixture(policies: [String] = [], edit: ((inout TenantDirectory) -> Void)? = nil) async throws -> GrantsFixture {
        try await GrantsFixture.make { d in
            grantForEveryone(&d, client: "dataApi", resource: "mcpServer", scope: "Expenses.ReadWrite")
            for p in policies { d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(p.utf8))) }
            edit?(&d)
        }
    }

    /// Admin consent (AllPrincipals) for `client` (a demo app key) to `resource`'s `scope`.
    static func grantForEveryone(_ d: inout TenantDirectory, client: String, resource: String, scope: String) {
        let sps = d.servicePrincipals
        let sp = { (key: String) in sps.first { $0.appId == DemoTenant.app(key).appId }!.id }
        d.oauth2PermissionGrants.append(
            .init(
                id: "g-\(client)-\(resource)", clientId: sp(client), resourceId: sp(resource), consentType: "AllPrincipals",
                principalId: nil,
                scope: scope))
    }

    func exchange(
        _ f: GrantsFixture, subject: String, client: DemoTenant.DemoApp, _ extra: [(String, String)]
    ) async -> Result<TokenResponse, OAuthError> {
        await f.token(
            [
                ("grant_type", Self.tokenExchange), ("client_id", client.appId), ("client_secret", client.secret!),
                ("subject_token", subject), ("subject_token_type", Self.accessTokenType),
            ] + extra)
    }

    func obo(_ f: GrantsFixture, assertion: String, client: DemoTenant.DemoApp, scope: String) async -> Result<TokenResponse, OAuthError> {
        await f.token([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", client.appId), ("client_secret", client.secret!),
            ("assertion", assertion), ("scope", scope), ("requested_token_use", "on_behalf_of"),
        ])
    }

    /// A user's token for the Web API after a password-only sign-in from `ip`.
    func passwordOnlyToken(_ f: GrantsFixture, _ user: DemoTenant.DemoUser, ip: String = "127.0.0.1") async throws -> TokenResponse {
        try await SignInDriver.response(authority: f.authority, user: user, claims: nil, ipAddress: ip)
    }

    // MARK: Token exchange

    @Test("Token exchange relays a Conditional Access step-up with its claims and suberror, in RFC 6749's body")
    func tokenExchangeRelaysTheChallenge() async throws {
        let f = try await Self.fixture()
        let subject = try await passwordOnlyToken(f, GrantsFixture.user("alice")).accessToken
        guard case .failure(let e) = await exchange(f, subject: subject, client: webApi, [("audience", "https://database.windows.net/")])
        else {
            Issue.record("a password-only user got a token for the MFA-protected Data API")
            return
        }
        #expect(e.rfc6749Only && e.aadsts == 50076 && e.suberror == "basic_action")
        let claims = try #require(e.claims)
        #expect(claims.contains(SignInDriver.mfaPolicyID))
        let body = EntraErrorBody(e, traceId: "t", correlationId: "c", at: f.time.now(), errorURIBase: "http://127.0.0.1:7400")
        #expect(body.claims == claims && body.suberror == "basic_action" && body.errorCodes == nil)
        #expect(body.errorDescription.hasPrefix("AADSTS50076"))
    }

    @Test(
        "Exchanged tokens carry the sign-in's time, methods and location, and a chained exchange is held to the first sign-in's frequency")
    func exchangedTokensCarryTheSignIn() async throws {
        // The MCP server requires a sign-in within the hour.
        let frequency = """
            {"id":"00000000-0000-4000-8000-000000000071","displayName":"Hourly sign-in for the MCP server","state":"enabled",
             "conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["\(mcpServer.appId)"]},"clientAppTypes":["all"]},
             "grantControls":null,"sessionControls":{"signInFrequency":{"isEnabled":true,"type":"hours","value":1}}}
            """
        let f = try await Self.fixture(policies: [frequency])
        let signedInAt = f.time.now()
        let subject = try await f.mfaUserToken(GrantsFixture.user("bob"))
        f.time.advance(by: 50 * 60)
        let first = try await exchange(f, subject: subject, client: webApi, [("audience", "https://database.windows.net/")]).get()
        let claims = try await f.verifiedClaims(first.accessToken)
        let aio = try #require(claims["aio"]?.stringValue.flatMap(TokenMinter.readAIO))
        #expect(abs(try #require(aio.authTime).timeIntervalSince(signedInAt)) < 120, "the sign-in's time, not the exchange's")
        #expect(aio.methods.contains("mfa") && claims["amr"]?.arrayValue?.contains("mfa") == true)
        #expect(claims["auth_time"]?.numberValue.map { abs($0 - signedInAt.timeIntervalSince1970) < 120 } == true)
        // 100 minutes after the sign-in the Data API exchanges the exchanged token for the MCP server.
        f.time.advance(by: 50 * 60)
        guard
            case .failure(let e) = await exchange(
                f, subject: first.accessToken, client: dataApi, [("resource", "api://contoso-expenses-mcp")])
        else {
            Issue.record("a chained exchange escaped the MCP server's sign-in frequency")
            return
        }
        #expect(e.aadsts == 70044 && e.claims != nil, "\(e)")
    }

    @Test("An actor token must be the calling client's own (or the subject's may_act names the caller)")
    func actorTokenBoundToTheCaller() async throws {
        let f = try await Self.fixture()
        let subject = try await f.mfaUserToken(GrantsFixture.user("bob"))
        let reports = GrantsFixture.app("reports")
        let othersToken = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "api://contoso-expenses-api/.default"),
        ]).accessToken
        guard
            case .failure(let e) = await exchange(
                f, subject: subject, client: webApi,
                [
                    ("audience", "https://database.windows.net/"),
                    ("actor_token", othersToken),
                    ("actor_token_type", Self.accessTokenType),
                ])
        else {
            Issue.record("the Web API acted under another client's actor token")
            return
        }
        #expect(e.error == .invalidGrant && e.message.contains(reports.appId))
        // Its own token is accepted as the actor.
        let own = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("scope", "https://database.windows.net//.default"),
        ]).accessToken
        let r = try await exchange(
            f, subject: subject, client: webApi,
            [
                ("audience", "https://database.windows.net/"), ("actor_token", own),
                ("actor_token_type", Self.accessTokenType),
            ]
        ).get()
        #expect(try UnverifiedJWT(r.accessToken).claims["act"]?.objectValue?["client_id"]?.stringValue == webApi.appId)
    }

    @Test("A subject's may_act lets the caller present the actor token of the party it names, and only that party")
    func mayActNamesTheActorTokensParty() async throws {
        let f = try await Self.fixture()
        let reports = GrantsFixture.app("reports")
        let reportsToken = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "api://contoso-expenses-api/.default"),
        ]).accessToken
        let own = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("scope", "https://database.windows.net//.default"),
        ]).accessToken
        var claims = try UnverifiedJWT(try await f.mfaUserToken(GrantsFixture.user("bob"))).claims
        func subject(mayActClient: String) async throws -> String {
            claims["may_act"] = .object(["client_id": .string(mayActClient)])
            return try await f.authority.currentKeys().current.sign(claims: claims)
        }
        func exchangeAs(_ subject: String, actor: String?) async -> Result<TokenResponse, OAuthError> {
            var form: [(String, String)] = [("audience", "https://database.windows.net/")]
            if let actor { form += [("actor_token", actor), ("actor_token_type", Self.accessTokenType)] }
            return await exchange(f, subject: subject, client: webApi, form)
        }
        // The subject names the Reports client: its actor token is accepted, and it is the actor.
        let namesReports = try await subject(mayActClient: reports.appId)
        let r = try await exchangeAs(namesReports, actor: reportsToken).get()
        #expect(try UnverifiedJWT(r.accessToken).claims["act"]?.objectValue?["client_id"]?.stringValue == reports.appId)
        // …but not the caller acting for itself, with or without its own actor token.
        #expect(await exchangeAs(namesReports, actor: own).failure?.error == .invalidGrant)
        #expect(await exchangeAs(namesReports, actor: nil).failure?.error == .invalidGrant)
        // Naming the caller: its own actor token works, another client's does not.
        let namesCaller = try await subject(mayActClient: webApi.appId)
        await #expect(throws: Never.self) { try await exchangeAs(namesCaller, actor: own).get() }
        #expect(await exchangeAs(namesCaller, actor: reportsToken).failure?.error == .invalidGrant)
    }

    // MARK: OBO and refresh

    static let branchBlockPolicyID = "00000000-0000-4000-8000-000000000072"

    /// The demo tenant with a branch office (198.51.100.0/24) as a named location and a policy
    /// blocking it from Contoso SQL, enabled or not.
    func branchOfficeFixture(blockEnabled: Bool) async throws -> GrantsFixture {
        let branch = "4e0b5a3c-1d2e-4f3a-8b4c-5d6e7f8a9b77"
        let blockBranch = """
            {"id":"\(Self.branchBlockPolicyID)","displayName":"Block the branch office from Contoso SQL",
             "state":"\(blockEnabled ? "enabled" : "disabled")",
             "conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["\(dataApi.appId)"]},"clientAppTypes":["all"],
                           "locations":{"includeLocations":["\(branch)"]}},
             "grantControls":{"operator":"OR","builtInControls":["block"]}}
            """
        return try await Self.fixture(policies: [blockBranch]) { d in
            d.namedLocations.append(
                try! JSONDecoder().decode(
                    JSONValue.self,
                    from: Data(
                        ##"""
                        {"@odata.type":"#microsoft.graph.ipNamedLocation","id":"\##(branch)","displayName":"Branch","isTrusted":false,
                         "ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"198.51.100.0/24"}]}
                        """##.utf8)))
        }
    }

    @Test("Conditional Access at OBO evaluates the user's location at sign-in, not the middle tier's address")
    func oboUsesTheUsersLocation() async throws {
        let f = try await branchOfficeFixture(blockEnabled: true)
        // Bob signs in (with MFA, as the Data API requires) from the branch; the Web API calls from loopback.
        let fromBranch = try await SignInDriver.response(authority: f.authority, user: GrantsFixture.user("bob"), ipAddress: "198.51.100.9")
        {
            f.time.advance(by: TOTP.period)
        }
        guard
            case .failure(let e) = await obo(
                f, assertion: fromBranch.accessToken, client: webApi, scope: "https://database.windows.net//Data.Read")
        else {
            Issue.record("the branch block was evaluated at the middle tier's address")
            return
        }
        #expect(e.aadsts == 53003)
        // From headquarters (loopback) the same OBO succeeds.
        let fromHQ = try await f.mfaUserToken(GrantsFixture.user("bob"))
        _ = try await obo(f, assertion: fromHQ, client: webApi, scope: "https://database.windows.net//Data.Read").get()
    }

    @Test("A middle tier refreshing its OBO token is evaluated at the user's sign-in location, not its own address")
    func oboRefreshUsesTheUsersLocation() async throws {
        let f = try await branchOfficeFixture(blockEnabled: false)
        let policyID = Self.branchBlockPolicyID
        // Bob signs in from the branch while the policy is off; the Web API gets a refresh token by OBO.
        let fromBranch = try await SignInDriver.response(authority: f.authority, user: GrantsFixture.user("bob"), ipAddress: "198.51.100.9")
        {
            f.time.advance(by: TOTP.period)
        }
        let obo = try await obo(
            f, assertion: fromBranch.accessToken, client: webApi, scope: "https://database.windows.net//Data.Read offline_access"
        ).get()
        let refreshToken = try #require(obo.refreshToken)
        try await f.authority.store.updateDirectory(tenantID: DemoTenant.tenantID) { d in
            let i = d.conditionalAccessPolicies.firstIndex { $0.objectValue?["id"]?.stringValue == policyID }!
            guard case .object(var p) = d.conditionalAccessPolicies[i] else { return }
            p["state"] = "enabled"
            d.conditionalAccessPolicies[i] = .object(p)
        }
        // The Web API refreshes from loopback: the branch block applies all the same.
        let refreshed = await f.token([
            ("grant_type", "refresh_token"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("refresh_token", refreshToken), ("scope", "https://database.windows.net//Data.Read"),
        ])
        #expect(refreshed.failure?.aadsts == 53003, "\(refreshed)")
    }

    @Test("An authentication context is re-issued on refresh only while its policy still holds")
    func carriedContextsAreEvaluatedAgain() async throws {
        let f = try await Self.fixture { d in
            // The CLI may use the MCP server for every user (no consent page in the way).
            Self.grantForEveryone(&d, client: "cli", resource: "mcpServer", scope: "Expenses.ReadWrite")
            // The demo's c1 policy (MFA) also asks for a sign-in within the hour.
            let i = d.conditionalAccessPolicies.firstIndex { $0.objectValue?["id"]?.stringValue == "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02" }!
            guard case .object(var p) = d.conditionalAccessPolicies[i] else { return }
            p["sessionControls"] = ["signInFrequency": ["isEnabled": true, "type": "hours", "value": .number(1)]]
            d.conditionalAccessPolicies[i] = .object(p)
        }
        let c1 = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
        let signedIn = try await SignInDriver.response(
            authority: f.authority, user: GrantsFixture.user("bob"), scope: "api://contoso-expenses-mcp/Expenses.ReadWrite",
            claims: c1
        ) { f.time.advance(by: TOTP.period) }
        #expect(try UnverifiedJWT(signedIn.accessToken).claims["acrs"] == ["c1"])
        let refresh = { (token: String) in
            await f.token([
                ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", token),
                ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite offline_access"),
            ])
        }
        f.time.advance(by: 30 * 60)
        let within = try await refresh(try #require(signedIn.refreshToken)).get()
        #expect(try UnverifiedJWT(within.accessToken).claims["acrs"] == ["c1"], "within the hour c1 still holds")
        f.time.advance(by: 60 * 60)
        let after = try await refresh(try #require(within.refreshToken)).get()
        #expect(try UnverifiedJWT(after.accessToken).claims["acrs"] == nil, "c1's sign-in frequency has lapsed: c1 is not asserted again")
    }

    // MARK: Stored policies

    @Test("A stored policy that cannot be read stops the authority from starting")
    func unreadablePolicyRefusesStart() async throws {
        try await Self.unreadablePolicy(RecordStore.inMemory())
    }

    @Test("A policy stored in SQLite that cannot be read stops the authority from starting, and blocks sign-ins at run time")
    func unreadablePolicyInSQLite() async throws {
        try await TestSQLite.withPath { path in try await Self.unreadablePolicy(RecordStore.sqlite(path: path)) }
    }

    @Test(
        "A policy stored in PostgreSQL that cannot be read stops the authority from starting, and blocks sign-ins at run time",
        .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
    func unreadablePolicyInPostgres() async throws {
        try await TestPostgres.withStores(1) { stores in try await Self.unreadablePolicy(stores[0]) }
    }

    static func unreadablePolicy(_ store: RecordStore) async throws {
        let f = try await GrantsFixture.make(store: store)
        try await store.updateDirectory(tenantID: DemoTenant.tenantID) { d in
            d.conditionalAccessPolicies.append([
                "id": "00000000-0000-4000-8000-000000000073", "displayName": "From a newer Deputy",
                "state": "enabled", "conditions": ["users": ["includeUsers": ["All"]], "futureCondition": true],
            ])
        }
        // At run time: every sign-in of the tenant is blocked, naming the policy.
        let reports = GrantsFixture.app("reports")
        let e = await f.failure([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "https://database.windows.net//.default"),
        ])
        #expect(e?.aadsts == 53003 && e?.message.contains("From a newer Deputy") == true, "\(String(describing: e))")
        // At start: the authority refuses.
        await #expect(throws: Authority.UnreadablePoliciesError.self) {
            _ = try await Authority.open(configuration: f.authority.configuration, store: store, tenantFile: nil, time: f.time)
        }
    }

    // MARK: Logout

    @Test("Logout without an id_token_hint asks for confirmation; the confirmation, or a valid hint, signs out")
    func logoutNeedsConfirmationOrHint() async throws {
        let f = try await Self.fixture()
        let interactive = InteractiveSignIn(authority: f.authority)
        var browser = GrantsFixture.Browser()
        let params = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "openid profile api://contoso-expenses-api/access_as_user",
            user: GrantsFixture.user("alice"),
            browser: &browser)
        let session = try #require(browser.cookies[InteractiveSignIn.sessionCookie])
        func logout(_ p: [(String, String)]) async -> InteractiveResult {
            await interactive.logout(
                BrowserRequest(
                    tenantSegment: "contoso.com", parameters: FormParameters(p), cookies: browser.cookies,
                    correlationID: "c", ipAddress: nil))
        }
        // A link or form elsewhere: the user is asked, the session stays.
        guard case .confirmLogout(_, let fields, _) = await logout([("post_logout_redirect_uri", "http://localhost")]) else {
            Issue.record("logout without a hint did not ask")
            return
        }
        #expect(try await f.store.session(hash: TokenIssuer.hash(session)) != nil)
        // A forged confirmation is asked again.
        guard case .confirmLogout = await logout([("logout_confirmation", "forged")]) else {
            Issue.record("a forged confirmation signed out")
            return
        }
        // The confirmation form signs out; the redirect URI needs the app named (client_id).
        guard case .redirect(let to, _) = await logout(fields + [("client_id", cli.appId)]) else {
            Issue.record("confirmed logout did not redirect")
            return
        }
        #expect(to == "http://localhost")
        #expect(try await f.store.session(hash: TokenIssuer.hash(session)) == nil)
        _ = params
    }

    @Test("post_logout_redirect_uri must be registered for the app named by id_token_hint or client_id")
    func logoutRedirectMustBeTheNamedApps() async throws {
        let f = try await Self.fixture()
        let interactive = InteractiveSignIn(authority: f.authority)
        var browser = GrantsFixture.Browser()
        let spa = GrantsFixture.app("spa")
        let code = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "openid profile api://contoso-expenses-api/access_as_user",
            user: GrantsFixture.user("alice"),
            browser: &browser)["code"]!
        let idToken = try #require(
            try await f.success([
                ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code),
                ("redirect_uri", "http://localhost"), ("scope", "openid profile api://contoso-expenses-api/access_as_user"),
            ]).idToken)
        func logout(_ p: [(String, String)]) async -> InteractiveResult {
            await interactive.logout(
                BrowserRequest(
                    tenantSegment: "contoso.com", parameters: FormParameters(p), cookies: browser.cookies,
                    correlationID: "c", ipAddress: nil))
        }
        // The SPA's redirect URI is registered, but not for the app the hint names.
        let spaRedirect = f.demo.redirectURIs("spa")[0]
        guard case .message = await logout([("id_token_hint", idToken), ("post_logout_redirect_uri", spaRedirect)]) else {
            Issue.record("redirected to another app's URI")
            return
        }
        // A client_id that disagrees with the hint is an error.
        guard case .error = await logout([("id_token_hint", idToken), ("client_id", spa.appId)]) else {
            Issue.record("mismatch accepted")
            return
        }
        // A forged hint is an error, not a sign-out.
        guard case .error = await logout([("id_token_hint", idToken.dropLast(4) + "AAAA")]) else {
            Issue.record("forged hint accepted")
            return
        }
        // The hint's own app: redirected, with state.
        guard
            case .redirect(let to, _) = await logout([
                ("id_token_hint", idToken), ("post_logout_redirect_uri", "http://localhost"), ("state", "s"),
            ])
        else {
            Issue.record("the hint's app was not redirected")
            return
        }
        #expect(to == "http://localhost?state=s")
    }

    @Test("Discovery does not advertise front-channel logout, which Deputy does not implement")
    func noFrontChannelLogout() async throws {
        let f = try await Self.fixture()
        let doc = f.authority.openIDConfiguration(tenantSegment: "contoso.com", tenantID: DemoTenant.tenantID, v2: true)
        #expect(doc["frontchannel_logout_supported"] == nil && doc["end_session_endpoint"] != nil)
    }
}
