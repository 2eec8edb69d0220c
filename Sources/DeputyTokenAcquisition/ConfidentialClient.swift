public import AsyncHTTPClient
import Crypto
public import DeputyCore
public import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import Tracing

/// An access token a middle tier acquired.
public struct AccessToken: Sendable, Equatable, Codable {
    public let token: String
    public let expiresOn: Date
    /// When to fetch a new one ahead of expiry (Entra's `refresh_in`, or half the lifetime).
    public let refreshOn: Date
    /// The scopes granted, as the token endpoint returned them.
    public let scopes: [String]
    /// With `offline_access` (OBO) or for refresh-token use.
    public let refreshToken: String?

    public init(token: String, expiresOn: Date, refreshOn: Date, scopes: [String], refreshToken: String?) {
        self.token = token
        self.expiresOn = expiresOn
        self.refreshOn = refreshOn
        self.scopes = scopes
        self.refreshToken = refreshToken
    }
}

/// A confidential client — a web API, an agent, an MCP server — acquiring tokens for downstream
/// resources: On-Behalf-Of the user whose token it received, for itself (client credentials),
/// or with a refresh token. Works against Microsoft Entra ID and Deputy's authority alike.
///
/// Tokens are cached in a ``TokenCache`` — by default a bounded LRU in memory (flat at `cacheSize`
/// entries), or one shared by the middle tier's instances — partitioned by this client, the
/// SHA-256 of the user's assertion (OBO) or the tenant (client credentials), honouring
/// `expires_in` (less five minutes) and `refresh_in`; a request with `claims` bypasses the cache;
/// concurrent requests for one key in one process share one call to the token endpoint.
public final class ConfidentialClient: Sendable {
    public let clientID: String
    /// `{authority}/oauth2/v2.0/token`.
    public let tokenEndpoint: String
    /// `cp1` and the like: merged into every request's `claims` as `xms_cc` (as MSAL does).
    public let clientCapabilities: [String]
    let credential: ClientCredential
    let http: HTTPClient
    let time: any TimeSource
    /// Where acquired tokens are kept.
    public let cache: any TokenCache
    let flights = SingleFlight<String, AccessToken>()
    /// Retries after 429/503, waiting for `Retry-After` (capped) or an exponential backoff.
    public let maxRetries: Int
    let maxBackoff: TimeInterval
    /// How long one token request may take, connecting included (an unreachable authority is
    /// retried by the HTTP client until then).
    public let timeout: TimeInterval
    /// The token endpoint's outage as this client sees it (see ``Outage``).
    let outage = LockedBox(Outage())

    /// - Parameters:
    ///   - authority: `https://login.microsoftonline.com/{tenant}` (with or without `/v2.0`), or Deputy's.
    ///   - clientID: the middle tier's application (client) id.
    ///   - credential: how it proves who it is.
    ///   - clientCapabilities: e.g. `["cp1"]`, merged into every request's `claims`.
    ///   - cacheSize: the most tokens kept by the default, in-memory cache.
    ///   - cache: where tokens are kept (default: an ``InMemoryTokenCache`` of `cacheSize`); a shared
    ///     cache lets the middle tier's instances use each other's tokens.
    ///   - maxRetries: retries after 429 or 503.
    ///   - maxBackoff: the longest wait between retries, in seconds.
    ///   - timeout: the longest one token request may take, in seconds.
    ///   - httpClient: the HTTP client (the shared one by default).
    ///   - time: the clock (tests move it).
    public init(
        authority: String, clientID: String, credential: ClientCredential, clientCapabilities: [String] = [],
        cacheSize: Int = 10_000, cache: (any TokenCache)? = nil, maxRetries: Int = 2, maxBackoff: TimeInterval = 10,
        timeout: TimeInterval = 30,
        httpClient: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    ) {
        self.timeout = timeout
        var base = authority
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/v2.0") { base.removeLast(5) }
        self.tokenEndpoint = base + "/oauth2/v2.0/token"
        self.clientID = clientID
        self.credential = credential
        self.clientCapabilities = clientCapabilities
        self.http = httpClient
        self.time = time
        self.cache = cache ?? InMemoryTokenCache(capacity: cacheSize)
        self.maxRetries = maxRetries
        self.maxBackoff = maxBackoff
    }

    // MARK: - Flows

    /// On-Behalf-Of (Microsoft Learn, "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow"): trades the
    /// user's token (`assertion`) for a token to one
    /// downstream resource. The middle tier authenticates as itself; it never forwards the user's token.
    public func acquireTokenOnBehalfOf(
        assertion: String, scopes: [String], claims: String? = nil,
        correlationID: String? = nil
    ) async throws(AcquisitionError) -> AccessToken {
        let key = Self.oboKey(assertion: assertion, scopes: scopes)
        // A span for the OBO step of a trace (the token request itself is AsyncHTTPClient's child span).
        do {
            return try await withSpan("on-behalf-of", ofKind: .client) { span in
                span.attributes["deputy.scopes"] = Scopes.format(scopes)
                return try await oboAcquire(key: key, assertion: assertion, scopes: scopes, claims: claims, correlationID: correlationID)
            }
        } catch let e as AcquisitionError {
            throw e
        } catch {
            throw .transport("\(error)")
        }
    }

    func oboAcquire(
        key: String, assertion: String, scopes: [String], claims: String?, correlationID: String?
    ) async throws(AcquisitionError) -> AccessToken {
        try await acquire(key: key, claims: claims) { [self] in
            try await self.request(
                [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("requested_token_use", "on_behalf_of"),
                    ("assertion", assertion), ("scope", Scopes.format(scopes)),
                ], claims: claims, correlationID: correlationID)
        }
    }

    /// Client credentials: a token for the middle tier itself (`scopes` = `{resource}/.default`).
    ///
    /// With `fmiPath`, an agent identity blueprint gets the credential of one of its agent
    /// identities (Microsoft Learn, "Agent OBO flow" step 2; MSAL.NET's `WithFmiPath`): `scopes`
    /// is `api://AzureADTokenExchange/.default`, `fmi_path` the agent identity's client id, and
    /// the path is part of the cache key. ``AgentIdentityCredential`` does this for you.
    ///
    /// With `forceRefresh`, the cache is not read (MSAL's `WithForceRefresh`): a new token, with
    /// Conditional Access evaluated again; it then replaces the cached one.
    public func acquireTokenForClient(
        scopes: [String], fmiPath: String? = nil, claims: String? = nil, forceRefresh: Bool = false,
        correlationID: String? = nil
    ) async throws(AcquisitionError) -> AccessToken {
        let key = "app|" + tokenEndpoint + "|" + Scopes.format(scopes.sorted()) + (fmiPath.map { "|fmi|" + $0 } ?? "")
        return try await acquire(key: key, claims: claims, forceRefresh: forceRefresh) { [self] in
            var parameters = [("grant_type", "client_credentials"), ("scope", Scopes.format(scopes))]
            if let fmiPath { parameters.append(("fmi_path", fmiPath)) }
            return try await self.request(parameters, claims: claims, correlationID: correlationID)
        }
    }

    /// An agent identity's token as its agent user (Microsoft Learn, "Agent user flow"; the
    /// requests of MSAL.NET's `AcquireTokenByUserFederatedIdentityCredential`): the agent
    /// identity's own exchange token (T2, client credentials for `api://AzureADTokenExchange/.default`,
    /// cached), then `grant_type=user_fic` with it and the agent user's UPN or object id. Only for
    /// a client whose credential is an ``AgentIdentityCredential``.
    public func acquireTokenForAgentUser(
        username: String? = nil, userID: String? = nil, scopes: [String], claims: String? = nil,
        correlationID: String? = nil
    ) async throws(AcquisitionError) -> AccessToken {
        guard (username == nil) != (userID == nil) else { throw .credential("give the agent user's username or its userID, not both") }
        let user = username.map { ("username", $0) } ?? ("user_id", userID!)
        let key = "agentuser|" + tokenEndpoint + "|" + user.1.lowercased() + "|" + Scopes.format(scopes.sorted())
        return try await acquire(key: key, claims: claims) { [self] in
            let t2 = try await self.acquireTokenForClient(
                scopes: [AgentIdentityCredential.tokenExchangeScope], correlationID: correlationID)
            return try await self.request(
                [
                    ("grant_type", "user_fic"), ("user_federated_identity_credential", t2.token), user,
                    ("scope", Scopes.format(scopes)),
                ], claims: claims, correlationID: correlationID)
        }
    }

    /// Redeems a refresh token (not cached: each call gets a new refresh token too).
    public func acquireTokenByRefreshToken(
        _ refreshToken: String, scopes: [String], claims: String? = nil,
        correlationID: String? = nil
    ) async throws(AcquisitionError) -> AccessToken {
        try await request(
            [("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("scope", Scopes.format(scopes))],
            claims: claims, correlationID: correlationID)
    }

    /// Forgets the cached OBO token for a user's assertion and scopes (e.g. when the downstream
    /// resource refused it).
    public func removeCachedToken(assertion: String, scopes: [String]) async {
        try? await cache.remove(cacheKey(Self.oboKey(assertion: assertion, scopes: scopes)))
    }

    /// The key under which `key`'s token is cached: partitioned by this client, so clients sharing
    /// one cache never see each other's tokens.
    func cacheKey(_ key: String) -> String { clientID.lowercased() + "|" + key }

    /// The cache partition of an OBO token: the SHA-256 of the user's assertion (as MSAL's
    /// `user_assertion_hash`, MSAL.NET's `UserAssertion.AssertionHash`) and the scopes.
    static func oboKey(assertion: String, scopes: [String]) -> String {
        var a = assertion
        return "obo|" + a.withUTF8 { Base64URL.encode(SHA256.hash(data: $0)) } + "|" + Scopes.format(scopes.sorted())
    }

    // MARK: - Cache and single flight

    func acquire(
        key: String, claims: String?, forceRefresh: Bool = false, _ fetch: @escaping @Sendable () async throws -> AccessToken
    )
        async throws(AcquisitionError) -> AccessToken
    {
        let now = time.now()
        // A claims challenge must reach the token endpoint: MSAL skips its cache too (MSAL.NET's
        // `OnBehalfOfRequest`, msal-node's `OnBehalfOfClient`).
        let bypass = claims != nil || forceRefresh
        let cacheKey = cacheKey(key)
        // A cache that fails is a miss (the token endpoint still answers).
        let cached = bypass ? nil : (try? await cache.token(for: cacheKey, now: now)) ?? nil
        let flow = String(key.prefix { $0 != "|" })
        if let cached, now < cached.refreshOn {
            Counter(label: "deputy_token_cache_lookups_total", dimensions: [("flow", flow), ("result", "hit")]).increment()
            return cached
        }
        Counter(label: "deputy_token_cache_lookups_total", dimensions: [("flow", flow), ("result", bypass ? "bypass" : "miss")])
            .increment()
        let stale = cached
        do {
            let token = try await flights.run(key: bypass ? key + "|fresh|" + UUID().uuidString : key) {
                let t = try await fetch()
                return t
            }
            try? await cache.store(token, for: cacheKey, expiresAt: token.expiresOn - 300)
            return token
        } catch let error as AcquisitionError {
            // Past refresh_in but still valid: a failed early refresh keeps the cached token.
            if let stale, case .throttled = error { return stale }
            if let stale, case .transport = error { return stale }
            if let stale, case .unavailable = error { return stale }
            throw error
        } catch {
            throw .transport("\(error)")
        }
    }

    // MARK: - The token request

    func request(_ parameters: [(String, String)], claims: String?, correlationID: String?) async throws(AcquisitionError) -> AccessToken {
        var form = parameters
        form.insert(("client_id", clientID), at: 0)
        switch credential {
        case .secret(let secret):
            form.append(("client_secret", secret))
        case .certificate(let certificate):
            do {
                form.append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
                form.append(("client_assertion", try certificate.assertion(clientID: clientID, audience: tokenEndpoint, now: time.now())))
            } catch { throw .credential("the certificate could not sign the client assertion: \(error)") }
        case .assertion(let provider):
            do {
                let assertion = try await provider()
                form.append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
                form.append(("client_assertion", assertion))
            } catch { throw .credential("the assertion provider failed: \(error)") }
        }
        if let merged = mergedClaims(claims) { form.append(("claims", merged)) }
        if let correlationID { form.append(("client_request_id", correlationID)) }
        form.append(("client_info", "1"))
        let body = FormParameters(form).encoded
        var attempt = 0
        while true {
            // While the endpoint is known to be down, fail fast (one probe at a time tries again).
            if let wait = outage.withLock({ $0.admit(now: time.now()) }) {
                throw .unavailable(
                    reason: "the token service at \(tokenEndpoint) is unreachable; backing off", timedOut: false, retryAfter: wait)
            }
            var request = HTTPClientRequest(url: tokenEndpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Accept", value: "application/json")
            if let correlationID { request.headers.add(name: "client-request-id", value: correlationID) }
            request.body = .bytes(ByteBuffer(string: body))
            let status: Int
            let bytes: [UInt8]
            let retryAfter: TimeInterval?
            do {
                let response = try await http.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
                status = Int(response.status.code)
                let buffer = try await response.body.collect(upTo: 1 << 20)
                bytes = Array(buffer.readableBytesView)
                retryAfter = response.headers.first(name: "Retry-After").flatMap { TimeInterval($0.trimmingCharacters(in: .whitespaces)) }
            } catch {
                throw outageBegins(error)
            }
            outage.withLock { $0.ended() }
            if status == 429 || status == 503 {
                guard attempt < maxRetries else { throw .throttled(retryAfter: retryAfter) }
                attempt += 1
                let wait = min(maxBackoff, retryAfter ?? pow(2, Double(attempt - 1)) * 0.5)
                do { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) } catch { throw .transport("cancelled") }
                continue
            }
            guard status == 200 else {
                guard let e = ServiceError(status: status, body: bytes) else {
                    throw .transport("POST \(tokenEndpoint) answered \(status) without an OAuth error body")
                }
                throw AcquisitionError.classify(e)
            }
            return try parse(bytes)
        }
    }

    /// Records a failed call to the token endpoint and says why, for the caller.
    func outageBegins(_ error: any Error) -> AcquisitionError {
        let timedOut =
            (error as? HTTPClientError).map { [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains($0) } ?? false
        let wait = outage.withLock { $0.failed(now: time.now()) }
        let reason =
            timedOut
            ? "the token service at \(tokenEndpoint) did not answer within \(Int(timeout)) s"
            : "the token service at \(tokenEndpoint) could not be reached (\(error))"
        return .unavailable(reason: reason, timedOut: timedOut, retryAfter: wait)
    }

    /// `claims` with the client capabilities merged in as `xms_cc` (MSAL's merge).
    func mergedClaims(_ claims: String?) -> String? {
        var request = ClaimsRequest()
        if let claims, let parsed = try? ClaimsRequest(parsing: claims) { request = parsed } else if let claims { return claims }
        if !clientCapabilities.isEmpty,
            let capabilities = try? ClaimsRequest(
                parsing: String(
                    decoding: JSONValue.object([
                        "access_token": .object(["xms_cc": .object(["values": .array(clientCapabilities.map(JSONValue.string))])])
                    ]).serialized, as: UTF8.self))
        {
            request = request.merging(capabilities)
        }
        return request.isEmpty ? nil : request.jsonString
    }

    func parse(_ bytes: [UInt8]) throws(AcquisitionError) -> AccessToken {
        guard case .object(let o)? = try? JSONParser.parse(Data(bytes)),
            let token = o["access_token"]?.stringValue
        else {
            throw .transport("the token endpoint's answer has no access_token")
        }
        let now = time.now()
        let expiresIn = o["expires_in"]?.numberValue ?? o["expires_in"]?.stringValue.flatMap(Double.init) ?? 3600
        let refreshIn = o["refresh_in"]?.numberValue ?? o["refresh_in"]?.stringValue.flatMap(Double.init) ?? expiresIn / 2
        return AccessToken(
            token: token, expiresOn: now + expiresIn, refreshOn: now + min(refreshIn, expiresIn),
            scopes: Scopes.parse(o["scope"]?.stringValue), refreshToken: o["refresh_token"]?.stringValue)
    }
}

/// One call in flight per key: concurrent callers for the same key wait for the same result.
actor SingleFlight<Key: Hashable & Sendable, Value: Sendable> {
    private var running: [Key: Task<Value, any Error>] = [:]

    func run(key: Key, _ work: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let task = running[key] { return try await task.value }
        let task = Task { try await work() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }
}

/// A circuit breaker for the token endpoint: after a failed call the client backs off
/// exponentially (0.5 s doubling to ``maximumBackoff``), failing fast instead of sending every
/// waiting request to an endpoint that is down; when the wait is over one request probes, and its
/// success closes the breaker. Without it an outage turns each incoming request into one more
/// connection attempt against the recovering service (a stampede).
struct Outage: Sendable {
    static let maximumBackoff: TimeInterval = 30
    var failures = 0
    var until: Date?
    var probing = false

    /// nil when a request may go to the network now; otherwise how long to wait.
    mutating func admit(now: Date) -> TimeInterval? {
        guard let until else { return nil }
        if now < until { return until.timeIntervalSince(now) }
        if probing { return 1 }
        probing = true
        return nil
    }

    /// A call failed: the next attempt waits longer. Returns the wait.
    mutating func failed(now: Date) -> TimeInterval {
        failures += 1
        probing = false
        let wait = min(Self.maximumBackoff, 0.5 * pow(2, Double(failures - 1)))
        until = now + wait
        return wait
    }

    /// A call reached the endpoint.
    mutating func ended() {
        failures = 0
        until = nil
        probing = false
    }
}
