public import Foundation

// Small storage protocols, one per record, that name no database type. Every implementation must
// make the one-time operations atomic: `consumeCode`, `rotateRefreshToken`, `pollDeviceCode`
// and `useOnce` succeed for exactly one caller even when called concurrently. A method that
// returns normally has committed its change (a success response is only sent after that).

/// The directory: tenants seeded from the tenant file, then changed at runtime.
public protocol DirectoryStore: Sendable {
    /// All tenants (empty before the first seed).
    func directories() async throws -> [TenantDirectory]
    /// The fingerprint of the tenant file that seeded the store, if any.
    func seedFingerprint() async throws -> String?
    /// Replaces every tenant's directory (first seed and `--reseed`).
    func replaceDirectories(_ directories: [TenantDirectory], fingerprint: String) async throws
    /// Saves one tenant's directory (runtime change).
    func saveDirectory(_ directory: TenantDirectory) async throws
    /// Changes one tenant's directory in a single transaction (read, change, write), so
    /// concurrent changes (two consents, a password hash landing) are never lost.
    func updateDirectory(tenantID: String, _ change: @escaping @Sendable (inout TenantDirectory) throws -> Void) async throws
    /// Sets a user's password hash, keeping everything else.
    func setPasswordHash(tenantID: String, userID: String, hash: String) async throws
    /// A number that changes whenever the directory or the signing keys change (so a running
    /// authority sees changes made by the CLI at its next request).
    func generation() async throws -> Int
}

/// Authorization codes (stored by hash).
public protocol AuthorizationCodeStore: Sendable {
    func saveCode(_ record: AuthorizationCodeRecord) async throws
    /// Marks the code consumed and returns it. Throws ``StorageError/notFound``, or
    /// ``StorageError/alreadyConsumed`` when it was consumed before (then `reusedCode(hash:)` gives it).
    func consumeCode(hash: String, at: Date) async throws -> AuthorizationCodeRecord
    /// The record of a code, consumed or not.
    func code(hash: String) async throws -> AuthorizationCodeRecord?
}

/// Refresh tokens (stored by hash) and their families.
public protocol RefreshTokenStore: Sendable {
    func saveRefreshToken(_ record: RefreshTokenRecord) async throws
    /// The record, or nil when unknown. Throws ``StorageError/revoked`` when its family was revoked.
    func refreshToken(hash: String) async throws -> RefreshTokenRecord?
    /// Stores `successor` and marks `hash` redeemed, atomically. With `singleUse`, a token already
    /// redeemed throws ``StorageError/alreadyConsumed`` (the caller then revokes the family).
    func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, at: Date, singleUse: Bool) async throws
    /// Revokes every token of a family.
    func revokeFamily(_ familyID: String) async throws
}

/// Device authorizations (RFC 8628).
public protocol DeviceCodeStore: Sendable {
    func saveDeviceCode(_ record: DeviceCodeRecord) async throws
    func deviceCode(hash: String) async throws -> DeviceCodeRecord?
    func deviceCode(userCode: String) async throws -> DeviceCodeRecord?
    /// Approves or declines a pending authorization. Throws ``StorageError/conflict`` if not pending.
    func resolveDeviceCode(userCode: String, state: DeviceCodeRecord.State) async throws
    /// Records a poll and, when approved, consumes it atomically, returning the record as it was.
    func pollDeviceCode(hash: String, at: Date) async throws -> DeviceCodeRecord
}

/// Single-sign-on sessions.
public protocol SessionStore: Sendable {
    func saveSession(_ record: SessionRecord) async throws
    func session(hash: String) async throws -> SessionRecord?
    func deleteSession(hash: String) async throws
}

/// Interactive flows in progress.
public protocol InteractiveFlowStore: Sendable {
    func saveFlow(_ record: InteractiveFlowRecord) async throws
    func flow(id: String) async throws -> InteractiveFlowRecord?
    func deleteFlow(id: String) async throws
}

/// Token signing keys.
public protocol SigningKeyStore: Sendable {
    func signingKeys() async throws -> [SigningKeyRecord]
    /// Adds a new current key and retires the previous current key at `at`, atomically.
    func addSigningKey(_ record: SigningKeyRecord, retiringCurrentAt at: Date) async throws
}

/// The sign-in log.
public protocol SignInLogStore: Sendable {
    func appendSignIn(_ record: SignInRecord) async throws
    /// The most recent records, newest first.
    func recentSignIns(limit: Int) async throws -> [SignInRecord]
    /// One page of the records a query selects, newest first, and where the next page starts.
    func signIns(_ query: SignInQuery) async throws -> SignInLogPage
}

/// A query over the sign-in log (Microsoft Graph's `auditLogs/signIns` with `$filter`, `$top` and
/// `$skiptoken`): the store reads only the time range asked for, a page at a time.
public struct SignInQuery: Sendable {
    /// Only this tenant's records.
    public var tenantID: String?
    /// Records created at or after this time.
    public var from: Date?
    /// Records created at or before this time.
    public var through: Date?
    /// Any other condition (user, application, correlation id …).
    public var matching: @Sendable (SignInRecord) -> Bool
    /// The most records in the page.
    public var limit: Int
    /// Where the previous page stopped (its ``SignInLogPage/nextCursor``), or nil for the first page.
    public var cursor: String?

    public init(
        tenantID: String? = nil, from: Date? = nil, through: Date? = nil, limit: Int, cursor: String? = nil,
        matching: @escaping @Sendable (SignInRecord) -> Bool = { _ in true }
    ) {
        self.tenantID = tenantID
        self.from = from
        self.through = through
        self.limit = limit
        self.cursor = cursor
        self.matching = matching
    }

    /// Whether a record is selected (the time range exactly, as the store's key range is coarser).
    public func selects(_ record: SignInRecord) -> Bool {
        (tenantID.map { record.tenantId == $0 } ?? true) && (from.map { record.createdDateTime >= $0 } ?? true)
            && (through.map { record.createdDateTime <= $0 } ?? true) && matching(record)
    }
}

/// A page of the sign-in log.
public struct SignInLogPage: Sendable {
    /// Newest first.
    public var records: [SignInRecord]
    /// Pass as ``SignInQuery/cursor`` for the next page; nil when the log has no more.
    public var nextCursor: String?

    public init(records: [SignInRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
    }
}

/// One-time identifiers (client assertion `jti`s).
public protocol ReplayCache: Sendable {
    /// Returns true the first time `id` is seen before `until`; false for a replay.
    func useOnce(_ id: String, until: Date, now: Date) async throws -> Bool
}

/// Failed-attempt counters (MFA codes, passwords), for lockout. `recordFailure` is atomic: two
/// concurrent calls never return the same count.
public protocol AttemptCounter: Sendable {
    /// Records a failure for `key` and returns the failures within the last `window` seconds, this one included.
    func recordFailure(_ key: String, at: Date, window: TimeInterval) async throws -> Int
    /// When the failures recorded for `key` within the last `window` seconds happened.
    func failureTimes(_ key: String, at: Date, window: TimeInterval) async throws -> [Date]
    /// Forgets the failures of `key` (after a success).
    func clearFailures(_ key: String) async throws
}

/// Runtime settings that are not part of the directory.
public protocol SettingsStore: Sendable {
    /// How far the authority's clock is moved from the system clock (`deputy up --test-controls`).
    func clockOffset() async throws -> TimeInterval
    func setClockOffset(_ offset: TimeInterval) async throws
}

/// Everything the authority persists.
public typealias AuthorityStore = DirectoryStore & AuthorizationCodeStore & RefreshTokenStore & DeviceCodeStore
    & SessionStore & InteractiveFlowStore & SigningKeyStore & SignInLogStore & ReplayCache & AttemptCounter & SettingsStore
    & CriticalEventStore
