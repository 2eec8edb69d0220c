import DeputyAuthority
import DeputyCore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL

/// Builds the authority's HTTP application (HTTP/1.1, or HTTPS with the local CA's certificate).
public enum AuthorityServer {
    public static func application(
        authority: Authority, host: String = "127.0.0.1", port: Int, tls: LocalCertificateAuthority?,
        testClock: OffsetTimeSource? = nil, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = AuthorityRoutes(authority: authority, testClock: testClock).router()
        let config = ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil)
        let server: HTTPServerBuilder
        if let tls {
            let certs = try NIOSSLCertificate.fromPEMFile(tls.serverCertificatePath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.serverKeyPath, format: .pem)
            let tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: certs, privateKey: .privateKey(key))
            server = try .tls(.http1(), tlsConfiguration: tlsConfiguration)
        } else {
            server = .http1()
        }
        return Application(router: router, server: server, configuration: config,
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}
