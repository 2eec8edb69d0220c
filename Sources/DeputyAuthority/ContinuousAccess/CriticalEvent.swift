import DeputyCore
public import Foundation

/// A critical event of continuous access evaluation (Microsoft Learn, "Continuous access
/// evaluation", "Critical event evaluation"): something that happened to a user after their
/// tokens were issued and that resources which evaluate continuously must act on at once.
///
/// Events are records in the store with a sequence number, so every authority instance and every
/// resource polling the feed sees the same events in the same order.
public struct CriticalEvent: Codable, Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The account was disabled (`accountEnabled: false`).
        case userDisabled
        /// The account was deleted.
        case userDeleted
        /// The password was changed or reset.
        case passwordChanged
        /// An administrator revoked the user's sessions (`revokeSignInSessions`).
        case sessionsRevoked
        /// Identity Protection raised the user's risk to high.
        case userRiskHigh
        /// The user's sign-ins now come from another network location while a policy with strict
        /// location enforcement is on (the resource re-checks the location at once).
        case locationChanged
    }

    /// The event's place in the store's order (increasing, never reused).
    public var sequence: Int
    public var tenantID: String
    /// The user's object id (`oid` in their tokens).
    public var userID: String
    public var kind: Kind
    /// When it happened, in whole seconds: tokens issued before it are refused.
    public var occurredAt: Date

    public init(sequence: Int, tenantID: String, userID: String, kind: Kind, occurredAt: Date) {
        self.sequence = sequence
        self.tenantID = tenantID
        self.userID = userID
        self.kind = kind
        self.occurredAt = occurredAt
    }

    /// How long events are kept: longer than any continuous access evaluation token lives.
    public static let retention: TimeInterval = 7 * 86_400

    /// Whether the event ends the user's current sessions and refresh tokens at the authority
    /// (Graph's `signInSessionsValidFromDateTime` moves to the event). A risk or location change
    /// leaves them to Conditional Access, which sees the new risk or place at the next token.
    public var endsSessions: Bool { Self.endsSessions(kind) }

    /// Whether events of `kind` end sessions (see ``endsSessions``).
    public static func endsSessions(_ kind: Kind) -> Bool { kind != .userRiskHigh && kind != .locationChanged }
}

/// The critical events of continuous access evaluation.
public protocol CriticalEventStore: Sendable {
    /// Records an event and, in the same transaction, applies its change to the tenant's directory
    /// (so no event is lost and no change goes unannounced). Assigns the sequence number.
    func recordCriticalEvent(
        tenantID: String, userID: String, kind: CriticalEvent.Kind, at: Date,
        directoryChange: @escaping @Sendable (inout TenantDirectory) throws -> Void
    ) async throws -> CriticalEvent
    /// The tenant's events after sequence number `after` (0: from the start), oldest first, at most `limit`.
    func criticalEvents(tenantID: String, after: Int, limit: Int) async throws -> [CriticalEvent]
}

extension RecordStore {
    /// `{tenant}/{sequence, 16 digits}`: a tenant's events sort together, in order.
    static func criticalEventKey(tenantID: String, sequence: Int) -> String {
        let digits = String(sequence)
        return tenantID + "/" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    public func recordCriticalEvent(
        tenantID: String, userID: String, kind: CriticalEvent.Kind, at: Date,
        directoryChange: @escaping @Sendable (inout TenantDirectory) throws -> Void
    ) async throws -> CriticalEvent {
        try await backend.write { tx in
            guard var d = try await RecordStore.decode(TenantDirectory.self, tx.get(.directories, tenantID)) else {
                throw StorageError.notFound
            }
            try directoryChange(&d)
            try await tx.put(.directories, tenantID, RecordStore.encode(d), expiresAt: nil)
            try await RecordStore.bumpGeneration(tx)
            let sequence = (try await RecordStore.decode(Int.self, tx.get(.meta, "criticalEventSequence")) ?? 0) + 1
            try await tx.put(.meta, "criticalEventSequence", RecordStore.encode(sequence), expiresAt: nil)
            let event = CriticalEvent(
                sequence: sequence, tenantID: tenantID, userID: userID, kind: kind,
                occurredAt: Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down)))
            try await self.purgeIfDue(tx, .criticalEvents, now: at)
            try await tx.put(
                .criticalEvents, RecordStore.criticalEventKey(tenantID: tenantID, sequence: sequence), RecordStore.encode(event),
                expiresAt: at + CriticalEvent.retention)
            return event
        }
    }

    public func criticalEvents(tenantID: String, after: Int, limit: Int) async throws -> [CriticalEvent] {
        // The events of a few days are few: read the tenant's range after the cursor, oldest first.
        let range = KeyRange(
            from: RecordStore.criticalEventKey(tenantID: tenantID, sequence: after + 1), below: tenantID + "0")
        let rows = try await backend.read { tx in try await tx.last(.criticalEvents, limit: 100_000, in: range) }
        return try rows.reversed().prefix(limit).compactMap { try RecordStore.decode(CriticalEvent.self, $0.value) }
    }
}
