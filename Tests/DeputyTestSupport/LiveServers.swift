import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import Hummingbird

#if canImport(Glibc)
    import Glibc
#endif

/// A free loopback port (bound, read, released): a service that must know its own URL before it
/// listens (the authority: client assertions name its token endpoint) is given one.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0 else { throw SignInDriver.Unexpected(description: "no free port") }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Serves `router` on 127.0.0.1:`port` while `body` runs (HummingbirdTesting's live mode picks
/// its own port), then stops it.
public func serving<Context: RequestContext>(_ router: Router<Context>, port: Int, _ body: () async throws -> Void) async throws
where Context.Source == ApplicationRequestContextSource {
    let (started, ready) = AsyncStream<Void>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), onServerRunning: { _ in ready.yield() })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            defer { ready.finish() }  // a server that cannot start ends the wait below
            try await app.runService(gracefulShutdownSignals: [])
        }
        var didStart = false
        for await _ in started {
            didStart = true
            break
        }
        defer { group.cancelAll() }
        // Another test may have taken the port between freeLoopbackPort() and here: never run the
        // body against whatever answers on it.
        guard didStart else {
            do { try await group.next() } catch { throw ServerDidNotStart(port: port, reason: "\(error)") }
            throw ServerDidNotStart(port: port, reason: "the server stopped")
        }
        try await body()
    }
}

/// A test server could not listen (its port was taken meanwhile).
public struct ServerDidNotStart: Error, CustomStringConvertible {
    public var port: Int
    public var reason: String
    public var description: String { "the test server on 127.0.0.1:\(port) did not start: \(reason)" }
}

/// Runs `body` again (up to three times in all) when a test server could not take its port.
public func retryingPortClashes(_ body: () async throws -> Void) async throws {
    for attempt in 1...3 {
        do { return try await body() } catch let error as ServerDidNotStart where attempt < 3 { _ = error }
    }
}

/// The demo authority served on a loopback port, with the sign-in log to count token calls.
public struct LiveAuthority: Sendable {
    public let authority: Authority
    public let base: String
    public var tenantAuthority: String { "\(base)/\(DemoTenant.tenantID)" }

    public static func run(
        conditionalAccess: Bool = false, edit: (@Sendable (inout TenantDirectory) -> Void)? = nil,
        time: any TimeSource = SystemTimeSource(), _ body: @escaping @Sendable (LiveAuthority) async throws -> Void
    ) async throws {
        try await retryingPortClashes { try await runOnce(conditionalAccess: conditionalAccess, edit: edit, time: time, body) }
    }

    static func runOnce(
        conditionalAccess: Bool, edit: (@Sendable (inout TenantDirectory) -> Void)?, time: any TimeSource,
        _ body: @escaping @Sendable (LiveAuthority) async throws -> Void
    ) async throws {
        let port = try freeLoopbackPort()
        var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: port, https: false).yaml, fileName: "demo.yaml")
        if !conditionalAccess { file.tenants[0].conditionalAccessPolicies = [] }
        edit?(&file.tenants[0])
        var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:\(port)")
        configuration.passwordHashCost = 4
        let (authority, _) = try await Authority.open(
            configuration: configuration, store: RecordStore.inMemory(), tenantFile: file, time: time)
        await authority.passwords.waitForHashing()
        try await serving(AuthorityRoutes(authority: authority).router(), port: port) {
            try await body(LiveAuthority(authority: authority, base: "http://127.0.0.1:\(port)"))
        }
    }

    /// How many token requests by `client` reached the authority (one sign-in record each).
    public func tokenRequests(client: String) async throws -> Int {
        try await authority.store.recentSignIns(limit: 10_000).filter { $0.appId == client && !$0.isInteractive }.count
    }

    /// A user's token for the Web API with the password only (ROPC on the public CLI app).
    public func userToken(_ user: String = "bob", scope: String = "api://contoso-expenses-api/access_as_user") async throws -> String {
        let u = DemoTenant.user(user)
        return try await authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", u.upn), ("password", u.password),
                    ("scope", scope),
                ]),
                correlationID: "setup")
        ).get().accessToken
    }
}
