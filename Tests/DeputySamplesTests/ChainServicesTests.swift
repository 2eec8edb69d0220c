import AsyncHTTPClient
import DeputyAuthority
import DeputyDemo
import DeputySamples
import Hummingbird
import HummingbirdTesting
import Testing

/// The chain as `deputy up` starts it: one description per service (``DemoChain/services``).
@Suite("Chain services")
struct ChainServicesTests {
    @Test("Every role but the authority is described once, in an order where each service starts after those it calls")
    func everyRoleOnce() {
        let roles = DemoChain.services.map(\.role)
        #expect(Set(roles).count == roles.count)
        #expect(Set(roles) == Set(DemoTenant.Role.allCases).subtracting([.authority]))
        // Start order: the Data API before its callers, the SPA (which calls the middle tiers) last.
        let order = Dictionary(uniqueKeysWithValues: roles.enumerated().map { ($1, $0) })
        #expect(order[.dataApi]! < order[.mcpServer]! && order[.mcpServer]! < order[.agent]!)
        #expect(order[.dataApi]! < order[.webApi]! && order[.dataApi]! < order[.reportsApi]!)
        #expect(order[.spa] == roles.count - 1)
    }

    @Test("Each described service builds its routes, answers /health and names its own URL in its summary")
    func eachServiceBuildsAndAnswers() async throws {
        let demo = DemoTenant(portBase: 7400, https: false)
        let file = try TenantFileLoader.load(yaml: demo.yaml, fileName: "demo.yaml")
        let environment = DemoChain.Environment(
            demo: demo, directory: file.tenants[0], dataDirectory: nil, httpClient: .shared)
        for service in DemoChain.services {
            #expect(service.summary(demo).contains(demo.url(service.role)), "\(service.role)")
            switch try service.routes(environment) {
            case .pages(let router):
                try await Application(router: router).test(.router) { client in
                    try await client.execute(uri: "/", method: .get) { #expect($0.status == .ok, "\(service.role)") }
                }
            case .api(let router):
                try await Application(router: router).test(.router) { client in
                    try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok, "\(service.role)") }
                }
            }
        }
    }
}
