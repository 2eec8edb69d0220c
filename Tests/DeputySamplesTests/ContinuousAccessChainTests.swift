import AsyncHTTPClient
import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputySamples
import DeputyTestSupport
import DeputyTokenValidation
import Foundation
import NIOCore
import Testing

/// Continuous access evaluation across the agent's chain (Microsoft Learn, "Continuous access
/// evaluation"): an administrator's revocation reaches resources that hold long-lived tokens.
@Suite("continuous access evaluation: the chain")
struct ContinuousAccessChainTests {
    static let agentScope = AgentChainTests.agentScope
    /// The SPA's sign-in: the Data API's MFA challenge answered ahead, with the client capability cp1.
    static let signInClaims =
        #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]},"xms_cc":{"values":["cp1"]}}}"#

    /// The demo admin application's app-only token for Graph (client credentials, `.default`).
    static func adminGraphToken(_ live: LiveAuthority) async throws -> String {
        let admin = DemoTenant.app("admin")
        return try await live.authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]), correlationID: "admin")
        ).get().accessToken
    }

    @Test(
        "alice's agent works; bob revokes her sessions through Graph; her next message gets the nbf claims challenge relayed through agent and MCP server; after signing in again it works"
    )
    func revocationAcrossTheChain() async throws {
        // The authority's clock moves on to a fresh TOTP step for the second sign-in (a code is used once).
        let clock = ManualTimeSource(Date())
        try await AgentChainTests.withChain(continuousAccess: true, time: clock) { chain in
            let alice = DemoTenant.user("alice")
            let first = try await SignInDriver.token(
                authority: chain.live.authority, user: alice, scope: Self.agentScope, claims: Self.signInClaims)
            let before = try await AgentChainTests.chat(chain, "list my expenses", token: first, correlation: "cae-1")
            #expect(before.status == 200)
            // The MCP server's token for the Data API is a CAE token: it lives a day, not an hour.
            let dataHop = try #require(before.chain?.hops.first { $0.service == "dataApi" })
            #expect(dataHop.xms_cc == ["cp1"])
            #expect((dataHop.exp ?? 0) - (dataHop.iat ?? 0) >= 72_000)

            // A second passes so that the event is after the first tokens (all in whole seconds).
            clock.advance(by: 1)
            let revoke = try await AgentChainTests.send(
                chain.live.base + "/v1.0/users/\(alice.upn)/revokeSignInSessions", token: try await Self.adminGraphToken(chain.live),
                body: nil, correlation: "cae-revoke")
            #expect(revoke.status == 200 && revoke.json?.objectValue?["value"] == .bool(true))

            let refused = try await AgentChainTests.chat(chain, "list my expenses", token: first, correlation: "cae-2")
            #expect(refused.status == 401)
            let challenge = try #require(refused.headers["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:)))
            #expect(challenge.error == "insufficient_claims")
            let events = try await chain.live.authority.store.criticalEvents(tenantID: DemoTenant.tenantID, after: 0, limit: 10)
            let event = try #require(events.last)
            #expect(event.kind == .sessionsRevoked && event.userID == alice.id)
            #expect(challenge.claims == ClaimsRequest.notBefore(event.occurredAt).jsonString)

            let again = try await SignInDriver.token(
                authority: chain.live.authority, user: alice, scope: Self.agentScope,
                claims: try ClaimsRequest(parsing: Self.signInClaims).merging(ClaimsRequest(parsing: challenge.claims)).jsonString
            ) { clock.advance(by: TOTP.period) }
            let after = try await AgentChainTests.chat(chain, "list my expenses", token: again, correlation: "cae-3")
            #expect(after.status == 200)
            #expect(after.json?.objectValue?["reply"]?.stringValue?.hasPrefix("You can see 3 expenses") == true)
        }
    }

    @Test("A resource refuses a pre-event token without cp1 as invalid_token, and keeps working on its last state when the feed fails")
    func resourceSide() async throws {
        try await LiveAuthority.run(conditionalAccess: false) { live in
            let webApi = DemoTenant.app("webApi")
            let issuer = live.tenantAuthority + "/v2.0"
            var c = WebAPI.configuration(authority: issuer, appID: webApi.appId, appIDURI: webApi.identifierUri!)
            c.continuousAccess = ContinuousAccessConfiguration(
                authority: issuer, clientID: webApi.appId, clientSecret: webApi.secret!, maxDelay: 0)
            let validator = try ResourceValidator(c)
            let bob = DemoTenant.user("bob")
            let plain = try await live.userToken("bob")
            #expect(try await validator.validate(plain).objectID == bob.id)
            try await Task.sleep(for: .seconds(1))
            try await live.authority.raiseCriticalEvent(.passwordChanged, userID: bob.id, tenantID: DemoTenant.tenantID)
            do {
                _ = try await validator.validate(plain)
                Issue.record("a token issued before the password change was accepted")
            } catch {
                guard case .invalidToken? = error as? ResourceValidationError else {
                    Issue.record("expected invalid_token, got \(error)")
                    return
                }
            }
            #expect(await validator.continuousAccessFeedError() == nil)

            // A wrong secret: the feed refuses, the validator reports it and still answers.
            var wrong = c
            wrong.continuousAccess?.clientSecret = "wrong"
            let blind = try ResourceValidator(wrong)
            _ = try? await blind.validate(plain)
            #expect(await blind.continuousAccessFeedError()?.contains("401") == true)
        }
    }
}
