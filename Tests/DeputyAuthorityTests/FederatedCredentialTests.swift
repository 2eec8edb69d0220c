import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("federated identity credentials")
struct FederatedCredentialTests {
    let webApi = GrantsFixture.app("webApi")
    static let issuer = "https://token.actions.githubusercontent.com"
    static let subject = "repo:contoso/expenses:ref:refs/heads/main"

    /// The demo tenant where the Web API trusts an external issuer whose key is `external`.
    func fixture(external: SigningKey) async throws -> GrantsFixture {
        let jwk = try external.jwk(issuer: Self.issuer)
        return try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("webApi").appId }!
            d.applications[i].federatedIdentityCredentials = [
                .init(
                    name: "github-main", issuer: Self.issuer, subject: Self.subject, audiences: nil, description: nil,
                    jwks: .object(["keys": .array([.object(jwk)])]))
            ]
        }
    }

    func externalToken(
        _ key: SigningKey, sub: String = subject, aud: String = "api://AzureADTokenExchange", exp: TimeInterval = 600, now: Date
    ) throws -> String {
        try key.sign(claims: [
            "iss": .string(Self.issuer), "sub": .string(sub), "aud": .string(aud),
            "iat": .number(now.timeIntervalSince1970), "exp": .number(now.timeIntervalSince1970 + exp),
        ])
    }

    func obo(_ f: GrantsFixture, clientAssertion: String) async throws -> Result<TokenResponse, OAuthError> {
        let bob = GrantsFixture.user("bob")
        let user = try await f.mfaUserToken(bob)
        return await f.token([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", clientAssertion),
            ("requested_token_use", "on_behalf_of"), ("assertion", user), ("scope", "https://database.windows.net//.default"),
        ])
    }

    @Test("A token from a trusted external issuer authenticates the middle tier for OBO, logged as a federated credential")
    func federatedOBO() async throws {
        let external = try SigningKey.load(try SigningKey.generate(now: Date()))
        let f = try await fixture(external: external)
        let token = try await obo(f, clientAssertion: try externalToken(external, now: f.time.now())).get()
        let claims = try UnverifiedJWT(token.accessToken)
        #expect(claims.string("azp") == webApi.appId && claims.string("azpacr") == "2")
        #expect(try await f.store.recentSignIns(limit: 1)[0].clientCredentialType == "federatedIdentityCredential")
    }

    @Test("A federated assertion with another subject, the wrong key or past its lifetime is refused")
    func refusals() async throws {
        let external = try SigningKey.load(try SigningKey.generate(now: Date()))
        let f = try await fixture(external: external)
        let now = f.time.now()
        #expect(
            try await obo(f, clientAssertion: try externalToken(external, sub: "repo:contoso/expenses:pull_request", now: now)).failure?
                .aadsts == 70021)
        let stranger = try SigningKey.load(try SigningKey.generate(now: Date()))
        #expect(try await obo(f, clientAssertion: try externalToken(stranger, now: now)).failure?.aadsts == 700027)
        #expect(try await obo(f, clientAssertion: try externalToken(external, exp: 60, now: now - 3600)).failure?.aadsts == 700024)
    }
}

@Suite("more credential and consent cases")
struct MoreCredentialCases {
    @Test("An expired client secret gets AADSTS7000222 (HTTP 401)")
    func expiredSecret() async throws {
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("reports").appId }!
            d.applications[i].passwordCredentials![0].endDateTime = Date(timeIntervalSince1970: 1_000_000)
        }
        let reports = GrantsFixture.app("reports")
        let e = try #require(
            await f.failure([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                ("scope", "https://database.windows.net//.default"),
            ]))
        #expect(e.aadsts == 7_000_222 && e.status == 401)
    }

    @Test("A user token of this authority used as a federated credential is refused (AADSTS700229: app-only tokens only)")
    func ownIssuerUserTokenAsCredential() async throws {
        let issuer = "http://127.0.0.1:7400/\(DemoTenant.tenantID)/v2.0"
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("webApi").appId }!
            d.applications[i].federatedIdentityCredentials = [
                .init(name: "self", issuer: issuer, subject: "bob-subject", audiences: nil, description: nil, jwks: nil)
            ]
        }
        let now = f.time.now().timeIntervalSince1970
        let userLike = try await f.authority.currentKeys().current.sign(claims: [
            "iss": .string(issuer), "sub": .string("bob-subject"), "aud": .string("api://AzureADTokenExchange"), "scp": .string("x"),
            "iat": .number(now), "exp": .number(now + 600),
        ])
        let webApi = GrantsFixture.app("webApi")
        let e = try #require(
            await f.failure([
                ("grant_type", "client_credentials"), ("client_id", webApi.appId),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", userLike), ("scope", "https://database.windows.net//.default"),
            ]))
        #expect(e.aadsts == 700229)
        let appLike = try await f.authority.currentKeys().current.sign(claims: [
            "iss": .string(issuer), "sub": .string("bob-subject"), "aud": .string("api://AzureADTokenExchange"), "idtyp": .string("app"),
            "roles": .array([]), "iat": .number(now), "exp": .number(now + 600),
        ])
        _ = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", webApi.appId),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", appLike), ("scope", "https://database.windows.net//.default"),
        ])
    }

    @Test("A client pre-authorized by the resource needs no grant and no consent prompt")
    func preAuthorized() async throws {
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("agentBlueprint").appId }!
            d.applications[i].api?.preAuthorizedApplications = [
                .init(
                    appId: DemoTenant.app("cli").appId,
                    delegatedPermissionIds: ["11111111-aaaa-4bbb-8ccc-000000000005"], permissionIds: nil)
            ]
        }
        let bob = GrantsFixture.user("bob")
        let token = try await f.success([
            ("grant_type", "password"), ("client_id", GrantsFixture.app("cli").appId), ("username", bob.upn),
            ("password", bob.password), ("scope", "api://contoso-expense-agent/access_as_user"),
        ]).accessToken
        #expect(try UnverifiedJWT(token).string("scp") == "access_as_user")
    }
}
