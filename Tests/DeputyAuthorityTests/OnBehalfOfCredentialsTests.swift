import Crypto
import CryptoExtras
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("on-behalf-of credentials and refresh")
struct OnBehalfOfCredentialsTests {
    let webApi = GrantsFixture.app("webApi")
    let bob = GrantsFixture.user("bob")

    /// Bob's token for the Web API, signed in with MFA (the Data API requires it).
    func userToken(_ f: GrantsFixture) async throws -> String {
        try await f.mfaUserToken(bob)
    }

    @Test("The middle tier may authenticate with its certificate (private_key_jwt) for OBO")
    func certificate() async throws {
        let cert = try SigningKey.generate(now: Date())
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("webApi").appId }!
            d.applications[i].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify", key: cert.certificateDER, endDateTime: nil
                )
            ]
            d.applications[i].passwordCredentials = nil
        }
        let key = try SigningKey.load(cert)
        let now = f.time.now().timeIntervalSince1970
        let assertion = try key.sign(
            claims: [
                "aud": .string("http://127.0.0.1:7400/\(DemoTenant.tenantID)/oauth2/v2.0/token"), "iss": .string(webApi.appId),
                "sub": .string(webApi.appId),
                "jti": .string(UUID().uuidString), "iat": .number(now), "exp": .number(now + 600),
            ], includeX5t: true)
        let r = await f.token([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion),
            ("requested_token_use", "on_behalf_of"), ("assertion", try await userToken(f)),
            ("scope", "https://database.windows.net//.default"),
        ])
        let token = try UnverifiedJWT(try r.get().accessToken)
        #expect(token.string("azp") == webApi.appId && token.string("azpacr") == "2")
    }

    @Test("Redeeming an OBO refresh token re-checks consent: once the grant is revoked the middle tier gets AADSTS65001")
    func refreshRechecksConsent() async throws {
        let f = try await GrantsFixture.make()
        let r = try await f.success([
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
            ("requested_token_use", "on_behalf_of"), ("assertion", try await userToken(f)),
            ("scope", "https://database.windows.net//.default offline_access"),
        ])
        let rt = try #require(r.refreshToken)
        let sps = try await f.store.directories()[0].servicePrincipals
        let webSP = sps.first { $0.appId == webApi.appId }!.id
        try await f.store.updateDirectory(tenantID: DemoTenant.tenantID) { d in d.oauth2PermissionGrants.removeAll { $0.clientId == webSP }
        }
        let refreshed = await f.token([
            ("grant_type", "refresh_token"), ("client_id", webApi.appId), ("client_secret", webApi.secret!), ("refresh_token", rt),
        ])
        #expect(refreshed.failure?.aadsts == 65001)
    }
}
