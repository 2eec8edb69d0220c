import DeputyCore
import Foundation
import FuzzSupport

/// Fuzzes the decoding of compact JWS tokens (RFC 7515 §7.1, RFC 7519) that resources, middle tiers
/// and the authority run before any signature check (finding the key by `kid`, `deputy decode`):
/// `UnverifiedJWT(_:)` and `Base64URL.decode` (RFC 4648 §5).
///
/// Each input is used twice: as the token text itself, and, to reach the JSON readers behind the
/// base64url layer, as up to three NUL-separated parts (header JSON, payload JSON, signature
/// bytes) that are base64url-encoded and joined with dots.
///
/// Checks, beyond "does not crash or hang":
/// - a token that does not decode throws ``UnverifiedJWT/Malformed`` with a reason;
/// - a decoded token's signing input is its first two parts, and its accessors answer;
/// - `Base64URL.decode(Base64URL.encode(bytes)) == bytes`, for the raw input and for whatever
///   `decode` accepts;
/// - `decode` accepts only canonical base64url (RFC 7515 §2: no padding, no `+` or `/`, zero
///   trailing bits): what it accepts encodes back to the same text, and a decoded token's
///   signature encodes back to its third part.
@main
enum FuzzJWTMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = Fuzz.bytes(data, size)
    Fuzz.check(Base64URL.decode(Base64URL.encode(raw)) == raw, "the base64url round trip changed \(raw.count) bytes")

    let text = Fuzz.text(data, size)
    if let decoded = Base64URL.decode(text) {
        Fuzz.check(Base64URL.decode(Base64URL.encode(decoded)) == decoded, "the base64url round trip changed a decoded value")
        // Finding 8 (fixed): `AB`, `Zg==` and `+/8` decoded.
        Fuzz.check(
            Base64URL.encode(decoded) == text, "\(String(reflecting: text)) decodes, but is not the canonical base64url of its bytes")
    }
    decode(text)

    let parts = raw.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
    decode(parts.map { Base64URL.encode($0) }.joined(separator: "."))
    return 0
}

/// Decodes one token and checks what it gives.
func decode(_ token: String) {
    do {
        let jwt = try UnverifiedJWT(token)
        Fuzz.log("decoded: header \(jwt.header.keys.sorted()), claims \(jwt.claims.keys.sorted())")
        let dots = token.split(separator: ".", omittingEmptySubsequences: false)
        Fuzz.check(jwt.signingInput == "\(dots[0]).\(dots[1])", "the signing input is not the first two parts")
        Fuzz.check(Base64URL.encode(jwt.signature) == dots[2], "the signature is not the canonical base64url of its third part")
        _ = jwt.header["kid"]?.stringValue
        _ = jwt.string("iss")
        _ = jwt.string("tid")
        _ = jwt.date("exp")
        _ = jwt.date("nbf")
    } catch {
        Fuzz.log("rejected: \(error)")
        Fuzz.check(!error.reason.isEmpty, "an UnverifiedJWT.Malformed without a reason")
    }
}
