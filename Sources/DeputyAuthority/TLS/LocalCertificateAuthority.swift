import Crypto
import DeputyCore
public import Foundation
import SwiftASN1
import X509

/// A local certificate authority for `--tls`: created on first start in the data directory,
/// it signs a server certificate for 127.0.0.1, ::1 and localhost. Clients trust `ca.pem`
/// (MSAL and azure-identity require https).
public struct LocalCertificateAuthority: Sendable {
    public let directory: String
    public var caCertificatePath: String { directory + "/ca.pem" }
    public var serverCertificatePath: String { directory + "/server.pem" }
    public var serverKeyPath: String { directory + "/server-key.pem" }
    var caKeyPath: String { directory + "/ca-key.pem" }

    public init(directory: String) { self.directory = directory }

    /// Creates the CA and server certificate unless both exist.
    public func ensure(now: Date = Date()) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: caCertificatePath) && fm.fileExists(atPath: serverCertificatePath) && fm.fileExists(atPath: serverKeyPath)
        {
            return
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            CommonName("Deputy local CA")
            OrganizationName("Deputy")
        }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + 5 * 365 * 86_400, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            }, issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + 825 * 86_400, issuer: caName,
            subject: try DistinguishedName { CommonName("localhost") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
                ])
            }, issuerPrivateKey: .init(caKey))
        try write(try ca.serializeAsPEM().pemString, to: caCertificatePath, mode: 0o644)
        try write(caKey.pemRepresentation, to: caKeyPath, mode: 0o600)
        try write(try server.serializeAsPEM().pemString, to: serverCertificatePath, mode: 0o644)
        try write(serverKey.pemRepresentation, to: serverKeyPath, mode: 0o600)
    }

    private func write(_ text: String, to path: String, mode: Int) throws {
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }
}
