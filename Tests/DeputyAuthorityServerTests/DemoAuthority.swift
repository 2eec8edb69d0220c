import DeputyAuthority
import DeputyAuthorityServer
import DeputyDemo
import Foundation
import Hummingbird
import HummingbirdTesting

/// The demo tenant's authority in memory (cheap bcrypt), served through Hummingbird's router tester.
enum DemoAuthority {
    static func make(edit: ((inout LoadedTenantFile) -> Void)? = nil) async throws -> Authority {
        var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        edit?(&file)
        var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
        configuration.passwordHashCost = 4
        let (authority, _) = try await Authority.open(configuration: configuration, store: RecordStore.inMemory(), tenantFile: file)
        await authority.passwords.waitForHashing()
        return authority
    }

    static func test(_ authority: Authority, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: AuthorityRoutes(authority: authority).router()).test(.router) { client in try await body(client) }
    }
}
