import DeputyCore
import Foundation
import Testing

@Suite("LRU cache")
struct LRUCacheTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("Beyond its capacity the least recently used entry goes, and a lookup counts as a use")
    func eviction() {
        let cache = LRUCache<String, Int>(capacity: 3)
        for (i, k) in ["a", "b", "c"].enumerated() { cache.set(i, for: k, expiresAt: now + 60) }
        #expect(cache.value(for: "a", now: now) == 0)  // a is now the most recent
        cache.set(3, for: "d", expiresAt: now + 60)  // evicts b
        #expect(cache.value(for: "b", now: now) == nil)
        #expect(cache.value(for: "a", now: now) == 0 && cache.value(for: "c", now: now) == 2 && cache.value(for: "d", now: now) == 3)
        #expect(cache.count == 3)
    }

    @Test("An entry is gone at its expiry, and replacing a value keeps one entry")
    func expiry() {
        let cache = LRUCache<String, Int>(capacity: 2)
        cache.set(1, for: "a", expiresAt: now + 10)
        #expect(cache.value(for: "a", now: now + 9) == 1)
        #expect(cache.value(for: "a", now: now + 10) == nil)
        #expect(cache.count == 0)
        cache.set(1, for: "b", expiresAt: now + 10)
        cache.set(2, for: "b", expiresAt: now + 10)
        #expect(cache.count == 1 && cache.value(for: "b", now: now) == 2)
        cache.remove("b")
        #expect(cache.value(for: "b", now: now) == nil)
    }

    @Test("A hundred thousand inserts into a cache of a thousand keep it at a thousand, and the newest are there")
    func bounded() {
        let cache = LRUCache<Int, Int>(capacity: 1000)
        for i in 0..<100_000 { cache.set(i, for: i, expiresAt: now + 60) }
        #expect(cache.count == 1000)
        #expect(cache.value(for: 99_999, now: now) == 99_999 && cache.value(for: 99_000, now: now) == 99_000)
        #expect(cache.value(for: 98_999, now: now) == nil)
    }
}
