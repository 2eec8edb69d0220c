import Foundation

/// A mutual-exclusion lock for async code: ``withLock(_:)`` runs its body with no other holder,
/// suspending (not blocking a thread) while another task holds it. Waiters are served first come,
/// first served.
///
/// Swift's standard library has `Mutex` only for synchronous sections; a store transaction that
/// awaits its reads needs one held across suspension points, hence this small type.
public final class AsyncLock: @unchecked Sendable {
    private let lock = NSLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    /// Runs `body` while holding the lock.
    public func withLock<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if takeOrQueue(continuation) { continuation.resume() }
        }
    }

    /// Takes the lock (true) or queues `continuation` to be resumed when it is handed over.
    private func takeOrQueue(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        lock.withLock {
            if held {
                waiters.append(continuation)
                return false
            }
            held = true
            return true
        }
    }

    /// Hands the lock to the first waiter (it stays held), or frees it.
    private func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if waiters.isEmpty {
                held = false
                return nil
            }
            return waiters.removeFirst()
        }
        next?.resume()
    }
}
