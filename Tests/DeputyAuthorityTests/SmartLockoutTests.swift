import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// Entra's smart lockout for passwords, the dummy check for unknown accounts, bcrypt off a serial
/// queue, and TOTP attempts counted before the check.
@Suite("Smart lockout")
struct SmartLockoutTests {
    let cli = DemoTenant.app("cli")

    static func fixture(_ settings: @escaping (inout SmartLockout.Settings) -> Void = { _ in }) async throws -> GrantsFixture {
        try await GrantsFixture.make(configure: { settings(&$0.smartLockout) })
    }

    /// ROPC from `ip` (the CLI is a public client allowed to use it).
    func password(_ f: GrantsFixture, user: String, password: String, ip: String) async -> Result<TokenResponse, OAuthError> {
        await f.authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "password"), ("client_id", cli.appId), ("username", user), ("password", password),
                    ("scope", "api://contoso-expenses-api/access_as_user"),
                ]), correlationID: "c", ipAddress: ip))
    }

    @Test(
        "Ten wrong passwords from one address lock the account there (AADSTS50053), even for the right password; another address still signs in"
    )
    func accountLocksPerAddress() async throws {
        let f = try await Self.fixture()
        let alice = DemoTenant.user("alice")
        for i in 1...10 {
            let r = await password(f, user: alice.upn, password: "wrong-\(i)", ip: "203.0.113.5")
            guard case .failure(let e) = r, e.aadsts == 50126 else {
                Issue.record("attempt \(i): \(r)")
                return
            }
        }
        guard case .failure(let locked) = await password(f, user: alice.upn, password: alice.password, ip: "203.0.113.5") else {
            Issue.record("the right password passed a locked account")
            return
        }
        #expect(locked.aadsts == 50053)
        // The user's own address is not locked by an attacker elsewhere.
        _ = try await password(f, user: alice.upn, password: alice.password, ip: "127.0.0.1").get()
        // The lock ends after a minute.
        f.time.advance(by: 61)
        _ = try await password(f, user: alice.upn, password: alice.password, ip: "203.0.113.5").get()
    }

    @Test("Each further lockout within a day lasts twice as long")
    func lockoutGrows() async throws {
        let f = try await Self.fixture { $0.threshold = 3 }
        let bob = DemoTenant.user("bob")
        func lockOut() async {
            for _ in 1...3 { _ = await password(f, user: bob.upn, password: "wrong", ip: "203.0.113.6") }
        }
        func locked() async -> Bool {
            if case .failure(let e) = await password(f, user: bob.upn, password: "wrong-probe", ip: "203.0.113.6") {
                return e.aadsts == 50053
            }
            return false
        }
        await lockOut()
        #expect(await locked())
        f.time.advance(by: 61)
        await lockOut()
        f.time.advance(by: 61)
        #expect(await locked(), "the second lockout lasts two minutes")
        f.time.advance(by: 60)
        #expect(!(await locked()))
    }

    @Test("Password spray from one address over many accounts locks the address")
    func sprayLocksTheAddress() async throws {
        let f = try await Self.fixture { $0.addressThreshold = 5 }
        let names = ["alice@contoso.com", "bob@contoso.com", "nobody1@contoso.com", "nobody2@contoso.com", "nobody3@contoso.com"]
        for name in names { _ = await password(f, user: name, password: "Spring2026!", ip: "198.51.100.66") }
        let alice = DemoTenant.user("alice")
        guard case .failure(let e) = await password(f, user: alice.upn, password: alice.password, ip: "198.51.100.66") else {
            Issue.record("the spraying address signed in")
            return
        }
        #expect(e.aadsts == 50053)
        _ = try await password(f, user: alice.upn, password: alice.password, ip: "127.0.0.1").get()
    }

    @Test("Unknown accounts cost a password check too, and lock out like known ones (no account oracle)")
    func unknownAccountsLookTheSame() async throws {
        let f = try await Self.fixture { $0.threshold = 3 }
        let before = f.authority.passwords.checksRun.withLock { $0 }
        _ = await password(f, user: "nobody@contoso.com", password: "guess", ip: "203.0.113.7")
        #expect(f.authority.passwords.checksRun.withLock { $0 } == before + 1, "a dummy bcrypt check ran")
        for _ in 1...2 { _ = await password(f, user: "nobody@contoso.com", password: "guess", ip: "203.0.113.7") }
        guard case .failure(let e) = await password(f, user: "nobody@contoso.com", password: "guess", ip: "203.0.113.7") else { return }
        #expect(e.aadsts == 50053)
    }

    @Test("A burst of concurrent wrong passwords is cut at the threshold: the rest are refused without a check")
    func concurrentGuessesAreCounted() async throws {
        let f = try await Self.fixture { $0.threshold = 5 }
        let bob = DemoTenant.user("bob")
        let before = f.authority.passwords.checksRun.withLock { $0 }
        let results = await withTaskGroup(of: Int?.self) { group in
            for i in 0..<20 {
                group.addTask {
                    if case .failure(let e) = await password(f, user: bob.upn, password: "guess-\(i)", ip: "203.0.113.8") {
                        return e.aadsts
                    }
                    return nil
                }
            }
            var all: [Int?] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(f.authority.passwords.checksRun.withLock { $0 } - before == 5, "only five guesses were checked")
        #expect(results.filter { $0 == 50053 }.count == 15)
    }

    @Test("Passwords are checked concurrently, not one at a time on a serial queue")
    func hashingIsConcurrent() async throws {
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else { return }
        let f = try await Self.fixture()
        let users = ["alice", "bob", "eve"].map(DemoTenant.user)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<12 {
                let u = users[i % 3]
                group.addTask {
                    _ = await f.authority.passwords.verify(u.password, user: User.stub(id: u.id), tenantID: DemoTenant.tenantID)
                }
            }
        }
        #expect(PasswordVault.peakConcurrentHashes >= 2)
    }

    @Test("Concurrent verification codes are counted before they are checked: no more than the limit is ever tried")
    func totpAttemptsAreReservedFirst() async throws {
        let f = try await GrantsFixture.make()
        let interactive = InteractiveSignIn(authority: f.authority)
        let bob = DemoTenant.user("bob")
        // Eight browsers reach the verification step.
        var steps: [(StepPage, [String: String])] = []
        for _ in 0..<8 {
            var cookies: [String: String] = [:]
            let start = await interactive.authorize(
                BrowserRequest(
                    tenantSegment: "contoso.com",
                    parameters: FormParameters([
                        ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                        ("scope", "api://contoso-expenses-api/access_as_user"), ("claims", SignInDriver.mfaChallenge),
                    ]), cookies: cookies, correlationID: "c", ipAddress: "127.0.0.1"))
            guard case .signIn(let page, let set) = start else {
                Issue.record("\(start)")
                return
            }
            for c in set { cookies[c.name] = c.value }
            let step = await interactive.submitSignIn(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([
                        ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", bob.upn), ("password", bob.password),
                    ]), cookies: cookies, correlationID: "c", ipAddress: "127.0.0.1"))
            guard case .step(let s, let set2) = step else {
                Issue.record("\(step)")
                return
            }
            for c in set2 { cookies[c.name] = c.value }
            steps.append((s, cookies))
        }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for (s, cookies) in steps {
                group.addTask {
                    let r = await interactive.submitVerificationCode(
                        BrowserRequest(
                            tenantSegment: DemoTenant.tenantID,
                            parameters: FormParameters([
                                ("flow", s.flowID), ("csrf_token", s.csrfToken), ("otc", "000000"),
                            ]), cookies: cookies, correlationID: "c", ipAddress: "127.0.0.1"))
                    if case .error(let e) = r { return e.aadsts == 500121 }
                    return false
                }
            }
            var locked: [Bool] = []
            for await o in group { locked.append(o) }
            return locked
        }
        // Attempts 1–4 are told to try again; the fifth locks; 6–8 are refused unchecked.
        #expect(outcomes.filter { $0 }.count == 4)
    }
}

extension User {
    /// A user with only an id (the vault reads the stored hash by id).
    static func stub(id: String) -> User {
        User(id: id, userPrincipalName: "", displayName: "")
    }
}
