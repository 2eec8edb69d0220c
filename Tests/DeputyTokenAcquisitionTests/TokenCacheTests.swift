import Crypto
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyPostgres
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenAcquisitionPostgres
import Foundation
import PostgresNIO
import Testing

/// The OBO token cache as a protocol: the in-memory LRU by default, and the PostgreSQL cache that
/// a middle tier's instances share, encrypted at rest.
@Suite("token caches")
struct TokenCacheTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let token = AccessToken(
        token: "eyJ0eXAiOiJKV1QifQ.secret-token-body.sig", expiresOn: now + 3600, refreshOn: now + 1800,
        scopes: ["https://database.windows.net//Data.Read"], refreshToken: nil)
    static let key = SymmetricKey(size: .bits256)

    /// Runs `body` with a PostgreSQL token cache over a new database (and the database's URL).
    static func withPostgresCache(
        key: SymmetricKey = TokenCacheTests.key, _ body: (PostgresTokenCache, String) async throws -> Void
    )
        async throws
    {
        try await TestPostgres.withDatabase { url in
            let cache = try await PostgresTokenCache.connect(url: url, encryptionKey: key)
            do {
                try await body(cache, url)
                await cache.shutdown()
            } catch {
                await cache.shutdown()
                throw error
            }
        }
    }

    /// What every cache does: a token until its expiry, nothing after, nothing once removed.
    static func checkBasics(_ cache: any TokenCache) async throws {
        #expect(try await cache.token(for: "k", now: now) == nil)
        try await cache.store(token, for: "k", expiresAt: now + 3300)
        #expect(try await cache.token(for: "k", now: now) == token)
        #expect(try await cache.token(for: "k", now: now + 3299) == token)
        #expect(try await cache.token(for: "k", now: now + 3301) == nil)
        #expect(try await cache.token(for: "other", now: now) == nil)
        try await cache.remove("k")
        #expect(try await cache.token(for: "k", now: now) == nil)
    }

    @Test("The in-memory cache keeps a token until its expiry and forgets a removed one")
    func inMemoryBasics() async throws {
        try await Self.checkBasics(InMemoryTokenCache(capacity: 10))
    }

    @Test(
        "The PostgreSQL cache keeps a token until its expiry and forgets a removed one",
        .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
    func postgresBasics() async throws {
        try await Self.withPostgresCache { cache, _ in try await Self.checkBasics(cache) }
    }

    @Test(
        "Tokens at rest are encrypted: the row shows neither token nor scopes, another key or a changed row reads as a miss",
        .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
    func encryptedAtRest() async throws {
        try await Self.withPostgresCache { cache, url in
            try await cache.store(Self.token, for: "webapi|obo|hash|scopes", expiresAt: Self.now + 3300)
            var rows: [(String, Data)] = []
            for try await row in try await cache.database.client.query("SELECT key, value FROM deputy_token_cache").decode(
                (String, Data).self)
            {
                rows.append(row)
            }
            #expect(rows.count == 1)
            let (rowKey, sealed) = try #require(rows.first)
            let text = String(decoding: sealed, as: UTF8.self)
            #expect(!text.contains("secret-token-body") && !text.contains("database.windows.net"))
            #expect(!rowKey.contains("webapi") && !rowKey.contains("obo"))

            let other = try await PostgresTokenCache(database: cache.database, encryptionKey: SymmetricKey(size: .bits256))
            #expect(try await other.token(for: "webapi|obo|hash|scopes", now: Self.now) == nil)

            var changed = sealed
            changed[changed.count - 1] ^= 0x01
            try await cache.database.client.query("UPDATE deputy_token_cache SET value = \(changed)")
            #expect(try await cache.token(for: "webapi|obo|hash|scopes", now: Self.now) == nil)
            _ = url
        }
    }

    @Test("A key that is not 256 bits is refused")
    func keySize() async throws {
        await #expect(throws: PostgresTokenCache.KeySizeError.self) {
            _ = try await PostgresTokenCache.connect(url: "postgres://u@127.0.0.1:1/x", encryptionKey: SymmetricKey(size: .bits128))
        }
    }

    @Test(
        "Two middle-tier instances sharing a PostgreSQL cache ask the token service once for a user's OBO token",
        .enabled(if: TestPostgres.isConfigured, "\(TestPostgres.skipReason)"))
    func sharedAcrossInstances() async throws {
        try await Self.withPostgresCache { first, url in
            let second = try await PostgresTokenCache.connect(url: url, encryptionKey: Self.key)
            let outcome: Result<Void, any Error>
            do {
                try await sharedRun(first, second)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            await second.shutdown()
            try outcome.get()
        }
    }

    func sharedRun(_ first: PostgresTokenCache, _ second: PostgresTokenCache) async throws {
        try await LiveAuthority.run { live in
            let webApi = DemoTenant.app("webApi")
            let instances = [first, second].map { cache in
                ConfidentialClient(
                    authority: live.tenantAuthority, clientID: webApi.appId, credential: .secret(webApi.secret!), cache: cache)
            }
            let assertion = try await live.userToken()
            let scopes = ["https://database.windows.net//.default"]
            let a = try await instances[0].acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes)
            let b = try await instances[1].acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes)
            #expect(a == b)
            #expect(try await live.tokenRequests(client: webApi.appId) == 1)
            await instances[1].removeCachedToken(assertion: assertion, scopes: scopes)
            _ = try await instances[0].acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes)
            #expect(try await live.tokenRequests(client: webApi.appId) == 2)
        }
    }

    /// A cache whose database is down.
    struct FailingCache: TokenCache {
        struct Down: Error {}
        func token(for key: String, now: Date) async throws -> AccessToken? { throw Down() }
        func store(_ token: AccessToken, for key: String, expiresAt: Date) async throws { throw Down() }
        func remove(_ key: String) async throws { throw Down() }
    }

    @Test("A cache that fails is a miss: the token still comes from the token endpoint")
    func failingCache() async throws {
        try await LiveAuthority.run { live in
            let webApi = DemoTenant.app("webApi")
            let client = ConfidentialClient(
                authority: live.tenantAuthority, clientID: webApi.appId, credential: .secret(webApi.secret!),
                cache: FailingCache())
            let assertion = try await live.userToken()
            _ = try await client.acquireTokenOnBehalfOf(assertion: assertion, scopes: ["https://database.windows.net//.default"])
            _ = try await client.acquireTokenOnBehalfOf(assertion: assertion, scopes: ["https://database.windows.net//.default"])
            #expect(try await live.tokenRequests(client: webApi.appId) == 2)
        }
    }
}
