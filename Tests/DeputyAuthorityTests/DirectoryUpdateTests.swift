import DeputyAuthoritySQLite
import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

struct DirectoryUpdateTests {
    @Test(
        "Concurrent directory updates are each applied (read, change and write in one transaction)",
        arguments: ["in memory", "SQLite"])
    func concurrentUpdates(_ kind: String) async throws {
        try await TestSQLite.withPath { path in
            let store = kind == "SQLite" ? try RecordStore.sqlite(path: path) : RecordStore.inMemory()
            let file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
            try await store.replaceDirectories(file.tenants, fingerprint: "f")
            let before = try await store.directories()[0].oauth2PermissionGrants.count
            await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        try await store.updateDirectory(tenantID: DemoTenant.tenantID) { d in
                            d.oauth2PermissionGrants.append(
                                .init(
                                    id: "g\(n)", clientId: "c", resourceId: "r", consentType: "Principal", principalId: "u\(n)", scope: "x")
                            )
                        }
                    }
                }
            }
            #expect(try await store.directories()[0].oauth2PermissionGrants.count == before + 20)
        }
    }

    @Test("prompt=none with a grant still missing answers consent_required instead of showing a page")
    func promptNoneNeedsConsent() async throws {
        let f = try await GrantsFixture.make()
        var browser = GrantsFixture.Browser()
        let cli = GrantsFixture.app("cli")
        _ = try await f.signIn(
            clientID: cli.appId, redirectURI: "http://localhost", scope: "api://contoso-expenses-api/access_as_user",
            user: GrantsFixture.user("alice"), browser: &browser)
        let result = await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters([
                    ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                    ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"), ("prompt", "none"),
                ]), cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        guard case .respond(let r, _) = result else {
            Issue.record("expected a redirect, got \(result)")
            return
        }
        #expect(r.parameters.first { $0.0 == "error" }?.1 == "consent_required")
    }
}
