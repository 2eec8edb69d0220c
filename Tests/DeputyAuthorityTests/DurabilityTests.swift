import DeputyAuthoritySQLite
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

#if canImport(Glibc)
    import Glibc
#endif

/// kill -9 in the middle of a load: a child process runs an authority on a SQLite store and keeps
/// a journal of every success it was answered (codes left for later, the latest refresh token of
/// each family, consents, sign-ins), then kills itself with SIGKILL at a random moment. Reopened,
/// the store must hold every one of them, usable: nothing answered with success is lost, nothing
/// is half-written. (`Benchmarks/durability` runs the same check against `deputy up` for longer.)
@Suite("Durability")
struct DurabilityTests {
    static let cli = DemoTenant.app("cli")
    static let mcpScope = "api://contoso-expenses-mcp/Expenses.ReadWrite"
    static let apiScope = "api://contoso-expenses-api/access_as_user offline_access"

    static func configuration() -> AuthorityConfiguration {
        var c = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
        c.passwordHashCost = 4
        return c
    }

    static func demoFile() throws -> LoadedTenantFile {
        var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        // The load signs users in without MFA steps; the checks are about storage, not policy.
        file.tenants[0].conditionalAccessPolicies = []
        return file
    }

    /// An interactive sign-in through authorize and the sign-in form; accepts the consent page
    /// when one is shown. Returns the code.
    static func signIn(_ authority: Authority, user: DemoTenant.DemoUser, scope: String) async throws -> (code: String, consented: Bool) {
        let interactive = InteractiveSignIn(authority: authority)
        var jar: [String: String] = [:]
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters([
                    ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"), ("scope", scope),
                ]), cookies: jar, correlationID: "load", ipAddress: "127.0.0.1"))
        guard case .signIn(let page, let set) = start else { throw SignInFailed(result: "\(start)") }
        for c in set { jar[c.name] = c.value }
        var result = await interactive.submitSignIn(
            BrowserRequest(
                tenantSegment: DemoTenant.tenantID,
                parameters: FormParameters([
                    ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password),
                ]), cookies: jar, correlationID: "load", ipAddress: "127.0.0.1"))
        var consented = false
        if case .consent(let consent, let set) = result {
            for c in set { jar[c.name] = c.value }
            result = await interactive.submitConsent(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([
                        ("flow", consent.flowID), ("csrf_token", consent.csrfToken), ("decision", "accept"),
                    ]), cookies: jar, correlationID: "load", ipAddress: "127.0.0.1"))
            consented = true
        }
        guard case .respond(let response, _) = result, let code = response.parameters.first(where: { $0.0 == "code" })?.1 else {
            throw SignInFailed(result: "\(result)")
        }
        return (code, consented)
    }

    struct SignInFailed: Error { var result: String }

    static let users = ["alice", "bob", "eve"].map(DemoTenant.user)

    static func token(
        _ authority: Authority, _ form: [(String, String)], correlation: String = "load"
    ) async -> Result<TokenResponse, OAuthError> {
        await authority.token(
            TokenRequest(tenantSegment: "contoso.com", form: FormParameters(form), correlationID: correlation, ipAddress: "127.0.0.1"))
    }

    /// The child: load until SIGKILL. Each success is appended to the journal with write(2), which
    /// the kernel keeps when the process is killed.
    static func runLoadUntilKilled(directory: String) async throws {
        let store = try RecordStore.sqlite(path: directory + "/store.sqlite")
        let (authority, _) = try await Authority.open(configuration: configuration(), store: store, tenantFile: try demoFile())
        await authority.passwords.waitForHashing()
        let fd = open(directory + "/journal", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        let journal = LockedBox(fd)
        @Sendable func record(_ line: String) { journal.withLock { fd in _ = (line + "\n").withCString { write(fd, $0, strlen($0)) } } }
        // The kill: at a random moment of the load, from inside — once a consent was given, so
        // every kind of record is among those checked.
        let consented = LockedBox(false)
        Task.detached {
            try? await Task.sleep(for: .milliseconds(Int.random(in: 700...1500)))
            // Not forever: the parent reports a run without a consent.
            for _ in 0..<1000 where !consented.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
            kill(getpid(), SIGKILL)
        }
        let users = Self.users
        await withTaskGroup(of: Void.self) { group in
            // Codes, half of them left unredeemed, half redeemed into a refresh-token family.
            for w in 0..<2 {
                group.addTask {
                    var n = 0
                    while true {
                        n += 1
                        guard let (code, _) = try? await signIn(authority, user: users[(w + n) % 3], scope: apiScope) else { continue }
                        if n % 2 == 0 {
                            record("code \(code)")
                        } else if case .success(let r) = await token(
                            authority,
                            [
                                ("grant_type", "authorization_code"), ("client_id", cli.appId), ("code", code),
                                ("redirect_uri", "http://localhost"),
                                ("scope", apiScope),
                            ]), let rt = r.refreshToken
                        {
                            record("refresh w\(w)-\(n) \(rt)")
                        }
                    }
                }
            }
            // Refresh rotations on a few families.
            group.addTask {
                var families: [(String, String)] = []
                var n = 0
                while true {
                    n += 1
                    if families.count < 4 {
                        let u = users[n % 3]
                        if case .success(let r) = await token(
                            authority,
                            [
                                ("grant_type", "password"), ("client_id", cli.appId), ("username", u.upn), ("password", u.password),
                                ("scope", apiScope),
                            ], correlation: "load-ropc-\(n)"), let rt = r.refreshToken
                        {
                            families.append(("f\(n)", rt))
                            record("refresh f\(n) \(rt)")
                            record("signin load-ropc-\(n)")
                        }
                        continue
                    }
                    let i = n % families.count
                    if case .success(let r) = await token(
                        authority,
                        [
                            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", families[i].1),
                            ("scope", apiScope),
                        ]), let rt = r.refreshToken
                    {
                        families[i].1 = rt
                        record("refresh \(families[i].0) \(rt)")
                    }
                }
            }
            // Consents, one per user, then sign-ins that need none.
            group.addTask {
                for u in users {
                    if let (_, given) = try? await signIn(authority, user: u, scope: mcpScope), given {
                        record("consent \(u.id)")
                        consented.withLock { $0 = true }
                    }
                }
                while true {
                    let u = users[Int.random(in: 0..<3)]
                    if let (_, given) = try? await signIn(authority, user: u, scope: mcpScope), given {
                        record("consent \(u.id)")
                        consented.withLock { $0 = true }
                    }
                }
            }
        }
    }

    @Test("A kill -9 during codes, refresh rotations, consents and sign-ins loses nothing that was answered with success")
    func killDuringLoad() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deputy-kill-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        await #expect(processExitsWith: .signal(SIGKILL)) { [dir = dir as String] in
            try await DurabilityTests.runLoadUntilKilled(directory: dir)
        }
        // Restart on the same store.
        let store = try RecordStore.sqlite(path: dir + "/store.sqlite")
        let (authority, seeded) = try await Authority.open(
            configuration: Self.configuration(), store: store, tenantFile: try Self.demoFile())
        #expect(seeded == .unchanged)
        let journal = (try? String(contentsOfFile: dir + "/journal", encoding: .utf8)) ?? ""
        var latest: [String: String] = [:]
        var codes: [String] = []
        var consents: [String] = []
        var signIns: [String] = []
        for line in journal.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            switch parts.first {
            case "code": codes.append(parts[1])
            case "refresh": latest[parts[1]] = parts[2]
            case "consent": consents.append(parts[1])
            case "signin": signIns.append(parts[1])
            default: break
            }
        }
        var lost: [String: Int] = [:]
        for code in codes {
            if case .failure(let e) = await Self.token(
                authority,
                [
                    ("grant_type", "authorization_code"), ("client_id", Self.cli.appId), ("code", code),
                    ("redirect_uri", "http://localhost"),
                    ("scope", Self.apiScope),
                ])
            {
                // These codes were never redeemed: any refusal (not found, already redeemed) is a loss.
                _ = e
                lost["code", default: 0] += 1
            }
        }
        for (_, rt) in latest {
            if case .failure = await Self.token(
                authority,
                [
                    ("grant_type", "refresh_token"), ("client_id", Self.cli.appId), ("refresh_token", rt), ("scope", Self.apiScope),
                ])
            {
                lost["refresh", default: 0] += 1
            }
        }
        // A consent is kept when it is stored and used: the user's next sign-in asks for none.
        let grants = try await store.directories()[0].oauth2PermissionGrants
        for id in consents {
            let stored = grants.contains { $0.principalId == id && $0.scope.contains("Expenses.ReadWrite") }
            let user = Self.users.first { $0.id == id }!
            let asked = try await Self.signIn(authority, user: user, scope: Self.mcpScope).consented
            if !stored || asked { lost["consent", default: 0] += 1 }
        }
        let logged = Set(try await store.recentSignIns(limit: 100_000).map(\.correlationId))
        for id in signIns where !logged.contains(id) { lost["signin", default: 0] += 1 }
        print(
            "durability: sent codes \(codes.count), refresh families \(latest.count), consents \(consents.count), sign-ins \(signIns.count); "
                + "lost \(lost.values.reduce(0, +)) \(lost)")
        #expect(lost.isEmpty, "\(lost)")
        #expect(
            !codes.isEmpty && !latest.isEmpty && !signIns.isEmpty && !consents.isEmpty, "the load ran too briefly to prove anything")
    }
}
