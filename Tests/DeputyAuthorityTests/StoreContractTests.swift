import DeputyCore
import Foundation
import Testing

@testable import DeputyAuthority

/// The storage contract (StoreProtocols.swift), run against every store the authority ships.
struct StoreContractTests {
    enum StoreKind: String, CaseIterable, Sendable {
        case inMemory, sqlite
    }

    /// Runs `body` with a fresh store of `kind`; an SQLite store lives in its own temporary file,
    /// removed (with its WAL files) afterwards.
    static func withStore<T>(_ kind: StoreKind, _ body: (RecordStore) async throws -> T) async throws -> T {
        switch kind {
        case .inMemory:
            return try await body(.inMemory())
        case .sqlite:
            let path = temporaryDatabasePath()
            defer { removeDatabase(at: path) }
            return try await body(try .sqlite(path: path))
        }
    }

    static func temporaryDatabasePath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("deputy-store-\(UUID().uuidString).sqlite").path
    }

    static func removeDatabase(at path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    // MARK: - Fixtures

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let tenantID = "11111111-1111-4111-8111-111111111111"
    static let authentication = Authentication(userID: "user-1", authTime: now, methods: ["pwd", "mfa"], acrs: ["c1"])

    static func directory(_ tenantID: String = StoreContractTests.tenantID, users: [String] = ["user-1"]) -> TenantDirectory {
        var d = TenantDirectory(tenant: TenantInfo(id: tenantID, displayName: "Tenant \(tenantID.prefix(4))", verifiedDomains: ["t.example"]))
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
        SigningKeyRecord(kid: kid, privateKeyPEM: "-----BEGIN PRIVATE KEY-----\n\(kid)\n-----END PRIVATE KEY-----",
                         certificateDER: Data(kid.utf8).base64EncodedString(), createdAt: createdAt)
    }

    static func signIn(_ id: String, at date: Date) -> SignInRecord {
        var record = SignInRecord(id: id, createdDateTime: date, tenantId: tenantID, isInteractive: false,
                                  authenticationProtocol: "authorization_code", correlationId: "corr-\(id)")
        record.status = .init(errorCode: 50126, failureReason: "bad password")
        record.scopes = ["api://x/read"]
        return record
    }

    /// Runs `operation` from `count` concurrent tasks and returns how many returned normally, and
    /// the errors of the others.
    static func race(_ count: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async -> (successes: Int, errors: [any Error]) {
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

    @Test("An empty store has no directories, no fingerprint and generation 0", arguments: StoreKind.allCases)
    func emptyDirectory(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            #expect(try await store.directories().isEmpty)
            #expect(try await store.seedFingerprint() == nil)
            #expect(try await store.generation() == 0)
        }
    }

    @Test("Replacing directories removes the old ones, sets the fingerprint and bumps the generation", arguments: StoreKind.allCases)
    func replaceDirectories(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("Saving a directory adds or replaces that tenant only and bumps the generation", arguments: StoreKind.allCases)
    func saveDirectory(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("Setting a password hash changes only that user and bumps the generation", arguments: StoreKind.allCases)
    func setPasswordHash(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    // MARK: - Authorization codes

    @Test("A code is consumed once; the second consumption is alreadyConsumed", arguments: StoreKind.allCases)
    func consumeCodeOnce(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("An unknown code is notFound", arguments: StoreKind.allCases)
    func unknownCode(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            await #expect(throws: StorageError.notFound) { try await store.consumeCode(hash: "nope", at: Self.now) }
            #expect(try await store.code(hash: "nope") == nil)
        }
    }

    @Test("Twenty concurrent consumptions of one code succeed exactly once", arguments: StoreKind.allCases)
    func concurrentCodeConsumption(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveCode(Self.code())
            let result = await Self.race(20) { i in _ = try await store.consumeCode(hash: "code-hash", at: Self.now + Double(i)) }
            #expect(result.successes == 1)
            #expect(result.errors.count == 19)
            #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
        }
    }

    // MARK: - Refresh tokens

    @Test("A refresh token is saved and read back; unknown hashes are nil", arguments: StoreKind.allCases)
    func saveRefreshToken(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let token = Self.refreshToken("rt-1")
            try await store.saveRefreshToken(token)
            #expect(try await store.refreshToken(hash: "rt-1") == token)
            #expect(try await store.refreshToken(hash: "rt-unknown") == nil)
        }
    }

    @Test("Rotation marks the old token redeemed and stores its successor", arguments: StoreKind.allCases)
    func rotateRefreshToken(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let old = Self.refreshToken("rt-1")
            let successor = Self.refreshToken("rt-2", createdAt: Self.now + 60)
            try await store.saveRefreshToken(old)
            try await store.rotateRefreshToken(hash: "rt-1", successor: successor, at: Self.now + 60, singleUse: true)

            let redeemed = try #require(try await store.refreshToken(hash: "rt-1"))
            #expect(redeemed.redeemedAt == Self.now + 60)
            #expect(try await store.refreshToken(hash: "rt-2") == successor)
        }
    }

    @Test("Without singleUse a redeemed token may rotate again and keeps its first redemption time", arguments: StoreKind.allCases)
    func rotateTwiceWithoutSingleUse(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveRefreshToken(Self.refreshToken("rt-1"))
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now + 60, singleUse: false)
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-3"), at: Self.now + 120, singleUse: false)
            #expect(try await store.refreshToken(hash: "rt-1")?.redeemedAt == Self.now + 60)
            #expect(try await store.refreshToken(hash: "rt-3") != nil)
        }
    }

    @Test("With singleUse the second rotation is alreadyConsumed and stores nothing", arguments: StoreKind.allCases)
    func rotateTwiceWithSingleUse(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveRefreshToken(Self.refreshToken("rt-1"))
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now + 60, singleUse: true)
            await #expect(throws: StorageError.alreadyConsumed) {
                try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-3"), at: Self.now + 120, singleUse: true)
            }
            #expect(try await store.refreshToken(hash: "rt-3") == nil)
        }
    }

    @Test("Rotating an unknown token is notFound", arguments: StoreKind.allCases)
    func rotateUnknown(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            await #expect(throws: StorageError.notFound) {
                try await store.rotateRefreshToken(hash: "nope", successor: Self.refreshToken("rt-2"), at: Self.now, singleUse: true)
            }
            #expect(try await store.refreshToken(hash: "rt-2") == nil)
        }
    }

    @Test("Twenty concurrent single-use rotations of one token succeed exactly once", arguments: StoreKind.allCases)
    func concurrentRotation(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("Revoking a family revokes every token in it, and only that family", arguments: StoreKind.allCases)
    func revokeFamily(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    // MARK: - Device codes

    @Test("A device code is found by its hash and by its user code", arguments: StoreKind.allCases)
    func saveDeviceCode(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let record = Self.deviceCode()
            try await store.saveDeviceCode(record)
            #expect(try await store.deviceCode(hash: "device-hash") == record)
            #expect(try await store.deviceCode(userCode: "ABCD-EFGH") == record)
            #expect(try await store.deviceCode(hash: "nope") == nil)
            #expect(try await store.deviceCode(userCode: "ZZZZ-ZZZZ") == nil)
        }
    }

    @Test("A user code already in use is a conflict", arguments: StoreKind.allCases)
    func duplicateUserCode(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveDeviceCode(Self.deviceCode("device-1"))
            await #expect(throws: StorageError.conflict) { try await store.saveDeviceCode(Self.deviceCode("device-2")) }
            #expect(try await store.deviceCode(hash: "device-2") == nil)
            #expect(try await store.deviceCode(userCode: "ABCD-EFGH")?.deviceCodeHash == "device-1")
        }
    }

    @Test("A pending device code is resolved once; resolving again is a conflict", arguments: StoreKind.allCases)
    func resolveDeviceCode(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveDeviceCode(Self.deviceCode())
            try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
            #expect(try await store.deviceCode(hash: "device-hash")?.state == .approved(Self.authentication))

            await #expect(throws: StorageError.conflict) { try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .declined) }
            #expect(try await store.deviceCode(hash: "device-hash")?.state == .approved(Self.authentication))
            await #expect(throws: StorageError.notFound) { try await store.resolveDeviceCode(userCode: "ZZZZ-ZZZZ", state: .declined) }
        }
    }

    @Test("Polling records the poll and consumes an approval exactly once", arguments: StoreKind.allCases)
    func pollDeviceCode(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("A declined device code stays declined when polled", arguments: StoreKind.allCases)
    func pollDeclined(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveDeviceCode(Self.deviceCode())
            try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .declined)
            #expect(try await store.pollDeviceCode(hash: "device-hash", at: Self.now).state == .declined)
            #expect(try await store.pollDeviceCode(hash: "device-hash", at: Self.now + 5).state == .declined)
        }
    }

    @Test("Twenty concurrent polls of an approved device code see the approval exactly once", arguments: StoreKind.allCases)
    func concurrentPolls(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            try await store.saveDeviceCode(Self.deviceCode())
            try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
            let result = await Self.race(20) { i in
                let record = try await store.pollDeviceCode(hash: "device-hash", at: Self.now + Double(i))
                guard case .approved = record.state else { throw StorageError.alreadyConsumed }
            }
            #expect(result.successes == 1)
            #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
        }
    }

    // MARK: - Sessions and flows

    @Test("Sessions are saved, read and deleted", arguments: StoreKind.allCases)
    func sessions(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let session = Self.session()
            try await store.saveSession(session)
            try await store.saveSession(Self.session("other"))
            #expect(try await store.session(hash: "session-hash") == session)

            try await store.deleteSession(hash: "session-hash")
            #expect(try await store.session(hash: "session-hash") == nil)
            #expect(try await store.session(hash: "other") != nil)
            try await store.deleteSession(hash: "never-existed")
        }
    }

    @Test("Interactive flows are saved, read and deleted", arguments: StoreKind.allCases)
    func flows(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let flow = Self.flow()
            var authorize = Self.flow("flow-2")
            authorize.purpose = .authorize(AuthorizeParameters(
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
    }

    // MARK: - Signing keys

    @Test("Adding a signing key retires the current one and bumps the generation", arguments: StoreKind.allCases)
    func signingKeys(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    // MARK: - Sign-in log

    @Test("The sign-in log returns the most recent records, newest first, up to the limit", arguments: StoreKind.allCases)
    func signInLog(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
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
    }

    @Test("A sign-in with every field set (and text that needs escaping) comes back equal", arguments: StoreKind.allCases)
    func signInRoundTrip(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            var r = Self.signIn("full", at: Date(timeIntervalSince1970: 1_764_200_000.123_456))
            r.userId = "u-1"
            r.userPrincipalName = "eve_fabrikam.com#EXT#@contoso.onmicrosoft.com"
            r.userDisplayName = "Ève \"the guest\"\n\\ \u{1}"
            r.appId = "a"; r.appDisplayName = "App"; r.resourceId = "r"; r.resourceDisplayName = "Résource ✓"
            r.signInEventTypes = ["nonInteractiveUser"]; r.clientCredentialType = "clientSecret"; r.ipAddress = "::1"
            r.uniqueTokenIdentifier = "uti"; r.status = .init(errorCode: 50076, failureReason: "MFA\tneeded", additionalDetails: "basic_action")
            r.conditionalAccessStatus = "failure"
            r.appliedConditionalAccessPolicies = [
                .init(id: "p1", displayName: "Require MFA", result: "failure", enforcedGrantControls: ["Mfa"]),
                .init(id: "p2", displayName: "Other", result: "notApplied", enforcedGrantControls: [], conditionsNotSatisfied: ["users", "location"],
                      explanation: ["✗ eve is not included"]),
            ]
            r.authenticationRequirement = "multiFactorAuthentication"; r.authenticationContextClassReferences = ["c1"]
            r.authenticationMethodsUsed = ["pwd"]; r.scopes = ["Data.Read"]; r.note = "no grant"
            try await store.appendSignIn(r)
            #expect(try await store.recentSignIns(limit: 1) == [r])
        }
    }

    @Test("Sign-ins recorded in the same millisecond come back newest first, in the order they were appended", arguments: StoreKind.allCases)
    func signInLogSameMillisecond(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            // Ids in another order than the appends, so ordering by id would show.
            for id in ["c", "a", "b"] { try await store.appendSignIn(Self.signIn(id, at: Self.now)) }
            #expect(try await store.recentSignIns(limit: 10).map(\.id) == ["b", "a", "c"])
            #expect(try await store.recentSignIns(limit: 1).map(\.id) == ["b"])
        }
    }

    // MARK: - Replay cache

    @Test("An identifier is used once until it expires", arguments: StoreKind.allCases)
    func replayCache(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            #expect(try await store.useOnce("jti-1", until: Self.now + 60, now: Self.now))
            #expect(try await !store.useOnce("jti-1", until: Self.now + 60, now: Self.now + 1))
            #expect(try await store.useOnce("jti-2", until: Self.now + 60, now: Self.now + 1))
            // Past its expiry the identifier is forgotten (the assertion itself has expired by then).
            #expect(try await store.useOnce("jti-1", until: Self.now + 200, now: Self.now + 61))
        }
    }

    @Test("Twenty concurrent uses of one identifier succeed exactly once", arguments: StoreKind.allCases)
    func concurrentReplay(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store async throws in
            let result = await Self.race(20) { _ in
                if try await !store.useOnce("jti", until: Self.now + 60, now: Self.now) { throw StorageError.alreadyConsumed }
            }
            #expect(result.successes == 1)
            #expect(result.errors.allSatisfy { ($0 as? StorageError) == .alreadyConsumed })
        }
    }

    // MARK: - Persistence

    @Test("An SQLite store keeps everything across a restart")
    func sqliteSurvivesRestart() async throws {
        let path = Self.temporaryDatabasePath()
        defer { Self.removeDatabase(at: path) }
        let directory = Self.directory(users: ["user-1", "user-2"])
        let key = Self.signingKey("k1", createdAt: Self.now)
        let generation: Int
        do {
            let store = try RecordStore.sqlite(path: path)
            try await store.replaceDirectories([directory], fingerprint: "fp")
            try await store.setPasswordHash(tenantID: Self.tenantID, userID: "user-1", hash: "$2b$12$h")
            try await store.saveCode(Self.code("used"))
            _ = try await store.consumeCode(hash: "used", at: Self.now)
            try await store.saveCode(Self.code("fresh"))
            try await store.saveRefreshToken(Self.refreshToken("rt-1"))
            try await store.rotateRefreshToken(hash: "rt-1", successor: Self.refreshToken("rt-2"), at: Self.now, singleUse: true)
            try await store.saveRefreshToken(Self.refreshToken("revoked", family: "family-2"))
            try await store.revokeFamily("family-2")
            try await store.saveDeviceCode(Self.deviceCode())
            try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(Self.authentication))
            try await store.saveSession(Self.session())
            try await store.saveFlow(Self.flow())
            try await store.addSigningKey(key, retiringCurrentAt: Self.now)
            try await store.appendSignIn(Self.signIn("s1", at: Self.now))
            #expect(try await store.useOnce("jti", until: Self.now + 600, now: Self.now))
            generation = try await store.generation()
        }

        let reopened = try RecordStore.sqlite(path: path)
        var expectedDirectory = directory
        expectedDirectory.users[0].passwordHash = "$2b$12$h"
        #expect(try await reopened.directories() == [expectedDirectory])
        #expect(try await reopened.seedFingerprint() == "fp")
        #expect(try await reopened.generation() == generation)

        var used = Self.code("used")
        used.consumedAt = Self.now
        #expect(try await reopened.code(hash: "used") == used)
        await #expect(throws: StorageError.alreadyConsumed) { try await reopened.consumeCode(hash: "used", at: Self.now + 1) }
        #expect(try await reopened.consumeCode(hash: "fresh", at: Self.now + 1).codeHash == "fresh")

        #expect(try await reopened.refreshToken(hash: "rt-1")?.redeemedAt == Self.now)
        #expect(try await reopened.refreshToken(hash: "rt-2") == Self.refreshToken("rt-2"))
        await #expect(throws: StorageError.revoked) { try await reopened.refreshToken(hash: "revoked") }

        #expect(try await reopened.deviceCode(userCode: "ABCD-EFGH")?.state == .approved(Self.authentication))
        #expect(try await reopened.session(hash: "session-hash") == Self.session())
        #expect(try await reopened.flow(id: "flow-1") == Self.flow())
        #expect(try await reopened.signingKeys() == [key])
        #expect(try await reopened.recentSignIns(limit: 10) == [Self.signIn("s1", at: Self.now)])
        #expect(try await !reopened.useOnce("jti", until: Self.now + 600, now: Self.now + 1))
    }
}
