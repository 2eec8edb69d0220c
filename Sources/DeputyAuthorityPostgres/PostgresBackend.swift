public import DeputyAuthority
import DeputyCore
public import Foundation
public import Logging
import NIOSSL
public import PostgresNIO

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
    public static let schemaVersion = 1
    /// Tables are named `deputy_<table>`, so the store can share a database with other data.
    static func tableName(_ table: StoreTable) -> String { "deputy_" + table.rawValue }

    /// The database, for messages: the URL without its password.
    public let location: String
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    private let runnerStarted = LockedBox(false)

    private init(client: PostgresClient, location: String, logger: Logger) {
        self.client = client
        self.location = location
        self.logger = logger
        let started = runnerStarted
        runner = Task {
            started.withLock { $0 = true }
            await client.run()
        }
    }

    /// Waits (briefly) until the pool's `run()` has started: a lease before that works, but logs a warning.
    func started() async {
        for _ in 0..<100 where !runnerStarted.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) }
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// `?sslmode=disable|prefer|require`), then creates or migrates the schema. Throws
    /// ``PostgresURLError`` for a URL it cannot use and ``StorageSchemaError`` when a newer deputy
    /// migrated the database.
    public static func connect(url: String, logger: Logger = Logger(label: "deputy.postgres")) async throws -> PostgresBackend {
        let parsed = try PostgresDatabaseURL(url)
        // The pool logs each failed connection attempt at `info`; only warnings and worse reach the log.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let backend = PostgresBackend(
            client: PostgresClient(configuration: parsed.configuration, backgroundLogger: background), location: parsed.redacted,
            logger: logger)
        do {
            // The pool retries a refused connection for ever: a database that cannot be reached is an error here.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await backend.started()
                    try await backend.migrate()
                }
                group.addTask {
                    try await Task.sleep(for: connectTimeout)
                    throw PostgresURLError(
                        description:
                            "no answer from the database at \(parsed.redacted) within \(connectTimeout) (is it running, and is the URL right?)"
                    )
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            await backend.shutdown()
            throw error
        }
        return backend
    }

    /// How long ``connect(url:logger:)`` waits for the database to answer.
    public static let connectTimeout = Duration.seconds(15)

    /// Stops the connection pool (open connections are closed).
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    // MARK: Schema

    /// Creates the tables, or checks and upgrades their version, under an advisory lock so that
    /// instances starting together migrate once.
    func migrate() async throws {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(4242001)", logger: logger)
                try await connection.query("CREATE TABLE IF NOT EXISTS deputy_schema (version INTEGER NOT NULL)", logger: logger)
                var found: Int?
                for try await version in try await connection.query("SELECT version FROM deputy_schema", logger: logger).decode(Int.self) {
                    found = version
                }
                if let found, found > Self.schemaVersion {
                    throw StorageSchemaError(found: found, known: Self.schemaVersion, location: location)
                }
                let current = found ?? 0
                for (index, step) in Self.migrations.enumerated() where index + 1 > current {
                    for statement in step { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                }
                if found == nil {
                    try await connection.query("INSERT INTO deputy_schema (version) VALUES (\(Self.schemaVersion))", logger: logger)
                } else if current < Self.schemaVersion {
                    try await connection.query("UPDATE deputy_schema SET version = \(Self.schemaVersion)", logger: logger)
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

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
        }
    ]

    // MARK: Access

    /// The operations, each one statement through `run`.
    private struct Operations: StorageTransaction {
        let run: (PostgresQuery) async throws -> PostgresRowSequence

        func get(_ table: StoreTable, _ key: String) async throws -> Data? {
            let rows = try await run("SELECT value FROM \(unescaped: PostgresBackend.tableName(table)) WHERE key = \(key)")
            for try await value in rows.decode(Data.self) { return value }
            return nil
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
        func last(_ table: StoreTable, limit: Int) async throws -> [Data] {
            let rows = try await run("SELECT value FROM \(unescaped: PostgresBackend.tableName(table)) ORDER BY key DESC LIMIT \(limit)")
            var result: [Data] = []
            for try await value in rows.decode(Data.self) { result.append(value) }
            return result
        }
        func purge(_ table: StoreTable, before: Date) async throws {
            _ = try await run(
                "DELETE FROM \(unescaped: PostgresBackend.tableName(table)) WHERE expires_at < \(before.timeIntervalSince1970)")
        }
    }

    public func read<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        let client = client
        let logger = logger
        return try await body(Operations(run: { query in try await client.query(query, logger: logger) }))
    }

    /// How many times a write is tried when PostgreSQL aborts it for a conflict.
    static let attempts = 30

    public func write<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        let logger = logger
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.query("BEGIN ISOLATION LEVEL SERIALIZABLE", logger: logger)
                    do {
                        let result = try await body(Operations(run: { query in try await connection.query(query, logger: logger) }))
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        // After a failed COMMIT the transaction is already over; ROLLBACK then only warns.
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            } catch let error as PSQLError where Self.isConflict(error) && attempt < Self.attempts {
                // Back off a little, more each time, with jitter so the two sides of a conflict part.
                try await Task.sleep(for: .microseconds(Int.random(in: 100...(500 * attempt))))
                attempt += 1
            }
        }
    }

    /// A serialization failure or deadlock (the transaction can simply be tried again), or a unique
    /// violation from two transactions inserting one key (PostgreSQL reports some of those as 23505
    /// rather than 40001).
    static func isConflict(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
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

/// A PostgreSQL URL Deputy cannot use; the message never includes the password.
public struct PostgresURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// `postgres://user:password@host:port/database?sslmode=…` (libpq's URI form, "Connection URIs",
/// PostgreSQL documentation §34.1.1), the parts Deputy uses.
public struct PostgresDatabaseURL: Sendable {
    /// How postgres-nio connects.
    public var configuration: PostgresClient.Configuration
    /// The URL with its password replaced by `***`, for messages.
    public var redacted: String
    private let components: URLComponents

    /// Parses `text`; throws ``PostgresURLError`` (without the password) when it cannot be used.
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresURLError(description: "not a PostgreSQL URL (postgres://user:password@host:port/database): \(Self.redact(text))")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresURLError(description: "the PostgreSQL URL names no user: \(Self.redact(text))")
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        let database = String(components.path.dropFirst()).removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 }
        let password = components.password?.removingPercentEncoding
        let tls: PostgresClient.Configuration.TLS
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw PostgresURLError(description: "sslmode=\(other) is not one of disable, prefer, require: \(Self.redact(text))")
        }
        configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user, password: password,
            database: database, tls: tls)
        redacted = Self.redact(text)
        self.components = components
    }

    /// The same server and credentials with another database (for tests that make a database each).
    public func replacingDatabase(_ name: String) -> String {
        var copy = components
        copy.path = "/" + name
        return copy.string ?? ""
    }

    /// The URL with its password replaced by `***`.
    static func redact(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "(an unreadable URL)" }
        if components.password != nil { components.password = "***" }
        return components.string ?? "(an unreadable URL)"
    }
}
