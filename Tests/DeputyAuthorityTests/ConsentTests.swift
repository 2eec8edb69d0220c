import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("consent")
struct ConsentTests {
    let cli = GrantsFixture.app("cli"), spa = GrantsFixture.app("spa"), agent = GrantsFixture.app("agent")
    let alice = GrantsFixture.user("alice"), bob = GrantsFixture.user("bob")
    let pkce: [(String, String)] = [("code_challenge", TestPKCE.challenge), ("code_challenge_method", "S256")]

    /// Runs authorize and the sign-in form; returns what came after the password.
    func signIn(
        _ f: GrantsFixture, client: String, redirect: String, scope: String, user: DemoTenant.DemoUser, extra: [(String, String)] = [],
        browser: inout GrantsFixture.Browser
    ) async throws -> InteractiveResult {
        let interactive = InteractiveSignIn(authority: f.authority)
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [("client_id", client), ("redirect_uri", redirect), ("response_type", "code"), ("scope", scope), ("state", "s")] + pkce
                        + extra),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .signIn(let page, let cookies) = start else { return start }
        browser.absorb(cookies)
        return await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password)]),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
    }

    func answer(_ f: GrantsFixture, _ page: ConsentPage, accept: Bool, browser: GrantsFixture.Browser) async -> InteractiveResult {
        await InteractiveSignIn(authority: f.authority).submitConsent(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters(
                    [("flow", page.flowID), ("csrf_token", page.csrfToken), ("decision", accept ? "accept" : "decline")]),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
    }

    @Test("Scopes not yet granted bring the consent page; accepting records a Principal grant for that user only")
    func acceptRecordsPrincipalGrant() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let result = try await signIn(
            f, client: cli.appId, redirect: "http://localhost", scope: "api://contoso-expenses-mcp/Expenses.ReadWrite", user: alice,
            browser: &browser)
        guard case .consent(let page, let cookies) = result else {
            Issue.record("expected the consent page, got \(result)")
            return
        }
        browser.absorb(cookies)
        #expect(page.applicationName == cli.displayName && page.permissions.map(\.scope) == ["Expenses.ReadWrite"])
        #expect(page.permissions.first?.description == "Use the expense tools as you")
        guard case .respond(let response, _) = await answer(f, page, accept: true, browser: browser) else {
            Issue.record("expected a code")
            return
        }
        #expect(response.parameters.contains { $0.0 == "code" })
        let directory = try #require(try await f.store.directories().first)
        let grant = try #require(directory.oauth2PermissionGrants.first { $0.consentType == "Principal" })
        #expect(grant.principalId == alice.id && grant.scope == "Expenses.ReadWrite")
        // Bob has not consented: ROPC for him is still refused with AADSTS65001.
        let bobTry = await f.token([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
            ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"),
        ])
        #expect(bobTry.failure?.aadsts == 65001)
    }

    @Test("Declining sends access_denied (AADSTS65004) to the client; prompt=consent asks even when granted")
    func declineAndPrompt() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let asked = try await signIn(
            f, client: cli.appId, redirect: "http://localhost", scope: "api://contoso-expenses-api/access_as_user",
            user: alice, extra: [("prompt", "consent")], browser: &browser)
        guard case .consent(let page, let cookies) = asked else {
            Issue.record("prompt=consent must ask, got \(asked)")
            return
        }
        browser.absorb(cookies)
        guard case .respond(let response, _) = await answer(f, page, accept: false, browser: browser) else {
            Issue.record("expected a redirect")
            return
        }
        #expect(response.parameters.first { $0.0 == "error" }?.1 == "access_denied")
        #expect(response.parameters.first { $0.0 == "error_description" }?.1.hasPrefix("AADSTS65004") == true)
    }

    @Test("A user cannot consent to a scope that needs an administrator (AADSTS90094)")
    func adminOnlyScope() async throws {
        // Consent alone is under test: the Data API's MFA policy (which comes first) is taken out.
        let f = try await GrantsFixture.make { d in
            d.oauth2PermissionGrants.removeAll { $0.scope.contains("Data.Write") }
            d.conditionalAccessPolicies.removeAll()
        }
        var browser = GrantsFixture.Browser()
        let result = try await signIn(
            f, client: GrantsFixture.app("webApi").appId, redirect: "http://127.0.0.1:7402/signin-oidc",
            scope: "https://database.windows.net//Data.Write", user: alice, browser: &browser)
        guard case .respond(let response, _) = result else {
            Issue.record("expected an error redirect, got \(result)")
            return
        }
        #expect(response.parameters.first { $0.0 == "error" }?.1 == "consent_required")
        #expect(response.parameters.first { $0.0 == "error_description" }?.1.hasPrefix("AADSTS90094") == true)
    }

    @Test(
        "Combined consent: the SPA's .default for the agent's blueprint also consents to its downstream permission, which the agent identity inherits for OBO"
    )
    func combinedConsent() async throws {
        let f = try await GrantsFixture.make { d in
            let sps = d.servicePrincipals
            // No grant to or from the blueprint or its agent identity: the agent has only what it inherits.
            let agentSPs = sps.filter { [DemoTenant.app("agent").appId, DemoTenant.app("agentBlueprint").appId].contains($0.appId) }.map(
                \.id)
            d.oauth2PermissionGrants.removeAll { agentSPs.contains($0.resourceId) || agentSPs.contains($0.clientId) }
        }
        var browser = GrantsFixture.Browser()
        let result = try await signIn(
            f, client: spa.appId, redirect: "http://127.0.0.1:7401/", scope: "api://contoso-expense-agent/.default",
            user: alice, browser: &browser)
        guard case .consent(let page, let cookies) = result else {
            Issue.record("expected the consent page, got \(result)")
            return
        }
        browser.absorb(cookies)
        #expect(Set(page.permissions.map(\.scope)) == ["access_as_user", "Expenses.ReadWrite", "Expenses.Approve"])
        guard case .respond(let response, _) = await answer(f, page, accept: true, browser: browser) else {
            Issue.record("expected a code")
            return
        }
        let code = try #require(response.parameters.first { $0.0 == "code" }?.1)
        let userToken = try await f.token(
            [
                ("grant_type", "authorization_code"), ("client_id", spa.appId), ("code", code),
                ("redirect_uri", "http://127.0.0.1:7401/"), ("code_verifier", TestPKCE.verifier),
            ],
            origin: "http://127.0.0.1:7401"
        ).get().accessToken
        // The agent identity inherits the blueprint's consented scopes on the MCP server (inheritablePermissions).
        let obo = await f.token(
            [
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("requested_token_use", "on_behalf_of"),
                ("assertion", userToken), ("scope", "api://contoso-expenses-mcp/.default"),
            ]
                + GrantsFixture.agentAuthentication(try await f.agentCredential()))
        #expect(try UnverifiedJWT(try obo.get().accessToken).string("scp") == "Expenses.ReadWrite Expenses.Approve")
    }
}
