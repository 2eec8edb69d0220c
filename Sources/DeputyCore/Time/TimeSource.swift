public import Foundation

/// Where "now" comes from. Injected everywhere a lifetime is checked, so tests can freeze and
/// move time instead of sleeping.
public protocol TimeSource: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The system clock.
public struct SystemTimeSource: TimeSource {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock tests set and advance by hand.
public final class ManualTimeSource: TimeSource, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { self.current = start }

    public func now() -> Date { lock.withLock { current } }

    /// Moves the clock forward.
    public func advance(by seconds: TimeInterval) { lock.withLock { current += seconds } }

    /// Sets the clock.
    public func set(_ date: Date) { lock.withLock { current = date } }
}

/// The system clock moved by an offset that can change while running (`deputy up
/// --test-controls`), so tests reach the next TOTP step or a sign-in-frequency limit without waiting.
public final class OffsetTimeSource: TimeSource, @unchecked Sendable {
    private let lock = NSLock()
    private var current: TimeInterval
    private let base: any TimeSource

    public init(offset: TimeInterval = 0, base: any TimeSource = SystemTimeSource()) {
        self.current = offset
        self.base = base
    }

    public func now() -> Date { base.now() + offset }

    /// Seconds added to the base clock.
    public var offset: TimeInterval {
        get { lock.withLock { current } }
        set { lock.withLock { current = newValue } }
    }
}
