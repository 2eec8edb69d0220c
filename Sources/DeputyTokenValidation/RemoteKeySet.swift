public import AsyncHTTPClient
public import DeputyCore
public import Foundation
import JWTKit
import NIOCore
import NIOHTTP1

/// A JWKS fetched over HTTP(S) and cached: reused for `maxAge` (or the response's
/// `Cache-Control: max-age`), refreshed when a token names an unknown `kid` — at most once per
/// `minimumRefreshInterval`, and with one fetch in flight however many callers wait (a burst of
/// tokens with a new kid costs one request).
public actor RemoteKeySet {
    public let url: String
    let client: HTTPClient
    let time: any TimeSource
    let defaultMaxAge: TimeInterval
    let minimumRefreshInterval: TimeInterval
    let timeout: TimeInterval
    private var cached: (keys: KeySet, fetchedAt: Date, maxAge: TimeInterval)?
    /// When an unknown kid last forced a fetch (tokens with made-up kids cannot make it fetch more often).
    private var lastForcedRefresh: Date?
    private var inFlight: Task<(KeySet, TimeInterval), any Error>?

    /// Why keys could not be had.
    public struct FetchError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public init(
        url: String, client: HTTPClient = .shared, time: any TimeSource = SystemTimeSource(),
        maxAge: TimeInterval = 3600, minimumRefreshInterval: TimeInterval = 30, timeout: TimeInterval = 10
    ) {
        self.timeout = timeout
        self.url = url
        self.client = client
        self.time = time
        self.defaultMaxAge = maxAge
        self.minimumRefreshInterval = minimumRefreshInterval
    }

    /// The keys: cached while fresh; `refresh` asks for a new fetch (honoured at most once per
    /// `minimumRefreshInterval`).
    public func keys(refresh: Bool = false) async throws -> KeySet {
        let now = time.now()
        if let c = cached, !refresh, now.timeIntervalSince(c.fetchedAt) < c.maxAge { return c.keys }
        if let c = cached, refresh, let last = lastForcedRefresh, now.timeIntervalSince(last) < minimumRefreshInterval { return c.keys }
        if refresh { lastForcedRefresh = now }
        let task = inFlight ?? startFetch()
        if let c = cached, !refresh {
            // Expired but held: serve the last good keys while the fetch runs (stale while
            // revalidate), so a slow or unreachable JWKS endpoint never stalls validation.
            return c.keys
        }
        do { return try await task.value.0 } catch {
            if let c = cached { return c.keys }  // keep serving the last good keys
            throw error
        }
    }

    /// Starts the one fetch; when it ends the cache is updated — or, when it failed, the next try
    /// waits `minimumRefreshInterval` (an endpoint that is down is not asked on every request).
    private func startFetch() -> Task<(KeySet, TimeInterval), any Error> {
        let task = Task { [url, client, defaultMaxAge, timeout] in
            try await RemoteKeySet.fetch(url: url, client: client, defaultMaxAge: defaultMaxAge, timeout: timeout)
        }
        inFlight = task
        Task { await self.finish(task) }
        return task
    }

    /// A fetch is running (its result not yet recorded).
    var isFetching: Bool { inFlight != nil }

    private func finish(_ task: Task<(KeySet, TimeInterval), any Error>) async {
        do {
            let (keys, maxAge) = try await task.value
            cached = (keys, time.now(), maxAge)
        } catch {
            if let c = cached { cached = (c.keys, time.now() - c.maxAge + minimumRefreshInterval, c.maxAge) }
        }
        inFlight = nil
    }

    static func fetch(
        url: String, client: HTTPClient, defaultMaxAge: TimeInterval, timeout: TimeInterval
    ) async throws -> (KeySet, TimeInterval) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        guard response.status == .ok else { throw FetchError(description: "GET \(url) answered \(response.status.code)") }
        let body = try await response.body.collect(upTo: 1 << 20)
        let keys = try await TokenValidator.keys(jwksJSON: String(buffer: body))
        return (keys, maxAge(response.headers.first(name: "Cache-Control"), default: defaultMaxAge))
    }

    /// `Cache-Control: max-age` in seconds (RFC 9111 §5.2.2.1), or `fallback`.
    static func maxAge(_ cacheControl: String?, default fallback: TimeInterval) -> TimeInterval {
        guard let cc = cacheControl, let r = cc.range(of: "max-age="), let n = Int(cc[r.upperBound...].prefix { $0.isNumber }) else {
            return fallback
        }
        return TimeInterval(n)
    }

    /// Validates a token with these keys, refreshing them once when its `kid` is unknown.
    public func validate(_ token: String, policy: ValidationPolicy) async throws -> ValidatedToken {
        let jwt: UnverifiedJWT
        do { jwt = try UnverifiedJWT(token) } catch { throw TokenValidationError.malformed(error.reason) }
        return try await validate(token, parsed: jwt, policy: policy)
    }

    /// Validates an already decoded token, refreshing the keys once when its `kid` is unknown.
    public func validate(_ token: String, parsed jwt: UnverifiedJWT, policy: ValidationPolicy) async throws -> ValidatedToken {
        do {
            return try await TokenValidator(keys: try await keys(), time: time).validate(token, parsed: jwt, policy: policy)
        } catch TokenValidationError.unknownKey {
            return try await TokenValidator(keys: try await keys(refresh: true), time: time).validate(token, parsed: jwt, policy: policy)
        }
    }
}
