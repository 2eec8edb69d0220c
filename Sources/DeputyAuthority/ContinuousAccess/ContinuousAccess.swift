import DeputyCore
public import Foundation
import Logging
import Metrics

/// Continuous access evaluation at the authority (Microsoft Learn, "Continuous access
/// evaluation"): critical events change the directory and are recorded for resources, and no
/// token is issued on a sign-in that an event has overtaken.
public enum ContinuousAccess {
    /// A user named in an event is not in the tenant.
    public struct UnknownUser: Error, CustomStringConvertible {
        public var userID: String
        public var description: String { "no user '\(userID)' in the tenant" }
    }

    /// Records a critical event for a user and, in the same transaction, makes the directory
    /// say it: sessions end at the event (`signInSessionsValidFromDateTime`) for every kind but
    /// a risk change; a disabled account is disabled, a deleted one removed with its grants, roles
    /// and memberships, a risky user's risk set to high.
    /// - Parameters:
    ///   - kind: what happened.
    ///   - userID: the user's object id.
    ///   - tenantID: the user's tenant.
    ///   - at: when it happened (the authority's clock).
    ///   - store: where the directory and the events are.
    ///   - change: a further change to make first, in the same transaction (a Graph PATCH with a
    ///     new password hash); when it throws, nothing is changed or recorded.
    @discardableResult
    public static func raise(
        _ kind: CriticalEvent.Kind, userID: String, tenantID: String, at: Date, in store: any CriticalEventStore & DirectoryStore,
        change: (@Sendable (inout TenantDirectory) throws -> Void)? = nil
    ) async throws -> CriticalEvent {
        guard let directory = try await store.directories().first(where: { $0.tenant.id == tenantID }),
            directory.users.contains(where: { $0.id == userID })
        else { throw UnknownUser(userID: userID) }
        let from = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
        return try await store.recordCriticalEvent(tenantID: tenantID, userID: userID, kind: kind, at: at) { d in
            try change?(&d)
            guard let i = d.users.firstIndex(where: { $0.id == userID }) else { return }
            switch kind {
            case .userDeleted:
                // As Graph's DELETE does: the user's grants, role assignments and memberships go too.
                try GraphCollection.users.delete(userID, in: &d)
                return
            case .userDisabled: d.users[i].accountEnabled = false
            case .userRiskHigh: d.users[i].userRiskLevel = "high"
            case .passwordChanged, .sessionsRevoked, .locationChanged: break
            }
            if CriticalEvent.endsSessions(kind) { d.users[i].signInSessionsValidFrom = from }
        }
    }

    /// A user's address for Conditional Access is not an IP address.
    public struct InvalidAddress: Error, CustomStringConvertible {
        public var address: String
        public var description: String { "'\(address)' is not an IPv4 or IPv6 address" }
    }

    /// Moves a user's sign-ins to another network address (Deputy's test control for named
    /// locations; nil: back to the request's own address). While an enabled policy strictly
    /// enforces location (``ConditionalAccessPolicy/strictLocationEnforcement``) this is a
    /// `locationChanged` critical event: resources that evaluate continuously refuse the user's
    /// earlier tokens, and the next token is evaluated from the new place (Microsoft Learn,
    /// "Strictly enforce location policies using continuous access evaluation").
    /// - Parameters:
    ///   - address: the IPv4 or IPv6 address, or nil.
    ///   - userID: the user's object id.
    ///   - tenantID: the user's tenant.
    ///   - at: when (the authority's clock).
    ///   - store: where the directory and the events are.
    /// - Returns: the event, or nil when no policy enforces location strictly.
    @discardableResult
    public static func moveSignIns(
        to address: String?, userID: String, tenantID: String, at: Date, in store: any CriticalEventStore & DirectoryStore
    ) async throws -> CriticalEvent? {
        if let address, IPRange.bytes(of: address) == nil { throw InvalidAddress(address: address) }
        guard let directory = try await store.directories().first(where: { $0.tenant.id == tenantID }),
            directory.users.contains(where: { $0.id == userID })
        else { throw UnknownUser(userID: userID) }
        let change: @Sendable (inout TenantDirectory) throws -> Void = { d in
            if let i = d.users.firstIndex(where: { $0.id == userID }) { d.users[i].signInIPAddress = address }
        }
        let strict = DirectoryIndex(directory).policies.contains { $0.state == .enabled && $0.strictLocationEnforcement }
        guard strict else {
            try await store.updateDirectory(tenantID: tenantID, change)
            return nil
        }
        return try await raise(.locationChanged, userID: userID, tenantID: tenantID, at: at, in: store, change: change)
    }

    /// Refuses issuance on a sign-in older than the user's `signInSessionsValidFromDateTime`, or
    /// older than a continuous access evaluation challenge's `nbf`: both need the user to sign in
    /// again, so the error is `interaction_required` with the `nbf` claims request for the
    /// interactive client (relayed by middle tiers like any claims challenge).
    static func requireCurrentSignIn(user: User, authentication: Authentication, claims: ClaimsRequest) throws(OAuthError) {
        let signedIn = authentication.authTime.timeIntervalSince1970.rounded(.down)
        if let from = user.signInSessionsValidFrom, !user.signInIsCurrent(authentication.authTime) {
            throw .freshSignInRequired(since: from, claims: ClaimsRequest.notBefore(from).jsonString)
        }
        if let nbf = claims.notBefore, signedIn < nbf.timeIntervalSince1970.rounded(.down) {
            throw .freshSignInRequired(since: nbf, claims: ClaimsRequest.notBefore(nbf).jsonString)
        }
    }
}

extension Authority {
    /// Records a critical event for a user of a tenant, now (see ``ContinuousAccess/raise(_:userID:tenantID:at:in:change:)``).
    @discardableResult
    public func raiseCriticalEvent(
        _ kind: CriticalEvent.Kind, userID: String, tenantID: String, change: (@Sendable (inout TenantDirectory) throws -> Void)? = nil
    ) async throws -> CriticalEvent {
        let event = try await ContinuousAccess.raise(kind, userID: userID, tenantID: tenantID, at: time.now(), in: store, change: change)
        Counter(label: "deputy_cae_events_total", dimensions: [("event", kind.rawValue)]).increment()
        logger.info("critical event", metadata: ["event": "\(kind.rawValue)", "user": "\(userID)", "sequence": "\(event.sequence)"])
        return event
    }
}
