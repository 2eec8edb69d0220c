import Crypto
import CryptoExtras
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("private_key_jwt client authentication")
struct GrantsClientAssertionTests {
    let reports = GrantsFixture.app("reports")
    let tokenEndpoint = "http://127.0.0.1:7400/\(DemoTenant.tenantID)/oauth2/v2.0/token"

    /// The demo tenant with a certificate registered for the reports daemon.
    func fixture() async throws -> (GrantsFixture, SigningKeyRecord) {
        let cert = try SigningKey.generate(now: Date())
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("reports").appId }!
            d.applications[i].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify",
                    key: cert.certificateDER, endDateTime: nil)
            ]
        }
        return (f, cert)
    }

    func assertion(
        _ cert: SigningKeyRecord, alg: String = "RS256", aud: String? = nil, exp: Double = 600, jti: String = UUID().uuidString,
        now: Date, iss: String? = nil
    ) throws -> String {
        let der = Data(base64Encoded: cert.certificateDER)!
        var header: [String: JSONValue] = ["alg": .string(alg), "typ": .string("JWT")]
        if alg == "PS256" {
            header["x5t#S256"] = .string(Base64URL.encode(SHA256.hash(data: der)) + "=")  // padded, as MSAL Python sends it
        } else {
            header["x5t"] = .string(Base64URL.encode(Insecure.SHA1.hash(data: der)))
        }
        let t = now.timeIntervalSince1970 + 0.25  // float NumericDates, as MSAL Python sends them
        let claims: [String: JSONValue] = [
            "aud": .string(aud ?? tokenEndpoint), "iss": .string(iss ?? reports.appId), "sub": .string(reports.appId),
            "jti": .string(jti), "iat": .number(t), "exp": .number(t + exp),
        ]
        let enc = JSONEncoder()
        let input =
            Base64URL.encode(try enc.encode(JSONValue.object(header))) + "." + Base64URL.encode(try enc.encode(JSONValue.object(claims)))
        let key = try _RSA.Signing.PrivateKey(pemRepresentation: cert.privateKeyPEM)
        let sig = try key.signature(for: Data(input.utf8), padding: alg == "PS256" ? .PSS : .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(sig.rawRepresentation)
    }

    func request(_ f: GrantsFixture, _ assertion: String) async -> Result<TokenResponse, OAuthError> {
        await f.token([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("scope", "https://database.windows.net//.default"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion),
        ])
    }

    @Test("RS256 with x5t and PS256 with x5t#S256 both authenticate, and the token says azpacr 2")
    func certificateAuthentication() async throws {
        let (f, cert) = try await fixture()
        for alg in ["RS256", "PS256"] {
            let token = try await request(f, try assertion(cert, alg: alg, now: f.time.now())).get()
            #expect(try UnverifiedJWT(token.accessToken).string("azpacr") == "2")
        }
    }

    @Test("A replayed jti, a wrong audience, an expired assertion and a foreign key are refused")
    func refusals() async throws {
        let (f, cert) = try await fixture()
        let once = try assertion(cert, jti: "fixed", now: f.time.now())
        _ = try await request(f, once).get()
        await #expect(throws: OAuthError.replayedClientAssertion()) { try await request(f, once).get() }
        #expect(
            await request(f, try assertion(cert, aud: "https://login.microsoftonline.com/x/oauth2/v2.0/token", now: f.time.now())).failure?
                .aadsts == 700027)
        let expired = try assertion(cert, exp: 60, now: f.time.now() - 3600)
        #expect(await request(f, expired).failure?.aadsts == 700024)
        let stranger = try SigningKey.generate(now: Date())
        #expect(await request(f, try assertion(stranger, now: f.time.now())).failure?.aadsts == 700027)
        #expect(await request(f, try assertion(cert, now: f.time.now(), iss: "someone-else")).failure?.aadsts == 700027)
    }
}
