import Crypto
import DeputyCore
import Foundation

/// Client secrets are high-entropy, so they are kept as SHA-256 (base64url), not bcrypt: a
/// constant-time comparison of digests is enough and costs microseconds on the token path.
public enum ClientSecret {
    public static func hash(_ secret: String) -> String { Base64URL.encode(SHA256.hash(data: Data(secret.utf8))) }

    /// Compares a presented secret with a stored hash in constant time.
    public static func matches(_ secret: String, hash: String) -> Bool {
        let a = Array(self.hash(secret).utf8)
        let b = Array(hash.utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// A new random secret in Entra's style (40 characters).
    public static func generate() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-")
        var rng = SystemRandomNumberGenerator()
        return String((0..<40).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }
}
