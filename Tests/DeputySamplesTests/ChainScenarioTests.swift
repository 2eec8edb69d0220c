import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputySamples
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// The classic chain over loopback HTTP — SPA's token → Web API → OBO → Data API — with the demo
/// tenant's Conditional Access enforced.
@Suite("chain: SPA → Web API → Data API")
struct ChainScenarioTests {
    /// The authority, the Data API and the Web API, each on its own port.
    static func withChain(_ body: @escaping @Sendable (LiveAuthority, String) async throws -> Void) async throws {
        try await LiveAuthority.run(conditionalAccess: true) { live in
            let dataApi = DemoTenant.app("dataApi")
            let webApi = DemoTenant.app("webApi")
            let issuerAuthority = live.tenantAuthority + "/v2.0"
            let store = try ExpenseStore()
            try store.seedIfEmpty(DataAPI.demoExpenses(now: Date()))
            let data = DataAPI(
                validator: try ResourceValidator(
                    DataAPI.configuration(
                        authority: issuerAuthority, appID: dataApi.appId,
                        appIDURI: dataApi.identifierUri!)),
                store: store, managers: [DemoTenant.user("alice").id: DemoTenant.user("bob").id])
            let dataRouter = Router(context: BearerRequestContext.self)
            data.addRoutes(to: dataRouter)
            let dataPort = try freeLoopbackPort()
            try await serving(dataRouter, port: dataPort) {
                let web = WebAPI(
                    validator: try ResourceValidator(
                        WebAPI.configuration(
                            authority: issuerAuthority, appID: webApi.appId,
                            appIDURI: webApi.identifierUri!)),
                    obo: ConfidentialClient(authority: live.tenantAuthority, clientID: webApi.appId, credential: .secret(webApi.secret!)),
                    dataAPI: "http://127.0.0.1:\(dataPort)")
                let webRouter = Router(context: BearerRequestContext.self)
                web.addRoutes(to: webRouter)
                let webPort = try freeLoopbackPort()
                try await serving(webRouter, port: webPort) { try await body(live, "http://127.0.0.1:\(webPort)") }
            }
        }
    }

    static func get(_ url: String, token: String, correlation: String) async throws -> (Int, [String: String], String) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "client-request-id", value: correlation)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for h in response.headers { headers[h.name.lowercased()] = h.value }
        return (Int(response.status.code), headers, String(buffer: body))
    }

    @Test(
        "Scenario 1: a password-only sign-in gets the MFA claims challenge from the Web API; after MFA with those claims the same call succeeds, and the log shows both"
    )
    func stepUp() async throws {
        try await Self.withChain { live, web in
            let alice = DemoTenant.user("alice")
            let weak = try await live.userToken("alice")
            let (status, headers, _) = try await Self.get(web + "/api/expenses", token: weak, correlation: "scenario-1-a")
            #expect(status == 401)
            let header = try #require(headers["www-authenticate"])
            let challenge = try #require(ClaimsChallenge(wwwAuthenticate: header))
            #expect(challenge.claims == SignInDriver.mfaChallenge && challenge.error == "insufficient_claims")
            #expect(challenge.authorizationURI == live.tenantAuthority + "/oauth2/v2.0/authorize")

            let strong = try await SignInDriver.token(authority: live.authority, user: alice, claims: challenge.claims)
            let (ok, _, body) = try await Self.get(web + "/api/expenses", token: strong, correlation: "scenario-1-b")
            #expect(ok == 200)
            let rows = try JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)).arrayValue ?? []
            #expect(rows.count == 3)

            let log = try await live.authority.store.recentSignIns(limit: 100)
            let failed = try #require(log.first { $0.correlationId == "scenario-1-a" && $0.appId == DemoTenant.app("webApi").appId })
            #expect(failed.status.errorCode == 50076 && failed.resourceId == DemoTenant.app("dataApi").appId && failed.userId == alice.id)
            let succeeded = try #require(log.first { $0.correlationId == "scenario-1-b" && $0.appId == DemoTenant.app("webApi").appId })
            #expect(succeeded.status.errorCode == 0 && succeeded.conditionalAccessStatus == "success")
        }
    }

    @Test(
        "Scenario 6: the Reports API has no grant to the Data API; the consent error reaches the caller as Identity.Web's 403 consent form")
    func consentRequired() async throws {
        try await LiveAuthority.run(conditionalAccess: true) { live in
            let reportsApi = DemoTenant.app("reportsApi")
            let router = Router(context: BearerRequestContext.self)
            WebAPI(
                validator: try ResourceValidator(
                    WebAPI.configuration(
                        authority: live.tenantAuthority + "/v2.0", appID: reportsApi.appId,
                        appIDURI: reportsApi.identifierUri!)),
                obo: ConfidentialClient(
                    authority: live.tenantAuthority, clientID: reportsApi.appId, credential: .secret(reportsApi.secret!)),
                dataAPI: "http://127.0.0.1:9", callerScopes: ["api://contoso-reports-api/.default"]
            ).addRoutes(to: router)
            let port = try freeLoopbackPort()
            try await serving(router, port: port) {
                let token = try await live.userToken("alice", scope: "api://contoso-reports-api/access_as_user")
                let (status, headers, body) = try await Self.get(
                    "http://127.0.0.1:\(port)/api/expenses", token: token, correlation: "scenario-6")
                #expect(status == 403)
                let header = try #require(headers["www-authenticate"])
                let consent = try #require(ConsentChallenge(wwwAuthenticate: header))
                #expect(consent.scopes == ["api://contoso-reports-api/.default"])
                #expect(body.contains("65001") && body.contains("consent_required"))
            }
        }
    }

    @Test("Scenario 4 (through the Web API): a blocked guest gets a 403 with AADSTS53003 and no challenge to loop on")
    func blockedGuest() async throws {
        try await Self.withChain { live, web in
            let (status, headers, body) = try await Self.get(
                web + "/api/expenses", token: try await live.userToken("eve"), correlation: "scenario-4")
            #expect(status == 403)
            #expect(headers["www-authenticate"] == nil)
            #expect(body.contains("53003"))
        }
    }
}
