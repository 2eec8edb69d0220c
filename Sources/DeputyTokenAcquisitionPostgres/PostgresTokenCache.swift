public import Crypto
import DeputyCore
public import DeputyPostgres
public import DeputyTokenAcquisition
public import Foundation
public import Logging
import PostgresNIO

/// A ``TokenCache`` in PostgreSQL, shared by the instances of a middle tier: a user's OBO token
/// acquired by one instance serves the others until it is due for refresh, so N instances behind a
/// load balancer ask the token service about as often as one.
///
/// Tokens at rest are encrypted with AES-GCM under a key the middle tier supplies (keep it with
/// the middle tier's other secrets, not in the database); each row's key is authenticated with
/// it, so a row copied under another key does not open. A row that does not open (another key, a
/// changed row) is a miss. Rows are keyed by the SHA-256 of the client's cache key; expired rows
/// are deleted as new ones are stored.
///
/// One process's concurrent requests for one token still share one call to the token endpoint;
/// two instances missing at the same moment may both call it (the later answer wins the row).
public final class PostgresTokenCache: TokenCache {
    /// The newest schema this build knows.
    public static var schemaVersion: Int { migrations.count }
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE IF NOT EXISTS deputy_token_cache (
                key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL, expires_at DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS deputy_token_cache_expires_at ON deputy_token_cache (expires_at)",
        ]
    ]

    /// The encryption key is not 256 bits.
    public struct KeySizeError: Error, CustomStringConvertible, Sendable {
        public let bits: Int
        public var description: String { "the token cache's encryption key must be 256 bits (32 bytes), not \(bits)" }
    }

    /// The database and its connection pool.
    public let database: SharedPostgres
    let encryptionKey: SymmetricKey
    /// When expired rows were last deleted by this process (at most once a minute).
    private let lastPurge = LockedBox(Date.distantPast)

    /// A cache in `database` (its table is created or migrated here) under a 256-bit `encryptionKey`.
    public convenience init(database: SharedPostgres, encryptionKey: SymmetricKey) async throws {
        guard encryptionKey.bitCount == 256 else { throw KeySizeError(bits: encryptionKey.bitCount) }
        try await Self.migrate(database)
        self.init(migrated: database, encryptionKey: encryptionKey)
    }

    private init(migrated database: SharedPostgres, encryptionKey: SymmetricKey) {
        self.database = database
        self.encryptionKey = encryptionKey
    }

    static func migrate(_ database: SharedPostgres) async throws {
        do {
            try await database.migrate(versionTable: "deputy_token_cache_schema", lockID: 4_242_002, migrations: migrations)
        } catch let newer as SharedPostgres.NewerSchema {
            throw PostgresURLError(
                description: "the token cache at \(database.location) has schema version \(newer.found), newer than this build knows "
                    + "(\(newer.known))")
        }
    }

    /// Connects to the database at `url` and opens the cache there; ``shutdown()`` it when done.
    public static func connect(
        url: String, encryptionKey: SymmetricKey, logger: Logger = Logger(label: "deputy.token-cache")
    )
        async throws -> PostgresTokenCache
    {
        guard encryptionKey.bitCount == 256 else { throw KeySizeError(bits: encryptionKey.bitCount) }
        let database = try await SharedPostgres.connect(url: url, logger: logger) { database in try await migrate(database) }
        return PostgresTokenCache(migrated: database, encryptionKey: encryptionKey)
    }

    /// Stops the connection pool.
    public func shutdown() async { await database.shutdown() }

    /// The row key: the SHA-256 of the client's key, so the table shows no client ids or scopes.
    static func rowKey(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public func token(for key: String, now: Date) async throws -> AccessToken? {
        let row = Self.rowKey(key)
        let rows = try await database.client.query(
            "SELECT value FROM deputy_token_cache WHERE key = \(row) AND expires_at > \(now.timeIntervalSince1970)", logger: database.logger
        )
        var sealed: Data?
        for try await value in rows.decode(Data.self) { sealed = value }
        guard let sealed else { return nil }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: encryptionKey, authenticating: Data(row.utf8))
            return try Self.decoder.decode(AccessToken.self, from: plain)
        } catch {
            database.logger.debug("a cached token did not open (another key, or a changed row): treated as a miss")
            return nil
        }
    }

    public func store(_ token: AccessToken, for key: String, expiresAt: Date) async throws {
        let row = Self.rowKey(key)
        let plain = try Self.encoder.encode(token)
        guard let sealed = try AES.GCM.seal(plain, using: encryptionKey, authenticating: Data(row.utf8)).combined else {
            throw KeySizeError(bits: encryptionKey.bitCount)
        }
        let expires = expiresAt.timeIntervalSince1970
        try await database.client.query(
            """
            INSERT INTO deputy_token_cache (key, value, expires_at) VALUES (\(row), \(sealed), \(expires))
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
            """, logger: database.logger)
        let now = Date()
        let due = lastPurge.withLock { last -> Bool in
            guard now.timeIntervalSince(last) >= 60 else { return false }
            last = now
            return true
        }
        if due {
            try await database.client.query(
                "DELETE FROM deputy_token_cache WHERE expires_at < \(now.timeIntervalSince1970)", logger: database.logger)
        }
    }

    public func remove(_ key: String) async throws {
        try await database.client.query("DELETE FROM deputy_token_cache WHERE key = \(Self.rowKey(key))", logger: database.logger)
    }

    // Dates as Foundation encodes them (seconds since 2001 as a Double), which round-trips exactly.
    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()
}
