import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("on-behalf-of")
struct OnBehalfOfTests {
    let webApi = GrantsFixture.app("webApi")
    let dataApi = GrantsFixture.app("dataApi")
    let cli = GrantsFixture.app("cli")
    let bob = GrantsFixture.user("bob")

    /// The demo tenant, plus: the CLI may call the agent, and the Web API holds an app role on the
    /// Data API (which OBO tokens must never carry).
    func fixture() async throws -> GrantsFixture {
        try await GrantsFixture.make { d in
            let sps = d.servicePrincipals
            let sp = { (appID: String) in sps.first { $0.appId == appID }!.id }
            d.oauth2PermissionGrants.append(
                .init(
                    id: "g-cli-agent", clientId: sp(DemoTenant.app("cli").appId), resourceId: sp(DemoTenant.app("agentBlueprint").appId),
                    consentType: "AllPrincipals", principalId: nil, scope: "access_as_user"))
            d.appRoleAssignments.append(
                .init(
                    id: "r-webapi", principalId: sp(DemoTenant.app("webApi").appId), principalType: "ServicePrincipal",
                    resourceId: sp(DemoTenant.app("dataApi").appId), appRoleId: "11111111-aaaa-4bbb-8ccc-000000000006"))
        }
    }

    /// Bob's token for a resource, signed in with MFA (the Data API requires it), on the public CLI app.
    func userToken(_ f: GrantsFixture, scope: String = "api://contoso-expenses-api/access_as_user") async throws -> String {
        try await f.mfaUserToken(bob, scope: scope)
    }

    func obo(
        _ f: GrantsFixture, assertion: String, client: DemoTenant.DemoApp? = nil, scope: String = "https://database.windows.net//.default",
        extra: [(String, String)] = []
    ) async -> Result<TokenResponse, OAuthError> {
        let c = client ?? webApi
        var p: [(String, String)] = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", c.appId),
            ("requested_token_use", "on_behalf_of"), ("assertion", assertion), ("scope", scope),
        ]
        if let secret = c.secret { p.append(("client_secret", secret)) }
        if c.blueprint != nil, let credential = try? await f.agentCredential(agent: c.appId) {
            p = p.filter { $0.0 != "client_id" } + GrantsFixture.agentAuthentication(credential, agent: c.appId)
        }
        return await f.token(p.filter { pair in !extra.contains { $0.0 == pair.0 } } + extra)
    }

    /// A token signed by the authority's current key with claims the test chooses.
    func forged(_ f: GrantsFixture, _ edit: (inout [String: JSONValue]) -> Void, from token: String) async throws -> String {
        var claims = try UnverifiedJWT(token).claims
        edit(&claims)
        return try await f.authority.currentKeys().current.sign(claims: claims)
    }

    @Test(
        "The middle tier gets a token for the downstream resource: the user's oid, its own azp, granted scopes, the user's roles, never its own"
    )
    func success() async throws {
        let f = try await fixture()
        let assertion = try await userToken(f)
        let r = try await obo(f, assertion: assertion, extra: [("client_info", "1")]).get()
        let c = try await f.verifiedClaims(r.accessToken)
        let incoming = try UnverifiedJWT(assertion)
        #expect(c["aud"]?.string == dataApi.appId && c["azp"]?.string == webApi.appId && c["azpacr"]?.string == "1")
        #expect(c["oid"]?.string == bob.id && c["sub"]?.string != incoming.string("sub"))
        #expect(Set(Scopes.parse(c["scp"]?.string)) == ["Data.Read", "Data.Write"])
        #expect(c["roles"]?.strings == ["Expenses.Approver"], "bob's role through his group, not the Web API's Expenses.Read.All")
        #expect(c["amr"]?.strings == ["pwd", "mfa", "otp"])
        #expect(TokenMinter.readAIO(c["aio"]!.string!)?.authTime == TokenMinter.readAIO(incoming.string("aio")!)?.authTime)
        // The time of the second factor travels too (sign-in frequency on the second factor at the next hop).
        #expect(TokenMinter.readAIO(c["aio"]!.string!)?.mfaTime != nil)
        #expect(TokenMinter.readAIO(c["aio"]!.string!)?.mfaTime == TokenMinter.readAIO(incoming.string("aio")!)?.mfaTime)
        #expect(r.refreshToken == nil && r.clientInfo != nil)
        let log = try await f.store.recentSignIns(limit: 1)[0]
        #expect(
            log.appId == webApi.appId && log.resourceId == dataApi.appId && log.userId == bob.id
                && log.signInEventTypes == ["nonInteractiveUser"])
    }

    @Test("Named scopes give granted ∩ requested; offline_access brings a refresh token bound to the middle tier")
    func namedScopesAndRefresh() async throws {
        let f = try await fixture()
        let assertion = try await userToken(f)
        let r = try await obo(f, assertion: assertion, scope: "https://database.windows.net//data.read offline_access openid profile").get()
        #expect(try UnverifiedJWT(r.accessToken).string("scp") == "Data.Read")
        let rt = try #require(r.refreshToken)
        let refreshed = await f.token([
            ("grant_type", "refresh_token"), ("client_id", webApi.appId), ("client_secret", webApi.secret!), ("refresh_token", rt),
        ])
        #expect(try UnverifiedJWT(try refreshed.get().accessToken).string("azp") == webApi.appId)
        let reports = GrantsFixture.app("reports")
        let stolen = await f.token([
            ("grant_type", "refresh_token"), ("client_id", reports.appId), ("client_secret", reports.secret!), ("refresh_token", rt),
        ])
        #expect(stolen.failure?.aadsts == 70000)
    }

    @Test("A token obtained by OBO is the assertion of the next hop: azp changes, the user stays")
    func chained() async throws {
        let f = try await fixture()
        let agent = GrantsFixture.app("agent")
        let mcp = GrantsFixture.app("mcpServer")
        let userToAgent = try await userToken(f, scope: "api://contoso-expense-agent/access_as_user")
        let agentToMCP = try await obo(f, assertion: userToAgent, client: agent, scope: "api://contoso-expenses-mcp/.default").get()
            .accessToken
        let mcpToData = try await obo(f, assertion: agentToMCP, client: mcp).get().accessToken
        let first = try UnverifiedJWT(agentToMCP)
        let second = try UnverifiedJWT(mcpToData)
        #expect(first.string("azp") == agent.appId && first.string("aud") == mcp.appId)
        #expect(second.string("azp") == mcp.appId && second.string("aud") == dataApi.appId)
        #expect(first.string("oid") == bob.id && second.string("oid") == bob.id)
    }

    @Test(
        "Each bad assertion gets Entra's error",
        arguments: [
            "wrong audience", "other tenant", "expired", "app-only", "ID token", "bad signature", "alg none", "garbage",
        ])
    func badAssertions(_ name: String) async throws {
        let f = try await fixture()
        let good = try await userToken(f)
        let assertion: String
        let expected: OAuthError
        switch name {
        case "wrong audience":
            assertion = try await userToken(f, scope: "api://contoso-expenses-api/access_as_user")
            let r = await obo(f, assertion: assertion, client: GrantsFixture.app("agent"))
            #expect(r.failure?.aadsts == 500131 && r.failure?.error == .invalidGrant)
            return
        case "other tenant":
            assertion = try await forged(
                f, { $0["iss"] = .string("http://127.0.0.1:7400/22222222-2222-4222-8222-222222222222/v2.0") }, from: good)
            expected = .invalidAssertion("")
        case "expired":
            assertion = good
            f.time.advance(by: 2 * 3600)
            expected = .assertionOutsideLifetime(now: Date(), expiry: nil)
        case "app-only":
            let reports = GrantsFixture.app("reports")
            assertion = try await f.success([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                ("scope", "api://contoso-expenses-api/.default"),
            ]).accessToken
            expected = .appOnlyAssertion(appID: "")
        case "ID token":
            assertion = try await forged(
                f,
                { c in
                    c["scp"] = nil
                    c["idtyp"] = nil
                    c["nonce"] = .string("n")
                }, from: good)
            expected = .idTokenAssertion()
        case "bad signature":
            assertion = String(good.dropLast(4)) + (good.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            expected = .invalidAssertion("")
        case "alg none":
            let parts = good.split(separator: ".")
            assertion = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
            expected = .invalidAssertion("")
        default:
            assertion = "not-a-token"
            expected = .invalidAssertion("")
        }
        let e = try #require(await obo(f, assertion: assertion).failure)
        #expect(e == expected, "\(e)")
        #expect(e.status == (e.error == .invalidClient ? 401 : 400))
    }

    @Test("Scope and consent failures: two resources, .default mixed, unknown resource, no grant, and a public caller")
    func scopeAndConsent() async throws {
        let f = try await fixture()
        let good = try await userToken(f)
        #expect(
            await obo(f, assertion: good, scope: "https://database.windows.net//Data.Read api://contoso-expenses-mcp/Expenses.ReadWrite")
                .failure?.aadsts == 28000)
        #expect(
            await obo(f, assertion: good, scope: "https://database.windows.net//.default https://database.windows.net//Data.Read").failure?
                .aadsts == 70011)
        #expect(await obo(f, assertion: good, scope: "api://nowhere/.default").failure?.aadsts == 500011)
        // The reports daemon has no delegated grant on the Data API (its app role does not count).
        let forReports = try await forged(f, { $0["aud"] = .string(GrantsFixture.app("reports").appId) }, from: good)
        let consent = try #require(await obo(f, assertion: forReports, client: GrantsFixture.app("reports")).failure)
        #expect(consent.aadsts == 65001 && consent.suberror == "consent_required")
        #expect(try await f.store.recentSignIns(limit: 1)[0].note?.contains("No oauth2PermissionGrant") == true)
        // A public client cannot do OBO: the middle tier's own credential is required.
        let forCLI = try await forged(f, { $0["aud"] = .string(GrantsFixture.app("cli").appId) }, from: good)
        #expect(await obo(f, assertion: forCLI, client: GrantsFixture.app("cli")).failure?.aadsts == 7_000_218)
        #expect(await obo(f, assertion: good, extra: [("requested_token_use", "something")]).failure?.aadsts == 9_002_313)
    }

    @Test("A claims parameter with cp1 yields xms_cc only for resources that opt in")
    func clientCapabilities() async throws {
        let f = try await fixture()
        let good = try await userToken(f)
        let claims = #"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#
        let data = try await obo(f, assertion: good, extra: [("claims", claims)]).get()
        #expect(try UnverifiedJWT(data.accessToken).claims["xms_cc"]?.strings == ["cp1"])
        // The MCP server opts in too; give the Web API's OBO a resource that does not: itself via the agent.
        #expect(await obo(f, assertion: good, extra: [("claims", "not json")]).failure?.aadsts == 90014)
    }
}
