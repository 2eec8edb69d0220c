public import Foundation

/// base64url without padding (RFC 4648 §5), as JOSE uses it.
public enum Base64URL {
    /// Encodes bytes. Written as one pass over the bytes: this runs several times per token, and
    /// Foundation's string replacement goes through NSString on Linux.
    public static func encode(_ data: some Sequence<UInt8>) -> String {
        let bytes = Array(data)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Decodes base64url as JOSE writes it (RFC 7515 §2, RFC 4648 §5): the URL-safe alphabet
    /// `A-Z a-z 0-9 - _` only, no `=` padding, and only the canonical encoding of the bytes (the
    /// bits after the last whole byte are zero, RFC 4648 §3.5), so that one value has exactly one
    /// encoding: `decode(s)` succeeds only when `encode(decode(s)) == s`. Nil for anything else.
    /// One pass over the bytes (tokens are decoded on every OBO request).
    public static func decode(_ string: some StringProtocol) -> Data? {
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for c in string.utf8 {
            guard let v = sextet(c) else { return nil }
            buffer = buffer << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // A lone trailing character (6 bits, a length of 1 mod 4) cannot end an encoding, and the
        // 2 or 4 bits left over after the last byte must be zero.
        let leftover: UInt32 = (1 << UInt32(bits)) - 1
        guard bits < 6, buffer & leftover == 0 else { return nil }
        return Data(out)
    }

    /// Decodes base64url or standard base64 (RFC 4648 §4 and §5), with or without `=` padding and
    /// non-zero trailing bits, for values that other software writes loosely: a `claims` request
    /// parameter, a client assertion's `x5t` (a thumbprint that only selects a certificate). Not
    /// for the parts of a JWS, which ``decode(_:)`` reads.
    public static func decodeLenient(_ string: some StringProtocol) -> Data? {
        var out = [UInt8]()
        out.reserveCapacity(string.utf8.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        var padding = false
        for c in string.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="):
                padding = true
                continue
            default:
                guard let s = sextet(c) else { return nil }
                v = s
            }
            if padding { return nil }
            buffer = buffer << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // A lone trailing character (6 bits) cannot end a valid encoding.
        if bits >= 6 { return nil }
        return Data(out)
    }

    /// The value of one character of the base64url alphabet (RFC 4648 §5, Table 2).
    private static func sextet(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return UInt32(c - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return UInt32(c - UInt8(ascii: "a")) + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0")) + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}
