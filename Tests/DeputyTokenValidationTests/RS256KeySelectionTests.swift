import DeputyAuthority
import DeputyCore
import Foundation
import Testing

@testable import DeputyTokenValidation

/// Which JWKs RS256 tokens are verified against directly (swift-crypto), and which stay with
/// jwt-kit: the direct path must never accept a key jwt-kit would have read differently.
struct RS256KeySelectionTests {
    static let issuer = "https://login.example/tenant/v2.0"

    static func jwk(_ key: SigningKey, _ edit: (inout [String: JSONValue]) -> Void = { _ in }) throws -> [String: JSONValue] {
        var jwk = try key.jwk(issuer: issuer)
        edit(&jwk)
        return jwk
    }

    @Test("An RSA signing key with alg RS256 or none is taken; enc keys, other algorithms and repeated kids are not")
    func selection() throws {
        let key = try SigningKey.load(try SigningKey.generate(now: Date()))
        let kid = try #require(try Self.jwk(key)["kid"]?.stringValue)
        #expect(KeySet.rs256Keys([try Self.jwk(key)]).keys.sorted() == [kid])
        #expect(
            KeySet.rs256Keys([
                try Self.jwk(key) {
                    $0["alg"] = nil
                    $0["use"] = nil
                }
            ]).keys.sorted() == [kid])
        #expect(KeySet.rs256Keys([try Self.jwk(key) { $0["use"] = .string("enc") }]).isEmpty)
        #expect(KeySet.rs256Keys([try Self.jwk(key) { $0["alg"] = .string("RS384") }]).isEmpty)
        #expect(KeySet.rs256Keys([try Self.jwk(key) { $0["kty"] = .string("EC") }]).isEmpty)
        #expect(KeySet.rs256Keys([try Self.jwk(key) { $0["n"] = .string("AQAB") }]).isEmpty, "a key under 2,048 bits")
        #expect(KeySet.rs256Keys([try Self.jwk(key), try Self.jwk(key)]).isEmpty)
    }

    @Test("Both paths accept the issuer's token and refuse it with one signature bit changed")
    func bothPathsAgree() async throws {
        let key = try SigningKey.load(try SigningKey.generate(now: Date()))
        let now = Date().timeIntervalSince1970
        let token = try key.sign(claims: [
            "iss": .string(Self.issuer), "aud": .string("api://resource"), "iat": .number(now), "exp": .number(now + 600),
            "sub": .string("s"), "oid": .string("o"), "scp": .string("read"),
        ])
        var signature = try #require(Base64URL.decode(token.split(separator: ".")[2]))
        signature[signature.startIndex] ^= 1
        let tampered = token.split(separator: ".")[0...1].joined(separator: ".") + "." + Base64URL.encode(signature)
        let policy = ValidationPolicy(issuers: [Self.issuer], audiences: ["api://resource"])
        // Direct: the key is RS256. jwt-kit: the same key listed twice, so the direct path leaves it alone.
        for jwks in [[try Self.jwk(key)], [try Self.jwk(key), try Self.jwk(key)]] {
            let json = String(decoding: JSONValue.object(["keys": .array(jwks.map(JSONValue.object))]).serialized, as: UTF8.self)
            let keys = try await TokenValidator.keys(jwksJSON: json)
            #expect(keys.rs256.count == (jwks.count == 1 ? 1 : 0))
            let validator = TokenValidator(keys: keys)
            _ = try await validator.validate(token, policy: policy)
            await #expect(throws: TokenValidationError.badSignature) { try await validator.validate(tampered, policy: policy) }
        }
    }
}
