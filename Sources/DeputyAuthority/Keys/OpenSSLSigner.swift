import COpenSSL
import Foundation

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) signatures made by the system's OpenSSL.
///
/// Why not swift-crypto or jwt-kit here: signing dominates the cost of issuing a token, and on
/// these machines OpenSSL 3 signs RSA-2048 about twice as fast as the BoringSSL that
/// swift-crypto embeds (DESIGN.md, "Choices"; `Benchmarks/run` measures both). Keys are still
/// generated, stored and published with swift-crypto; PKCS#1 v1.5 signatures are deterministic,
/// so both libraries produce the same bytes (a test checks this).
///
/// An `EVP_PKEY` is only read while signing, which OpenSSL 3 allows from many threads at once;
/// each signature uses its own `EVP_MD_CTX`.
final class OpenSSLSigner: @unchecked Sendable {
    private let key: OpaquePointer

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Loads a PEM private key (PKCS#8 or PKCS#1).
    init(pem: String) throws {
        let loaded: OpaquePointer? = pem.withCString { text in
            guard let bio = BIO_new_mem_buf(text, Int32(strlen(text))) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let loaded else { throw Failure(description: "OpenSSL could not read the signing key: \(OpenSSLSigner.lastError())") }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    /// Signs `data` with RS256.
    func sign(_ data: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw Failure(description: "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else {
            throw Failure(description: "EVP_DigestSignInit: \(OpenSSLSigner.lastError())")
        }
        var length = 0
        guard EVP_DigestSign(ctx, nil, &length, data, data.count) == 1 else {
            throw Failure(description: "EVP_DigestSign (size): \(OpenSSLSigner.lastError())")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, data, data.count) == 1 else {
            throw Failure(description: "EVP_DigestSign: \(OpenSSLSigner.lastError())")
        }
        return Array(signature.prefix(length))
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
