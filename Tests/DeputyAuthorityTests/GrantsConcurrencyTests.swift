import DeputyAuthoritySQLite
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("concurrency")
struct GrantsConcurrencyTests {
    /// Regression: a synchronous read on GRDB's reader pool from request tasks once deadlocked the
    /// cooperative thread pool under load (seen with 16 wrk connections, never with one client).
    @Test(
        "Many concurrent token requests on the SQLite store all succeed and each leaves its sign-in record",
        .timeLimit(.minutes(1)))
    func concurrentRequestsOnSQLite() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deputy-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try await GrantsFixture.make(store: try .sqlite(path: dir.appendingPathComponent("store.sqlite").path))
        let reports = GrantsFixture.app("reports")
        let requests = 200
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<requests {
                group.addTask {
                    let r = await f.token([
                        ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                        ("scope", "https://database.windows.net//.default"),
                    ])
                    return (try? r.get()) != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(successes == requests)
        #expect(try await f.store.recentSignIns(limit: requests + 10).count == requests)
    }
}
