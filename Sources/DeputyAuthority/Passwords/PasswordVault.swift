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

    /// bcrypt runs here, off Swift's cooperative threads (it is deliberately slow: tens of
    /// milliseconds), so a burst of sign-ins cannot occupy the threads that serve every other
    /// request. The queue is concurrent: Dispatch runs as many hashes at once as there are cores,
    /// where a serial queue made every sign-in wait behind all the others.
    static let queue = DispatchQueue(label: "deputy.bcrypt", qos: .userInitiated, attributes: .concurrent)
    /// Hashes running now, and the most that ever ran at once (tests read it).
    private static let running = LockedBox<(now: Int, peak: Int)>((0, 0))
    static var peakConcurrentHashes: Int { running.withLock { $0.peak } }

    /// Runs bcrypt work on ``queue``.
    static func onQueue<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async {
                running.withLock {
                    $0.now += 1
                    $0.peak = max($0.peak, $0.now)
                }
                let result = work()
                running.withLock { $0.now -= 1 }
                continuation.resume(returning: result)
            }
        }
    }

    /// A hash of a random password at the vault's cost, checked when the account does not exist
    /// or has no password, so the answer takes as long as for a real account (no timing oracle
    /// on which accounts exist).
    private let dummyHash = LockedBox<String?>(nil)
    /// Password checks this vault ran (real or dummy), for tests.
    let checksRun = LockedBox(0)

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
                    let hash = await PasswordVault.onQueue { Bcrypt.hash(plain, cost: cost) }
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
        return await PasswordVault.onQueue { Bcrypt.hash(password, cost: cost) }
    }

    /// Spends the time of a real check, for a sign-in whose account does not exist.
    public func verifyNothing(_ password: String) async {
        let hash: String
        if let made = dummyHash.withLock({ $0 }) {
            hash = made
        } else {
            hash = await self.hash(TokenMinter.randomID())
            dummyHash.withLock { $0 = $0 ?? hash }
        }
        checksRun.withLock { $0 += 1 }
        _ = await PasswordVault.onQueue { Bcrypt.verify(password, hash: hash) }
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
            await verifyNothing(password)
            return false
        }
        checksRun.withLock { $0 += 1 }
        return await PasswordVault.onQueue { Bcrypt.verify(password, hash: hash) }
    }
}
