import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("password vault")
struct PasswordVaultTests {
    /// The store seeded from the demo tenant, its plain passwords not yet hashed.
    static func seeded() async throws -> (RecordStore, LoadedTenantFile) {
        let demo = DemoTenant(portBase: 7400, https: false)
        let file = try TenantFileLoader.load(yaml: demo.yaml, fileName: "demo.yaml")
        let store = RecordStore.inMemory()
        try await store.replaceDirectories(file.tenants, fingerprint: file.fingerprint)
        return (store, file)
    }

    @Test("A user read before the background hash landed still signs in once it has landed")
    func staleUserAfterHashLanded() async throws {
        let (store, file) = try await Self.seeded()
        let tenantID = DemoTenant.tenantID
        // Read before hashing, as a sign-in that loaded the directory a moment earlier would.
        let alice = try #require(file.tenants[0].users.first { $0.userPrincipalName == DemoTenant.user("alice").upn })
        #expect(alice.passwordHash == nil)

        let vault = PasswordVault(store: store, cost: 4)
        vault.hashInBackground(file.plainPasswords)
        await vault.waitForHashing()

        #expect(await vault.verify(DemoTenant.user("alice").password, user: alice, tenantID: tenantID))
        #expect(await !vault.verify("wrong", user: alice, tenantID: tenantID))
    }

    @Test("A sign-in that arrives while the hash is being computed waits for it")
    func signInDuringHashing() async throws {
        let (store, file) = try await Self.seeded()
        let alice = try #require(file.tenants[0].users.first { $0.userPrincipalName == DemoTenant.user("alice").upn })
        let vault = PasswordVault(store: store, cost: 4)
        vault.hashInBackground(file.plainPasswords)
        #expect(await vault.verify(DemoTenant.user("alice").password, user: alice, tenantID: DemoTenant.tenantID))
    }
}
