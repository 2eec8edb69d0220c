public import DeputyCore
public import Foundation

/// The critical-event feed for resources that evaluate continuously: Deputy's own endpoint, as
/// Entra offers its first-party resources no public one (Microsoft Learn, "Continuous access
/// evaluation": "critical event evaluation" between Microsoft Entra ID and the resource).
///
/// `POST /{tenant}/deputy/cae/events` with `after=<sequence>` and client authentication as at the
/// token endpoint (RFC 6749 §2.3: a secret, Basic or in the form, or a certificate assertion), the
/// way a resource authenticates to an introspection endpoint (RFC 7662 §2.1). Only a confidential
/// application that exposes an API (has an App ID URI) may read it: the feed names users.
public struct CriticalEventFeed: Sendable, Encodable {
    /// One event as the feed shows it.
    public struct Event: Sendable, Encodable, Equatable {
        /// Order in the feed; pass the last one seen as `after`.
        public var sequence: Int
        /// The user's object id (`oid`).
        public var userId: String
        /// `userDisabled`, `userDeleted`, `passwordChanged`, `sessionsRevoked` or `userRiskHigh`.
        public var event: String
        /// Unix seconds: the user's tokens issued before this are refused.
        public var occurredAt: Int
    }
    /// Events after the one asked for, oldest first.
    public var events: [Event]
    /// The sequence to pass as `after` next time (the last event's, or the one given).
    public var cursor: Int

    /// The most events in one answer.
    public static let pageSize = 1_000
}

extension Authority {
    /// Answers the critical-event feed for an authenticated resource (see ``CriticalEventFeed``).
    public func criticalEventFeed(_ request: TokenRequest) async -> Result<CriticalEventFeed, OAuthError> {
        do {
            guard let tenant = try await self.tenant(request.tenantSegment, clientID: ClientAuthenticator.clientIDHint(request)) else {
                return .failure(.tenantNotFound(request.tenantSegment))
            }
            try request.form.rejectDuplicates(except: [])
            let after: Int
            if let text = request.form["after"] {
                guard let n = Int(text), n >= 0 else {
                    throw OAuthError.invalidParameter("after", "Expected the sequence number of the last event seen (0 for all).")
                }
                after = n
            } else {
                after = 0
            }
            let client = try await ClientAuthenticator(authority: self).authenticate(request, tenant: tenant)
            guard client.credential != .none else { throw OAuthError.missingClientCredential() }
            guard !(client.application.identifierUris ?? []).isEmpty else {
                throw OAuthError(
                    .unauthorizedClient, aadsts: 700016,
                    message:
                        "Application '\(client.application.appId)' exposes no API (it has no App ID URI): only resources may read the critical-event feed.",
                    status: 403)
            }
            let events = try await store.criticalEvents(tenantID: tenant.tenantID, after: after, limit: CriticalEventFeed.pageSize)
            return .success(
                CriticalEventFeed(
                    events: events.map {
                        .init(
                            sequence: $0.sequence, userId: $0.userID, event: $0.kind.rawValue,
                            occurredAt: Int($0.occurredAt.timeIntervalSince1970))
                    }, cursor: events.last?.sequence ?? after))
        } catch {
            return .failure(normalize(error, draft: nil))
        }
    }
}
