import AsyncHTTPClient
public import DeputyCore
public import Foundation
import NIOCore
import NIOHTTP1

/// How a resource evaluates access continuously (Microsoft Learn, "Continuous access
/// evaluation"): it learns the authority's critical events (sessions revoked, password changed,
/// account disabled or deleted, user risk high) and refuses a user's tokens issued before the
/// latest of them, with a claims challenge that asks for a newer token:
///
/// ```
/// HTTP/1.1 401 Unauthorized
/// WWW-Authenticate: Bearer realm="", authorization_uri="…/authorize", error="insufficient_claims",
///     claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzY0NzY5NjAwIn19fQ=="
/// ```
///
/// The events come from Deputy's authority, whose feed (`POST {authority base}/{tenant}/deputy/cae/events`)
/// a resource reads with its own client credentials, as a resource authenticates to an RFC 7662
/// introspection endpoint. Microsoft Entra ID keeps its events to its own resources (Exchange,
/// SharePoint, Graph) and has no such feed: against Entra, leave ``ResourceConfiguration/continuousAccess`` nil.
public struct ContinuousAccessConfiguration: Sendable {
    /// The feed's URL, e.g. `http://127.0.0.1:7400/<tenant id>/deputy/cae/events`.
    public var eventsEndpoint: String
    /// The resource's application (client) id and secret at the authority.
    public var clientID: String
    public var clientSecret: String
    /// The longest a decision may lag an event: the feed is read again before a token is
    /// accepted when the last read is older than this. Entra documents up to 15 minutes for
    /// its resources; locally a second is cheap.
    public var maxDelay: TimeInterval = 60

    /// The feed of the authority a resource validates against (`…/{tenant}/v2.0` → `…/{tenant}/deputy/cae/events`).
    public init(authority: String, clientID: String, clientSecret: String, maxDelay: TimeInterval = 60) {
        var base = authority
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/v2.0") { base.removeLast(5) }
        self.init(eventsEndpoint: base + "/deputy/cae/events", clientID: clientID, clientSecret: clientSecret, maxDelay: maxDelay)
    }

    public init(eventsEndpoint: String, clientID: String, clientSecret: String, maxDelay: TimeInterval = 60) {
        self.eventsEndpoint = eventsEndpoint
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.maxDelay = maxDelay
    }
}

/// The latest critical event of each user, read from the authority's feed at most once per
/// ``ContinuousAccessConfiguration/maxDelay`` (one read at a time; callers that find the state
/// stale wait for it). When the feed cannot be read the last state is used and the read is tried
/// again after the delay: a resource stays available through an authority outage, as Entra's
/// resilience defaults keep it, and the failure is reported by ``lastError``.
actor CriticalEventMonitor {
    let configuration: ContinuousAccessConfiguration
    let client: HTTPClient
    let time: any TimeSource
    let timeout: TimeInterval
    private var cursor = 0
    private var latest: [String: Date] = [:]
    private var readAt: Date?
    private var reading: Task<Void, Never>?
    /// Why the last read failed, if it did.
    private(set) var lastError: String?

    init(configuration: ContinuousAccessConfiguration, client: HTTPClient, time: any TimeSource, timeout: TimeInterval) {
        self.configuration = configuration
        self.client = client
        self.time = time
        self.timeout = timeout
    }

    /// The time of the user's latest critical event, from state no older than the delay allows.
    func latestEvent(for userID: String) async -> Date? {
        let now = time.now()
        if readAt.map({ now.timeIntervalSince($0) >= configuration.maxDelay || now < $0 }) ?? true { await read() }
        return latest[userID]
    }

    /// Reads the feed now (callers already waiting share one read).
    func read() async {
        if let reading { return await reading.value }
        let task = Task { await self.readPages() }
        reading = task
        await task.value
        reading = nil
    }

    private func readPages() async {
        let started = time.now()
        do {
            while true {
                let page = try await fetch(after: cursor)
                for event in page.events {
                    latest[event.userID] = max(latest[event.userID] ?? .distantPast, event.occurredAt)
                }
                cursor = max(cursor, page.cursor)
                if page.events.count < 1_000 { break }
            }
            lastError = nil
        } catch {
            lastError = "\(error)"
        }
        readAt = started
    }

    struct Page {
        var events: [(userID: String, occurredAt: Date)]
        var cursor: Int
    }

    struct FeedError: Error, CustomStringConvertible {
        var description: String
    }

    private func fetch(after: Int) async throws -> Page {
        var request = HTTPClientRequest(url: configuration.eventsEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        // RFC 6749 §2.3.1: client_secret_basic, the id and secret form-encoded first.
        let credentials = FormParameters.encode(configuration.clientID) + ":" + FormParameters.encode(configuration.clientSecret)
        request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        request.body = .bytes(ByteBuffer(string: "after=\(after)"))
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let body = try await response.body.collect(upTo: 4 << 20)
        guard response.status == .ok else {
            throw FeedError(description: "the critical-event feed \(configuration.eventsEndpoint) answered \(response.status.code)")
        }
        guard case .object(let o)? = try? JSONParser.parse(Data(body.readableBytesView)), case .array(let events)? = o["events"],
            let cursor = o["cursor"]?.numberValue
        else { throw FeedError(description: "the critical-event feed's answer is not {\"events\": […], \"cursor\": N}") }
        return Page(
            events: events.compactMap { e in
                guard case .object(let e) = e, let user = e["userId"]?.stringValue, let at = e["occurredAt"]?.numberValue else {
                    return nil
                }
                return (user, Date(timeIntervalSince1970: at))
            }, cursor: Int(cursor))
    }
}
