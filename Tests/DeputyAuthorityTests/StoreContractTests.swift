import DeputyAuthority
import DeputyAuthorityPostgres
import DeputyAuthoritySQLite
import DeputyCore
import DeputyPostgres
import DeputyTestSupport
import Foundation
import GRDB
import Testing

@testable import DeputyAuthorityStoreTesting

/// The storage contract (DeputyAuthorityStoreTesting), run against every store Deputy ships, one
/// fresh store per check; and the shared checks with two stores over one database.
struct StoreContractTests {
    @Test("The in-memory store keeps the contract", arguments: StoreContract.checks)
    func inMemory(_ check: StoreContract.Check) async throws {
        try await check.run(RecordStore.inMemory())
    }

    @Test("The SQLite store keeps the contract", arguments: StoreContract.checks)
    func sqlite(_ check: StoreContract.Check) async throws {
        try await TestSQLite.withPath { path in try await check.run(RecordStore.sqlite(path: path)) }
    }

    @Test(
        "The PostgreSQL store keeps the contract", .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"),
        arguments: StoreContract.checks)
    func postgres(_ check: StoreContract.Check) async throws {
        try await TestPostgres.withStores(1) { stores in try await check.run(stores[0]) }
    }

    @Test("Two in-memory stores over one backend behave as one", arguments: StoreContract.sharedChecks)
    func sharedInMemory(_ check: StoreContract.SharedCheck) async throws {
        let backend = InMemoryBackend()
        try await check.run(RecordStore(backend: backend), RecordStore(backend: backend))
    }

    @Test("Two SQLite stores on one file behave as one", arguments: StoreContract.sharedChecks)
    func sharedSQLite(_ check: StoreContract.SharedCheck) async throws {
        try await TestSQLite.withPath { path in try await check.run(RecordStore.sqlite(path: path), RecordStore.sqlite(path: path)) }
    }

    @Test(
        "Two PostgreSQL stores on one database behave as one", .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"),
        arguments: StoreContract.sharedChecks)
    func sharedPostgres(_ check: StoreContract.SharedCheck) async throws {
        try await TestPostgres.withStores(2) { stores in try await check.run(stores[0], stores[1]) }
    }

    @Test("In CI the PostgreSQL tests run: DEPUTY_TEST_DATABASE_URL is set (they never skip silently there)")
    func postgresConfiguredInCI() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(TestPostgres.isConfigured, "CI=true but DEPUTY_TEST_DATABASE_URL is unset: .ci/run must start the private cluster")
        }
    }

    // MARK: - Schema versions

    @Test("An SQLite file migrated by a newer deputy is refused with both versions named")
    func sqliteNewerSchema() async throws {
        let path = TestSQLite.temporaryPath()
        defer { TestSQLite.remove(path) }
        _ = try RecordStore.sqlite(path: path)
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99 from the future')")
        }
        let error = try #require(throws: StorageSchemaError.self) { try RecordStore.sqlite(path: path) }
        #expect(error.found == SQLiteBackend.schemaVersion + 1)
        #expect(error.known == SQLiteBackend.schemaVersion)
        #expect(error.description.contains(path))
        #expect(error.description.contains("newer"))
    }

    @Test(
        "A PostgreSQL database migrated by a newer deputy is refused, and the URL's password is not in the message",
        .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
    func postgresNewerSchema() async throws {
        try await TestPostgres.withDatabase { url in
            let (_, backend) = try await RecordStore.postgres(url: url)
            await backend.shutdown()
            try await TestPostgres.administer(
                try PostgresDatabaseURL(url), "UPDATE deputy_schema SET version = \(PostgresBackend.schemaVersion + 1)")
            let error = try await #require(throws: StorageSchemaError.self) { try await RecordStore.postgres(url: url) }
            #expect(error.found == PostgresBackend.schemaVersion + 1)
            #expect(error.known == PostgresBackend.schemaVersion)
            if let password = URLComponents(string: url)?.password, !password.isEmpty {
                #expect(!error.description.contains(password))
            }
        }
    }

    @Test("A PostgreSQL URL that cannot be used is a clear error without its password")
    func postgresBadURLs() throws {
        for (url, words) in [
            ("mysql://u:secret-pw@h/db", "not a PostgreSQL URL"), ("postgres://h/db", "names no user"),
            ("postgres://u:secret-pw@h/db?sslmode=sometimes", "sslmode=sometimes"),
        ] {
            let error = try #require(throws: PostgresURLError.self) { try PostgresDatabaseURL(url) }
            #expect(error.description.contains(words))
            #expect(!error.description.contains("secret-pw"))
        }
    }

    // MARK: - Persistence

    @Test("An SQLite store keeps everything across a restart")
    func sqliteSurvivesRestart() async throws {
        let path = TestSQLite.temporaryPath()
        defer { TestSQLite.remove(path) }
        let directory = StoreContract.directory(users: ["user-1", "user-2"])
        let key = StoreContract.signingKey("k1", createdAt: StoreContract.now)
        let generation: Int
        do {
            let store = try RecordStore.sqlite(path: path)
            try await store.replaceDirectories([directory], fingerprint: "fp")
            try await store.setPasswordHash(tenantID: StoreContract.tenantID, userID: "user-1", hash: "$2b$12$h")
            try await store.saveCode(StoreContract.code("used"))
            _ = try await store.consumeCode(hash: "used", at: StoreContract.now)
            try await store.saveCode(StoreContract.code("fresh"))
            try await store.saveRefreshToken(StoreContract.refreshToken("rt-1"))
            try await store.rotateRefreshToken(
                hash: "rt-1", successor: StoreContract.refreshToken("rt-2"), at: StoreContract.now, singleUse: true)
            try await store.saveRefreshToken(StoreContract.refreshToken("revoked", family: "family-2"))
            try await store.revokeFamily("family-2")
            try await store.saveDeviceCode(StoreContract.deviceCode())
            try await store.resolveDeviceCode(userCode: "ABCD-EFGH", state: .approved(StoreContract.authentication))
            try await store.saveSession(StoreContract.session())
            try await store.saveFlow(StoreContract.flow())
            try await store.addSigningKey(key, retiringCurrentAt: StoreContract.now)
            try await store.appendSignIn(StoreContract.signIn("s1", at: StoreContract.now))
            #expect(try await store.useOnce("jti", until: StoreContract.now + 600, now: StoreContract.now))
            generation = try await store.generation()
        }

        let reopened = try RecordStore.sqlite(path: path)
        var expectedDirectory = directory
        expectedDirectory.users[0].passwordHash = "$2b$12$h"
        #expect(try await reopened.directories() == [expectedDirectory])
        #expect(try await reopened.seedFingerprint() == "fp")
        #expect(try await reopened.generation() == generation)

        var used = StoreContract.code("used")
        used.consumedAt = StoreContract.now
        #expect(try await reopened.code(hash: "used") == used)
        await #expect(throws: StorageError.alreadyConsumed) { try await reopened.consumeCode(hash: "used", at: StoreContract.now + 1) }
        #expect(try await reopened.consumeCode(hash: "fresh", at: StoreContract.now + 1).codeHash == "fresh")

        #expect(try await reopened.refreshToken(hash: "rt-1")?.redeemedAt == StoreContract.now)
        #expect(try await reopened.refreshToken(hash: "rt-2") == StoreContract.refreshToken("rt-2"))
        await #expect(throws: StorageError.revoked) { try await reopened.refreshToken(hash: "revoked") }

        #expect(try await reopened.deviceCode(userCode: "ABCD-EFGH")?.state == .approved(StoreContract.authentication))
        #expect(try await reopened.session(hash: "session-hash") == StoreContract.session())
        #expect(try await reopened.flow(id: "flow-1") == StoreContract.flow())
        #expect(try await reopened.signingKeys() == [key])
        #expect(try await reopened.recentSignIns(limit: 10) == [StoreContract.signIn("s1", at: StoreContract.now)])
        #expect(try await !reopened.useOnce("jti", until: StoreContract.now + 600, now: StoreContract.now + 1))
    }
}
