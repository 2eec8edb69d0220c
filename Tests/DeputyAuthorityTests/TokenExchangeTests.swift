import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("token exchange (RFC 8693)")
struct TokenExchangeTests {
    let webApi = GrantsFixture.app("webApi")
    let dataApi = GrantsFixture.app("dataApi")
    let bob = GrantsFixture.user("bob")
    static let subjectType = "urn:ietf:params:oauth:token-type:access_token"

    func fixture() async throws -> GrantsFixture {
        try await GrantsFixture.make { d in
            let sps = d.servicePrincipals
            let sp = { (appID: String) in sps.first { $0.appId == appID }!.id }
            // The Data API may act for users towards the MCP server (for the chained exchange).
            d.oauth2PermissionGrants.append(
                .init(
                    id: "g-data-mcp", clientId: sp(DemoTenant.app("dataApi").appId),
                    resourceId: sp(DemoTenant.app("mcpServer").appId), consentType: "AllPrincipals",
                    principalId: nil, scope: "Expenses.ReadWrite"))
        }
    }

    /// Bob's token for the Web API, signed in with MFA (the Data API requires it).
    func userToken(_ f: GrantsFixture) async throws -> String {
        try await f.mfaUserToken(bob)
    }

    func exchange(
        _ f: GrantsFixture, subject: String, client: DemoTenant.DemoApp? = nil, _ extra: [(String, String)]
    ) async -> Result<TokenResponse, OAuthError> {
        let c = client ?? webApi
        return await f.token(
            [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("client_id", c.appId), ("client_secret", c.secret!),
                ("subject_token", subject), ("subject_token_type", Self.subjectType),
            ] + extra)
    }

    @Test("The caller gets an RFC 9068 token for one audience: at+jwt, the subject's sub, client_id, scope, tid, oid and act")
    func exchangesWithoutActor() async throws {
        let f = try await fixture()
        let subject = try await userToken(f)
        let r = try await exchange(f, subject: subject, [("audience", "https://database.windows.net/")]).get()
        #expect(r.issuedTokenType == Self.subjectType && r.tokenType == "Bearer")
        let jwt = try UnverifiedJWT(r.accessToken)
        #expect(jwt.header["typ"]?.stringValue == "at+jwt")
        _ = try await f.verifiedClaims(r.accessToken)
        #expect(jwt.string("aud") == dataApi.appId && jwt.string("client_id") == webApi.appId)
        #expect(jwt.string("sub") == (try UnverifiedJWT(subject)).string("sub") && jwt.string("oid") == bob.id)
        #expect(Set(Scopes.parse(jwt.string("scope"))) == ["Data.Read", "Data.Write"])
        #expect(jwt.claims["act"]?.objectValue?["sub"]?.stringValue == webApi.appId)
        #expect(jwt.string("jti") != nil && jwt.string("tid") == DemoTenant.tenantID)
    }

    @Test("A subject token from before revokeSignInSessions is refused with AADSTS50173 and the nbf claims, as an OBO assertion is")
    func revokedSubject() async throws {
        let f = try await fixture()
        let subject = try await userToken(f)
        f.time.advance(by: 2)
        let event = try await f.authority.raiseCriticalEvent(.sessionsRevoked, userID: bob.id, tenantID: DemoTenant.tenantID)
        let refused = await exchange(f, subject: subject, [("audience", "https://database.windows.net/")]).failure
        #expect(refused?.error == .interactionRequired && refused?.aadsts == 50173)
        #expect(refused?.claims == ClaimsRequest.notBefore(event.occurredAt).jsonString)
        let log = try await f.store.recentSignIns(limit: 1)
        #expect(log.first?.status.errorCode == 50173 && log.first?.conditionalAccessStatus == "notApplied")
    }

    @Test("An actor token names the actor, and exchanging an exchanged token nests act")
    func actorsAndChains() async throws {
        let f = try await fixture()
        // The actor token is the caller's own (an actor token of another client is refused).
        let actorToken = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("scope", "https://database.windows.net//.default"),
        ]).accessToken
        let withActor = try await exchange(
            f, subject: try await userToken(f),
            [
                ("scope", "https://database.windows.net//Data.Read"),
                ("actor_token", actorToken), ("actor_token_type", Self.subjectType),
            ]
        ).get()
        let first = try UnverifiedJWT(withActor.accessToken)
        #expect(first.claims["act"]?.objectValue?["sub"]?.stringValue == (try UnverifiedJWT(actorToken)).string("sub"))
        #expect(first.string("scope") == "Data.Read")
        // The Data API, holding a token that already has act, exchanges it in turn.
        let second = try await exchange(f, subject: withActor.accessToken, client: dataApi, [("resource", "api://contoso-expenses-mcp")])
            .get()
        let act = try #require(UnverifiedJWT(second.accessToken).claims["act"]?.objectValue)
        #expect(act["sub"]?.stringValue == dataApi.appId)
        #expect(act["act"] == first.claims["act"])
    }

    @Test("Failures answer in RFC 6749's body with RFC 8693's codes")
    func failures() async throws {
        let f = try await fixture()
        let subject = try await userToken(f)
        let unknown = try #require(await exchange(f, subject: subject, [("audience", "api://nowhere")]).failure)
        #expect(unknown.error == .invalidTarget && unknown.rfc6749Only)
        let body = EntraErrorBody(unknown, traceId: "t", correlationId: "c", at: Date(), errorURIBase: "http://x")
        #expect(body.errorCodes == nil && body.traceId == nil && !body.errorDescription.contains("Trace ID"))
        #expect(
            await exchange(
                f, subject: subject, [("audience", "https://database.windows.net/"), ("audience", "api://contoso-expenses-mcp")]
            ).failure?.error == .invalidTarget)
        #expect(await exchange(f, subject: subject, []).failure?.error == .invalidTarget)
        #expect(
            await f.token([
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("client_id", webApi.appId),
                ("client_secret", webApi.secret!),
                ("subject_token", subject), ("subject_token_type", "urn:x"), ("audience", "https://database.windows.net/"),
            ]).failure?.error == .invalidRequest)
        #expect(await exchange(f, subject: "a.b.c", [("audience", "https://database.windows.net/")]).failure?.error == .invalidGrant)
        // The same consent as OBO: the Web API has no grant on the MCP server.
        let consent = try #require(await exchange(f, subject: subject, [("audience", "api://contoso-expenses-mcp")]).failure)
        #expect(consent.error == .invalidGrant && consent.rfc6749Only && consent.aadsts == 65001)
    }

    @Test("may_act in the subject token limits who may act for its subject")
    func mayAct() async throws {
        let f = try await fixture()
        let subject = try await userToken(f)
        var claims = try UnverifiedJWT(subject).claims
        claims["may_act"] = .object(["sub": .string("someone-else")])
        let restricted = try await f.authority.currentKeys().current.sign(claims: claims)
        #expect(await exchange(f, subject: restricted, [("audience", "https://database.windows.net/")]).failure?.error == .invalidGrant)
        claims["may_act"] = .object(["sub": .string(webApi.appId)])
        let allowed = try await f.authority.currentKeys().current.sign(claims: claims)
        await #expect(throws: Never.self) { try await exchange(f, subject: allowed, [("audience", "https://database.windows.net/")]).get() }
    }
}
