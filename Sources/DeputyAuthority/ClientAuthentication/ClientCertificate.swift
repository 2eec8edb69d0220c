import Crypto
public import CryptoExtras
import DeputyCore
public import Foundation
import SwiftASN1
public import X509

/// A certificate registered as an application's key credential, with the thumbprints clients put
/// in `x5t` (SHA-1) and `x5t#S256` (SHA-256).
public struct ClientCertificate: Sendable {
    public let certificate: Certificate
    public let der: [UInt8]
    public let sha1Thumbprint: Data
    public let sha256Thumbprint: Data

    /// Parses PEM or base64 DER (Graph's `keyCredential.key`).
    public init(encoded: String) throws {
        if encoded.contains("-----BEGIN") {
            certificate = try Certificate(pemEncoded: encoded)
        } else if let data = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) {
            certificate = try Certificate(derEncoded: Array(data))
        } else {
            throw StorageError.conflict
        }
        var s = DER.Serializer()
        try s.serialize(certificate)
        der = s.serializedBytes
        sha1Thumbprint = Data(Insecure.SHA1.hash(data: der))
        sha256Thumbprint = Data(SHA256.hash(data: der))
    }

    /// The RSA public key, if the certificate has one.
    public var rsaPublicKey: _RSA.Signing.PublicKey? { _RSA.Signing.PublicKey(certificate.publicKey) }
}
