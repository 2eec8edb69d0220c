public import DeputyAuthority
public import DeputyPostgres
public import Foundation
public import Logging
import PostgresNIO

/// The authority's tables in PostgreSQL, so that several authorities behind a load balancer
/// behave as one: a code redeemed at one is consumed for all, signing keys are shared, a policy
/// changed at one is in force at the others on their next request.
///
/// Every ``write(_:)`` is a `SERIALIZABLE` transaction (PostgreSQL's serializable snapshot
/// isolation: "Transaction Isolation", PostgreSQL documentation §13.2.3); when PostgreSQL aborts one
/// for a conflict with a concurrent one (SQLSTATE 40001, or 40P01 for a deadlock), the body runs
/// again on fresh data. So two instances redeeming one code at the same moment see one success and
/// one `alreadyConsumed`, however the statements interleave.
///
/// Call ``shutdown()`` when done: the backend runs its connection pool in a task of its own.
public final class PostgresBackend: StorageBackend {
    /// The newest schema this build knows.
    public static var schemaVersion: Int { migrations.count }
    /// Tables are named `deputy_<table>`, so the store can share a database with other data.
    static func tableName(_ table: StoreTable) -> String { "deputy_" + table.rawValue }

    /// The database and its connection pool.
    public let database: SharedPostgres
    /// The database, for messages: the URL without its password.
    public var location: String { database.location }

    private init(database: SharedPostgres) { self.database = database }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// `?sslmode=disable|prefer|require`), then creates or migrates the schema. Throws
    /// ``PostgresURLError`` for a URL it cannot use or a database that does not answer, and
    /// ``StorageSchemaError`` when a newer deputy migrated the database.
    public static func connect(url: String, logger: Logger = Logger(label: "deputy.postgres")) async throws -> PostgresBackend {
        let database = try await SharedPostgres.connect(url: url, logger: logger) { database in
            do {
                try await database.migrate(versionTable: "deputy_schema", lockID: 4_242_001, migrations: migrations)
            } catch let newer as SharedPostgres.NewerSchema {
                throw StorageSchemaError(found: newer.found, known: newer.known, location: database.location)
            }
        }
        return PostgresBackend(database: database)
    }

    /// Stops the connection pool (open connections are closed).
    public func shutdown() async { await database.shutdown() }

    /// The statements of each schema version, oldest first (version n is `migrations[n - 1]`).
    /// Keys compare as bytes (`COLLATE "C"`): the sign-in log and the signing keys are ordered by key.
    static let migrations: [[String]] = [
        StoreTable.allCases.flatMap { table in
            [
                """
                CREATE TABLE IF NOT EXISTS \(tableName(table)) (
                    key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL, expires_at DOUBLE PRECISION)
                """,
                "CREATE INDEX IF NOT EXISTS \(tableName(table))_expires_at ON \(tableName(table)) (expires_at)",
            ]
        },
        // Version 2: the critical events of continuous access evaluation (already made by version 1 on a new database).
        [
            """
            CREATE TABLE IF NOT EXISTS \(tableName(.criticalEvents)) (
                key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL, expires_at DOUBLE PRECISION)
            """,
            "CREATE INDEX IF NOT EXISTS \(tableName(.criticalEvents))_expires_at ON \(tableName(.criticalEvents)) (expires_at)",
        ],
    ]

    // MARK: Access

    /// The operations, each one statement through `run`.
    private struct Operations: StorageTransaction {
        let run: (PostgresQuery) async throws -> PostgresRowSequence

        func get(_ table: StoreTable, _ key: String) async throws -> Data? {
            let rows = try await run("SELECT value FROM \(unescaped: PostgresBackend.tableName(table)) WHERE key = \(key)")
            var found: Data?
            for try await value in rows.decode(Data.self) { found = value }
            return found
        }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) async throws {
            let name = PostgresBackend.tableName(table)
            _ = try await run(
                """
                INSERT INTO \(unescaped: name) (key, value, expires_at) VALUES (\(key), \(value), \(expiresAt?.timeIntervalSince1970))
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
                """)
        }
        func delete(_ table: StoreTable, _ key: String) async throws {
            _ = try await run("DELETE FROM \(unescaped: PostgresBackend.tableName(table)) WHERE key = \(key)")
        }
        func all(_ table: StoreTable) async throws -> [(key: String, value: Data)] {
            let rows = try await run("SELECT key, value FROM \(unescaped: PostgresBackend.tableName(table)) ORDER BY key")
            var result: [(key: String, value: Data)] = []
            for try await (key, value) in rows.decode((String, Data).self) { result.append((key, value)) }
            return result
        }
        func last(_ table: StoreTable, limit: Int, in range: KeyRange) async throws -> [(key: String, value: Data)] {
            // `key` is COLLATE "C": bytes, as KeyRange asks. A null bound compares as no bound.
            let rows = try await run(
                """
                SELECT key, value FROM \(unescaped: PostgresBackend.tableName(table))
                WHERE (\(range.lowerBound)::text IS NULL OR key >= \(range.lowerBound))
                  AND (\(range.upperBound)::text IS NULL OR key < \(range.upperBound))
                ORDER BY key DESC LIMIT \(limit)
                """)
            var result: [(key: String, value: Data)] = []
            for try await (key, value) in rows.decode((String, Data).self) { result.append((key, value)) }
            return result
        }
        func purge(_ table: StoreTable, before: Date) async throws {
            _ = try await run(
                "DELETE FROM \(unescaped: PostgresBackend.tableName(table)) WHERE expires_at < \(before.timeIntervalSince1970)")
        }
    }

    public func read<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        let client = database.client
        let logger = database.logger
        return try await body(Operations(run: { query in try await client.query(query, logger: logger) }))
    }

    public func write<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        let logger = database.logger
        return try await database.serializableTransaction { connection in
            try await body(Operations(run: { query in try await connection.query(query, logger: logger) }))
        }
    }
}

extension RecordStore {
    /// A store in the PostgreSQL database at `url` (see ``PostgresBackend/connect(url:logger:)``);
    /// returns the backend too, to ``PostgresBackend/shutdown()`` it when done.
    public static func postgres(
        url: String, logger: Logger = Logger(label: "deputy.postgres")
    ) async throws -> (RecordStore, PostgresBackend) {
        let backend = try await PostgresBackend.connect(url: url, logger: logger)
        return (RecordStore(backend: backend), backend)
    }
}
