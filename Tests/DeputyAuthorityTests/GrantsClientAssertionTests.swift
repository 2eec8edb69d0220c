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
        now: Date, iss: String? = nil, header extraHeader: [String: JSONValue] = [:],
        edit: (inout [String: JSONValue]) -> Void = { _ in }
    ) throws -> String {
        let der = Data(base64Encoded: cert.certificateDER)!
        var header: [String: JSONValue] = ["alg": .string(alg), "typ": .string("JWT")]
        if alg == "PS256" {
            header["x5t#S256"] = .string(Base64URL.encode(SHA256.hash(data: der)) + "=")  // padded, as MSAL Python sends it
        } else {
            header["x5t"] = .string(Base64URL.encode(Insecure.SHA1.hash(data: der)))
        }
        let t = now.timeIntervalSince1970 + 0.25  // float NumericDates, as MSAL Python sends them
        var claims: [String: JSONValue] = [
            "aud": .string(aud ?? tokenEndpoint), "iss": .string(iss ?? reports.appId), "sub": .string(reports.appId),
            "jti": .string(jti), "iat": .number(t), "exp": .number(t + exp),
        ]
        edit(&claims)
        header.merge(extraHeader) { _, new in new }
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

    @Test("Forged and altered client assertions are refused with 401 invalid_client, and the unaltered one is accepted")
    func attackTable() async throws {
        let (f, cert) = try await fixture()
        let now = f.time.now()
        let attacker = try SigningKey.generate(now: Date())
        let publicJWK = JSONValue.object(try SigningKey.load(cert).jwk(issuer: "x")).serialized
        func parts(_ token: String) -> [String] { token.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        func header(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }
        let attacks: [(String, () throws -> String)] = [
            (
                "alg none",
                {
                    let p = parts(try assertion(cert, now: now))
                    return header(#"{"alg":"none","typ":"JWT"}"#) + "." + p[1] + "."
                }
            ),
            (
                "HS256 keyed with the certificate's public key",
                {
                    let p = parts(try assertion(cert, now: now))
                    let h = header(#"{"alg":"HS256","typ":"JWT"}"#)
                    let mac = HMAC<SHA256>.authenticationCode(for: Array("\(h).\(p[1])".utf8), using: SymmetricKey(data: publicJWK))
                    return "\(h).\(p[1]).\(Base64URL.encode(Data(mac)))"
                }
            ),
            ("crit naming an extension", { try assertion(cert, now: now, header: ["crit": ["exp"], "exp": .number(0)]) }),
            ("iat in the future", { try assertion(cert, now: now) { $0["iat"] = .number(now.timeIntervalSince1970 + 3600) } }),
            ("nbf in the future", { try assertion(cert, now: now) { $0["nbf"] = .number(now.timeIntervalSince1970 + 3600) } }),
            ("no exp", { try assertion(cert, now: now) { $0["exp"] = nil } }),
            ("no jti", { try assertion(cert, now: now) { $0["jti"] = nil } }),
            ("sub another client", { try assertion(cert, now: now) { $0["sub"] = .string(GrantsFixture.app("webApi").appId) } }),
            (
                "tampered payload",
                {
                    let p = parts(try assertion(cert, now: now))
                    let other = parts(try assertion(cert, now: now) { $0["sub"] = "tampered" })
                    return p[0] + "." + other[1] + "." + p[2]
                }
            ),
            (
                "tampered signature",
                {
                    var t = Array(try assertion(cert, now: now))
                    let i = t.count - 20
                    t[i] = t[i] == "A" ? "B" : "A"
                    return String(t)
                }
            ),
            (
                "signed by another key under the registered thumbprint, jku naming it",
                {
                    let p = parts(try assertion(cert, now: now, header: ["jku": "http://127.0.0.1:9/jwks"]))
                    let other = parts(try assertion(attacker, now: now))
                    return p[0] + "." + p[1] + "." + other[2]
                }
            ),
            ("oversize (20 KB)", { try assertion(cert, now: now) { $0["padding"] = .string(String(repeating: "A", count: 20_000)) } }),
            ("malformed base64", { "eyJ!!!.#$%^.&*()" }),
            (
                "duplicate claims (sub twice, the last one right)",
                {
                    let p = parts(try assertion(cert, now: now))
                    let payload = String(decoding: Base64URL.decode(p[1])!, as: UTF8.self)
                    let duplicated = #"{"sub":"someone-else","# + payload.dropFirst()
                    let input = p[0] + "." + Base64URL.encode(Array(duplicated.utf8))
                    let key = try _RSA.Signing.PrivateKey(pemRepresentation: cert.privateKeyPEM)
                    return input + "."
                        + Base64URL.encode(try key.signature(for: Data(input.utf8), padding: .insecurePKCS1v1_5).rawRepresentation)
                }
            ),
        ]
        for (name, make) in attacks {
            let result = await request(f, try make())
            guard case .failure(let e) = result else {
                Issue.record("\(name): a token was issued")
                continue
            }
            #expect(e.status == 401 && e.error == .invalidClient, "\(name): \(e.status) \(e)")
        }
        print("attack table: \(attacks.count) cases against authority: client assertion")
        // The control: the same assertion, unaltered, authenticates.
        _ = try await request(f, try assertion(cert, now: now)).get()
    }
}
