import DeputyAuthority
import DeputyAuthorityPostgres
import DeputyAuthoritySQLite
import DeputyPostgres
import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL server the tests use: `DEPUTY_TEST_DATABASE_URL` (`.ci/run` starts a private
/// cluster on a loopback port and sets it). Each test gets a database of its own, dropped after.
public enum TestPostgres {
    /// The server's URL, when the environment names one.
    public static var url: String? {
        ProcessInfo.processInfo.environment["DEPUTY_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
    public static var isConfigured: Bool { url != nil }
    /// Why the PostgreSQL tests did not run.
    public static let skipReason = "DEPUTY_TEST_DATABASE_URL is unset: no PostgreSQL server to test against (.ci/run starts one)"

    struct NotConfigured: Error, CustomStringConvertible {
        var description: String { TestPostgres.skipReason }
    }

    /// Runs `body` with the URL of a new, empty database, dropped afterwards (even when `body` throws).
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let url else { throw NotConfigured() }
        let server = try PostgresDatabaseURL(url)
        let name = "deputy_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await administer(server, "CREATE DATABASE \(name)")
        do {
            let result = try await body(server.replacingDatabase(name))
            try await administer(server, "DROP DATABASE \(name) WITH (FORCE)")
            return result
        } catch {
            try? await administer(server, "DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
    }

    /// Runs `body` with `count` stores over one new PostgreSQL database (as `count` instances
    /// would have), shutting them down and dropping the database afterwards.
    public static func withStores<T>(_ count: Int, _ body: ([RecordStore]) async throws -> T) async throws -> T {
        try await withDatabase { url in
            var stores: [RecordStore] = []
            var backends: [PostgresBackend] = []
            do {
                for _ in 0..<count {
                    let (store, backend) = try await RecordStore.postgres(url: url)
                    stores.append(store)
                    backends.append(backend)
                }
                let result = try await body(stores)
                for backend in backends { await backend.shutdown() }
                return result
            } catch {
                for backend in backends { await backend.shutdown() }
                throw error
            }
        }
    }

    /// Runs one statement on the server's own database, on a connection of its own.
    public static func administer(_ server: PostgresDatabaseURL, _ sql: String) async throws {
        let client = PostgresClient(configuration: server.configuration, backgroundLogger: Logger(label: "deputy.test.postgres"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }
}

/// SQLite files in the temporary directory, removed (with their WAL files) afterwards.
public enum TestSQLite {
    /// A path for a new SQLite file.
    public static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("deputy-store-\(UUID().uuidString).sqlite").path
    }

    /// Removes the file at `path` and its WAL and shared-memory files.
    public static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Runs `body` with the path of a new SQLite file, removed afterwards.
    public static func withPath<T>(_ body: (String) async throws -> T) async throws -> T {
        let path = temporaryPath()
        defer { remove(path) }
        return try await body(path)
    }
}
