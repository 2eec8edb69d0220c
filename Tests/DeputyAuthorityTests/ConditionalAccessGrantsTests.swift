import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

/// Conditional Access at token issuance: the OBO challenge and how the client satisfies it,
/// authentication contexts, refresh tokens, and workload identities.
@Suite("Conditional Access at token issuance")
struct ConditionalAccessGrantsTests {
    let webApi = GrantsFixture.app("webApi")
    let cli = GrantsFixture.app("cli")
    let bob = GrantsFixture.user("bob")

    func passwordToken(_ f: GrantsFixture) async throws -> String {
        try await f.success([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
            ("scope", "api://contoso-expenses-api/access_as_user"),
        ]).accessToken
    }

    func obo(
        _ f: GrantsFixture, _ assertion: String, scope: String = "https://database.windows.net//.default",
        claims: String? = nil, correlation: String
    ) async -> Result<TokenResponse, OAuthError> {
        var p: [(String, String)] = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
            ("client_secret", webApi.secret!), ("requested_token_use", "on_behalf_of"), ("assertion", assertion),
            ("scope", scope),
        ]
        if let claims { p.append(("claims", claims)) }
        return await f.token(p, correlation: correlation)
    }

    @Test(
        "OBO for the Data API with a password-only token is challenged (AADSTS50076, capolids); the token from authorize with those claims makes the same OBO succeed"
    )
    func challengeThenSatisfied() async throws {
        let f = try await GrantsFixture.make()
        let first = await obo(f, try await passwordToken(f), correlation: "obo-1")
        let e = try #require(first.failure)
        #expect(e.error == .invalidGrant && e.aadsts == 50076 && e.suberror == "basic_action")
        let claims = try #require(e.claims)
        #expect(claims == #"{"access_token":{"capolids":{"essential":true,"values":["\#(GrantsFixture.mfaPolicyID)"]}}}"#)

        // The client signs the user in again with exactly those claims (password, then TOTP).
        let stepped = try await f.mfaUserToken(bob, claims: claims)
        let second = try await obo(f, stepped, correlation: "obo-2").get()
        let c = try UnverifiedJWT(second.accessToken)
        #expect(c.string("azp") == webApi.appId)
        #expect(c.claims["amr"]?.strings.contains("mfa") == true)

        // The log: the OBO failure names the policy, the middle tier is only the client app, the user the subject.
        let log = try await f.store.recentSignIns(limit: 50)
        let failed = try #require(log.first { $0.correlationId == "obo-1" })
        #expect(failed.status.errorCode == 50076 && failed.conditionalAccessStatus == "failure")
        #expect(failed.appId == webApi.appId && failed.userId == bob.id && failed.resourceId == GrantsFixture.app("dataApi").appId)
        #expect(failed.isInteractive == false)
        #expect(failed.appliedConditionalAccessPolicies.first { $0.id == GrantsFixture.mfaPolicyID }?.result == "failure")
        #expect(failed.authenticationRequirement == "multiFactorAuthentication")
        let succeeded = try #require(log.first { $0.correlationId == "obo-2" })
        #expect(succeeded.status.errorCode == 0 && succeeded.conditionalAccessStatus == "success")
        #expect(succeeded.appliedConditionalAccessPolicies.first { $0.id == GrantsFixture.mfaPolicyID }?.result == "success")
    }

    @Test("An authentication context asked for in the OBO request brings its policy into play; a user who did MFA gets acrs c1")
    func authenticationContextAtOBO() async throws {
        let f = try await GrantsFixture.make()
        let c1 = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
        let weak = await obo(f, try await passwordToken(f), claims: c1, correlation: "c1-weak")
        #expect(weak.failure?.aadsts == 50076)
        // Both the Data API's policy and the c1 policy are unmet, and both are named.
        #expect(weak.failure?.claims?.contains("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02") == true)
        #expect(weak.failure?.claims?.contains(GrantsFixture.mfaPolicyID) == true)

        let strong = try await f.mfaUserToken(bob)
        let token = try await obo(f, strong, claims: c1, correlation: "c1-strong").get()
        #expect(try UnverifiedJWT(token.accessToken).claims["acrs"]?.strings == ["c1"])
    }

    @Test("Authorize with an authentication-context claim requires MFA and the token carries that context")
    func authenticationContextAtAuthorize() async throws {
        let f = try await GrantsFixture.make()
        let token = try await f.mfaUserToken(bob, claims: #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        let c = try UnverifiedJWT(token)
        #expect(c.claims["acrs"]?.strings == ["c1"])
        #expect(c.claims["amr"]?.strings.contains("mfa") == true)
    }

    @Test(
        "Refresh-token redemption is evaluated too: with the challenge's claims a password-only session is interrupted, and an MFA session passes"
    )
    func refreshIsEvaluated() async throws {
        let f = try await GrantsFixture.make()
        let claims = #"{"access_token":{"capolids":{"essential":true,"values":["\#(GrantsFixture.mfaPolicyID)"]}}}"#
        let r = try await f.success([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", bob.upn), ("password", bob.password),
            ("scope", "api://contoso-expenses-api/access_as_user offline_access"),
        ])
        let e = await f.failure([
            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", try #require(r.refreshToken)),
            ("scope", "api://contoso-expenses-api/access_as_user"), ("claims", claims),
        ])
        #expect(e?.aadsts == 50076 && e?.claims == claims)
        // Without the claims nothing targets the Web API: the same refresh token still works.
        _ = try await f.success([
            ("grant_type", "refresh_token"), ("client_id", cli.appId), ("refresh_token", try #require(r.refreshToken)),
            ("scope", "api://contoso-expenses-api/access_as_user"),
        ])
    }

    @Test("A workload-identity policy blocks client_credentials with AADSTS53003 and capolids")
    func workloadIdentityBlock() async throws {
        let policyID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e99"
        let f = try await GrantsFixture.make { d in
            let json =
                #"{"id":"\#(policyID)","displayName":"Block app-only SQL","state":"enabled","conditions":{"users":{"includeUsers":["None"]},"clientApplications":{"includeServicePrincipals":["ServicePrincipalsInMyTenant"]},"applications":{"includeApplications":["\#(GrantsFixture.app("dataApi").appId)"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        }
        let reports = GrantsFixture.app("reports")
        let e = await f.failure([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "https://database.windows.net//.default"),
        ])
        #expect(e?.aadsts == 53003 && e?.suberror == "message_only")
        #expect(e?.claims?.contains(policyID) == true)
        // Another resource is not targeted.
        let admin = GrantsFixture.app("admin")
        _ = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
    }

    @Test("A tenant set to the documented style answers interaction_required with polids")
    func documentedStyle() async throws {
        let f = try await GrantsFixture.make { d in d.tenant.claimsChallengeStyle = "documented" }
        let e = try #require(await obo(f, try await passwordToken(f), correlation: "doc").failure)
        #expect(e.error == .interactionRequired)
        #expect(e.claims == #"{"access_token":{"polids":{"essential":true,"values":["\#(GrantsFixture.mfaPolicyID)"]}}}"#)
    }
}
