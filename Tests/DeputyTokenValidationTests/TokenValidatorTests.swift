import DeputyAuthority
import DeputyCore
import DeputyTokenValidation
import Foundation
import Testing

struct TokenValidatorTests {
    static let issuer = "https://login.example/tenant/v2.0"
    static let audience = "api://resource"

    struct Fixture {
        let key: SigningKey
        let validator: TokenValidator
        let time: ManualTimeSource
        let policy = ValidationPolicy(issuers: [TokenValidatorTests.issuer], audiences: [TokenValidatorTests.audience])

        init() async throws {
            key = try SigningKey.load(try SigningKey.generate(now: Date()))
            let jwks = JSONValue.object(["keys": .array([.object(try key.jwk(issuer: TokenValidatorTests.issuer))])])
            time = ManualTimeSource(Date())
            validator = TokenValidator(
                keys: try await TokenValidator.keys(jwksJSON: String(decoding: jwks.serialized, as: UTF8.self)), time: time)
        }

        func token(_ edit: (inout [String: JSONValue]) -> Void = { _ in }) throws -> String {
            let now = time.now().timeIntervalSince1970
            var claims: [String: JSONValue] = [
                "iss": .string(TokenValidatorTests.issuer), "aud": .string(TokenValidatorTests.audience),
                "iat": .number(now), "nbf": .number(now), "exp": .number(now + 3600), "sub": .string("s"),
                "oid": .string("o"), "scp": .string("read write"), "azp": .string("client"),
            ]
            edit(&claims)
            return try key.sign(claims: claims)
        }
    }

    @Test("A good token validates and reads as a delegated user token with its scopes and client")
    func valid() async throws {
        let f = try await Fixture()
        let t = try await f.validator.validate(try f.token(), policy: f.policy)
        #expect(t.kind == .userAccessToken && t.scopes == ["read", "write"] && t.clientID == "client" && t.objectID == "o")
    }

    @Test("Issuer, audience, lifetime (with skew) and not-before are enforced, each with its own error")
    func claimsChecks() async throws {
        let f = try await Fixture()
        await #expect(throws: TokenValidationError.wrongIssuer("https://evil.example")) {
            try await f.validator.validate(try f.token { $0["iss"] = .string("https://evil.example") }, policy: f.policy)
        }
        await #expect(throws: TokenValidationError.wrongAudience("api://other")) {
            try await f.validator.validate(try f.token { $0["aud"] = .string("api://other") }, policy: f.policy)
        }
        let token = try f.token()
        f.time.advance(by: 3600 + 299)
        _ = try await f.validator.validate(token, policy: f.policy)  // inside the 5-minute skew
        f.time.advance(by: 2)
        do {
            _ = try await f.validator.validate(token, policy: f.policy)
            Issue.record("expired token accepted")
        } catch {
            guard case .expired = error else {
                Issue.record("expected expired, got \(error)")
                return
            }
        }
        let future = try f.token { $0["nbf"] = .number(f.time.now().timeIntervalSince1970 + 3600) }
        do {
            _ = try await f.validator.validate(future, policy: f.policy)
            Issue.record("future token accepted")
        } catch {
            guard case .notYetValid = error else {
                Issue.record("expected notYetValid, got \(error)")
                return
            }
        }
    }

    @Test("alg none, HS256, an unknown kid, a tampered payload and garbage are refused")
    func signatureChecks() async throws {
        let f = try await Fixture()
        let good = try f.token()
        let parts = good.split(separator: ".").map(String.init)
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
        await #expect(throws: TokenValidationError.algorithmNotAllowed("none")) { try await f.validator.validate(none, policy: f.policy) }
        let hs = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT","kid":"x"}"#.utf8)) + "." + parts[1] + "." + parts[2]
        await #expect(throws: TokenValidationError.algorithmNotAllowed("HS256")) {
            try await f.validator.validate(
                hs, policy: ValidationPolicy(issuers: [Self.issuer], audiences: [Self.audience], algorithms: ["RS256", "HS256"]))
        }
        let other = try SigningKey.load(try SigningKey.generate(now: Date()))
        let foreign = try other.sign(claims: try UnverifiedJWT(good).claims)
        await #expect(throws: TokenValidationError.unknownKey(other.kid)) { try await f.validator.validate(foreign, policy: f.policy) }
        let tampered = parts[0] + "." + Base64URL.encode(Array(#"{"iss":"x"}"#.utf8)) + "." + parts[2]
        await #expect(throws: TokenValidationError.badSignature) { try await f.validator.validate(tampered, policy: f.policy) }
        await #expect(throws: TokenValidationError.self) { try await f.validator.validate("garbage", policy: f.policy) }
    }

    @Test("App-only and ID tokens are told apart from delegated ones")
    func kinds() async throws {
        let f = try await Fixture()
        let app = try await f.validator.validate(
            try f.token {
                $0["scp"] = nil
                $0["idtyp"] = .string("app")
                $0["roles"] = .array([.string("R")])
            }, policy: f.policy)
        #expect(app.kind == .appOnlyAccessToken && app.roles == ["R"])
        let id = try await f.validator.validate(
            try f.token {
                $0["scp"] = nil
                $0["nonce"] = .string("n")
            }, policy: f.policy)
        #expect(id.kind == .idToken)
    }
}
