public import DeputyAuthority
import DeputyCore
public import Foundation
import GRDB

/// The authority's tables in one SQLite file (WAL) through GRDB: the embedded default, for one
/// instance (or the CLI beside it) on one machine.
///
/// Writes are serialized by an ``AsyncLock`` and run as `BEGIN IMMEDIATE` transactions on GRDB's
/// writer connection, so a second process (the `deputy` CLI changing a policy) waits for the
/// file's write lock rather than failing. Reads go to a read-only connection and see committed
/// data (WAL readers never block the writer).
public final class SQLiteBackend: StorageBackend {
    /// The newest schema this build knows: the number of migrations below.
    public static var schemaVersion: Int { migrator.migrations.count }

    /// The file.
    public let path: String
    private let pool: DatabasePool
    /// A read-only connection for reads. Its queue never waits on Swift tasks, so a synchronous read
    /// on it cannot deadlock the cooperative thread pool (a synchronous read on the pool can: its
    /// reader semaphore waits on readers that async reads hold).
    private let reader: DatabaseQueue
    private let writers = AsyncLock()

    /// Opens (creating and migrating) the store at `path`. Throws ``StorageSchemaError`` when the
    /// file was migrated by a newer deputy.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        // A transaction spans several writer accesses (one per operation of the async body); the
        // AsyncLock makes sure no other access comes between them.
        config.allowsUnsafeTransactions = true
        config.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a commit survives a crash of the process; only a power
            // loss can drop the last transactions (SQLite's documented WAL trade-off).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        let migrator = Self.migrator
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        if try pool.read({ db in try migrator.hasBeenSuperseded(db) }) {
            throw StorageSchemaError(found: applied.count, known: Self.schemaVersion, location: path)
        }
        try migrator.migrate(pool)
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(10)
        reader = try DatabaseQueue(path: path, configuration: readOnly)
    }

    /// The schema's versions, oldest first. Identifiers are stored in the file: never rename one.
    static let migrator: DatabaseMigrator = {
        // A table added later comes with its own migration (as `attempts` did).
        let version1Tables = [
            "meta", "directories", "codes", "refresh_tokens", "families", "device_codes", "user_codes", "sessions", "flows",
            "signing_keys", "sign_ins", "replay",
        ]
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 key-value tables") { db in
            for table in version1Tables {
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS \(table) (
                            key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at DOUBLE)
                        """)
            }
        }
        migrator.registerMigration("v2 expiry indexes") { db in
            for table in version1Tables {
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS \(table)_expires_at ON \(table) (expires_at)")
            }
        }
        migrator.registerMigration("v3 attempts table") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS attempts (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at DOUBLE);
                    CREATE INDEX IF NOT EXISTS attempts_expires_at ON attempts (expires_at)
                    """)
        }
        migrator.registerMigration("v4 critical events table") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS critical_events (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at DOUBLE);
                    CREATE INDEX IF NOT EXISTS critical_events_expires_at ON critical_events (expires_at)
                    """)
        }
        return migrator
    }()

    /// The operations on one connection; `access` runs a statement there, synchronously.
    private struct Operations: StorageTransaction {
        let access: ((Database) throws -> Void) throws -> Void

        func run<T>(_ body: (Database) throws -> T) throws -> T {
            var result: T?
            try access { db in result = try body(db) }
            return result!
        }

        func get(_ table: StoreTable, _ key: String) async throws -> Data? {
            try run { db in
                try Data.fetchOne(db.cachedStatement(sql: "SELECT value FROM \(table.rawValue) WHERE key = ?"), arguments: [key])
            }
        }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) async throws {
            try run { db in
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(table.rawValue) (key, value, expires_at) VALUES (?, ?, ?)")
                    .execute(arguments: [key, value, expiresAt?.timeIntervalSince1970])
            }
        }
        func delete(_ table: StoreTable, _ key: String) async throws {
            try run { db in try db.cachedStatement(sql: "DELETE FROM \(table.rawValue) WHERE key = ?").execute(arguments: [key]) }
        }
        func all(_ table: StoreTable) async throws -> [(key: String, value: Data)] {
            try run { db in
                try Row.fetchAll(db, sql: "SELECT key, value FROM \(table.rawValue) ORDER BY key").map {
                    (key: $0["key"], value: $0["value"])
                }
            }
        }
        func last(_ table: StoreTable, limit: Int, in range: KeyRange) async throws -> [(key: String, value: Data)] {
            // `key` compares with SQLite's BINARY collation: bytes, as KeyRange asks.
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let lower = range.lowerBound {
                conditions.append("key >= ?")
                arguments += [lower]
            }
            if let upper = range.upperBound {
                conditions.append("key < ?")
                arguments += [upper]
            }
            arguments += [limit]
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try run { db in
                try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT key, value FROM \(table.rawValue) \(filter) ORDER BY key DESC LIMIT ?"),
                    arguments: arguments
                ).map { (key: $0["key"], value: $0["value"]) }
            }
        }
        func purge(_ table: StoreTable, before: Date) async throws {
            try run { db in
                try db.execute(
                    sql: "DELETE FROM \(table.rawValue) WHERE expires_at IS NOT NULL AND expires_at < ?",
                    arguments: [before.timeIntervalSince1970])
            }
        }
    }

    // Synchronous on purpose (see `reader`): in a synchronous function GRDB's blocking overloads are chosen.
    private func onWriter(_ body: (Database) throws -> Void) throws { try pool.writeWithoutTransaction(body) }
    private func onReader(_ body: (Database) throws -> Void) throws { try reader.read(body) }

    public func read<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        try await body(Operations(access: onReader))
    }

    public func write<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        try await writers.withLock {
            try onWriter { db in try db.beginTransaction(.immediate) }
            do {
                let result = try await body(Operations(access: onWriter))
                try onWriter { db in try db.commit() }
                return result
            } catch {
                try? onWriter { db in if db.isInsideTransaction { try db.rollback() } }
                throw error
            }
        }
    }
}

extension RecordStore {
    /// A store in the SQLite file at `path` (created with its tables when missing, migrated when older).
    public static func sqlite(path: String) throws -> RecordStore { RecordStore(backend: try SQLiteBackend(path: path)) }
}
