import DeputyCore
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
            d.applications[i].federatedIdentityCredentials = [.init(
                name: "github-main", issuer: Self.issuer, subject: Self.subject, audiences: nil, description: nil,
                jwks: .object(["keys": .array([.object(jwk)])]))]
        }
    }

    func externalToken(_ key: SigningKey, sub: String = subject, aud: String = "api://AzureADTokenExchange", exp: TimeInterval = 600, now: Date) throws -> String {
        try key.sign(claims: ["iss": .string(Self.issuer), "sub": .string(sub), "aud": .string(aud),
                              "iat": .number(now.timeIntervalSince1970), "exp": .number(now.timeIntervalSince1970 + exp)])
    }

    func obo(_ f: GrantsFixture, clientAssertion: String) async throws -> Result<TokenResponse, OAuthError> {
        let bob = GrantsFixture.user("bob")
        let user = try await f.success([("grant_type", "password"), ("client_id", GrantsFixture.app("cli").appId), ("username", bob.upn),
                                        ("password", bob.password), ("scope", "api://contoso-expenses-api/access_as_user")]).accessToken
        return await f.token([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
                              ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", clientAssertion),
                              ("requested_token_use", "on_behalf_of"), ("assertion", user), ("scope", "https://database.windows.net//.default")])
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
        #expect(try await obo(f, clientAssertion: try externalToken(external, sub: "repo:contoso/expenses:pull_request", now: now)).failure?.aadsts == 70021)
        let stranger = try SigningKey.load(try SigningKey.generate(now: Date()))
        #expect(try await obo(f, clientAssertion: try externalToken(stranger, now: now)).failure?.aadsts == 700027)
        #expect(try await obo(f, clientAssertion: try externalToken(external, exp: 60, now: now - 3600)).failure?.aadsts == 700024)
    }
}
