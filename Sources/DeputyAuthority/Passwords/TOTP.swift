import Crypto
import ExtrasBase64
public import Foundation

/// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 30-second steps,
/// six digits — what authenticator apps use for otpauth:// secrets. Hand-written on swift-crypto's
/// HMAC (DESIGN.md: hummingbird-auth's OTP module would pull Hummingbird into the engine); base32
/// from swift-extras-base64.
public enum TOTP {
    public static let period: TimeInterval = 30
    public static let digits = 6

    /// The time step of an instant (RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0).
    public static func step(at date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / period).rounded(.down)) }

    /// The code for a step (RFC 4226 §5.3: dynamic truncation, modulo 10^digits).
    public static func code(secret: [UInt8], step: Int64) -> String {
        var counter = UInt64(bitPattern: step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Data($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        let value = binary % 1_000_000
        let text = String(value)
        return String(repeating: "0", count: digits - text.count) + text
    }

    /// The bytes of a base32 secret (RFC 4648, as in otpauth:// URIs) as people type it: any case,
    /// spaces and padding allowed. nil when it is not base32.
    public static func secretBytes(_ base32: String) -> [UInt8]? {
        let normalized = base32.uppercased().filter { $0 != " " && $0 != "=" }
        guard !normalized.isEmpty else { return nil }
        return try? Base32.decode(string: normalized)
    }

    /// A base32 secret for bytes, without padding (what authenticator apps show).
    public static func encodeSecret(_ bytes: [UInt8]) -> String {
        Base32.encodeToString(bytes: bytes, options: .omitPaddingCharacter)
    }

    /// The current code for a base32 secret, or nil when the secret is not base32.
    public static func code(base32Secret: String, at date: Date) -> String? {
        guard let secret = secretBytes(base32Secret), !secret.isEmpty else { return nil }
        return code(secret: secret, step: step(at: date))
    }

    /// The step a code matches within ±`window` steps of `date` (RFC 6238 §5.2 allows one step
    /// of drift each way), or nil. The caller makes the match single-use.
    public static func match(_ code: String, base32Secret: String, at date: Date, window: Int64 = 1) -> Int64? {
        let trimmed = code.filter { !$0.isWhitespace }
        guard trimmed.count == digits, trimmed.allSatisfy(\.isASCII), trimmed.allSatisfy(\.isNumber),
            let secret = secretBytes(base32Secret), !secret.isEmpty
        else { return nil }
        let now = step(at: date)
        // Every candidate is computed and compared in constant time, so timing says nothing about which matched.
        var found: Int64?
        for s in (now - window)...(now + window) where constantTimeEqual(TOTP.code(secret: secret, step: s), trimmed) && found == nil {
            found = s
        }
        return found
    }

    /// A new random secret (160 bits, RFC 4226 §4's recommended length), base32.
    public static func newSecret() -> String {
        encodeSecret((0..<20).map { _ in UInt8.random(in: 0...255) })
    }

    /// The otpauth:// URI authenticator apps scan (Key Uri Format).
    public static func provisioningURI(secret: String, account: String, issuer: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@"))
        let label = (issuer + ":" + account).addingPercentEncoding(withAllowedCharacters: allowed.union([":"])) ?? account
        let iss = issuer.addingPercentEncoding(withAllowedCharacters: allowed) ?? issuer
        return "otpauth://totp/\(label)?secret=\(secret)&issuer=\(iss)&algorithm=SHA1&digits=\(digits)&period=\(Int(period))"
    }
}
