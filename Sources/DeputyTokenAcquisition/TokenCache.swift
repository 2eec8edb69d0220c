import DeputyCore
public import Foundation

/// Where a ``ConfidentialClient`` keeps the tokens it acquired, between requests and — with a
/// shared implementation — between the instances of a middle tier.
///
/// The default is ``InMemoryTokenCache`` (a bounded LRU per process). A middle tier that runs
/// several instances can share one cache, so that a user's OBO token acquired by one instance
/// serves the others: `DeputyTokenAcquisitionPostgres` keeps it in PostgreSQL, encrypted with a key
/// the middle tier supplies. Keys are opaque strings the client builds (its client id, the token
/// endpoint, the SHA-256 of the user's assertion, the scopes); they never contain a token.
///
/// A cache that fails (a database down) does not fail acquisition: the client treats a failed
/// read as a miss and a failed write as not cached, and asks the token endpoint.
public protocol TokenCache: Sendable {
    /// The token stored under `key`, unless it expired (`expiresAt` of ``store(_:for:expiresAt:)``) by `now`.
    func token(for key: String, now: Date) async throws -> AccessToken?
    /// Stores `token` under `key` until `expiresAt` (the client passes the token's expiry less five minutes).
    func store(_ token: AccessToken, for key: String, expiresAt: Date) async throws
    /// Forgets the token under `key`.
    func remove(_ key: String) async throws
}

/// Tokens in this process's memory: a bounded LRU, so memory stays flat at `capacity` entries.
public final class InMemoryTokenCache: TokenCache {
    let entries: LRUCache<String, AccessToken>

    /// A cache of at most `capacity` tokens (at least one).
    public init(capacity: Int = 10_000) {
        entries = LRUCache(capacity: max(1, capacity))
    }

    public func token(for key: String, now: Date) async throws -> AccessToken? { entries.value(for: key, now: now) }
    public func store(_ token: AccessToken, for key: String, expiresAt: Date) async throws {
        entries.set(token, for: key, expiresAt: expiresAt)
    }
    public func remove(_ key: String) async throws { entries.remove(key) }
}
