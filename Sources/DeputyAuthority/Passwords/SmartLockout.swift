import DeputyCore
public import Foundation

/// Entra's smart lockout for passwords (Microsoft Learn, "Protect user accounts from attacks with
/// Microsoft Entra smart lockout"): after ``Settings/threshold`` wrong passwords for one account
/// from one source address within ``Settings/window`` the account is locked for that address
/// (AADSTS50053), at first for ``Settings/lockoutDuration`` and twice as long at each further
/// lockout within a day. An attacker elsewhere cannot lock the user out of their own address,
/// and a source that spreads wrong passwords over many accounts (password spray) is locked as a
/// whole after ``Settings/addressThreshold`` failures.
///
/// Attempts are counted before the password is checked (reserve first, clear on success), so a
/// burst of concurrent guesses cannot all pass the check before the first failure is recorded.
/// Unknown accounts are counted by the name tried, exactly as known ones, so lockout does not
/// tell which accounts exist.
public struct SmartLockout: Sendable {
    /// The lockout's knobs (Entra's defaults: threshold 10, duration 60 seconds).
    public struct Settings: Sendable, Equatable {
        /// Wrong passwords for one account from one address before it locks.
        public var threshold = 10
        /// Wrong passwords from one address, over all accounts, before the address locks.
        public var addressThreshold = 50
        /// How far back failures count.
        public var window: TimeInterval = 600
        /// The first lockout's length; each further lockout within a day doubles it.
        public var lockoutDuration: TimeInterval = 60
        /// The longest lockout.
        public var maximumLockoutDuration: TimeInterval = 3600
        public init() {}
    }

    let settings: Settings
    let counter: any AttemptCounter

    /// The keys of one attempt: the account (by the name tried) from the source address, and the address.
    struct Keys {
        let account: String
        let accountLocks: String
        let address: String
        let addressLocks: String

        init(tenantID: String, login: String, ipAddress: String?) {
            let ip = ipAddress ?? "unknown"
            let name = login.lowercased()
            account = "pwd:\(tenantID):\(name):\(ip)"
            accountLocks = "pwdlock:\(tenantID):\(name):\(ip)"
            address = "pwdip:\(tenantID):\(ip)"
            addressLocks = "pwdiplock:\(tenantID):\(ip)"
        }
    }

    /// Before the password is checked: throws AADSTS50053 while the account (from this address) or
    /// the address is locked, and reserves one attempt.
    func begin(tenantID: String, login: String, ipAddress: String?, now: Date) async throws -> Keys {
        let keys = Keys(tenantID: tenantID, login: login, ipAddress: ipAddress)
        for locks in [keys.accountLocks, keys.addressLocks] where try await lockedUntil(locks, now: now) != nil {
            throw OAuthError.accountLocked()
        }
        let reserved = try await counter.recordFailure(keys.account, at: now, window: settings.window)
        if reserved > settings.threshold {
            // Concurrent guesses past the threshold: the lockout is (being) recorded by the one that reached it.
            throw OAuthError.accountLocked()
        }
        return keys
    }

    /// After the check. A right password clears the account's count; a wrong one counts against
    /// the address too and locks whatever reached its threshold.
    /// - Returns: whether this failure locked the account or the address.
    @discardableResult
    func finish(_ keys: Keys, passwordMatched: Bool, now: Date) async throws -> Bool {
        if passwordMatched {
            try await counter.clearFailures(keys.account)
            return false
        }
        var locked = false
        if try await counter.failureTimes(keys.account, at: now, window: settings.window).count >= settings.threshold {
            try await lock(keys.accountLocks, now: now)
            try await counter.clearFailures(keys.account)
            locked = true
        }
        if try await counter.recordFailure(keys.address, at: now, window: settings.window) >= settings.addressThreshold {
            try await lock(keys.addressLocks, now: now)
            try await counter.clearFailures(keys.address)
            locked = true
        }
        return locked
    }

    /// When the lock on `key` ends, or nil when it is not locked.
    func lockedUntil(_ key: String, now: Date) async throws -> Date? {
        let locks = try await counter.failureTimes(key, at: now, window: 86_400)
        guard let last = locks.max() else { return nil }
        let end = last + duration(lockouts: locks.count)
        return end > now ? end : nil
    }

    /// The length of the n-th lockout within a day: doubling, capped.
    func duration(lockouts n: Int) -> TimeInterval {
        min(settings.maximumLockoutDuration, settings.lockoutDuration * pow(2, Double(max(0, n - 1))))
    }

    private func lock(_ key: String, now: Date) async throws {
        _ = try await counter.recordFailure(key, at: now, window: 86_400)
    }
}
