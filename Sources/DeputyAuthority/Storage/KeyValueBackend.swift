import Foundation
import GRDB

/// The tables of the authority's store. Each holds JSON documents by key, with an optional expiry.
enum StoreTable: String, CaseIterable, Sendable {
    case meta, directories, codes, refreshTokens = "refresh_tokens", families, deviceCodes = "device_codes"
    case userCodes = "user_codes", sessions, flows, signingKeys = "signing_keys", signIns = "sign_ins", replay
    /// Counters of failed attempts (MFA codes), for lockout.
    case attempts
}

/// One transaction over the key-value tables. Implementations run the closure given to
/// ``KeyValueBackend/write(_:)`` atomically.
protocol KeyValueTransaction {
    func get(_ table: StoreTable, _ key: String) throws -> Data?
    func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) throws
    func delete(_ table: StoreTable, _ key: String) throws
    /// Every row of a small table, by key order.
    func all(_ table: StoreTable) throws -> [(String, Data)]
    /// The last `limit` rows by key order, newest (greatest key) first.
    func last(_ table: StoreTable, limit: Int) throws -> [Data]
    /// Deletes rows whose expiry passed.
    func purge(_ table: StoreTable, before: Date) throws
}

/// Where the key-value tables live. The record logic (``RecordStore``) is written once over this.
protocol KeyValueBackend: Sendable {
    func read<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T
    /// A tiny read done without leaving the calling thread (the per-request generation check:
    /// a hop to a database queue and back costs more than the query).
    func quickRead<T>(_ body: (any KeyValueTransaction) throws -> T) throws -> T
}

// MARK: - In memory

/// Tables in memory, for tests and throw-away runs. A lock makes each transaction atomic.
final class InMemoryBackend: KeyValueBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var tables: [StoreTable: [String: (Data, Date?)]] = [:]

    private struct Tx: KeyValueTransaction {
        let owner: InMemoryBackend
        func get(_ table: StoreTable, _ key: String) throws -> Data? { owner.tables[table]?[key]?.0 }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) throws {
            owner.tables[table, default: [:]][key] = (value, expiresAt)
        }
        func delete(_ table: StoreTable, _ key: String) throws { owner.tables[table]?[key] = nil }
        func all(_ table: StoreTable) throws -> [(String, Data)] {
            (owner.tables[table] ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value.0) }
        }
        func last(_ table: StoreTable, limit: Int) throws -> [Data] {
            (owner.tables[table] ?? [:]).sorted { $0.key > $1.key }.prefix(limit).map(\.value.0)
        }
        func purge(_ table: StoreTable, before: Date) throws {
            owner.tables[table] = owner.tables[table]?.filter { ($0.value.1 ?? .distantFuture) >= before }
        }
    }

    func read<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T {
        try lock.withLock { try body(Tx(owner: self)) }
    }

    func quickRead<T>(_ body: (any KeyValueTransaction) throws -> T) throws -> T {
        try lock.withLock { try body(Tx(owner: self)) }
    }

    func write<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T {
        // Snapshot so a throwing transaction leaves no partial change.
        try lock.withLock {
            let before = tables
            do { return try body(Tx(owner: self)) } catch {
                tables = before
                throw error
            }
        }
    }
}

// MARK: - SQLite through GRDB

/// Tables in SQLite (WAL) through GRDB: one file, real transactions, readers never block the writer.
final class GRDBBackend: KeyValueBackend {
    let pool: DatabasePool
    /// One read-only connection for `quickRead`. A synchronous read on the pool can deadlock the
    /// cooperative thread pool (its reader semaphore waits on readers that async reads hold), so
    /// the tiny per-request read goes through this serial queue, which never waits on tasks.
    let quickReader: DatabaseQueue

    init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a commit survives a crash of the process; only a power
            // loss can drop the last transactions (SQLite's documented WAL trade-off).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 key-value tables") { db in
            for table in StoreTable.allCases {
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS \(table.rawValue) (
                        key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at DOUBLE)
                    """)
            }
        }
        migrator.registerMigration("v2 expiry indexes") { db in
            for table in StoreTable.allCases {
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS \(table.rawValue)_expires_at ON \(table.rawValue) (expires_at)")
            }
        }
        migrator.registerMigration("v3 attempts table") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS attempts (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at DOUBLE);
                CREATE INDEX IF NOT EXISTS attempts_expires_at ON attempts (expires_at)
                """)
        }
        try migrator.migrate(pool)
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(10)
        quickReader = try DatabaseQueue(path: path, configuration: readOnly)
    }

    private struct Tx: KeyValueTransaction {
        let db: Database
        func get(_ table: StoreTable, _ key: String) throws -> Data? {
            try Data.fetchOne(db.cachedStatement(sql: "SELECT value FROM \(table.rawValue) WHERE key = ?"), arguments: [key])
        }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) throws {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(table.rawValue) (key, value, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [key, value, expiresAt?.timeIntervalSince1970])
        }
        func delete(_ table: StoreTable, _ key: String) throws {
            try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE key = ?", arguments: [key])
        }
        func all(_ table: StoreTable) throws -> [(String, Data)] {
            try Row.fetchAll(db, sql: "SELECT key, value FROM \(table.rawValue) ORDER BY key").map { ($0["key"], $0["value"]) }
        }
        func last(_ table: StoreTable, limit: Int) throws -> [Data] {
            try Data.fetchAll(db, sql: "SELECT value FROM \(table.rawValue) ORDER BY key DESC LIMIT ?", arguments: [limit])
        }
        func purge(_ table: StoreTable, before: Date) throws {
            try db.execute(sql: "DELETE FROM \(table.rawValue) WHERE expires_at IS NOT NULL AND expires_at < ?",
                           arguments: [before.timeIntervalSince1970])
        }
    }

    func read<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(Tx(db: db)) }
    }

    func quickRead<T>(_ body: (any KeyValueTransaction) throws -> T) throws -> T {
        try quickReader.read { db in try body(Tx(db: db)) }
    }

    func write<T: Sendable>(_ body: @Sendable (any KeyValueTransaction) throws -> T) async throws -> T {
        try await pool.write { db in try body(Tx(db: db)) }
    }
}
