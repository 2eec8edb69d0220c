import Crypto
import CryptoExtras
import DeputyCore
import Foundation

/// How a confidential client (a middle tier) proves who it is. Exactly one per client.
public enum ClientCredential: Sendable {
    /// A client secret (`client_secret` in the body).
    case secret(String)
    /// A certificate: a signed client assertion (`private_key_jwt`, RFC 7523).
    case certificate(ClientCertificate)
    /// A client assertion from elsewhere, fetched for every token request: a federated identity
    /// credential (a workload identity's token for `api://AzureADTokenExchange`). The seam for
    /// the agent-identity credential: a blueprint's token is such an assertion.
    case assertion(@Sendable () async throws -> String)
}

/// A client certificate and its private key.
public struct ClientCertificate: Sendable {
    /// The assertion's signature: PS256 with `x5t#S256` (what Entra recommends), or RS256 with
    /// `x5t` (SHA-1 thumbprint) for older setups.
    public enum Algorithm: Sendable {
        case ps256, rs256
    }

    let key: _RSA.Signing.PrivateKey
    let certificateDER: [UInt8]
    public let algorithm: Algorithm
    /// Send the certificate itself (`x5c`), for subject-name/issuer authentication.
    public let sendX5C: Bool

    /// - Parameters:
    ///   - privateKeyPEM: the RSA private key (PKCS#1 or PKCS#8 PEM).
    ///   - certificateDER: the certificate registered on the application (DER bytes).
    ///   - algorithm: PS256 (default) or RS256.
    ///   - sendX5C: send the certificate in the assertion's `x5c` header.
    public init(privateKeyPEM: String, certificateDER: [UInt8], algorithm: Algorithm = .ps256, sendX5C: Bool = false) throws {
        key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        self.certificateDER = certificateDER
        self.algorithm = algorithm
        self.sendX5C = sendX5C
    }

    /// A client assertion for `audience` (the token endpoint), valid ten minutes (RFC 7523 §3:
    /// `iss` = `sub` = client id, `aud`, `exp`, `jti`).
    func assertion(clientID: String, audience: String, now: Date) throws -> String {
        var header: [String: JSONValue] = ["typ": .string("JWT")]
        switch algorithm {
        case .ps256:
            header["alg"] = .string("PS256")
            header["x5t#S256"] = .string(Base64URL.encode(SHA256.hash(data: certificateDER)))
        case .rs256:
            header["alg"] = .string("RS256")
            header["x5t"] = .string(Base64URL.encode(Insecure.SHA1.hash(data: certificateDER)))
        }
        if sendX5C { header["x5c"] = .array([.string(Data(certificateDER).base64EncodedString())]) }
        let t = now.timeIntervalSince1970.rounded(.down)
        let claims: [String: JSONValue] = [
            "aud": .string(audience), "iss": .string(clientID), "sub": .string(clientID), "jti": .string(UUID().uuidString.lowercased()),
            "iat": .number(t), "nbf": .number(t), "exp": .number(t + 600),
        ]
        let input = Base64URL.encode(JSONValue.object(header).serialized) + "." + Base64URL.encode(JSONValue.object(claims).serialized)
        let signature = try key.signature(for: Data(input.utf8), padding: algorithm == .ps256 ? .PSS : .insecurePKCS1v1_5)
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }
}
