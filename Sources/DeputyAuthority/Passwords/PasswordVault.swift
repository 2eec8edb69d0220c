import DeputyCore
import Foundation
import HummingbirdBcrypt

/// Verifies users' passwords (bcrypt) and hashes the plain-text demo passwords of a freshly
/// seeded tenant file in the background, so start-up never waits for bcrypt. A sign-in that
/// arrives before its user's hash is ready waits for that one hash.
public final class PasswordVault: Sendable {
    /// bcrypt cost for hashes Deputy computes (hashes given in a tenant file keep theirs).
    let cost: UInt8
    let store: any DirectoryStore
    private let pending = LockedBox<[LoadedTenantFile.PasswordKey: Task<String, Never>]>([:])

    static let queue = DispatchQueue(label: "deputy.bcrypt", qos: .userInitiated)

    public init(store: any DirectoryStore, cost: UInt8 = 10) {
        self.store = store
        self.cost = cost
    }

    /// Starts hashing plain-text passwords taken from a tenant file and storing the hashes.
    public func hashInBackground(_ passwords: [LoadedTenantFile.PasswordKey: String]) {
        for (key, plain) in passwords {
            let store = self.store
            let cost = self.cost
            // Created under the lock, so the task's own removal (also under the lock) comes after
            // its insertion; once `value` is available the hash is stored and the entry gone.
            pending.withLock { tasks in
                tasks[key] = Task.detached(priority: .utility) { [pending] in
                    let hash = await withCheckedContinuation { continuation in
                        PasswordVault.queue.async { continuation.resume(returning: Bcrypt.hash(plain, cost: cost)) }
                    }
                    try? await store.setPasswordHash(tenantID: key.tenantID, userID: key.userID, hash: hash)
                    pending.withLock { $0[key] = nil }
                    return hash
                }
            }
        }
    }

    /// Waits until every background hash is stored (tests and `deputy tenant` commands).
    public func waitForHashing() async {
        while let task = pending.withLock({ $0.values.first }) { _ = await task.value }
    }

    /// Hashes a new password (bcrypt at the vault's cost) on the bcrypt queue.
    public func hash(_ password: String) async -> String {
        let cost = self.cost
        return await withCheckedContinuation { continuation in
            PasswordVault.queue.async { continuation.resume(returning: Bcrypt.hash(password, cost: cost)) }
        }
    }

    /// Checks a password for a user.
    public func verify(_ password: String, user: User, tenantID: String) async -> Bool {
        let hash: String
        if let task = pending.withLock({ $0[.init(tenantID: tenantID, userID: user.id)] }) {
            hash = await task.value
        } else if let stored = user.passwordHash {
            hash = stored
        } else if let stored = try? await store.directories().first(where: { $0.tenant.id == tenantID })?
            .users.first(where: { $0.id == user.id })?.passwordHash
        {
            // The caller read the user before its background hash landed, and the hash landed
            // (and its pending entry went) before this check: the store has it now.
            hash = stored
        } else {
            return false
        }
        // bcrypt is deliberately slow (tens of milliseconds): it runs on its own queue, one at a
        // time, so a burst of wrong passwords cannot occupy the cooperative threads that serve
        // every other request.
        return await withCheckedContinuation { continuation in
            PasswordVault.queue.async { continuation.resume(returning: Bcrypt.verify(password, hash: hash)) }
        }
    }
}
