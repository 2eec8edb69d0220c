import AsyncHTTPClient
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputySamples
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// The token service out of reach while a middle tier of the chain needs an OBO token, seen over
/// HTTP as its caller sees it: a clear 503 with `Retry-After` (never a 502 or a challenge the
/// user cannot satisfy), and the same call working once the token service is back.
@Suite("Chain outages")
struct ChainOutageTests {
    @Test("The Web API answers 503 with Retry-After and a clear error while the token service is down, and works again when it is back")
    func webAPIDuringAnOutage() async throws {
        try await AgentChainTests.withChain { chain in
            let live = chain.live
            let webApi = DemoTenant.app("webApi")
            // The Web API reaches the token service through a port nothing listens on, yet.
            let tokenPort = try freeLoopbackPort()
            let webPort = try freeLoopbackPort()
            let time = ManualTimeSource(Date())
            let router = DemoChain.serviceRouter(role: "webApi", name: webApi.displayName, browserOrigin: nil, demoMode: false)
            WebAPI(
                validator: try ResourceValidator(
                    WebAPI.configuration(authority: live.tenantAuthority + "/v2.0", appID: webApi.appId, appIDURI: webApi.identifierUri!)),
                obo: ConfidentialClient(
                    authority: "http://127.0.0.1:\(tokenPort)/\(DemoTenant.tenantID)", clientID: webApi.appId,
                    credential: .secret(webApi.secret!), maxRetries: 0, timeout: 5, time: time),
                dataAPI: chain.data
            ).addRoutes(to: router)
            // When it is back, the port forwards token requests to the authority.
            let proxy = Router()
            proxy.post("/:tenant/oauth2/v2.0/token") { req, ctx -> Response in
                var r = req
                let body = try await r.collectBody(upTo: 1 << 20)
                var forward = HTTPClientRequest(url: live.base + "/\(ctx.parameters.get("tenant") ?? "")/oauth2/v2.0/token")
                forward.method = .POST
                forward.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                forward.body = .bytes(body)
                let answer = try await HTTPClient.shared.execute(forward, timeout: .seconds(10))
                return Response(
                    status: .init(code: Int(answer.status.code)), headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: try await answer.body.collect(upTo: 1 << 20)))
            }
            let user = try await SignInDriver.token(authority: live.authority, user: DemoTenant.user("bob"))
            let url = "http://127.0.0.1:\(webPort)/api/expenses"
            try await serving(router, port: webPort) {
                let down = try await AgentChainTests.send(url, method: .GET, token: user, body: nil, correlation: "outage-1")
                #expect(down.status == 503, "\(down.status) \(down.body)")
                #expect(Int(down.headers["retry-after"] ?? "") ?? 0 > 0)
                #expect(down.headers["www-authenticate"] == nil, "no challenge: signing in again cannot help")
                #expect(down.json?.objectValue?["error"] == "downstream_unavailable")
                #expect(down.json?.objectValue?["error_description"] == "The token service cannot be reached; retry later.")
                // While it backs off, callers fail fast with the same answer.
                let again = try await AgentChainTests.send(url, method: .GET, token: user, body: nil, correlation: "outage-2")
                #expect(again.status == 503)
                try await serving(proxy, port: tokenPort) {
                    // After the back-off, the next call reaches the token service again.
                    time.advance(by: 31)
                    let back = try await AgentChainTests.send(url, method: .GET, token: user, body: nil, correlation: "outage-3")
                    #expect(back.status == 200, "\(back.status) \(back.body)")
                }
            }
        }
    }
}
