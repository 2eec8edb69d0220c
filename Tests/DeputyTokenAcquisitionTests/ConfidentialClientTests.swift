import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DeputyAuthority
@testable import DeputyTokenAcquisition

@Suite("confidential client")
struct ConfidentialClientTests {
    let webApi = DemoTenant.app("webApi")
    static let sql = ["https://database.windows.net//.default"]

    func client(
        _ live: LiveAuthority, _ app: DemoTenant.DemoApp? = nil, credential: ClientCredential? = nil, capabilities: [String] = [],
        cacheSize: Int = 100
    ) -> ConfidentialClient {
        let a = app ?? webApi
        return ConfidentialClient(
            authority: live.tenantAuthority, clientID: a.appId, credential: credential ?? .secret(a.secret!),
            clientCapabilities: capabilities, cacheSize: cacheSize)
    }

    @Test("OBO with a secret gets the downstream token; the same assertion is served from the cache, another is not")
    func oboCached() async throws {
        try await LiveAuthority.run { live in
            let c = client(live)
            let assertion = try await live.userToken()
            let first = try await c.acquireTokenOnBehalfOf(assertion: assertion, scopes: Self.sql)
            #expect(try UnverifiedJWT(first.token).string("azp") == webApi.appId)
            let second = try await c.acquireTokenOnBehalfOf(assertion: assertion, scopes: Self.sql)
            #expect(second == first)
            #expect(try await live.tokenRequests(client: webApi.appId) == 1)
            _ = try await c.acquireTokenOnBehalfOf(assertion: try await live.userToken("alice"), scopes: Self.sql)
            #expect(try await live.tokenRequests(client: webApi.appId) == 2)
            // claims bypass the cache.
            _ = try await c.acquireTokenOnBehalfOf(
                assertion: assertion, scopes: Self.sql, claims: #"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#)
            #expect(try await live.tokenRequests(client: webApi.appId) == 3)
        }
    }

    @Test("Ten concurrent OBO calls for one assertion make one token request")
    func singleFlight() async throws {
        try await LiveAuthority.run { live in
            let c = client(live)
            let assertion = try await live.userToken()
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<10 { group.addTask { try await c.acquireTokenOnBehalfOf(assertion: assertion, scopes: Self.sql).token } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(try await live.tokenRequests(client: webApi.appId) == 1)
        }
    }

    @Test("The cache holds at most its size: the least recently used assertion's token is fetched again")
    func bounded() async throws {
        try await LiveAuthority.run { live in
            let c = client(live, cacheSize: 2)
            let a = try await live.userToken("bob")
            let b = try await live.userToken("alice")
            let d = try await live.userToken("eve")
            for x in [a, b, d] { _ = try await c.acquireTokenOnBehalfOf(assertion: x, scopes: Self.sql) }
            #expect(try await live.tokenRequests(client: webApi.appId) == 3)
            _ = try await c.acquireTokenOnBehalfOf(assertion: d, scopes: Self.sql)  // cached
            _ = try await c.acquireTokenOnBehalfOf(assertion: a, scopes: Self.sql)  // evicted: fetched again
            #expect(try await live.tokenRequests(client: webApi.appId) == 4)
        }
    }

    @Test("Client capabilities (cp1) are merged into claims as xms_cc, and the resource that opted in gets them")
    func capabilities() async throws {
        try await LiveAuthority.run { live in
            let c = client(live, capabilities: ["cp1"])
            let token = try await c.acquireTokenOnBehalfOf(assertion: try await live.userToken(), scopes: Self.sql)
            #expect(try UnverifiedJWT(token.token).claims["xms_cc"] == .array([.string("cp1")]))
            #expect(
                c.mergedClaimsForTesting(#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
                    == #"{"access_token":{"acrs":{"essential":true,"value":"c1"},"xms_cc":{"values":["cp1"]}}}"#)
        }
    }

    @Test("A certificate authenticates the middle tier: PS256 with x5t#S256, and RS256 with x5t")
    func certificate() async throws {
        let cert = try SigningKey.generate(now: Date())
        try await LiveAuthority.run(edit: { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("webApi").appId }!
            d.applications[i].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify", key: cert.certificateDER, endDateTime: nil
                )
            ]
            d.applications[i].passwordCredentials = nil
        }) { live in
            let der = Array(Data(base64Encoded: cert.certificateDER)!)
            for algorithm in [ClientCertificate.Algorithm.ps256, .rs256] {
                let credential = ClientCredential.certificate(
                    try ClientCertificate(privateKeyPEM: cert.privateKeyPEM, certificateDER: der, algorithm: algorithm))
                let token = try await client(live, credential: credential).acquireTokenOnBehalfOf(
                    assertion: try await live.userToken(), scopes: Self.sql)
                #expect(try UnverifiedJWT(token.token).string("azpacr") == "2")
            }
        }
    }

    @Test("Client credentials with a secret; a wrong secret is invalidClient")
    func clientCredentials() async throws {
        try await LiveAuthority.run { live in
            let reports = DemoTenant.app("reports")
            let token = try await client(live, reports).acquireTokenForClient(scopes: Self.sql)
            #expect(try UnverifiedJWT(token.token).claims["roles"] == .array([.string("Expenses.Read.All")]))
            await #expect {
                _ = try await client(live, reports, credential: .secret("wrong")).acquireTokenForClient(scopes: Self.sql)
            } throws: { error in
                guard case .invalidClient(let e) = error as? AcquisitionError else { return false }
                return e.errorCodes == [7_000_215] && e.status == 401
            }
        }
    }

    @Test(
        "Conditional Access comes back typed: MFA as interactionRequired with the claims challenge, a block with isBlock, missing consent as consentRequired"
    )
    func typedErrors() async throws {
        try await LiveAuthority.run(conditionalAccess: true) { live in
            let c = client(live)
            do {
                _ = try await c.acquireTokenOnBehalfOf(assertion: try await live.userToken(), scopes: Self.sql, correlationID: "corr-mfa")
                Issue.record("expected a challenge")
            } catch {
                guard case .interactionRequired(let e)? = error as? AcquisitionError else {
                    Issue.record("\(error)")
                    return
                }
                #expect(e.errorCodes == [50076] && e.suberror == "basic_action" && !e.isBlock && e.correlationID == "corr-mfa")
                #expect(e.claims == #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]}}}"#)
            }
            do {
                _ = try await c.acquireTokenOnBehalfOf(assertion: try await live.userToken("eve"), scopes: Self.sql)
                Issue.record("expected a block")
            } catch {
                guard case .interactionRequired(let e)? = error as? AcquisitionError else {
                    Issue.record("\(error)")
                    return
                }
                #expect(e.isBlock && e.errorCodes == [53003])
            }
            do {
                _ = try await c.acquireTokenOnBehalfOf(
                    assertion: try await live.userToken(), scopes: ["api://contoso-expenses-mcp/.default"])
                Issue.record("expected consent required")
            } catch {
                guard case .consentRequired(let e)? = error as? AcquisitionError else {
                    Issue.record("\(error)")
                    return
                }
                #expect(e.errorCodes == [65001])
            }
        }
    }

    @Test("A federated assertion provider is the credential; its failure is a credential error")
    func assertionProvider() async throws {
        try await LiveAuthority.run { live in
            let failing = client(live, DemoTenant.app("reports"), credential: .assertion { throw CancellationError() })
            await #expect {
                _ = try await failing.acquireTokenForClient(scopes: Self.sql)
            } throws: { error in
                if case .credential = error as? AcquisitionError { return true } else { return false }
            }
        }
    }

    @Test("A federated credential (a workload identity's token for api://AzureADTokenExchange) authenticates the client")
    func federatedCredential() async throws {
        let workload = try SigningKey.load(try SigningKey.generate(now: Date()))
        let jwk = try workload.jwk(issuer: "https://issuer.example")
        try await LiveAuthority.run(edit: { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("reports").appId }!
            d.applications[i].federatedIdentityCredentials = [
                .init(
                    name: "ci", issuer: "https://issuer.example", subject: "workload-1", audiences: nil, description: nil,
                    jwks: .object(["keys": .array([.object(jwk)])]))
            ]
            d.applications[i].passwordCredentials = nil
        }) { live in
            let provider: @Sendable () async throws -> String = {
                let now = Date().timeIntervalSince1970
                return try workload.sign(claims: [
                    "iss": .string("https://issuer.example"), "sub": .string("workload-1"),
                    "aud": .string("api://AzureADTokenExchange"), "iat": .number(now), "exp": .number(now + 300),
                ])
            }
            let token = try await client(live, DemoTenant.app("reports"), credential: .assertion(provider)).acquireTokenForClient(
                scopes: Self.sql)
            #expect(try UnverifiedJWT(token.token).claims["roles"] == .array([.string("Expenses.Read.All")]))
        }
    }

    @Test("An expired user assertion is invalidGrant (AADSTS500133); an unreachable token endpoint is unavailable, with a time to retry")
    func grantAndTransportErrors() async throws {
        try await LiveAuthority.run { live in
            let expired = try await live.authority.currentKeys().current.sign(
                claims: {
                    var c = try UnverifiedJWT(try await live.userToken()).claims
                    c["exp"] = .number(Date().timeIntervalSince1970 - 3600)
                    return c
                }())
            do {
                _ = try await client(live).acquireTokenOnBehalfOf(assertion: expired, scopes: Self.sql)
                Issue.record("expected invalid_grant")
            } catch {
                guard case .invalidGrant(let e)? = error as? AcquisitionError else {
                    Issue.record("\(error)")
                    return
                }
                #expect(e.errorCodes.contains(500133))
            }
        }
        let nowhere = ConfidentialClient(authority: "http://127.0.0.1:9/t", clientID: "c", credential: .secret("s"), timeout: 1)
        do {
            _ = try await nowhere.acquireTokenForClient(scopes: ["api://x/.default"])
            Issue.record("expected the endpoint to be unavailable")
        } catch {
            guard case .unavailable(_, let timedOut, let retryAfter) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(!timedOut && retryAfter > 0)
        }
    }

    @Test("A cached token is used until five minutes before it expires, and fetched again after refresh_in")
    func expiryAndRefreshIn() async throws {
        let calls = LockedBox(0)
        let router = Router()
        router.post("/t/oauth2/v2.0/token") { _, _ -> Response in
            let n = calls.withLock {
                $0 += 1
                return $0
            }
            // The first token says refresh after 30 minutes; later ones only at expiry.
            let body = #"{"token_type":"Bearer","expires_in":3600,"refresh_in":\#(n == 1 ? 1800 : 3600),"access_token":"t\#(n)"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            let time = ManualTimeSource(Date())
            let c = ConfidentialClient(authority: "http://127.0.0.1:\(client.port!)/t", clientID: "c", credential: .secret("s"), time: time)
            func token() async throws -> String { try await c.acquireTokenOnBehalfOf(assertion: "a", scopes: ["api://x/.default"]).token }
            let got1 = try await token()
            #expect(got1 == "t1")
            time.advance(by: 1700)
            let got2 = try await token()
            #expect(got2 == "t1")
            time.advance(by: 200)  // past refresh_in
            let got3 = try await token()
            #expect(got3 == "t2")
            time.advance(by: 3600 - 301)  // just over five minutes before t2's expiry: still cached
            let got4 = try await token()
            #expect(got4 == "t2")
            time.advance(by: 2)  // within five minutes of expiry
            let got5 = try await token()
            #expect(got5 == "t3")
            #expect(calls.withLock { $0 } == 3)
        }
    }

    @Test("429 is retried after Retry-After; when it persists the error is throttled with the wait")
    func throttling() async throws {
        let calls = LockedBox(0)
        let router = Router()
        router.post("/t/oauth2/v2.0/token") { _, _ -> Response in
            let n = calls.withLock {
                $0 += 1
                return $0
            }
            if n <= 2 { return Response(status: .tooManyRequests, headers: [.retryAfter: "0"]) }
            let body = #"{"token_type":"Bearer","expires_in":3600,"access_token":"abc"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/busy/oauth2/v2.0/token") { _, _ -> Response in Response(status: .tooManyRequests, headers: [.retryAfter: "0"]) }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let ok = ConfidentialClient(authority: base + "/t", clientID: "c", credential: .secret("s"))
            let token = try await ok.acquireTokenForClient(scopes: ["api://x/.default"])
            #expect(token.token == "abc")
            #expect(calls.withLock { $0 } == 3)
            let busy = ConfidentialClient(authority: base + "/busy", clientID: "c", credential: .secret("s"), maxRetries: 1)
            await #expect(throws: AcquisitionError.throttled(retryAfter: 0)) {
                try await busy.acquireTokenForClient(scopes: ["api://x/.default"])
            }
        }
    }
}

extension ConfidentialClient {
    func mergedClaimsForTesting(_ claims: String?) -> String? { mergedClaims(claims) }
}
