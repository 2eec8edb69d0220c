import Crypto
import CryptoExtras
public import DeputyCore
public import Foundation
import SwiftASN1
import X509

/// One RSA signing key with its self-signed certificate, ready to sign JWS (RS256).
///
/// Tokens are serialized here rather than through jwt-kit's `JWTKeyCollection`: that type is an
/// actor, so every token of the server would be signed on one executor (one core). A compact JWS
/// is three base64url parts; the few lines below are all it takes, and jwt-kit still parses and
/// verifies these tokens in the tests. The signature itself comes from `OpenSSLSigner`.
public struct SigningKey: Sendable {
    public let record: SigningKeyRecord
    let privateKey: _RSA.Signing.PrivateKey
    let signer: OpenSSLSigner
    public let certificateDER: [UInt8]
    /// base64url SHA-1 of the certificate: Entra uses it as both `kid` and `x5t`.
    public var kid: String { record.kid }

    /// Loads a stored key.
    public static func load(_ record: SigningKeyRecord) throws -> SigningKey { try SigningKey(record: record) }

    init(record: SigningKeyRecord) throws {
        self.record = record
        self.privateKey = try _RSA.Signing.PrivateKey(pemRepresentation: record.privateKeyPEM)
        self.signer = try OpenSSLSigner(pem: record.privateKeyPEM)
        guard let der = Data(base64Encoded: record.certificateDER) else { throw StorageError.conflict }
        self.certificateDER = Array(der)
    }

    /// Generates a 2048-bit key and a self-signed certificate valid for two years.
    public static func generate(now: Date) throws -> SigningKeyRecord {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let name = try DistinguishedName { CommonName("Deputy token signing") }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 2 * 365 * 86_400,
            issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.notCertificateAuthority) },
            issuerPrivateKey: .init(key))
        var serializer = DER.Serializer()
        try serializer.serialize(cert)
        let der = serializer.serializedBytes
        let kid = Base64URL.encode(Insecure.SHA1.hash(data: der))
        return SigningKeyRecord(
            kid: kid, privateKeyPEM: key.pkcs8PEMRepresentation, certificateDER: Data(der).base64EncodedString(), createdAt: now)
    }

    /// Signs claims as a compact JWS with RS256.
    /// - Parameter claims: the payload, serialized as it is.
    /// - Parameter includeX5t: v1 tokens carry `x5t` next to `kid`, as Entra's do.
    /// - Parameter type: the header's `typ` (`JWT` as Entra's tokens; `at+jwt` for RFC 9068 tokens).
    /// - Parameter extraHeader: further header parameters, replacing the defaults of the same name
    ///   (tests forge `crit`, `jku` or a `kid` this way).
    public func sign(
        claims: [String: JSONValue], includeX5t: Bool = false, type: String = "JWT",
        extraHeader: [String: JSONValue] = [:]
    ) throws -> String {
        var header: [String: JSONValue] = ["typ": .string(type), "alg": .string("RS256"), "kid": .string(kid)]
        if includeX5t { header["x5t"] = .string(kid) }
        header.merge(extraHeader) { _, new in new }
        let h = Base64URL.encode(JSONValue.object(header).serialized)
        let p = Base64URL.encode(JSONValue.object(claims).serialized)
        let input = "\(h).\(p)"
        return "\(input).\(Base64URL.encode(try signer.sign(Array(input.utf8))))"
    }

    /// Signs exact header and payload texts (tests forge tokens that `sign(claims:)` cannot
    /// express: duplicate claims, a payload that is itself a JWS).
    func sign(rawHeader: String, rawPayload: String) throws -> String {
        let input = Base64URL.encode(Array(rawHeader.utf8)) + "." + Base64URL.encode(Array(rawPayload.utf8))
        return "\(input).\(Base64URL.encode(try signer.sign(Array(input.utf8))))"
    }

    /// The public JWK, as Entra publishes it (`kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`, `issuer`).
    public func jwk(issuer: String) throws -> [String: JSONValue] {
        let primitives = try privateKey.publicKey.getKeyPrimitives()
        return [
            "kty": .string("RSA"), "use": .string("sig"), "alg": .string("RS256"), "kid": .string(kid), "x5t": .string(kid),
            "n": .string(Base64URL.encode(primitives.modulus)), "e": .string(Base64URL.encode(primitives.publicExponent)),
            "x5c": .array([.string(Data(certificateDER).base64EncodedString())]), "issuer": .string(issuer),
        ]
    }

    /// Verifies a JWS signed by this key (for the authority's own checks).
    public func isValidSignature(_ signature: Data, for input: some DataProtocol) -> Bool {
        privateKey.publicKey.isValidSignature(.init(rawRepresentation: signature), for: input, padding: .insecurePKCS1v1_5)
    }
}
