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
        return try ServiceServer.application(
            router: router, host: host, port: port, tls: tls, logger: logger, onServerRunning: onServerRunning)
    }
}

/// An HTTP(S) application for any router on 127.0.0.1 — the chain's services under `deputy up`
/// share the authority's TLS setup (the local CA's server certificate).
public enum ServiceServer {
    public static func application<Context: RequestContext>(
        router: Router<Context>, host: String = "127.0.0.1", port: Int, tls: LocalCertificateAuthority?, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol where Context.Source == ApplicationRequestContextSource {
        let server: HTTPServerBuilder
        if let tls {
            let certs = try NIOSSLCertificate.fromPEMFile(tls.serverCertificatePath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tls.serverKeyPath, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: certs, privateKey: .privateKey(key))
            // A graceful stop closes idle keep-alive connections; TLS then waits for the peer's
            // close_notify (RFC 8446 §6.1), 5 s by default, which a client holding an idle
            // connection sends only when it next reads it. Half a second serves a peer that answers.
            configuration.shutdownTimeout = .milliseconds(500)
            server = try .tls(.http1(), tlsConfiguration: configuration)
        } else {
            server = .http1()
        }
        return Application(
            router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}
