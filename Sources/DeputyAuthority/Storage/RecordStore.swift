import DeputyCore
public import Foundation

/// The authority's store: every storage protocol, written once over a ``StorageBackend``.
///
/// Use ``RecordStore/inMemory()`` for tests, `RecordStore.sqlite(path:)` (`DeputyAuthoritySQLite`)
/// for a data directory and `RecordStore.postgres(url:)` (`DeputyAuthorityPostgres`) for several
/// instances on one database. Records are JSON documents; each atomic operation is one
/// ``StorageBackend/write(_:)``.
public final class RecordStore: AuthorityStore {
    /// Where the tables live.
    public let backend: any StorageBackend
    let signIns: SignInBatcher

    /// A store over `backend`.
    public init(backend: any StorageBackend) {
        self.backend = backend
        self.signIns = SignInBatcher(backend: backend)
    }

    /// A store in memory.
    public static func inMemory() -> RecordStore { RecordStore(backend: InMemoryBackend()) }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .millisecondsSince1970
        e.outputFormatting = .sortedKeys
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }()

    static func encode(_ value: some Encodable) throws -> Data { try encoder.encode(value) }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data?) throws -> T? {
        guard let data else { return nil }
        return try decoder.decode(type, from: data)
    }

    /// When each table was last purged of expired rows: purging is a range delete on an index,
    /// done at most once a minute per table rather than on every write.
    private let lastPurge = LockedBox<[StoreTable: Date]>([:])

    func purgeIfDue(_ tx: any StorageTransaction, _ table: StoreTable, now: Date) async throws {
        let due = lastPurge.withLock { last -> Bool in
            if let previous = last[table], now.timeIntervalSince(previous) < 60, now >= previous { return false }
            last[table] = now
            return true
        }
        if due { try await tx.purge(table, before: now) }
    }

    /// How long sign-in records are kept (Entra keeps sign-in logs 30 days).
    public static let signInRetention: TimeInterval = 30 * 86_400

    static func bumpGeneration(_ tx: any StorageTransaction) async throws {
        let current = try await decode(Int.self, tx.get(.meta, "generation")) ?? 0
        try await tx.put(.meta, "generation", encode(current + 1), expiresAt: nil)
    }

    // MARK: DirectoryStore

    public func directories() async throws -> [TenantDirectory] {
        try await backend.read { tx in
            try await tx.all(.directories).map { try RecordStore.decoder.decode(TenantDirectory.self, from: $0.value) }
        }
    }

    public func seedFingerprint() async throws -> String? {
        try await backend.read { tx in try await RecordStore.decode(String.self, tx.get(.meta, "seedFingerprint")) }
    }

    public func replaceDirectories(_ directories: [TenantDirectory], fingerprint: String) async throws {
        try await backend.write { tx in
            for (key, _) in try await tx.all(.directories) { try await tx.delete(.directories, key) }
            for d in directories { try await tx.put(.directories, d.tenant.id, RecordStore.encode(d), expiresAt: nil) }
            try await tx.put(.meta, "seedFingerprint", RecordStore.encode(fingerprint), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
        }
    }

    public func saveDirectory(_ directory: TenantDirectory) async throws {
        try await backend.write { tx in
            try await tx.put(.directories, directory.tenant.id, RecordStore.encode(directory), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
        }
    }

    public func updateDirectory(tenantID: String, _ change: @escaping @Sendable (inout TenantDirectory) throws -> Void) async throws {
        try await backend.write { tx in
            guard var d = try await RecordStore.decode(TenantDirectory.self, tx.get(.directories, tenantID)) else {
                throw StorageError.notFound
            }
            try change(&d)
            try await tx.put(.directories, tenantID, RecordStore.encode(d), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
        }
    }

    public func setPasswordHash(tenantID: String, userID: String, hash: String) async throws {
        try await backend.write { tx in
            guard var d = try await RecordStore.decode(TenantDirectory.self, tx.get(.directories, tenantID)),
                let i = d.users.firstIndex(where: { $0.id == userID })
            else { throw StorageError.notFound }
            d.users[i].passwordHash = hash
            try await tx.put(.directories, tenantID, RecordStore.encode(d), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
        }
    }

    public func generation() async throws -> Int {
        try await backend.read { tx in try await RecordStore.decode(Int.self, tx.get(.meta, "generation")) ?? 0 }
    }

    // MARK: AuthorizationCodeStore

    public func saveCode(_ record: AuthorizationCodeRecord) async throws {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .codes, now: record.createdAt)
            // Kept a day past expiry so reuse can still be detected and answered.
            try await tx.put(.codes, record.codeHash, RecordStore.encode(record), expiresAt: record.expiresAt + 86_400)
        }
    }

    public func consumeCode(hash: String, at: Date) async throws -> AuthorizationCodeRecord {
        try await backend.write { tx in
            guard var record = try await RecordStore.decode(AuthorizationCodeRecord.self, tx.get(.codes, hash)) else {
                throw StorageError.notFound
            }
            if record.consumedAt != nil { throw StorageError.alreadyConsumed }
            record.consumedAt = at
            try await tx.put(.codes, hash, RecordStore.encode(record), expiresAt: record.expiresAt + 86_400)
            return record
        }
    }

    public func code(hash: String) async throws -> AuthorizationCodeRecord? {
        try await backend.read { tx in try await RecordStore.decode(AuthorizationCodeRecord.self, tx.get(.codes, hash)) }
    }

    // MARK: RefreshTokenStore

    public func saveRefreshToken(_ record: RefreshTokenRecord) async throws {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .refreshTokens, now: record.createdAt)
            try await tx.put(.refreshTokens, record.tokenHash, RecordStore.encode(record), expiresAt: record.expiresAt)
        }
    }

    public func refreshToken(hash: String) async throws -> RefreshTokenRecord? {
        try await backend.read { tx in
            guard let record = try await RecordStore.decode(RefreshTokenRecord.self, tx.get(.refreshTokens, hash)) else { return nil }
            if try await tx.get(.families, record.familyID) != nil { throw StorageError.revoked }
            return record
        }
    }

    public func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, at: Date, singleUse: Bool) async throws {
        try await backend.write { tx in
            guard var record = try await RecordStore.decode(RefreshTokenRecord.self, tx.get(.refreshTokens, hash)) else {
                throw StorageError.notFound
            }
            if try await tx.get(.families, record.familyID) != nil { throw StorageError.revoked }
            if singleUse && record.redeemedAt != nil { throw StorageError.alreadyConsumed }
            record.redeemedAt = record.redeemedAt ?? at
            try await tx.put(.refreshTokens, hash, RecordStore.encode(record), expiresAt: record.expiresAt)
            try await tx.put(.refreshTokens, successor.tokenHash, RecordStore.encode(successor), expiresAt: successor.expiresAt)
        }
    }

    public func revokeFamily(_ familyID: String) async throws {
        try await backend.write { tx in
            // Kept without expiry: a family's tokens may live up to the inactivity limit, which a revocation must outlast.
            try await tx.put(.families, familyID, RecordStore.encode(["revoked": true]), expiresAt: nil)
        }
    }

    // MARK: DeviceCodeStore

    public func saveDeviceCode(_ record: DeviceCodeRecord) async throws {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .deviceCodes, now: record.createdAt)
            try await self.purgeIfDue(tx, .userCodes, now: record.createdAt)
            if try await tx.get(.userCodes, record.userCode) != nil { throw StorageError.conflict }
            try await tx.put(.deviceCodes, record.deviceCodeHash, RecordStore.encode(record), expiresAt: record.expiresAt)
            try await tx.put(.userCodes, record.userCode, RecordStore.encode(record.deviceCodeHash), expiresAt: record.expiresAt)
        }
    }

    public func deviceCode(hash: String) async throws -> DeviceCodeRecord? {
        try await backend.read { tx in try await RecordStore.decode(DeviceCodeRecord.self, tx.get(.deviceCodes, hash)) }
    }

    public func deviceCode(userCode: String) async throws -> DeviceCodeRecord? {
        try await backend.read { tx in
            guard let hash = try await RecordStore.decode(String.self, tx.get(.userCodes, userCode)) else { return nil }
            return try await RecordStore.decode(DeviceCodeRecord.self, tx.get(.deviceCodes, hash))
        }
    }

    public func resolveDeviceCode(userCode: String, state: DeviceCodeRecord.State) async throws {
        try await backend.write { tx in
            guard let hash = try await RecordStore.decode(String.self, tx.get(.userCodes, userCode)),
                var record = try await RecordStore.decode(DeviceCodeRecord.self, tx.get(.deviceCodes, hash))
            else { throw StorageError.notFound }
            guard record.state == .pending else { throw StorageError.conflict }
            record.state = state
            try await tx.put(.deviceCodes, hash, RecordStore.encode(record), expiresAt: record.expiresAt)
        }
    }

    public func pollDeviceCode(hash: String, at: Date) async throws -> DeviceCodeRecord {
        try await backend.write { tx in
            guard var record = try await RecordStore.decode(DeviceCodeRecord.self, tx.get(.deviceCodes, hash)) else {
                throw StorageError.notFound
            }
            let before = record
            record.lastPolledAt = at
            if case .approved = record.state { record.state = .consumed }
            try await tx.put(.deviceCodes, hash, RecordStore.encode(record), expiresAt: record.expiresAt)
            return before
        }
    }

    // MARK: SessionStore

    public func saveSession(_ record: SessionRecord) async throws {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .sessions, now: record.createdAt)
            try await tx.put(.sessions, record.idHash, RecordStore.encode(record), expiresAt: record.expiresAt)
        }
    }

    public func session(hash: String) async throws -> SessionRecord? {
        try await backend.read { tx in try await RecordStore.decode(SessionRecord.self, tx.get(.sessions, hash)) }
    }

    public func deleteSession(hash: String) async throws {
        try await backend.write { tx in try await tx.delete(.sessions, hash) }
    }

    // MARK: InteractiveFlowStore

    public func saveFlow(_ record: InteractiveFlowRecord) async throws {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .flows, now: record.createdAt)
            try await tx.put(.flows, record.id, RecordStore.encode(record), expiresAt: record.expiresAt)
        }
    }

    public func flow(id: String) async throws -> InteractiveFlowRecord? {
        try await backend.read { tx in try await RecordStore.decode(InteractiveFlowRecord.self, tx.get(.flows, id)) }
    }

    public func deleteFlow(id: String) async throws {
        try await backend.write { tx in try await tx.delete(.flows, id) }
    }

    // MARK: SigningKeyStore

    public func signingKeys() async throws -> [SigningKeyRecord] {
        try await backend.read { tx in
            try await tx.all(.signingKeys).map { try RecordStore.decoder.decode(SigningKeyRecord.self, from: $0.value) }
        }
    }

    public func addSigningKey(_ record: SigningKeyRecord, retiringCurrentAt at: Date) async throws {
        try await backend.write { tx in
            for (key, data) in try await tx.all(.signingKeys) {
                var existing = try RecordStore.decoder.decode(SigningKeyRecord.self, from: data)
                if existing.retiredAt == nil {
                    existing.retiredAt = at
                    try await tx.put(.signingKeys, key, RecordStore.encode(existing), expiresAt: nil)
                }
            }
            // Keys sort by creation time so "newest" is the last row.
            let key = String(format: "%015.0f-", record.createdAt.timeIntervalSince1970 * 1000) + record.kid
            try await tx.put(.signingKeys, key, RecordStore.encode(record), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
        }
    }

    // MARK: SignInLogStore

    /// Orders records written in the same millisecond (in the order they were appended).
    private let sequence = LockedBox<UInt64>(0)

    public func appendSignIn(_ record: SignInRecord) async throws {
        let n = sequence.withLock { v -> UInt64 in
            v += 1
            return v
        }
        let key = String(format: "%015.0f-%012llu-", record.createdDateTime.timeIntervalSince1970 * 1000, n) + record.id
        try await signIns.append(
            key: key, value: Data(record.storedJSON()), expiresAt: record.createdDateTime + RecordStore.signInRetention)
    }

    public func recentSignIns(limit: Int) async throws -> [SignInRecord] {
        try await backend.read { tx in
            try await tx.last(.signIns, limit: limit).map { try RecordStore.decoder.decode(SignInRecord.self, from: $0) }
        }
    }

    /// The most rows one query reads before it answers (a page may then hold fewer than its limit,
    /// with a cursor to go on from, as Graph's pages may).
    static let signInScanLimit = 20_000

    /// Reads the query's time range only (the keys start with the creation time in milliseconds),
    /// newest first, in batches, until the page is full; the cursor is the key it stopped at.
    public func signIns(_ query: SignInQuery) async throws -> SignInLogPage {
        // The key range is the time range widened by a millisecond each side (keys round to the
        // millisecond); `selects` then checks each record's time exactly.
        var range = KeyRange(
            from: query.from.map { Self.signInKeyPrefix($0.timeIntervalSince1970 * 1000 - 1) },
            below: query.through.map { Self.signInKeyPrefix($0.timeIntervalSince1970 * 1000 + 2) })
        if let cursor = query.cursor, range.upperBound.map({ KeyRange.less(cursor, $0) }) ?? true { range.upperBound = cursor }
        let batch = min(max(query.limit * 4, 256), 4096)
        var records: [SignInRecord] = []
        var scanned = 0
        while true {
            let rows = try await backend.read { tx in try await tx.last(.signIns, limit: batch, in: range) }
            for row in rows {
                scanned += 1
                let record = try RecordStore.decoder.decode(SignInRecord.self, from: row.value)
                if query.selects(record) { records.append(record) }
                if records.count == query.limit || scanned == Self.signInScanLimit {
                    return SignInLogPage(records: records, nextCursor: row.key)
                }
            }
            guard rows.count == batch, let last = rows.last else { return SignInLogPage(records: records, nextCursor: nil) }
            range.upperBound = last.key
        }
    }

    /// The start of the keys of records created in a millisecond (see ``appendSignIn(_:)``).
    static func signInKeyPrefix(_ milliseconds: Double) -> String { String(format: "%015.0f-", max(0, milliseconds.rounded(.down))) }

    // MARK: ReplayCache

    public func useOnce(_ id: String, until: Date, now: Date) async throws -> Bool {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .replay, now: now)
            if let until = try await RecordStore.decode(Date.self, tx.get(.replay, id)), until >= now { return false }
            try await tx.put(.replay, id, RecordStore.encode(until), expiresAt: until)
            return true
        }
    }

    // MARK: AttemptCounter

    public func recordFailure(_ key: String, at: Date, window: TimeInterval) async throws -> Int {
        try await backend.write { tx in
            try await self.purgeIfDue(tx, .attempts, now: at)
            var times = (try await RecordStore.decode([Date].self, tx.get(.attempts, key)) ?? []).filter { $0 > at - window }
            times.append(at)
            try await tx.put(.attempts, key, RecordStore.encode(times), expiresAt: at + window)
            return times.count
        }
    }

    public func failureTimes(_ key: String, at: Date, window: TimeInterval) async throws -> [Date] {
        try await backend.read { tx in
            (try await RecordStore.decode([Date].self, tx.get(.attempts, key)) ?? []).filter { $0 > at - window }
        }
    }

    public func clearFailures(_ key: String) async throws {
        try await backend.write { tx in try await tx.delete(.attempts, key) }
    }

    // MARK: SettingsStore

    public func clockOffset() async throws -> TimeInterval {
        try await backend.read { tx in try await RecordStore.decode(TimeInterval.self, tx.get(.meta, "clockOffset")) ?? 0 }
    }

    public func setClockOffset(_ offset: TimeInterval) async throws {
        try await backend.write { tx in try await tx.put(.meta, "clockOffset", RecordStore.encode(offset), expiresAt: nil) }
    }
}

/// Group commit for the sign-in log: records that arrive while a write is in flight go into the
/// next transaction together, and each caller returns only once its record is committed. One
/// record per issuance stays durable before the response, at a fraction of a transaction each.
actor SignInBatcher {
    let backend: any StorageBackend
    private var pending: [(key: String, value: Data, expiresAt: Date)] = []
    private var lastPurge = Date.distantPast
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    private var flushing = false

    init(backend: any StorageBackend) { self.backend = backend }

    func append(key: String, value: Data, expiresAt: Date) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pending.append((key, value, expiresAt))
            waiters.append(continuation)
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = pending
            let batchWaiters = waiters
            pending = []
            waiters = []
            // Records past their retention are dropped at most once an hour, with a batch.
            let purgeBefore: Date? =
                Date().timeIntervalSince(lastPurge) > 3600 ? batch.map { $0.expiresAt - RecordStore.signInRetention }.min() : nil
            if purgeBefore != nil { lastPurge = Date() }
            do {
                try await backend.write { tx in
                    if let purgeBefore { try await tx.purge(.signIns, before: purgeBefore) }
                    for item in batch { try await tx.put(.signIns, item.key, item.value, expiresAt: item.expiresAt) }
                }
                for w in batchWaiters { w.resume() }
            } catch {
                for w in batchWaiters { w.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
