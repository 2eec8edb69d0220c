import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// Continuous access evaluation at the authority (Microsoft Learn, "Continuous access evaluation").
@Suite("continuous access evaluation: the authority")
struct ContinuousAccessTests {
    let webApi = GrantsFixture.app("webApi")
    let dataApi = GrantsFixture.app("dataApi")
    let cli = GrantsFixture.app("cli")
    let bob = GrantsFixture.user("bob")
    static let cp1 = #"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#
    static let mfaAndCP1 =
        #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]},"xms_cc":{"values":["cp1"]}}}"#

    func obo(_ f: GrantsFixture, assertion: String, claims: String? = cp1) async -> Result<TokenResponse, OAuthError> {
        var p: [(String, String)] = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("requested_token_use", "on_behalf_of"), ("assertion", assertion), ("scope", "https://database.windows.net//.default"),
        ]
        if let claims { p.append(("claims", claims)) }
        return await f.token(p)
    }

    func lifetime(_ token: String) throws -> Double {
        let c = try UnverifiedJWT(token).claims
        return try #require(c["exp"]?.numberValue) - #require(c["iat"]?.numberValue)
    }

    @Test(
        "A middle tier that declares cp1 gets a 20-28 hour token carrying xms_cc for a resource that asks for it; without cp1, about an hour"
    )
    func caeTokens() async throws {
        let f = try await GrantsFixture.make()
        let assertion = try await f.mfaUserToken(bob)
        let cae = try await obo(f, assertion: assertion).get()
        #expect(try UnverifiedJWT(cae.accessToken).claims["xms_cc"]?.arrayValue == [.string("cp1")])
        #expect((72_000...100_800).contains(try lifetime(cae.accessToken)))
        #expect((72_000...100_800).contains(cae.expiresIn))
        let plain = try await obo(f, assertion: assertion, claims: nil).get()
        #expect(try UnverifiedJWT(plain.accessToken).claims["xms_cc"] == nil)
        #expect((3600...5400).contains(try lifetime(plain.accessToken)))
        // The Web API does not ask for xms_cc: a cp1 client still gets an ordinary token for it.
        let web = try await SignInDriver.token(authority: f.authority, user: bob, claims: Self.mfaAndCP1) {
            f.time.advance(by: TOTP.period)
        }
        #expect((3600...5400).contains(try lifetime(web)))
    }

    @Test("The tenant's tokenLifetimes set the CAE lifetime, capped by how long events are kept")
    func configuredLifetime() async throws {
        let f = try await GrantsFixture.make { d in
            var l = TokenLifetimes()
            l.caeAccessTokenMinSeconds = 7200
            l.caeAccessTokenMaxSeconds = 7200
            d.tenant.tokenLifetimes = l
        }
        let cae = try await obo(f, assertion: try await f.mfaUserToken(bob)).get()
        #expect(try lifetime(cae.accessToken) == 7200)
        var long = TokenLifetimes()
        long.caeAccessTokenMaxSeconds = 30 * 86_400
        #expect(
            AuthorityConfiguration(baseURL: "http://x").applying(long).caeAccessTokenLifetime.upperBound == Int(CriticalEvent.retention))
    }

    @Test(
        "After revokeSignInSessions the user's refresh token and OBO assertions from before are refused with interaction_required and the nbf claims; a new sign-in works"
    )
    func revokedSessions() async throws {
        let f = try await GrantsFixture.make()
        let signedIn = try await SignInDriver.response(authority: f.authority, user: bob, claims: Self.mfaAndCP1) {
            f.time.advance(by: TOTP.period)
        }
        f.time.advance(by: 5)
        let event = try await f.authority.raiseCriticalEvent(.sessionsRevoked, userID: bob.id, tenantID: GrantsFixture.tenant)
        #expect(event.kind == .sessionsRevoked && event.sequence == 1)
        let nbf = ClaimsRequest.notBefore(event.occurredAt).jsonString
        #expect(nbf == #"{"access_token":{"nbf":{"essential":true,"value":"\#(Int(event.occurredAt.timeIntervalSince1970))"}}}"#)

        let refresh = try #require(signedIn.refreshToken)
        let refused = await f.failure([
            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", refresh),
            ("scope", "api://contoso-expenses-api/access_as_user"),
        ])
        #expect(refused?.error == .interactionRequired && refused?.aadsts == 50173 && refused?.claims == nbf)
        let oboRefused = await obo(f, assertion: signedIn.accessToken).failure
        #expect(oboRefused?.error == .interactionRequired && oboRefused?.aadsts == 50173 && oboRefused?.claims == nbf)
        // The sign-in log says why.
        let log = try await f.store.recentSignIns(limit: 5)
        #expect(log.first?.status.errorCode == 50173 && log.first?.userId == bob.id)

        f.time.advance(by: 1)
        let fresh = try await f.mfaUserToken(bob, claims: Self.mfaAndCP1)
        #expect(try await obo(f, assertion: fresh).get().accessToken.isEmpty == false)
    }

    @Test("A claims request with nbf after the user's sign-in is refused until the user signs in again, at authorize too")
    func nbfClaimsRequest() async throws {
        let f = try await GrantsFixture.make()
        let signedIn = try await SignInDriver.response(authority: f.authority, user: bob, claims: Self.mfaAndCP1) {
            f.time.advance(by: TOTP.period)
        }
        f.time.advance(by: 10)
        let later = ClaimsRequest.notBefore(f.time.now()).jsonString
        let refused = await f.failure([
            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", signedIn.refreshToken!),
            ("scope", "api://contoso-expenses-api/access_as_user"), ("claims", later),
        ])
        #expect(refused?.error == .interactionRequired && refused?.claims == later)
        // An earlier nbf is satisfied by the same sign-in.
        let earlier = ClaimsRequest.notBefore(f.time.now() - 60).jsonString
        _ = try await f.success([
            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", signedIn.refreshToken!),
            ("scope", "api://contoso-expenses-api/access_as_user"), ("claims", earlier),
        ])
        // The browser's session is older than the nbf: authorize shows the sign-in form again.
        f.time.advance(by: 1)
        let fresh = try await SignInDriver.token(authority: f.authority, user: bob, claims: later) { f.time.advance(by: TOTP.period) }
        #expect(try UnverifiedJWT(fresh).claims["iat"]?.numberValue ?? 0 >= ClaimsRequest(parsing: later).notBefore!.timeIntervalSince1970)
    }

    @Test("Disabling, deleting and raising a user's risk change the directory and are recorded in order")
    func eventKinds() async throws {
        let f = try await GrantsFixture.make()
        let alice = GrantsFixture.user("alice")
        try await f.authority.raiseCriticalEvent(.userRiskHigh, userID: alice.id, tenantID: GrantsFixture.tenant)
        try await f.authority.raiseCriticalEvent(.userDisabled, userID: bob.id, tenantID: GrantsFixture.tenant)
        try await f.authority.raiseCriticalEvent(.userDeleted, userID: alice.id, tenantID: GrantsFixture.tenant)
        let d = try #require(try await f.store.directories().first)
        #expect(d.users.first { $0.id == bob.id }?.isEnabled == false)
        #expect(d.users.first { $0.id == bob.id }?.signInSessionsValidFrom != nil)
        #expect(d.users.contains { $0.id == alice.id } == false)
        #expect(d.oauth2PermissionGrants.contains { $0.principalId == alice.id } == false)
        let events = try await f.store.criticalEvents(tenantID: GrantsFixture.tenant, after: 0, limit: 10)
        #expect(events.map(\.kind) == [.userRiskHigh, .userDisabled, .userDeleted])
        #expect(events.map(\.sequence) == [1, 2, 3])
        #expect(try await f.store.criticalEvents(tenantID: GrantsFixture.tenant, after: 2, limit: 10).map(\.sequence) == [3])
        #expect(try await f.store.criticalEvents(tenantID: "other", after: 0, limit: 10).isEmpty)
        await #expect(throws: ContinuousAccess.UnknownUser.self) {
            try await f.authority.raiseCriticalEvent(.sessionsRevoked, userID: "nobody", tenantID: GrantsFixture.tenant)
        }
    }

    @Test(
        "With a policy that enforces location strictly, moving a user's sign-ins is a critical event and the next token is evaluated from the new place; without one it is not an event"
    )
    func locationChange() async throws {
        let office = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
        let f = try await GrantsFixture.make { d in
            d.namedLocations.append(
                .object([
                    "@odata.type": .string("#microsoft.graph.ipNamedLocation"), "id": .string(office), "displayName": .string("Office"),
                    "isTrusted": .bool(true),
                    "ipRanges": .array([
                        .object(["@odata.type": .string("#microsoft.graph.iPv4CidrRange"), "cidrAddress": .string("127.0.0.0/8")])
                    ]),
                ]))
            d.conditionalAccessPolicies.append(
                .object([
                    "id": .string("7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"), "displayName": .string("SQL from the office only"),
                    "state": .string("enabled"),
                    "conditions": .object([
                        "users": .object(["includeUsers": .array([.string("All")])]),
                        "applications": .object(["includeApplications": .array([.string(GrantsFixture.app("dataApi").appId)])]),
                        "clientAppTypes": .array([.string("all")]),
                        "locations": .object(["includeLocations": .array([.string("All")]), "excludeLocations": .array([.string(office)])]),
                    ]),
                    "grantControls": .object(["operator": .string("OR"), "builtInControls": .array([.string("block")])]),
                    "sessionControls": .object(["continuousAccessEvaluation": .object(["mode": .string("strictEnforcement")])]),
                ]))
        }
        let assertion = try await f.mfaUserToken(bob)
        #expect(try await obo(f, assertion: assertion).get().accessToken.isEmpty == false)
        let event = try await ContinuousAccess.moveSignIns(
            to: "203.0.113.7", userID: bob.id, tenantID: GrantsFixture.tenant, at: f.time.now(), in: f.store)
        #expect(event?.kind == .locationChanged)
        // Sessions are not ended: Conditional Access decides from the new place.
        #expect(try await f.store.directories().first?.users.first { $0.id == bob.id }?.signInSessionsValidFrom == nil)
        #expect(await obo(f, assertion: assertion).failure?.aadsts == 53003)
        try await ContinuousAccess.moveSignIns(to: nil, userID: bob.id, tenantID: GrantsFixture.tenant, at: f.time.now(), in: f.store)
        #expect(try await obo(f, assertion: assertion).get().accessToken.isEmpty == false)
        await #expect(throws: ContinuousAccess.InvalidAddress.self) {
            try await ContinuousAccess.moveSignIns(
                to: "not-an-ip", userID: bob.id, tenantID: GrantsFixture.tenant, at: f.time.now(), in: f.store)
        }

        // Without strict enforcement the move is no event.
        let plain = try await GrantsFixture.make()
        #expect(
            try await ContinuousAccess.moveSignIns(
                to: "203.0.113.7", userID: bob.id, tenantID: GrantsFixture.tenant, at: plain.time.now(), in: plain.store) == nil)
        #expect(try await plain.store.criticalEvents(tenantID: GrantsFixture.tenant, after: 0, limit: 5).isEmpty)
    }

    func feed(_ f: GrantsFixture, _ form: [(String, String)], basic: String? = nil) async -> Result<CriticalEventFeed, OAuthError> {
        await f.authority.criticalEventFeed(
            TokenRequest(tenantSegment: "contoso.com", form: FormParameters(form), authorizationHeader: basic, correlationID: "feed"))
    }

    @Test("The event feed answers a resource authenticated with its secret, from the cursor on; others are refused")
    func eventFeed() async throws {
        let f = try await GrantsFixture.make()
        try await f.authority.raiseCriticalEvent(.sessionsRevoked, userID: bob.id, tenantID: GrantsFixture.tenant)
        try await f.authority.raiseCriticalEvent(.passwordChanged, userID: bob.id, tenantID: GrantsFixture.tenant)
        let basic = "Basic " + Data("\(dataApi.appId):\(dataApi.secret!)".utf8).base64EncodedString()
        let all = try await feed(f, [], basic: basic).get()
        #expect(all.events.map(\.event) == ["sessionsRevoked", "passwordChanged"] && all.cursor == 2)
        #expect(all.events.allSatisfy { $0.userId == bob.id })
        let rest = try await feed(f, [("after", "1"), ("client_id", dataApi.appId), ("client_secret", dataApi.secret!)]).get()
        #expect(rest.events.map(\.sequence) == [2] && rest.cursor == 2)
        let none = try await feed(f, [("after", "2")], basic: basic).get()
        #expect(none.events.isEmpty && none.cursor == 2)

        #expect(await feed(f, [("client_id", dataApi.appId), ("client_secret", "wrong")]).failure?.aadsts == 7_000_215)
        #expect(await feed(f, [("client_id", dataApi.appId)]).failure?.error == .invalidClient)
        let admin = GrantsFixture.app("admin")
        let notResource = await feed(f, [("client_id", admin.appId), ("client_secret", admin.secret!)]).failure
        #expect(notResource?.error == .unauthorizedClient && notResource?.status == 403)
        #expect(await feed(f, [("after", "-1")], basic: basic).failure?.error == .invalidRequest)
    }
}

@Suite("tenant export")
struct TenantExportTests {
    @Test("A store's tenants, after runtime changes, export as a tenant file that loads back to the same directories")
    func exportLoadsUnchanged() async throws {
        let f = try await GrantsFixture.make()
        let bob = GrantsFixture.user("bob")
        try await f.authority.raiseCriticalEvent(.sessionsRevoked, userID: bob.id, tenantID: GrantsFixture.tenant)
        try await f.store.updateDirectory(tenantID: GrantsFixture.tenant) { d in
            _ = try GraphCollection.groups.create(
                ["displayName": .string("Auditors"), "securityEnabled": .bool(true), "members": .array([.string(bob.id)])], in: &d,
                newID: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", now: Date())
        }
        let stored = try await f.store.directories()
        let yaml = try TenantFileWriter.yaml(stored)
        #expect(!yaml.contains("demo-secret"), "plain secrets never reach the file")
        let loaded = try TenantFileLoader.load(yaml: yaml, fileName: "export.yaml")
        #expect(loaded.tenants == stored)
        #expect(loaded.plainPasswords.isEmpty)
        #expect(loaded.tenants.first?.users.first { $0.id == bob.id }?.signInSessionsValidFrom != nil)
    }
}
