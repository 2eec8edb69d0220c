public import DeputyAuthority
public import Foundation
public import Testing

/// The storage contract: what every ``AuthorityStore`` must do, as checks a test runs against a
/// fresh store. Deputy runs them against its in-memory, SQLite and PostgreSQL stores; a backend
/// written outside the package runs the same ones:
///
/// ```swift
/// import DeputyAuthority
/// import DeputyAuthorityStoreTesting
/// import Testing
///
/// @Test(arguments: StoreContract.checks)
/// func myBackendKeepsTheContract(_ check: StoreContract.Check) async throws {
///     try await check.run(RecordStore(backend: MyBackend()))
/// }
/// ```
///
/// Each check records its failures with Swift Testing's `#expect`, so it is run from a `@Test`.
/// The one-time operations (code redemption, single-use refresh rotation, device-code polling, the
/// replay cache, failure counters) are checked under twenty concurrent callers. ``sharedChecks``
/// take two stores over the same database (two instances of the authority) and check that each
/// sees the other's changes and that the one-time operations hold across them.
public enum StoreContract {
    /// One check of the contract, named by the behaviour it checks.
    public struct Check: Sendable, CustomStringConvertible, CustomTestStringConvertible {
        public let name: String
        /// Runs the check against `store`, which must be fresh (empty).
        public let run: @Sendable (any AuthorityStore) async throws -> Void

        init(_ name: String, _ run: @escaping @Sendable (any AuthorityStore) async throws -> Void) {
            self.name = name
            self.run = run
        }

        public var description: String { name }
        public var testDescription: String { name }
    }

    /// A check of two stores over one database (fresh and empty), as two instances would have.
    public struct SharedCheck: Sendable, CustomStringConvertible, CustomTestStringConvertible {
        public let name: String
        public let run: @Sendable (_ first: any AuthorityStore, _ second: any AuthorityStore) async throws -> Void

        init(_ name: String, _ run: @escaping @Sendable (any AuthorityStore, any AuthorityStore) async throws -> Void) {
            self.name = name
            self.run = run
        }

        public var description: String { name }
        public var testDescription: String { name }
    }

    /// Every check of one store.
    public static let checks: [Check] = [
        Check("An empty store has no directories, no fingerprint and generation 0", emptyDirectory),
        Check("Replacing directories removes the old ones, sets the fingerprint and bumps the generation", replaceDirectories),
        Check("Saving a directory adds or replaces that tenant only and bumps the generation", saveDirectory),
        Check("Setting a password hash changes only that user and bumps the generation", setPasswordHash),
        Check("A code is consumed once; the second consumption is alreadyConsumed", consumeCodeOnce),
        Check("An unknown code is notFound", unknownCode),
        Check("Twenty concurrent consumptions of one code succeed exactly once", concurrentCodeConsumption),
        Check("A refresh token is saved and read back; unknown hashes are nil", saveRefreshToken),
        Check("Rotation marks the old token redeemed and stores its successor", rotateRefreshToken),
        Check("Without singleUse a redeemed token may rotate again and keeps its first redemption time", rotateTwiceWithoutSingleUse),
        Check("With singleUse the second rotation is alreadyConsumed and stores nothing", rotateTwiceWithSingleUse),
        Check("Rotating an unknown token is notFound", rotateUnknown),
        Check("Twenty concurrent single-use rotations of one token succeed exactly once", concurrentRotation),
        Check("Revoking a family revokes every token in it, and only that family", revokeFamily),
        Check("A device code is found by its hash and by its user code", saveDeviceCode),
        Check("A user code already in use is a conflict", duplicateUserCode),
        Check("A pending device code is resolved once; resolving again is a conflict", resolveDeviceCode),
        Check("Polling records the poll and consumes an approval exactly once", pollDeviceCode),
        Check("A declined device code stays declined when polled", pollDeclined),
        Check("Twenty concurrent polls of an approved device code see the approval exactly once", concurrentPolls),
        Check("Sessions are saved, read and deleted", sessions),
        Check("Interactive flows are saved, read and deleted", flows),
        Check("Adding a signing key retires the current one and bumps the generation", signingKeys),
        Check("The sign-in log returns the most recent records, newest first, up to the limit", signInLog),
        Check("A sign-in with every field set (and text that needs escaping) comes back equal", signInRoundTrip),
        Check("A sign-in query reads its time range and tenant, page by page, with nothing missed or repeated", signInQueryPages),
        Check(
            "Sign-ins recorded in the same millisecond come back newest first, in the order they were appended", signInLogSameMillisecond),
        Check("An identifier is used once until it expires", replayCache),
        Check("Twenty concurrent uses of one identifier succeed exactly once", concurrentReplay),
        Check("Failures are counted per key within the window, listed, and forgotten when cleared", failureCounters),
        Check("Twenty concurrent failures of one key are all counted, each caller seeing its own count", concurrentFailures),
        Check("The clock offset is 0 until set, then what was set", clockOffset),
    ]

    // MARK: - Fixtures

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let tenantID = "11111111-1111-4111-8111-111111111111"
    static let authentication = Authentication(userID: "user-1", authTime: now, methods: ["pwd", "mfa"], acrs: ["c1"])

    static func directory(_ tenantID: String = StoreContract.tenantID, users: [String] = ["user-1"]) -> TenantDirectory {
        var d = TenantDirectory(
            tenant: TenantInfo(id: tenantID, displayName: "Tenant \(tenantID.prefix(4))", verifiedDomains: ["t.example"]))
        d.users = users.map { User(id: $0, userPrincipalName: "\($0)@t.example", displayName: $0) }
        return d
    }

    static func code(_ hash: String = "code-hash", createdAt: Date = now) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(
            codeHash: hash, tenantID: tenantID, clientID: "client", redirectURI: "http://localhost/cb", platform: .spa,
            authentication: authentication, scopes: ["openid", "api://x/read"], nonce: "n", codeChallenge: "ch",
            codeChallengeMethod: "S256", claims: nil, createdAt: createdAt, expiresAt: createdAt + 600, familyID: "family-1")
    }

    static func refreshToken(_ hash: String, family: String = "family-1", createdAt: Date = now) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: hash, familyID: family, tenantID: tenantID, clientID: "client", platform: .web,
            authentication: authentication, scopes: ["api://x/read", "offline_access"], createdAt: createdAt,
            expiresAt: createdAt + 86_400)
    }

    static func deviceCode(_ hash: String = "device-hash", userCode: String = "ABCD-EFGH") -> DeviceCodeRecord {
        DeviceCodeRecord(
            deviceCodeHash: hash, userCode: userCode, tenantID: tenantID, clientID: "cli", scopes: ["api://x/read"],
            claims: nil, createdAt: now, expiresAt: now + 900, interval: 5)
    }

    static func session(_ hash: String = "session-hash") -> SessionRecord {
        SessionRecord(idHash: hash, tenantID: tenantID, authentication: authentication, createdAt: now, expiresAt: now + 3600)
    }

    static func flow(_ id: String = "flow-1") -> InteractiveFlowRecord {
        InteractiveFlowRecord(
            id: id, tenantID: tenantID, purpose: .deviceCode(userCode: "ABCD-EFGH"), csrfToken: "csrf",
            browserBindingHash: "binding", loginHint: "ann@t.example", createdAt: now, expiresAt: now + 600)
    }

    static func signingKey(_ kid: String, createdAt: Date) -> SigningKeyRecord {
        SigningKeyRecord(
            kid: kid, privateKeyPEM: "-----BEGIN PRIVATE KEY-----\n\(kid)\n-----END PRIVATE KEY-----",
            certificateDER: Data(kid.utf8).base64EncodedString(), createdAt: createdAt)
    }

    static func signIn(_ id: String, at date: Date) -> SignInRecord {
        var record = SignInRecord(
            id: id, createdDateTime: date, tenantId: tenantID, isInteractive: false,
            authenticationProtocol: "authorization_code", correlationId: "corr-\(id)")
        record.status = .init(errorCode: 50126, failureReason: "bad password")
        record.scopes = ["api://x/read"]
        return record
    }

    /// Runs `operation` from `count` concurrent tasks and returns how many returned normally, and
    /// the errors of the others.
    static func race(
        _ count: Int, _ operation: @escaping @Sendable (Int) async throws -> Void
    ) async -> (successes: Int, errors: [any Error]) {
        await withTaskGroup(of: (any Error)?.self) { group in
            for i in 0..<count {
                group.addTask {
                    do {
                        try await operation(i)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var successes = 0
            var errors: [any Error] = []
            for await error in group {
                if let error { errors.append(error) } else { successes += 1 }
            }
            return (successes, errors)
        }
    }

    // MARK: - Directory

    /// An empty store has no directories, no fingerprint and generation 0.
    static func emptyDirectory(_ store: any AuthorityStore) async throws {
        #expect(try await store.directories().isEmpty)
        #expect(try await store.seedFingerprint() == nil)
        #expect(try await store.generation() == 0)
    }

    /// Replacing directories removes the old ones, sets the fingerprint and bumps the generation.
    static func replaceDirectories(_ store: any AuthorityStore) async throws {
        let a = Self.directory("aaaaaaaa-1111-4111-8111-111111111111")
        let b = Self.directory("bbbbbbbb-1111-4111-8111-111111111111")
        let c = Self.directory("cccccccc-1111-4111-8111-111111111111")
        try await store.replaceDirectories([b, a], fingerprint: "fp-1")
        #expect(try await store.directories().sorted { $0.tenant.id < $1.tenant.id } == [a, b])
        #expect(try await store.seedFingerprint() == "fp-1")
        let first = try await store.generation()
        #expect(first > 0)

        try await store.replaceDirectories([c], fingerprint: "fp-2")
        #expect(try await store.directories() == [c])
        #expect(try await store.seedFingerprint() == "fp-2")
        #expect(try await store.generation() > first)
    }

    /// Saving a directory adds or replaces that tenant only and bumps the generation.
    static func saveDirectory(_ store: any AuthorityStore) async throws {
        let a = Self.directory("aaaaaaaa-1111-4111-8111-111111111111")
        var b = Self.directory("bbbbbbbb-1111-4111-8111-111111111111")
        try await store.replaceDirectories([a, b], fingerprint: "fp")
        let before = try await store.generation()

        b.users.append(User(id: "user-2", userPrincipalName: "user-2@t.example", displayName: "Two"))
        try await store.saveDirectory(b)
        #expect(try await store.directories().sorted { $0.tenant.id < $1.tenant.id } == [a, b])
        #expect(try await store.generation() > before)
        #expect(try await store.seedFingerprint() == "fp")
    }

    /// Setting a password hash changes only that user and bumps the generation.
    static func setPasswordHash(_ store: any AuthorityStore) async throws {
        let d = Self.directory(users: ["user-1", "user-2"])
        try await store.replaceDirectories([d], fingerprint: "fp")
        let before = try await store.generation()

        try await store.setPasswordHash(tenantID: Self.tenantID, userID: "user-2", hash: "$2b$12$hash")
        var expected = d
        expected.users[1].passwordHash = "$2b$12$hash"
        #expect(try await store.directories() == [expected])
        #expect(try await store.generation() > before)

        await #expect(throws: StorageError.notFound) {
            try await store.setPasswordHash(tenantID: Self.tenantID, userID: "nobody", hash: "h")
        }
        await #expect(throws: StorageError.notFound) {
            try await store.setPasswordHash(tenantID: "no-tenant", userID: "user-1", hash: "h")
        }
    }

    // MARK: - Authorization codes

    /// A code is consumed once; the second consumption is alreadyConsumed.
    static func consumeCodeOnce(_ store: any AuthorityStore) async throws {
        let code = Self.code()
        try await store.saveCode(code)
        #expect(try await store.code(hash: code.codeHash) == code)

        let consumed = try await store.consumeCode(hash: code.codeHash, at: Self.now + 5)
        var expected = code
        expected.consumedAt = Self.now + 5
        #expect(consumed == expected)

        await #expect(throws: StorageError.alreadyConsumed) { try await store.consumeCode(hash: code.codeHash, at: Self.now + 6) }
        // The consumed record stays readable (for reuse handling), with the first consumption time.
        #expect(try await store.code(hash: code.codeHash) == expected)
    }

    /// An unknown code is notFound.
    static func unknownCode(_ store: any AuthorityStore) async throws {
        await #expect(throws: StorageError.notFound) { try await store.consumeCode(hash: "nope", at: Self.now) }
        #expect(try await store.code(hash: "nope") == nil)
    }

    /// Twenty concurrent consumptions of one code succeed exactly once.
    static func concurrentCodeConsumption(_ store: any AuthorityStore) async throws {
        try await store.saveCode(Self.code())
        let result = await Self.race(20) { i in _ = try await store.consumeCode(hash: "code-hash", at: Self.now + Double(i)) }
        #expect(result.successes == 1)
        #expect(result.errors.count == 19)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
    }

    // MARK: - Refresh tokens

    /// A refresh token is saved and read back; unknown hashes are nil.
    static func saveRefreshToken(_ store: any AuthorityStore) async throws {
        let token = Self.refreshToken("rt-1")
        try await store.saveRefreshToken(token)
        #expect(try await store.refreshToken(hash: "rt-1") == token)
        #expect(try await store.refreshToken(hash: "rt-unknown") == nil)
    }

    /// Rotation marks the old token redeemed and stores its successor.
    static func rotateRefreshToken(_ store: any AuthorityStore) async throws {
        let old = Self.refreshToken("rt-1")
        let successor = Self.refreshToken("rt-2", createdAt: Self.now + 60)
        try await store.saveRefreshToken(old)
        try await store.rotateRefreshToken(hash: "rt-1", successor: successor, at: Self.now + 60, singleUse: true)

        let redeemed = try #require(try await store.refreshToken(hash: "rt-1"))
        #expect(redeemed.redeemedAt == Self.now + 60)
        #expect(try await store.refreshToken(hash: "rt-2") == successor)
    }

    /// Without singleUse a redeemed token may rotate again and keeps its first redemption time.
    static func rotateTwiceWithoutSingleUse(_ store: any AuthorityStore) async throws {
        try await store.saveRefreshToken(Self.refreshToken("rt-1"))
        try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now + 60, singleUse: false)
        try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-3"), at: Self.now + 120, singleUse: false)
        #expect(try await store.refreshToken(hash: "rt-1")?.redeemedAt == Self.now + 60)
        #expect(try await store.refreshToken(hash: "rt-3") != nil)
    }

    /// With singleUse the second rotation is alreadyConsumed and stores nothing.
    static func rotateTwiceWithSingleUse(_ store: any AuthorityStore) async throws {
        try await store.saveRefreshToken(Self.refreshToken("rt-1"))
        try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now + 60, singleUse: true)
        await #expect(throws: StorageError.alreadyConsumed) {
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-3"), at: Self.now + 120, singleUse: true)
        }
        #expect(try await store.refreshToken(hash: "rt-3") == nil)
    }

    /// Rotating an unknown token is notFound.
    static func rotateUnknown(_ store: any AuthorityStore) async throws {
        await #expect(throws: StorageError.notFound) {
            try await store.rotateRefreshToken(hash: "nope", successor: Self.refreshToken("rt-2"), at: Self.now, singleUse: true)
        }
        #expect(try await store.refreshToken(hash: "rt-2") == nil)
    }

    /// Twenty concurrent single-use rotations of one token succeed exactly once.
    static func concurrentRotation(_ store: any AuthorityStore) async throws {
        try await store.saveRefreshToken(Self.refreshToken("rt-1"))
        let result = await Self.race(20) { i in
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-next-\(i)"), at: Self.now, singleUse: true)
        }
        #expect(result.successes == 1)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
        var stored = 0
        for i in 0..<20 {
            if try await store.refreshToken(hash: "rt-next-\(i)") != nil { stored += 1 }
        }
        #expect(stored == 1)
    }

    /// Revoking a family revokes every token in it, and only that family.
    static func revokeFamily(_ store: any AuthorityStore) async throws {
        try await store.saveRefreshToken(Self.refreshToken("rt-1"))
        try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now, singleUse: true)
        try await store.saveRefreshToken(Self.refreshToken("other", family: "family-2"))

        try await store.revokeFamily("family-1")
        await #expect(throws: StorageError.revoked) { try await store.refreshToken(hash: "rt-1") }
        await #expect(throws: StorageError.revoked) { try await store.refreshToken(hash: "rt-2") }
        await #expect(throws: StorageError.revoked) {
            try await store.rotateRefreshToken(hash: "rt-2", successor: Self.refreshToken("rt-3"), at: Self.now, singleUse: false)
        }
        #expect(try await store.refreshToken(hash: "other") != nil)
    }

    // MARK: - Device codes

    /// A device code is found by its hash and by its user code.
    static func saveDeviceCode(_ store: any AuthorityStore) async throws {
        let record = Self.deviceCode()
        try await store.saveDeviceCode(record)
        #expect(try await store.deviceCode(hash: "device-hash") == record)
        #expect(try await store.deviceCode(userCode: "ABCD-EFGH") == record)
        #expect(try await store.deviceCode(hash: "nope") == nil)
        #expect(try await store.deviceCode(userCode: "ZZZZ-ZZZZ") == nil)
    }

    /// A user code already in use is a conflict.
    static func duplicateUserCode(_ store: any AuthorityStore) async throws {
        try await store.saveDeviceCode(Self.deviceCode("device-1"))
        await #expect(throws: StorageError.conflict) { try await store.saveDeviceCode(Self.deviceCode("device-2")) }
        #expect(try await store.deviceCode(hash: "device-2") == nil)
        #expect(try await store.deviceCode(userCode: "ABCD-EFGH")?.deviceCodeHash == "device-1")
    }

    /// A pending device code is resolved once; resolving again is a conflict.
    static func resolveDeviceCode(_ store: any AuthorityStore) async throws {
        try await store.saveDeviceCode(Self.deviceCode())
        try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
        #expect(try await store.deviceCode(hash: "device-hash")?.state == .approved(Self.authentication))

        await #expect(throws: StorageError.conflict) { try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .declined) }
        #expect(try await store.deviceCode(hash: "device-hash")?.state == .approved(Self.authentication))
        await #expect(throws: StorageError.notFound) { try await store.resolveDeviceCode(userCode: "ZZZZ-ZZZZ", state: .declined) }
    }

    /// Polling records the poll and consumes an approval exactly once.
    static func pollDeviceCode(_ store: any AuthorityStore) async throws {
        try await store.saveDeviceCode(Self.deviceCode())

        let pending = try await store.pollDeviceCode(hash: "device-hash", at: Self.now + 5)
        #expect(pending.state == .pending)
        #expect(try await store.deviceCode(hash: "device-hash")?.lastPolledAt == Self.now + 5)

        try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
        let approved = try await store.pollDeviceCode(hash: "device-hash", at: Self.now + 10)
        #expect(approved.state == .approved(Self.authentication))
        #expect(approved.lastPolledAt == Self.now + 5, "returns the record as it was before this poll")

        let after = try await store.pollDeviceCode(hash: "device-hash", at: Self.now + 15)
        #expect(after.state == .consumed)
        #expect(try await store.deviceCode(hash: "device-hash")?.lastPolledAt == Self.now + 15)
        await #expect(throws: StorageError.notFound) { try await store.pollDeviceCode(hash: "nope", at: Self.now) }
    }

    /// A declined device code stays declined when polled.
    static func pollDeclined(_ store: any AuthorityStore) async throws {
        try await store.saveDeviceCode(Self.deviceCode())
        try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .declined)
        #expect(try await store.pollDeviceCode(hash: "device-hash", at: Self.now).state == .declined)
        #expect(try await store.pollDeviceCode(hash: "device-hash", at: Self.now + 5).state == .declined)
    }

    /// Twenty concurrent polls of an approved device code see the approval exactly once.
    static func concurrentPolls(_ store: any AuthorityStore) async throws {
        try await store.saveDeviceCode(Self.deviceCode())
        try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
        let result = await Self.race(20) { i in
            let record = try await store.pollDeviceCode(hash: "device-hash", at: Self.now + Double(i))
            guard case .approved = record.state else { throw StorageError.alreadyConsumed }
        }
        #expect(result.successes == 1)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
    }

    // MARK: - Sessions and flows

    /// Sessions are saved, read and deleted.
    static func sessions(_ store: any AuthorityStore) async throws {
        let session = Self.session()
        try await store.saveSession(session)
        try await store.saveSession(Self.session("other"))
        #expect(try await store.session(hash: "session-hash") == session)

        try await store.deleteSession(hash: "session-hash")
        #expect(try await store.session(hash: "session-hash") == nil)
        #expect(try await store.session(hash: "other") != nil)
        try await store.deleteSession(hash: "never-existed")
    }

    /// Interactive flows are saved, read and deleted.
    static func flows(_ store: any AuthorityStore) async throws {
        let flow = Self.flow()
        var authorize = Self.flow("flow-2")
        authorize.purpose = .authorize(
            AuthorizeParameters(
                clientID: "client", redirectURI: "http://localhost/cb", platform: .spa, responseType: "code",
                responseMode: "query", scopes: ["openid"], state: "s", nonce: nil, codeChallenge: "ch",
                codeChallengeMethod: "S256", prompt: nil, loginHint: nil, claims: nil))
        try await store.saveFlow(flow)
        try await store.saveFlow(authorize)
        #expect(try await store.flow(id: "flow-1") == flow)
        #expect(try await store.flow(id: "flow-2") == authorize)

        try await store.deleteFlow(id: "flow-1")
        #expect(try await store.flow(id: "flow-1") == nil)
        #expect(try await store.flow(id: "flow-2") == authorize)
    }

    // MARK: - Signing keys

    /// Adding a signing key retires the current one and bumps the generation.
    static func signingKeys(_ store: any AuthorityStore) async throws {
        #expect(try await store.signingKeys().isEmpty)
        let first = Self.signingKey("k1", createdAt: Self.now)
        try await store.addSigningKey(first, retiringCurrentAt: Self.now)
        #expect(try await store.signingKeys() == [first])
        let afterFirst = try await store.generation()
        #expect(afterFirst > 0)

        let second = Self.signingKey("k2", createdAt: Self.now + 3600)
        try await store.addSigningKey(second, retiringCurrentAt: Self.now + 3600)
        var retired = first
        retired.retiredAt = Self.now + 3600
        #expect(try await store.signingKeys() == [retired, second])
        #expect(try await store.generation() > afterFirst)

        let third = Self.signingKey("k3", createdAt: Self.now + 7200)
        try await store.addSigningKey(third, retiringCurrentAt: Self.now + 7200)
        let keys = try await store.signingKeys()
        #expect(keys.map(\.kid) == ["k1", "k2", "k3"])
        #expect(keys.filter { $0.retiredAt == nil }.map(\.kid) == ["k3"])
        #expect(keys.first?.retiredAt == Self.now + 3600, "an already retired key keeps its retirement time")
    }

    // MARK: - Sign-in log

    /// The sign-in log returns the most recent records, newest first, up to the limit.
    static func signInLog(_ store: any AuthorityStore) async throws {
        #expect(try await store.recentSignIns(limit: 10).isEmpty)
        // Appended out of order: the log orders by time, not by arrival.
        for i in [3, 0, 4, 1, 2] {
            try await store.appendSignIn(Self.signIn("s\(i)", at: Self.now + Double(i)))
        }
        #expect(try await store.recentSignIns(limit: 3).map(\.id) == ["s4", "s3", "s2"])
        let all = try await store.recentSignIns(limit: 100)
        #expect(all.map(\.id) == ["s4", "s3", "s2", "s1", "s0"])
        #expect(all.last == Self.signIn("s0", at: Self.now))
    }

    /// A sign-in with every field set (and text that needs escaping) comes back equal.
    static func signInRoundTrip(_ store: any AuthorityStore) async throws {
        var r = Self.signIn("full", at: Date(timeIntervalSince1970: 1_764_200_000.123_456))
        r.userId = "u-1"
        r.userPrincipalName = "eve_fabrikam.com#EXT#@contoso.onmicrosoft.com"
        r.userDisplayName = "Ève \"the guest\"\n\\ \u{1}"
        r.appId = "a"
        r.appDisplayName = "App"
        r.resourceId = "r"
        r.resourceDisplayName = "Résource ✓"
        r.signInEventTypes = ["nonInteractiveUser"]
        r.clientCredentialType = "clientSecret"
        r.ipAddress = "::1"
        r.uniqueTokenIdentifier = "uti"
        r.status = .init(errorCode: 50076, failureReason: "MFA\tneeded", additionalDetails: "basic_action")
        r.conditionalAccessStatus = "failure"
        r.appliedConditionalAccessPolicies = [
            .init(id: "p1", displayName: "Require MFA", result: "failure", enforcedGrantControls: ["Mfa"]),
            .init(
                id: "p2", displayName: "Other", result: "notApplied", enforcedGrantControls: [],
                conditionsNotSatisfied: ["users", "location"],
                explanation: ["✗ eve is not included"]),
        ]
        r.authenticationRequirement = "multiFactorAuthentication"
        r.authenticationContextClassReferences = ["c1"]
        r.authenticationMethodsUsed = ["pwd"]
        r.scopes = ["Data.Read"]
        r.note = "no grant"
        try await store.appendSignIn(r)
        #expect(try await store.recentSignIns(limit: 1) == [r])
    }

    /// A sign-in query reads its time range and tenant, page by page, with nothing missed or repeated.
    static func signInQueryPages(_ store: any AuthorityStore) async throws {
        // 60 records a second apart, every third in another tenant, plus three in one millisecond.
        for i in 0..<60 {
            var r = Self.signIn("s\(i)", at: Self.now + Double(i))
            if i % 3 == 0 { r.tenantId = "other-tenant" }
            try await store.appendSignIn(r)
        }
        for id in ["m1", "m2", "m3"] { try await store.appendSignIn(Self.signIn(id, at: Self.now + 30.0005)) }
        // Between seconds 10 and 40 inclusive, this tenant only, in pages of 7.
        let from = Self.now + 10
        let through = Self.now + 40
        var pages: [[String]] = []
        var cursor: String?
        repeat {
            let page = try await store.signIns(
                SignInQuery(tenantID: Self.tenantID, from: from, through: through, limit: 7, cursor: cursor))
            pages.append(page.records.map(\.id))
            cursor = page.nextCursor
        } while cursor != nil && pages.count < 20
        let expected = (10...40).reversed().flatMap { i -> [String] in
            (i % 3 == 0 ? [] : ["s\(i)"]) + (i == 30 ? ["m3", "m2", "m1"] : [])
        }
        #expect(pages.flatMap { $0 } == expected)
        #expect(pages.dropLast().allSatisfy { $0.count == 7 }, "every page but the last is full: \(pages)")
        // The exact bounds: a record at `through` is in, one a second later is not.
        let edge = try await store.signIns(SignInQuery(from: through, through: through, limit: 10))
        #expect(edge.records.map(\.id) == ["s40"])
        #expect(edge.nextCursor == nil)
        // Other conditions apply within the range; an empty range is an empty last page.
        let corr = try await store.signIns(SignInQuery(limit: 5) { $0.correlationId == "corr-s59" })
        #expect(corr.records.map(\.id) == ["s59"])
        let none = try await store.signIns(SignInQuery(from: Self.now + 1000, limit: 5))
        #expect(none.records.isEmpty && none.nextCursor == nil)
    }

    /// Sign-ins recorded in the same millisecond come back newest first, in the order they were appended.
    static func signInLogSameMillisecond(_ store: any AuthorityStore) async throws {
        // Ids in another order than the appends, so ordering by id would show.
        for id in ["c", "a", "b"] { try await store.appendSignIn(Self.signIn(id, at: Self.now)) }
        #expect(try await store.recentSignIns(limit: 10).map(\.id) == ["b", "a", "c"])
        #expect(try await store.recentSignIns(limit: 1).map(\.id) == ["b"])
    }

    // MARK: - Replay cache

    /// An identifier is used once until it expires.
    static func replayCache(_ store: any AuthorityStore) async throws {
        #expect(try await store.useOnce("jti-1", until: Self.now + 60, now: Self.now))
        #expect(try await !store.useOnce("jti-1", until: Self.now + 60, now: Self.now + 1))
        #expect(try await store.useOnce("jti-2", until: Self.now + 60, now: Self.now + 1))
        // Past its expiry the identifier is forgotten (the assertion itself has expired by then).
        #expect(try await store.useOnce("jti-1", until: Self.now + 200, now: Self.now + 61))
    }

    /// Twenty concurrent uses of one identifier succeed exactly once.
    static func concurrentReplay(_ store: any AuthorityStore) async throws {
        let result = await Self.race(20) { _ in
            if try await !store.useOnce("jti", until: Self.now + 60, now: Self.now) { throw StorageError.alreadyConsumed }
        }
        #expect(result.successes == 1)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
    }

    // MARK: - Failure counters and settings

    /// Failures are counted per key within the window, listed, and forgotten when cleared.
    static func failureCounters(_ store: any AuthorityStore) async throws {
        #expect(try await store.recordFailure("user-1", at: Self.now, window: 600) == 1)
        #expect(try await store.recordFailure("user-1", at: Self.now + 10, window: 600) == 2)
        #expect(try await store.recordFailure("user-2", at: Self.now + 10, window: 600) == 1)
        #expect(try await store.failureTimes("user-1", at: Self.now + 20, window: 600) == [Self.now, Self.now + 10])
        // Outside the window the first failure no longer counts.
        #expect(try await store.recordFailure("user-1", at: Self.now + 605, window: 600) == 2)
        #expect(try await store.failureTimes("user-1", at: Self.now + 605, window: 600) == [Self.now + 10, Self.now + 605])
        try await store.clearFailures("user-1")
        #expect(try await store.failureTimes("user-1", at: Self.now + 606, window: 600).isEmpty)
        #expect(try await store.failureTimes("user-2", at: Self.now + 20, window: 600) == [Self.now + 10])
    }

    /// Twenty concurrent failures of one key are all counted, each caller seeing its own count.
    static func concurrentFailures(_ store: any AuthorityStore) async throws {
        let counts = LockedCounts()
        let result = await Self.race(20) { i in
            counts.add(try await store.recordFailure("user-1", at: Self.now + Double(i) / 100, window: 600))
        }
        #expect(result.successes == 20)
        #expect(counts.sorted == Array(1...20))
    }

    /// The clock offset is 0 until set, then what was set.
    static func clockOffset(_ store: any AuthorityStore) async throws {
        #expect(try await store.clockOffset() == 0)
        try await store.setClockOffset(3600)
        #expect(try await store.clockOffset() == 3600)
        try await store.setClockOffset(0)
        #expect(try await store.clockOffset() == 0)
    }

    // MARK: - Two stores over one database

    /// Every check of two stores over one database.
    public static let sharedChecks: [SharedCheck] = [
        SharedCheck("What one store writes the other reads, and its generation moves", sharedWrites),
        SharedCheck("A code is consumed exactly once when both stores race to consume it", sharedCodeConsumption),
        SharedCheck("A single-use refresh token rotates exactly once when both stores race", sharedRotation),
        SharedCheck("A family revoked through one store is revoked for the other", sharedRevocation),
        SharedCheck("An approved device code polled through both stores is handed out once", sharedDevicePolls),
        SharedCheck("An identifier used through one store is a replay at the other", sharedReplay),
        SharedCheck("Failures recorded through both stores add up", sharedFailures),
        SharedCheck("Concurrent directory changes through both stores are all kept", sharedDirectoryUpdates),
    ]

    static func sharedWrites(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.replaceDirectories([Self.directory()], fingerprint: "fp")
        #expect(try await b.directories() == [Self.directory()])
        #expect(try await b.seedFingerprint() == "fp")
        let generation = try await b.generation()
        #expect(generation > 0)
        try await a.setPasswordHash(tenantID: Self.tenantID, userID: "user-1", hash: "$2b$12$h")
        #expect(try await b.generation() > generation)
        #expect(try await b.directories().first?.users.first?.passwordHash == "$2b$12$h")

        try await a.saveCode(Self.code())
        #expect(try await b.code(hash: "code-hash") == Self.code())
        try await a.saveSession(Self.session())
        #expect(try await b.session(hash: "session-hash") == Self.session())
        try await b.deleteSession(hash: "session-hash")
        #expect(try await a.session(hash: "session-hash") == nil)
        try await a.saveFlow(Self.flow())
        #expect(try await b.flow(id: "flow-1") == Self.flow())
        let key = Self.signingKey("k1", createdAt: Self.now)
        try await a.addSigningKey(key, retiringCurrentAt: Self.now)
        #expect(try await b.signingKeys() == [key])
        try await a.appendSignIn(Self.signIn("s1", at: Self.now))
        #expect(try await b.recentSignIns(limit: 5).map(\.id) == ["s1"])
        try await a.saveDeviceCode(Self.deviceCode())
        try await b.resolveDeviceCode(userCode: "ABCD-EFGH", state: .declined)
        #expect(try await a.deviceCode(hash: "device-hash")?.state == .declined)
        try await a.setClockOffset(60)
        #expect(try await b.clockOffset() == 60)
    }

    static func sharedCodeConsumption(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.saveCode(Self.code())
        let result = await Self.race(20) { i in
            _ = try await (i.isMultiple(of: 2) ? a : b).consumeCode(hash: "code-hash", at: Self.now + Double(i))
        }
        #expect(result.successes == 1)
        #expect(result.errors.count == 19)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
    }

    static func sharedRotation(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.saveRefreshToken(Self.refreshToken("rt-1"))
        let result = await Self.race(20) { i in
            try await (i.isMultiple(of: 2) ? a : b).rotateRefreshToken(
                hash: "rt-1", successor: Self.refreshToken("rt-next-\(i)"), at: Self.now + 1, singleUse: true)
        }
        #expect(result.successes == 1)
        #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
        var stored = 0
        for i in 0..<20 where try await b.refreshToken(hash: "rt-next-\(i)") != nil { stored += 1 }
        #expect(stored == 1)
    }

    static func sharedRevocation(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.saveRefreshToken(Self.refreshToken("rt-1"))
        #expect(try await b.refreshToken(hash: "rt-1") == Self.refreshToken("rt-1"))
        try await a.revokeFamily("family-1")
        await #expect(throws: StorageError.revoked) { try await b.refreshToken(hash: "rt-1") }
    }

    static func sharedDevicePolls(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.saveDeviceCode(Self.deviceCode())
        try await b.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
        let approvals = LockedCounts()
        let result = await Self.race(20) { i in
            let seen = try await (i.isMultiple(of: 2) ? a : b).pollDeviceCode(hash: "device-hash", at: Self.now + 1)
            if case .approved = seen.state { approvals.add(i) }
        }
        #expect(result.successes == 20)
        #expect(approvals.sorted.count == 1)
        #expect(try await a.deviceCode(hash: "device-hash")?.state == .consumed)
    }

    static func sharedReplay(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        #expect(try await a.useOnce("jti-1", until: Self.now + 60, now: Self.now))
        #expect(try await !b.useOnce("jti-1", until: Self.now + 60, now: Self.now + 1))
        let result = await Self.race(20) { i in
            if try await !(i.isMultiple(of: 2) ? a : b).useOnce("jti-2", until: Self.now + 60, now: Self.now) {
                throw StorageError.alreadyConsumed
            }
        }
        #expect(result.successes == 1)
    }

    static func sharedFailures(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        let counts = LockedCounts()
        let result = await Self.race(10) { i in
            counts.add(try await (i.isMultiple(of: 2) ? a : b).recordFailure("user-1", at: Self.now + Double(i) / 100, window: 600))
        }
        #expect(result.successes == 10)
        #expect(counts.sorted == Array(1...10))
        #expect(try await a.failureTimes("user-1", at: Self.now + 1, window: 600).count == 10)
        try await b.clearFailures("user-1")
        #expect(try await a.failureTimes("user-1", at: Self.now + 1, window: 600).isEmpty)
    }

    static func sharedDirectoryUpdates(_ a: any AuthorityStore, _ b: any AuthorityStore) async throws {
        try await a.replaceDirectories([Self.directory(users: [])], fingerprint: "fp")
        let result = await Self.race(10) { i in
            try await (i.isMultiple(of: 2) ? a : b).updateDirectory(tenantID: Self.tenantID) { directory in
                directory.users.append(User(id: "user-\(i)", userPrincipalName: "user-\(i)@t.example", displayName: "User \(i)"))
            }
        }
        #expect(result.successes == 10)
        #expect(try await b.directories().first?.users.map(\.id).sorted() == (0..<10).map { "user-\($0)" }.sorted())
    }
}

/// Numbers collected from concurrent tasks.
final class LockedCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ value: Int) { lock.withLock { values.append(value) } }
    var sorted: [Int] { lock.withLock { values.sorted() } }
}
