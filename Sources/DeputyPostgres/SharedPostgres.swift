import DeputyCore
public import Foundation
public import Logging
import NIOSSL
public import PostgresNIO

/// A PostgreSQL database that Deputy keeps state in (the authority's store, a middle tier's shared
/// token cache): postgres-nio's connection pool running in a task of its own, a versioned schema,
/// and serializable transactions tried again on conflicts.
///
/// Call ``shutdown()`` when done.
public final class SharedPostgres: Sendable {
    /// The pool (lease connections from it, or run single queries).
    public let client: PostgresClient
    /// The database, for messages: the URL without its password.
    public let location: String
    public let logger: Logger
    private let runner: Task<Void, Never>
    private let runnerStarted = LockedBox(false)

    /// How long ``connect(url:logger:)`` waits for the database to answer.
    public static let connectTimeout = Duration.seconds(15)

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

    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=…`) and runs `prepare`
    /// (creating or migrating a schema), which must succeed within ``connectTimeout``. Throws
    /// ``PostgresURLError`` for a URL it cannot use or a database that does not answer.
    public static func connect(
        url: String, logger: Logger, prepare: @escaping @Sendable (SharedPostgres) async throws -> Void
    ) async throws -> SharedPostgres {
        let parsed = try PostgresDatabaseURL(url)
        // The pool logs each failed connection attempt at `info`; only warnings and worse reach the log.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let database = SharedPostgres(
            client: PostgresClient(configuration: parsed.configuration, backgroundLogger: background), location: parsed.redacted,
            logger: logger)
        do {
            // The pool retries a refused connection for ever: a database that cannot be reached is an error here.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await database.started()
                    try await prepare(database)
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
            await database.shutdown()
            throw error
        }
        return database
    }

    /// Waits (briefly) until the pool's `run()` has started: a lease before that works, but logs a warning.
    func started() async {
        for _ in 0..<100 where !runnerStarted.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(1)) }
    }

    /// Stops the connection pool (open connections are closed).
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    // MARK: Schema

    /// A schema newer than the binary knows.
    public struct NewerSchema: Error, Sendable {
        public let found: Int
        public let known: Int
    }

    /// Creates `versionTable` and runs the statements of each version after the one recorded there
    /// (version n is `migrations[n - 1]`), in one transaction under the advisory lock `lockID`, so
    /// that instances starting together migrate once. Throws ``NewerSchema`` when the recorded
    /// version is newer than `migrations` knows.
    public func migrate(versionTable: String, lockID: Int64, migrations: [[String]]) async throws {
        let logger = logger
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockID))", logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE TABLE IF NOT EXISTS \(versionTable) (version INTEGER NOT NULL)"),
                    logger: logger)
                var found: Int?
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT version FROM \(versionTable)"), logger: logger)
                for try await version in rows.decode(Int.self) { found = version }
                if let found, found > migrations.count { throw NewerSchema(found: found, known: migrations.count) }
                let current = found ?? 0
                for step in migrations.dropFirst(current) {
                    for statement in step { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                }
                if found == nil {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "INSERT INTO \(versionTable) (version) VALUES (\(migrations.count))"),
                        logger: logger)
                } else if current < migrations.count {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "UPDATE \(versionTable) SET version = \(migrations.count)"),
                        logger: logger)
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    // MARK: Transactions

    /// How many times a transaction is tried when PostgreSQL aborts it for a conflict.
    public static let attempts = 30

    /// Runs `body` on one connection as a `SERIALIZABLE` transaction ("Transaction Isolation",
    /// PostgreSQL documentation §13.2.3), and again — up to ``attempts`` times — when PostgreSQL
    /// aborts it for a conflict with a concurrent one (``isConflict(_:)``). `body` must change
    /// nothing but the database.
    public func serializableTransaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let logger = logger
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.query("BEGIN ISOLATION LEVEL SERIALIZABLE", logger: logger)
                    do {
                        let result = try await body(connection)
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

    /// A serialization failure (40001) or deadlock (40P01) — the transaction can simply be tried
    /// again — or a unique violation (23505) from two transactions inserting one key, which
    /// PostgreSQL reports as such rather than as 40001 in some interleavings.
    public static func isConflict(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
    }
}

/// A PostgreSQL URL Deputy cannot use, or a database that does not answer; the message never
/// includes the password.
public struct PostgresURLError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
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
