import DeputyAuthority
import DeputyCore
import DeputyHummingbird
import DeputyTokenAcquisition
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DeputyTokenValidation

/// The token service unreachable or slow while a middle tier needs an OBO token, and the JWKS
/// endpoint down while a resource validates: clear answers, recovery, no stampede, cached keys.
@Suite("Token service outages")
struct TokenServiceOutageTests {
    /// A token endpoint on a loopback port that answers slowly, fails, or works, and counts requests.
    final class FlakyTokenService: Sendable {
        enum Mode: Sendable {
            case slow(Duration)
            case working
        }
        let mode = LockedBox(Mode.working)
        let requests = LockedBox(0)

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.post("/t/oauth2/v2.0/token") { _, _ -> Response in
                self.requests.withLock { $0 += 1 }
                if case .slow(let d) = self.mode.withLock({ $0 }) { try await Task.sleep(for: d) }
                let body = #"{"token_type":"Bearer","access_token":"downstream-token","expires_in":3600,"scope":"api://x/.default"}"#
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
            }
            return router
        }
    }

    @Test(
        "A slow token service is a 504 with Retry-After; while the breaker is open calls fail fast without reaching it; one probe recovers")
    func slowServiceBacksOffAndRecovers() async throws {
        let service = FlakyTokenService()
        // The timeout leaves room for a loaded machine (the probe after recovery must answer in
        // time), and the slow answer is well beyond it.
        service.mode.withLock { $0 = .slow(.seconds(6)) }
        let app = Application(router: service.router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let time = ManualTimeSource(Date())
            let obo = ConfidentialClient(
                authority: "http://127.0.0.1:\(client.port!)/t", clientID: "middle", credential: .secret("s"),
                maxRetries: 0, timeout: 2, time: time)
            // First call: the service does not answer in time.
            let first = await Self.outcome { try await obo.acquireTokenOnBehalfOf(assertion: "user-1", scopes: ["api://x/.default"]) }
            guard case .unavailable(_, let timedOut, let retryAfter)? = first else {
                Issue.record("\(String(describing: first))")
                return
            }
            #expect(timedOut && retryAfter > 0)
            let relay = ChallengeRelay(first!, authorizationURI: "https://login.example/authorize")
            #expect(relay.status == .gatewayTimeout && relay.challenge == nil)
            let response = try await Self.render(relay)
            #expect(response.status == .gatewayTimeout && response.headers[.retryAfter] != nil)
            // A burst of callers for other users while the breaker is open: none reaches the service.
            let before = service.requests.withLock { $0 }
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        _ = await Self.outcome {
                            try await obo.acquireTokenOnBehalfOf(assertion: "user-\(i + 2)", scopes: ["api://x/.default"])
                        }
                    }
                }
            }
            #expect(service.requests.withLock { $0 } == before, "no stampede while backing off")
            // The service recovers; after the back-off one probe goes through and closes the breaker.
            service.mode.withLock { $0 = .working }
            time.advance(by: 31)
            let token = try await obo.acquireTokenOnBehalfOf(assertion: "user-99", scopes: ["api://x/.default"])
            #expect(token.token == "downstream-token")
            _ = try await obo.acquireTokenOnBehalfOf(assertion: "user-100", scopes: ["api://x/.default"])
        }
    }

    @Test("An unreachable token service is a 503 with Retry-After, not a 502 or a challenge")
    func unreachableServiceIs503() async throws {
        // The clock stands still: the second call comes within the back-off however slow the machine.
        let obo = ConfidentialClient(
            authority: "http://127.0.0.1:9/t", clientID: "middle", credential: .secret("s"), maxRetries: 0, timeout: 1,
            time: ManualTimeSource(Date()))
        let error = await Self.outcome { try await obo.acquireTokenOnBehalfOf(assertion: "user", scopes: ["api://x/.default"]) }
        guard case .unavailable(_, false, _)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        let relay = ChallengeRelay(error!, authorizationURI: "https://login.example/authorize")
        #expect(relay.status == .serviceUnavailable && relay.challenge == nil)
        let response = try await Self.render(relay)
        #expect(response.status == .serviceUnavailable && response.headers[.retryAfter] != nil)
        // Failing fast the second time.
        let again = await Self.outcome { try await obo.acquireTokenOnBehalfOf(assertion: "user-2", scopes: ["api://x/.default"]) }
        guard case .unavailable(let reason, _, _)? = again else {
            Issue.record("\(String(describing: again))")
            return
        }
        #expect(reason.contains("backing off"))
    }

    @Test("The token service refusing the caller's token (invalid_grant) is the caller's 401 invalid_token, not a 502")
    func invalidGrantIsTheCallers401() async throws {
        let e = ServiceError(
            status: 400, error: "invalid_grant", errorDescription: "AADSTS500133: Assertion is not within its valid time range.",
            errorCodes: [500133])
        let relay = ChallengeRelay(.invalidGrant(e), authorizationURI: "https://login.example/authorize")
        #expect(relay.status == .unauthorized)
        #expect(relay.challenge?.hasPrefix(#"Bearer error="invalid_token""#) == true)
        let response = try await Self.render(relay)
        #expect(response.status == .unauthorized && response.headers[.wwwAuthenticate]?.hasPrefix("Bearer error=") == true)
    }

    @Test(
        "A middle tier's 401 for a token the token service refused passes through the next middle tier as the same 401, a resource's own does not"
    )
    func relayedInvalidGrantSurvivesAHop() async throws {
        let e = ServiceError(
            status: 400, error: "invalid_grant", errorDescription: "AADSTS50057: The user account is disabled.", errorCodes: [50057])
        // The MCP server's answer when its OBO was refused…
        let mcp = try await Self.render(ChallengeRelay(.invalidGrant(e), authorizationURI: "https://login.example/authorize"))
        // …is, at the agent, the same refusal of the user's token: 401, not "the MCP server failed".
        let relayed = try #require(
            ChallengeRelay(
                downstreamStatus: Int(mcp.status.code), wwwAuthenticate: mcp.headers[.wwwAuthenticate],
                authorizationURI: "https://login.example/authorize", body: Array(buffer: mcp.body)))
        #expect(relayed.outcome == .invalidCallerToken(errorCodes: [50057]))
        let again = try await Self.render(relayed)
        #expect(again.status == .unauthorized && again.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
        // A resource refusing this middle tier's own token says nothing of the caller's: no relay.
        let own = #"{"error":"invalid_token","error_description":"The token is expired."}"#
        #expect(
            ChallengeRelay(
                downstreamStatus: 401, wwwAuthenticate: #"Bearer error="invalid_token", error_description="The token is expired.""#,
                body: Array(own.utf8)) == nil)
    }

    @Test("With the JWKS endpoint down, a resource keeps validating with the keys it has, without waiting on the endpoint")
    func jwksDownKeepsCachedKeys() async throws {
        let key = try SigningKey.load(try SigningKey.generate(now: Date()))
        let down = LockedBox(false)
        let fetches = LockedBox(0)
        let router = Router()
        router.get("/keys") { _, _ -> Response in
            fetches.withLock { $0 += 1 }
            if down.withLock({ $0 }) { return Response(status: .serviceUnavailable) }
            let jwks = JSONValue.object(["keys": .array([.object(try key.jwk(issuer: "https://issuer.example/t/v2.0"))])])
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=60"],
                body: .init(byteBuffer: ByteBuffer(bytes: jwks.serialized)))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let time = ManualTimeSource(Date())
            let keys = RemoteKeySet(url: "http://127.0.0.1:\(client.port!)/keys", time: time, maxAge: 60, minimumRefreshInterval: 30)
            let policy = ValidationPolicy(issuers: ["https://issuer.example/t/v2.0"], audiences: ["api://x"])
            func token() throws -> String {
                let now = time.now().timeIntervalSince1970
                return try key.sign(claims: [
                    "iss": "https://issuer.example/t/v2.0", "aud": "api://x", "iat": .number(now), "nbf": .number(now),
                    "exp": .number(now + 3600), "scp": "read", "oid": "o", "sub": "s", "azp": "c",
                ])
            }
            _ = try await keys.validate(try token(), policy: policy)
            down.withLock { $0 = true }
            time.advance(by: 120)  // the key set has expired
            for _ in 0..<10 { _ = try await keys.validate(try token(), policy: policy) }
            // The refresh runs in the background: wait for it (a loaded CI machine can take seconds), then make sure
            // no second attempt follows before the pause is over.
            try await Self.waitUntil { fetches.withLock { $0 } >= 2 }
            // …and for the key set to record the failure (it times the pause from then, on its clock).
            let deadline = ContinuousClock.now + .seconds(20)
            while await keys.isFetching, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            for _ in 0..<10 { _ = try await keys.validate(try token(), policy: policy) }
            try await Task.sleep(for: .milliseconds(100))
            #expect(fetches.withLock { $0 } == 2, "one refresh attempt, then a pause before the next")
            time.advance(by: 31)
            _ = try await keys.validate(try token(), policy: policy)
            try await Self.waitUntil { fetches.withLock { $0 } >= 3 }
            #expect(fetches.withLock { $0 } == 3)
        }
    }

    /// Polls `condition` every 10 ms for up to 20 s (background work on a loaded machine is slow, never lost).
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    /// The HTTP answer of a route that throws `relay`.
    static func render(_ relay: ChallengeRelay) async throws -> TestResponse {
        let router = Router()
        router.get("/") { _, _ -> Response in throw relay }
        return try await Application(router: router).test(.router) { client in try await client.execute(uri: "/", method: .get) }
    }

    static func outcome(_ call: () async throws -> AccessToken) async -> AcquisitionError? {
        do {
            _ = try await call()
            return nil
        } catch let e as AcquisitionError {
            return e
        } catch {
            Issue.record("\(error)")
            return nil
        }
    }
}
