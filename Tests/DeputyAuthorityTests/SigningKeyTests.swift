import CryptoExtras
import DeputyCore
import Foundation
import Testing

@testable import DeputyAuthority

struct SigningKeyTests {
    @Test("OpenSSL's RS256 signature is byte for byte the one swift-crypto makes, and swift-crypto verifies it")
    func openSSLMatchesSwiftCrypto() throws {
        let record = try SigningKey.generate(now: Date())
        let key = try SigningKey.load(record)
        let message = Array("header.payload with some bytes \u{1F642}".utf8)
        let fromOpenSSL = try key.signer.sign(message)
        let fromSwiftCrypto = try key.privateKey.signature(for: Data(message), padding: .insecurePKCS1v1_5).rawRepresentation
        #expect(fromOpenSSL == Array(fromSwiftCrypto))
        #expect(key.isValidSignature(Data(fromOpenSSL), for: message))
        #expect(!key.isValidSignature(Data(fromOpenSSL), for: Array("tampered".utf8)))
    }

    @Test("A signed token has Entra's header and three base64url parts whose signature verifies")
    func tokenShape() throws {
        let key = try SigningKey.load(try SigningKey.generate(now: Date()))
        let token = try key.sign(claims: ["sub": .string("x"), "n": .number(1)], includeX5t: true)
        let jwt = try UnverifiedJWT(token)
        #expect(jwt.header["alg"]?.stringValue == "RS256" && jwt.header["typ"]?.stringValue == "JWT")
        #expect(jwt.header["kid"]?.stringValue == key.kid && jwt.header["x5t"]?.stringValue == key.kid)
        #expect(key.isValidSignature(jwt.signature, for: Array(jwt.signingInput.utf8)))
    }

    @Test("A key that is not PEM is refused with OpenSSL's reason")
    func badPEM() {
        #expect(throws: OpenSSLSigner.Failure.self) {
            try OpenSSLSigner(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
    }
}
