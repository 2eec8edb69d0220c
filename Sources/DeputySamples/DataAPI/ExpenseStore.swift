import Foundation
import GRDB

/// One expense: who spent it (the owner's `oid`) and who approves it (their manager's).
public struct Expense: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "expenses"

    public var id: Int64?
    public var ownerOid: String
    public var ownerName: String
    /// The owner's manager, who may approve it.
    public var approverOid: String?
    /// In cents, to keep money exact.
    public var amountCents: Int
    public var currency: String
    public var description: String
    /// `draft` (filed by an agent user, for a person to submit), `submitted` or `approved`.
    public var status: String
    public var createdAt: Date
    public var approvedAt: Date?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The Data API's database (SQLite through GRDB): the expense table, seeded with demo rows, and
/// the queries the API's visibility rule needs — a user sees their own expenses and, as a
/// manager, their reports'.
public final class ExpenseStore: Sendable {
    let db: DatabaseQueue

    /// An in-memory database (tests and `deputy up` without a data directory) or a file.
    public init(path: String? = nil) throws {
        db = try path.map { try DatabaseQueue(path: $0) } ?? DatabaseQueue()
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 expenses") { db in
            try db.create(table: "expenses") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("ownerOid", .text).notNull().indexed()
                t.column("ownerName", .text).notNull()
                t.column("approverOid", .text).indexed()
                t.column("amountCents", .integer).notNull()
                t.column("currency", .text).notNull()
                t.column("description", .text).notNull()
                t.column("status", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("approvedAt", .datetime)
            }
        }
        try migrator.migrate(db)
    }

    /// Adds the demo rows once (an empty table only).
    public func seedIfEmpty(_ rows: [Expense]) throws {
        try db.write { db in
            guard try Expense.fetchCount(db) == 0 else { return }
            for var row in rows { try row.insert(db) }
        }
    }

    /// The expenses `oid` may see: their own and those they approve.
    public func visible(to oid: String) throws -> [Expense] {
        try db.read { db in
            try Expense.filter(Column("ownerOid") == oid || Column("approverOid") == oid).order(Column("id")).fetchAll(db)
        }
    }

    /// One expense, when `oid` may see it (nil otherwise: the caller cannot tell "not yours" from "none").
    public func expense(_ id: Int64, visibleTo oid: String) throws -> Expense? {
        try db.read { db in
            try Expense.filter(Column("id") == id && (Column("ownerOid") == oid || Column("approverOid") == oid)).fetchOne(db)
        }
    }

    public func add(_ expense: Expense) throws -> Expense {
        try db.write { db in
            var row = expense
            try row.insert(db)
            return row
        }
    }

    /// Why an approval was refused.
    public enum ApprovalError: Error, Equatable {
        case notFound
        /// Only the owner's approver may approve (never the owner).
        case notTheApprover
        case alreadyApproved
    }

    /// Approves an expense as `oid`, atomically.
    public func approve(_ id: Int64, by oid: String, at now: Date) throws -> Expense {
        try db.write { db in
            guard
                var row = try Expense.filter(Column("id") == id && (Column("ownerOid") == oid || Column("approverOid") == oid)).fetchOne(db)
            else {
                throw ApprovalError.notFound
            }
            guard row.approverOid == oid, row.ownerOid != oid else { throw ApprovalError.notTheApprover }
            guard row.status != "approved" else { throw ApprovalError.alreadyApproved }
            row.status = "approved"
            row.approvedAt = now
            try row.update(db)
            return row
        }
    }

    /// Why a deletion was refused.
    public enum DeletionError: Error, Equatable {
        case notFound
        /// Only the owner deletes, and only what is not approved yet.
        case notTheOwner
        case alreadyApproved
    }

    /// Deletes one of `oid`'s own expenses that is not approved, atomically.
    public func delete(_ id: Int64, by oid: String) throws -> Expense {
        try db.write { db in
            guard
                let row = try Expense.filter(Column("id") == id && (Column("ownerOid") == oid || Column("approverOid") == oid)).fetchOne(db)
            else {
                throw DeletionError.notFound
            }
            guard row.ownerOid == oid else { throw DeletionError.notTheOwner }
            guard row.status != "approved" else { throw DeletionError.alreadyApproved }
            try row.delete(db)
            return row
        }
    }

    /// One line of the monthly summary: a month, a person, a currency.
    public struct MonthlyTotal: Sendable, Equatable {
        public var month: String
        public var ownerName: String
        public var currency: String
        public var count: Int
        public var amountCents: Int
    }

    /// Every submitted or approved expense summed by month (UTC, `yyyy-MM`), owner and currency —
    /// for app-only readers. Drafts are left out: nobody has submitted them.
    public func monthlyTotals() throws -> [MonthlyTotal] {
        let rows = try db.read { db in try Expense.filter(Column("status") != "draft").order(Column("createdAt")).fetchAll(db) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var totals: [String: MonthlyTotal] = [:]
        var order: [String] = []
        for e in rows {
            let c = calendar.dateComponents([.year, .month], from: e.createdAt)
            let month = String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
            let key = "\(month)|\(e.ownerOid)|\(e.currency)"
            if totals[key] == nil {
                totals[key] = MonthlyTotal(month: month, ownerName: e.ownerName, currency: e.currency, count: 0, amountCents: 0)
                order.append(key)
            }
            totals[key]!.count += 1
            totals[key]!.amountCents += e.amountCents
        }
        return order.map { totals[$0]! }
    }
}
