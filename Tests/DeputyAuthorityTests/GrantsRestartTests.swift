import DeputyAuthoritySQLite
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("restart")
struct GrantsRestartTests {
    @Test("A restarted authority on the same data directory keeps its keys, refresh tokens, sign-in log and runtime changes")
    func restartKeepsEverything() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deputy-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("store.sqlite").path
        let cli = GrantsFixture.app("cli")
        let bob = GrantsFixture.user("bob")

        let first = try await GrantsFixture.make(store: try .sqlite(path: path))
        let r = try await first.success([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
            ("scope", "api://contoso-expenses-api/access_as_user offline_access"),
        ])
        let kid = try UnverifiedJWT(r.accessToken).header["kid"]?.stringValue
        // A runtime change: bob's display name.
        var d = try #require(try await first.store.directories().first)
        d.users[d.users.firstIndex { $0.id == bob.id }!].displayName = "Robert Brown"
        try await first.store.saveDirectory(d)

        // Second start: same file, new process state.
        let store = try RecordStore.sqlite(path: path)
        let file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
        configuration.passwordHashCost = 4
        let (authority, seeded) = try await Authority.open(configuration: configuration, store: store, tenantFile: file)
        #expect(seeded == .unchanged)
        let refreshed = try await authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", try #require(r.refreshToken)),
                ]),
                correlationID: "c")
        ).get()
        let claims = try UnverifiedJWT(refreshed.accessToken)
        #expect(claims.header["kid"]?.stringValue == kid)
        #expect(claims.string("name") == "Robert Brown")
        #expect(try await store.recentSignIns(limit: 10).count == 2)

        // A different tenant file warns and keeps the store; --reseed rebuilds the directory.
        let other = try TenantFileLoader.load(yaml: DemoTenant(portBase: 9000, https: false).yaml, fileName: "demo.yaml")
        let (_, differs) = try await Authority.open(configuration: configuration, store: store, tenantFile: other)
        #expect(differs == .fileDiffersFromStore)
        let (_, reseeded) = try await Authority.open(configuration: configuration, store: store, tenantFile: other, reseed: true)
        #expect(reseeded == .reseeded)
        let name = try await store.directories().first?.users.first { $0.id == bob.id }?.displayName
        #expect(name == "Bob Brown")
    }
}
