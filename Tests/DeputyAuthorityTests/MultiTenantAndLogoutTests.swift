import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

struct MultiTenantAndLogoutTests {
    static let yaml = """
        tenants:
          - tenant: {id: 11111111-1111-4111-8111-111111111111, displayName: Alpha, verifiedDomains: [alpha.example]}
            users:
              - {id: 11111111-1111-4111-8111-0000000000a1, userPrincipalName: ann@alpha.example, displayName: Ann, password: "ann-password-1"}
            applications:
              - {appId: 11111111-1111-4111-8111-0000000000b1, displayName: Alpha API, identifierUris: ["api://alpha"],
                 appRoles: [{id: 11111111-1111-4111-8111-0000000000c1, value: Read.All, allowedMemberTypes: [Application]}],
                 api: {requestedAccessTokenVersion: 2}}
              - {appId: 11111111-1111-4111-8111-0000000000b2, displayName: Alpha Daemon,
                 passwordCredentials: [{secretText: "alpha-daemon-secret-0001"}]}
            appRoleAssignments:
              - {principalId: 11111111-1111-4111-8111-0000000000b2, resourceId: 11111111-1111-4111-8111-0000000000b1, appRoleId: 11111111-1111-4111-8111-0000000000c1}
          - tenant: {id: 22222222-2222-4222-8222-222222222222, displayName: Beta, verifiedDomains: [beta.example]}
            applications:
              - {appId: 22222222-2222-4222-8222-0000000000b1, displayName: Beta API, identifierUris: ["api://beta"]}
              - {appId: 22222222-2222-4222-8222-0000000000b2, displayName: Beta Daemon, passwordCredentials: [{secretText: "beta-daemon-secret-00001"}]}
        """

    @Test("One authority serves several tenants, each with its own issuer, and keeps their applications apart")
    func severalTenants() async throws {
        let file = try TenantFileLoader.load(yaml: Self.yaml, fileName: "two.yaml")
        let (authority, _) = try await Authority.open(
            configuration: AuthorityConfiguration(baseURL: "http://127.0.0.1:7400"),
            store: RecordStore.inMemory(), tenantFile: file)
        #expect(try await authority.tenants().count == 2)
        func cc(_ tenant: String, _ client: String, _ secret: String, _ scope: String) async -> Result<TokenResponse, OAuthError> {
            await authority.token(
                TokenRequest(
                    tenantSegment: tenant,
                    form: FormParameters([
                        ("grant_type", "client_credentials"), ("client_id", client), ("client_secret", secret), ("scope", scope),
                    ]), correlationID: "c"))
        }
        let alpha = try await cc(
            "alpha.example", "11111111-1111-4111-8111-0000000000b2", "alpha-daemon-secret-0001", "api://alpha/.default"
        ).get()
        let claims = try UnverifiedJWT(alpha.accessToken)
        #expect(claims.string("iss") == "http://127.0.0.1:7400/11111111-1111-4111-8111-111111111111/v2.0")
        #expect(claims.claims["roles"]?.arrayValue == [.string("Read.All")])
        // Beta's daemon is not an application of Alpha, and Alpha's API is not a resource of Beta.
        #expect(
            await cc("alpha.example", "22222222-2222-4222-8222-0000000000b2", "beta-daemon-secret-00001", "api://alpha/.default").failure?
                .aadsts == 700016)
        #expect(
            await cc("beta.example", "22222222-2222-4222-8222-0000000000b2", "beta-daemon-secret-00001", "api://alpha/.default").failure?
                .aadsts == 500011)
        let beta = try await cc(
            "22222222-2222-4222-8222-222222222222", "22222222-2222-4222-8222-0000000000b2", "beta-daemon-secret-00001",
            "api://beta/.default"
        ).get()
        #expect(try UnverifiedJWT(beta.accessToken).string("tid") == "22222222-2222-4222-8222-222222222222")
        #expect(
            authority.openIDConfiguration(tenantSegment: "beta.example", tenantID: "22222222-2222-4222-8222-222222222222", v2: true)[
                "issuer"]?.stringValue
                == "http://127.0.0.1:7400/22222222-2222-4222-8222-222222222222/v2.0")
    }

    @Test("Logout ends the SSO session once confirmed and returns only to a post_logout_redirect_uri registered for the app")
    func logout() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let cli = GrantsFixture.app("cli")
        _ = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "api://contoso-expenses-api/access_as_user",
            user: GrantsFixture.user("alice"), browser: &browser)
        let session = try #require(browser.cookies[InteractiveSignIn.sessionCookie])
        #expect(try await f.store.session(hash: TokenIssuer.hash(session)) != nil)
        let interactive = InteractiveSignIn(authority: f.authority)
        // Without an id_token_hint the user confirms first (the form posts these fields back).
        let ask = await interactive.logout(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [("post_logout_redirect_uri", "http://localhost"), ("state", "bye"), ("client_id", cli.appId)]),
                cookies: browser.cookies,
                correlationID: "c", ipAddress: nil))
        guard case .confirmLogout(_, let fields, _) = ask else {
            Issue.record("expected the confirmation, got \(ask)")
            return
        }
        let out = await interactive.logout(
            BrowserRequest(
                tenantSegment: "contoso.com", parameters: FormParameters(fields), cookies: browser.cookies,
                correlationID: "c", ipAddress: nil))
        guard case .redirect(let location, let cookies) = out else {
            Issue.record("expected a redirect, got \(out)")
            return
        }
        #expect(location == "http://localhost?state=bye")
        #expect(cookies.contains { $0.name == InteractiveSignIn.sessionCookie && $0.maxAge == 0 })
        #expect(try await f.store.session(hash: TokenIssuer.hash(session)) == nil)
        let elsewhere = await interactive.logout(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters(
                    [("post_logout_redirect_uri", "https://evil.example/")]), cookies: [:], correlationID: "c", ipAddress: nil))
        guard case .message = elsewhere else {
            Issue.record("an unregistered URI must not be redirected to, got \(elsewhere)")
            return
        }
    }
}
