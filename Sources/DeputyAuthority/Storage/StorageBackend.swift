import DeputyCore
public import Foundation

/// The tables of the authority's store. Each holds JSON documents by key, with an optional expiry.
///
/// A backend keeps one table per case (its `rawValue` is a valid SQL identifier), or one table
/// keyed by (table, key). Keys compare as bytes (SQL's `COLLATE "C"`): the sign-in log and the
/// signing keys rely on that order.
public enum StoreTable: String, CaseIterable, Sendable {
    case meta, directories, codes
    case refreshTokens = "refresh_tokens"
    case families
    case deviceCodes = "device_codes"
    case userCodes = "user_codes"
    case sessions, flows
    case signingKeys = "signing_keys"
    case signIns = "sign_ins"
    case replay
    /// Counters of failed attempts (MFA codes, passwords), for lockout.
    case attempts
    /// Critical events of continuous access evaluation, by tenant and sequence.
    case criticalEvents = "critical_events"
}

/// The operations the record logic (``RecordStore``) performs inside one ``StorageBackend`` access.
///
/// Inside ``StorageBackend/write(_:)`` they form one transaction; inside ``StorageBackend/read(_:)``
/// each sees committed data.
public protocol StorageTransaction {
    /// The value stored under `key`, expired or not (records check their own expiry).
    func get(_ table: StoreTable, _ key: String) async throws -> Data?
    /// Inserts or replaces the value of `key`. `expiresAt` is when ``purge(_:before:)`` may drop it.
    func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) async throws
    func delete(_ table: StoreTable, _ key: String) async throws
    /// Every row of a small table, in key order.
    func all(_ table: StoreTable) async throws -> [(key: String, value: Data)]
    /// The last `limit` rows whose key is in `range`, in key order, greatest key first: a page of
    /// the sign-in log, newest first (its keys start with the time).
    func last(_ table: StoreTable, limit: Int, in range: KeyRange) async throws -> [(key: String, value: Data)]
    /// Deletes the rows whose expiry is before `before`.
    func purge(_ table: StoreTable, before: Date) async throws
}

/// Keys from `lowerBound` (included) to `upperBound` (excluded), compared as bytes; nil is unbounded.
public struct KeyRange: Sendable, Equatable {
    public var lowerBound: String?
    public var upperBound: String?

    public init(from lowerBound: String? = nil, below upperBound: String? = nil) {
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// Every key.
    public static let all = KeyRange()

    public func contains(_ key: String) -> Bool {
        (lowerBound.map { !Self.less(key, $0) } ?? true) && (upperBound.map { Self.less(key, $0) } ?? true)
    }

    /// Byte order of the UTF-8 forms, as SQL's `COLLATE "C"` and SQLite's `BINARY` compare.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

extension StorageTransaction {
    /// The last `limit` rows of a table, greatest key first.
    public func last(_ table: StoreTable, limit: Int) async throws -> [Data] {
        try await last(table, limit: limit, in: .all).map(\.value)
    }
}

/// Where the authority's tables live: the one thing a new database needs to implement.
///
/// The record logic (code redemption, refresh rotation, replay cache, …) is written once in
/// ``RecordStore`` over this protocol. Deputy ships an in-memory backend (``InMemoryBackend``),
/// SQLite (`DeputyAuthoritySQLite`) and PostgreSQL (`DeputyAuthorityPostgres`); the contract suite in
/// `DeputyAuthorityStoreTesting` checks any other.
///
/// Every backend must make each ``write(_:)`` serializable: when two run at once, on one instance
/// or on several sharing the database, the outcome is that of one after the other. A backend may
/// run the body again after a conflict (PostgreSQL's serialization failures), so the body changes
/// nothing but the store. A `write` that returns has committed.
public protocol StorageBackend: Sendable {
    /// Runs `body` over committed data.
    func read<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T
    /// Runs `body` as one serializable transaction; a throw rolls every change of it back.
    func write<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T
}

/// The store's schema is newer than this build of Deputy knows (a newer `deputy` migrated it).
public struct StorageSchemaError: Error, CustomStringConvertible, Sendable {
    /// The version found in the database, and the newest this build knows.
    public let found: Int
    public let known: Int
    /// Where the store is (a file path, or a database URL without its password).
    public let location: String

    public init(found: Int, known: Int, location: String) {
        self.found = found
        self.known = known
        self.location = location
    }

    public var description: String {
        "the store at \(location) has schema version \(found), newer than this deputy knows (\(known)): "
            + "it was written by a newer deputy; run that version, or a new empty store"
    }
}

// MARK: - In memory

/// Tables in memory, for tests and throw-away runs. One write runs at a time (an `AsyncLock`);
/// its changes collect in an overlay that is applied at once when the body returns, so readers
/// never see part of a transaction and a body that throws changes nothing.
public final class InMemoryBackend: StorageBackend, Sendable {
    typealias Table = [String: (value: Data, expiresAt: Date?)]
    private let writers = AsyncLock()
    private let tables = LockedBox<[StoreTable: Table]>([:])

    public init() {}

    /// Reads straight from the committed tables.
    private struct Committed: StorageTransaction {
        let tables: LockedBox<[StoreTable: Table]>
        func get(_ table: StoreTable, _ key: String) async throws -> Data? { tables.withLock { $0[table]?[key]?.value } }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) async throws {
            throw StorageError.readOnly
        }
        func delete(_ table: StoreTable, _ key: String) async throws { throw StorageError.readOnly }
        func all(_ table: StoreTable) async throws -> [(key: String, value: Data)] {
            tables.withLock { ($0[table] ?? [:]).sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value.value) } }
        }
        func last(_ table: StoreTable, limit: Int, in range: KeyRange) async throws -> [(key: String, value: Data)] {
            tables.withLock { tables in
                (tables[table] ?? [:]).filter { range.contains($0.key) }.sorted { KeyRange.less($1.key, $0.key) }.prefix(limit)
                    .map { (key: $0.key, value: $0.value.value) }
            }
        }
        func purge(_ table: StoreTable, before: Date) async throws { throw StorageError.readOnly }
    }

    /// One write: the committed tables seen through this transaction's purges and changes.
    private final class Pending: StorageTransaction {
        let tables: LockedBox<[StoreTable: Table]>
        /// Changed rows (nil: deleted), and the latest purge time, per table.
        var changes: [StoreTable: [String: (value: Data, expiresAt: Date?)?]] = [:]
        var purges: [StoreTable: Date] = [:]

        init(tables: LockedBox<[StoreTable: Table]>) { self.tables = tables }

        static func survives(_ expiresAt: Date?, _ purge: Date?) -> Bool {
            guard let purge, let expiresAt else { return true }
            return expiresAt >= purge
        }

        func get(_ table: StoreTable, _ key: String) async throws -> Data? {
            if let change = changes[table]?[key] { return change?.value }
            let row = tables.withLock { $0[table]?[key] }
            guard let row, Self.survives(row.expiresAt, purges[table]) else { return nil }
            return row.value
        }
        func put(_ table: StoreTable, _ key: String, _ value: Data, expiresAt: Date?) async throws {
            changes[table, default: [:]][key] = .some((value, expiresAt))
        }
        func delete(_ table: StoreTable, _ key: String) async throws { changes[table, default: [:]][key] = .some(nil) }
        func view(_ table: StoreTable) -> Table {
            var rows = tables.withLock { $0[table] ?? [:] }
            if let purge = purges[table] { rows = rows.filter { Self.survives($0.value.expiresAt, purge) } }
            for (key, change) in changes[table] ?? [:] { rows[key] = change }
            return rows
        }
        func all(_ table: StoreTable) async throws -> [(key: String, value: Data)] {
            view(table).sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value.value) }
        }
        func last(_ table: StoreTable, limit: Int, in range: KeyRange) async throws -> [(key: String, value: Data)] {
            view(table).filter { range.contains($0.key) }.sorted { KeyRange.less($1.key, $0.key) }.prefix(limit)
                .map { (key: $0.key, value: $0.value.value) }
        }
        func purge(_ table: StoreTable, before: Date) async throws {
            purges[table] = max(purges[table] ?? .distantPast, before)
            changes[table] = changes[table]?.filter { Self.survives($0.value?.expiresAt, before) }
        }

        func commit() {
            tables.withLock { tables in
                for (table, before) in purges { tables[table] = tables[table]?.filter { Self.survives($0.value.expiresAt, before) } }
                for (table, rows) in changes {
                    for (key, change) in rows { tables[table, default: [:]][key] = change }
                }
            }
        }
    }

    public func read<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        try await body(Committed(tables: tables))
    }

    public func write<T: Sendable>(_ body: (any StorageTransaction) async throws -> T) async throws -> T {
        try await writers.withLock {
            let pending = Pending(tables: tables)
            let result = try await body(pending)
            pending.commit()
            return result
        }
    }
}
