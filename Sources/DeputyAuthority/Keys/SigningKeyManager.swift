public import DeputyCore
public import DeputyTokenValidation
public import Foundation
import JWTKit
import Logging

/// The authority's signing keys: the current one signs; retired ones stay published in the JWKS
/// for a grace period so tokens they signed still validate. Keys live in the store, so a rotation
/// made by `deputy authority rotate-keys` is seen by a running authority at its next request.
public final class SigningKeyManager: Sendable {
    public struct Snapshot: Sendable {
        public let current: SigningKey
        /// The current key and retired keys still in their grace period.
        public let published: [SigningKey]
        /// Validates tokens this authority signed with any published key (OBO assertions, token
        /// exchange, Entra-issued federated credentials) — the same validator resources use.
        public let validator: TokenValidator
    }

    let store: any SigningKeyStore
    let time: any TimeSource
    /// How long a retired key stays in the JWKS.
    public let gracePeriod: TimeInterval
    private let state = LockedBox<(generation: Int, snapshot: Snapshot?)>((-1, nil))

    public init(store: any SigningKeyStore, time: any TimeSource, gracePeriod: TimeInterval = 86_400) {
        self.store = store
        self.time = time
        self.gracePeriod = gracePeriod
    }

    /// Makes sure a current key exists (generating one on first start).
    public func ensureKey() async throws {
        if try await store.signingKeys().contains(where: { $0.retiredAt == nil }) { return }
        try await store.addSigningKey(SigningKey.generate(now: time.now()), retiringCurrentAt: time.now())
    }

    /// Generates a new current key and retires the previous one.
    @discardableResult
    public func rotate() async throws -> SigningKeyRecord {
        let record = try SigningKey.generate(now: time.now())
        try await store.addSigningKey(record, retiringCurrentAt: time.now())
        return record
    }

    /// The keys for the given store generation; reloads only when the generation moved.
    public func snapshot(generation: Int) async throws -> Snapshot {
        if let s = state.withLock({ $0.generation == generation ? $0.snapshot : nil }) { return s }
        let records = try await store.signingKeys()
        let now = time.now()
        let usable = records.filter { $0.retiredAt == nil || $0.retiredAt! + gracePeriod > now }
        let keys = try usable.map(SigningKey.init(record:))
        guard let current = keys.last(where: { $0.record.retiredAt == nil }) else { throw StorageError.notFound }
        let published = [current] + keys.filter { $0.kid != current.kid }.reversed()
        let jwks = JSONValue.object(["keys": .array(try published.map { .object(try $0.jwk(issuer: "")) })])
        let collection = try await TokenValidator.keys(jwksJSON: String(decoding: jwks.serialized, as: UTF8.self))
        let snapshot = Snapshot(current: current, published: published, validator: TokenValidator(keys: collection, time: time))
        state.withLock { $0 = (generation, snapshot) }
        return snapshot
    }
}
