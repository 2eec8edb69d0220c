import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Consent and admin consent through the HTML pages, with a small cookie-keeping browser.
@Suite("consent pages")
struct ConsentPagesTests {
    /// Cookies and the last page, as a browser keeps them.
    final class Browser: @unchecked Sendable {
        var cookies: [String: String] = [:]
        let client: any TestClientProtocol
        init(_ client: any TestClientProtocol) { self.client = client }

        func absorb(_ response: TestResponse) {
            for header in response.headers[values: .setCookie] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
                if header.contains("Max-Age=0") { cookies[pair[0]] = nil } else if pair.count == 2 { cookies[pair[0]] = pair[1] }
            }
        }

        var cookieHeader: HTTPFields {
            cookies.isEmpty ? [:] : [.cookie: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
        }

        func get(_ uri: String) async throws -> TestResponse {
            let r = try await client.execute(uri: uri, method: .get, headers: cookieHeader) { $0 }
            absorb(r)
            return r
        }

        /// Submits the page's form with the hidden fields plus `fields`.
        func submit(_ page: TestResponse, _ fields: [(String, String)]) async throws -> TestResponse {
            let html = String(buffer: page.body)
            let action = try #require(Self.attribute("action", in: html))
            var pairs: [(String, String)] = []
            var rest = Substring(html)
            while let r = rest.range(of: "type=\"hidden\" name=\"") {
                rest = rest[r.upperBound...]
                let name = String(rest.prefix { $0 != "\"" })
                let v = rest.range(of: "value=\"")!
                let value = String(rest[v.upperBound...].prefix { $0 != "\"" })
                pairs.append((name, value))
            }
            var headers = cookieHeader
            headers[.contentType] = "application/x-www-form-urlencoded"
            let r = try await client.execute(
                uri: action, method: .post, headers: headers, body: ByteBuffer(string: FormParameters(pairs + fields).encoded)
            ) { $0 }
            absorb(r)
            return r
        }

        static func attribute(_ name: String, in html: String) -> String? {
            guard let r = html.range(of: "\(name)=\"") else { return nil }
            return String(html[r.upperBound...].prefix { $0 != "\"" })
        }
    }

    static func withApp(_ body: @escaping @Sendable (any TestClientProtocol, Authority) async throws -> Void) async throws {
        let authority = try await DemoAuthority.make()
        try await DemoAuthority.test(authority) { client in try await body(client, authority) }
    }

    @Test("Signing in to an app without consent shows the consent page; Accept redirects with a code and records the grant")
    func consentPage() async throws {
        try await Self.withApp { client, authority in
            let browser = Browser(client)
            let alice = DemoTenant.user("alice")
            let challenge = Base64URL.encode(Array(repeating: UInt8(9), count: 32))
            let page = try await browser.get(
                "/contoso.com/oauth2/v2.0/authorize?"
                    + FormParameters([
                        ("client_id", DemoTenant.app("cli").appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                        ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"), ("state", "st"), ("code_challenge", challenge),
                        ("code_challenge_method", "S256"),
                    ]).encoded)
            let consent = try await browser.submit(page, [("username", alice.upn), ("password", alice.password)])
            let html = String(buffer: consent.body)
            #expect(
                html.contains("Permissions requested") && html.contains("Use the expense tools as you")
                    && html.contains("Contoso Expenses MCP Server"))
            let done = try await browser.submit(consent, [("decision", "accept")])
            #expect(done.status == .found)
            #expect(done.headers[.location]?.hasPrefix("http://localhost?code=") == true)
            let grants = try await authority.store.directories()[0].oauth2PermissionGrants.filter { $0.consentType == "Principal" }
            #expect(grants.count == 1 && grants[0].principalId == alice.id)
        }
    }

    @Test("Combined consent through the pages: the SPA's .default for the agent lists the agent's downstream permission too")
    func combinedConsentPage() async throws {
        let authority = try await DemoAuthority.make { file in
            let agentSPs = file.tenants[0].servicePrincipals
                .filter { [DemoTenant.app("agent").appId, DemoTenant.app("agentBlueprint").appId].contains($0.appId) }.map(\.id)
            file.tenants[0].oauth2PermissionGrants.removeAll { agentSPs.contains($0.resourceId) || agentSPs.contains($0.clientId) }
        }
        try await DemoAuthority.test(authority) { client in
            let browser = Browser(client)
            let alice = DemoTenant.user("alice")
            let page = try await browser.get(
                "/contoso.com/oauth2/v2.0/authorize?"
                    + FormParameters([
                        ("client_id", DemoTenant.app("spa").appId), ("redirect_uri", "http://127.0.0.1:7401/"), ("response_type", "code"),
                        ("scope", "api://contoso-expense-agent/.default"),
                        ("code_challenge", Base64URL.encode(Array(repeating: UInt8(3), count: 32))),
                        ("code_challenge_method", "S256"),
                    ]).encoded)
            let consent = try await browser.submit(page, [("username", alice.upn), ("password", alice.password)])
            let html = String(buffer: consent.body)
            #expect(html.contains("Let the expense agent act as you") && html.contains("Use the expense tools as you"))
            #expect(html.contains("through Contoso Expense Agent"))
            let done = try await browser.submit(consent, [("decision", "accept")])
            #expect(done.headers[.location]?.hasPrefix("http://127.0.0.1:7401/?code=") == true)
            let grants = try await authority.store.directories()[0].oauth2PermissionGrants.filter { $0.principalId == alice.id }
            #expect(grants.count == 2)
        }
    }

    @Test("Admin consent: an administrator signs in, accepts for the organization, and the redirect says admin_consent=True")
    func adminConsent() async throws {
        try await Self.withApp { client, authority in
            let bob = DemoTenant.user("bob")
            let reports = DemoTenant.app("webApi")
            let browser = Browser(client)
            let start = try await browser.get(
                "/contoso.com/v2.0/adminconsent?"
                    + FormParameters([
                        ("client_id", reports.appId), ("redirect_uri", "http://127.0.0.1:7402/signin-oidc"), ("state", "12345"),
                        ("scope", "https://database.windows.net//.default"),
                    ]).encoded)
            let consent = try await browser.submit(start, [("username", bob.upn), ("password", bob.password)])
            #expect(String(buffer: consent.body).contains("on behalf of your organization"))
            let done = try await browser.submit(consent, [("decision", "accept")])
            let location = try #require(done.headers[.location])
            #expect(location.hasPrefix("http://127.0.0.1:7402/signin-oidc?admin_consent=True&tenant=\(DemoTenant.tenantID)"))
            #expect(location.contains("state=12345"))
            // A non-administrator is refused for the organization.
            let other = Browser(client)
            let again = try await other.get(
                "/contoso.com/v2.0/adminconsent?"
                    + FormParameters([
                        ("client_id", reports.appId), ("redirect_uri", "http://127.0.0.1:7402/signin-oidc"), ("state", "s"),
                    ]).encoded)
            let refused = try await other.submit(
                again, [("username", DemoTenant.user("alice").upn), ("password", DemoTenant.user("alice").password)])
            #expect(refused.headers[.location]?.contains("admin_consent=False") == true)
            #expect(refused.headers[.location]?.contains("AADSTS90094") == true)
            _ = authority
        }
    }
}
