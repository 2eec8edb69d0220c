public import Foundation

/// A bounded least-recently-used cache with per-entry expiry, safe to share between tasks.
/// Memory stays flat at `capacity` entries: inserting beyond it evicts the least recently used
/// one. Lookups and inserts are O(1) (a dictionary of slots plus an intrusive doubly linked list
/// over an array, so entries are not separately allocated).
///
/// Hand-written: swift-collections' `OrderedDictionary` moves an entry to the end in O(n), and no
/// listed package offers an LRU with expiry.
public final class LRUCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Slot {
        var key: Key
        var value: Value
        var expiresAt: Date
        var previous: Int
        var next: Int
    }

    private struct State {
        var index: [Key: Int] = [:]
        var slots: [Slot] = []
        /// Most recently used.
        var head = -1
        /// Least recently used.
        var tail = -1
        var free: [Int] = []
    }

    public let capacity: Int
    private let state = LockedBox(State())

    public init(capacity: Int) {
        precondition(capacity > 0, "an LRU cache holds at least one entry")
        self.capacity = capacity
    }

    /// The number of entries (expired ones included until they are looked up or evicted).
    public var count: Int { state.withLock { $0.index.count } }

    /// The value for `key` if present and not expired at `now`; marks it most recently used.
    public func value(for key: Key, now: Date) -> Value? {
        state.withLock { s in
            guard let i = s.index[key] else { return nil }
            guard s.slots[i].expiresAt > now else {
                Self.unlink(i, in: &s)
                s.index[key] = nil
                s.free.append(i)
                return nil
            }
            Self.unlink(i, in: &s)
            Self.pushFront(i, in: &s)
            return s.slots[i].value
        }
    }

    /// Stores `value` for `key` until `expiresAt`, evicting the least recently used entry when full.
    public func set(_ value: Value, for key: Key, expiresAt: Date) {
        state.withLock { s in
            if let i = s.index[key] {
                s.slots[i].value = value
                s.slots[i].expiresAt = expiresAt
                Self.unlink(i, in: &s)
                Self.pushFront(i, in: &s)
                return
            }
            let i: Int
            if s.index.count >= capacity, s.tail >= 0 {
                i = s.tail
                Self.unlink(i, in: &s)
                s.index[s.slots[i].key] = nil
                s.slots[i] = Slot(key: key, value: value, expiresAt: expiresAt, previous: -1, next: -1)
            } else if let reused = s.free.popLast() {
                i = reused
                s.slots[i] = Slot(key: key, value: value, expiresAt: expiresAt, previous: -1, next: -1)
            } else {
                i = s.slots.count
                s.slots.append(Slot(key: key, value: value, expiresAt: expiresAt, previous: -1, next: -1))
            }
            s.index[key] = i
            Self.pushFront(i, in: &s)
        }
    }

    /// Removes the entry for `key`.
    public func remove(_ key: Key) {
        state.withLock { s in
            guard let i = s.index.removeValue(forKey: key) else { return }
            Self.unlink(i, in: &s)
            s.free.append(i)
        }
    }

    private static func unlink(_ i: Int, in s: inout State) {
        let p = s.slots[i].previous
        let n = s.slots[i].next
        if p >= 0 { s.slots[p].next = n } else if s.head == i { s.head = n }
        if n >= 0 { s.slots[n].previous = p } else if s.tail == i { s.tail = p }
        s.slots[i].previous = -1
        s.slots[i].next = -1
    }

    private static func pushFront(_ i: Int, in s: inout State) {
        s.slots[i].next = s.head
        s.slots[i].previous = -1
        if s.head >= 0 { s.slots[s.head].previous = i }
        s.head = i
        if s.tail < 0 { s.tail = i }
    }
}
