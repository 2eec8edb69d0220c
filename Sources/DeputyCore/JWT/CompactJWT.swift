public import Foundation

/// The three parts of a compact JWS, decoded but NOT verified.
///
/// For tools (`deputy decode`) and for routing decisions taken before verification (finding the
/// key by `kid`); never for trust.
public struct UnverifiedJWT: Sendable {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]
    public var signingInput: Substring
    public var signature: Data

    /// Splits and decodes a compact JWS.
    /// - Throws: ``UnverifiedJWT/Malformed`` with a reason.
    public init(_ token: String) throws(Malformed) {
        // Split on the UTF-8 bytes: `split` on a String walks grapheme clusters, which for a
        // token-sized string cost more than decoding its JSON.
        let dots = token.utf8.indices.filter { token.utf8[$0] == UInt8(ascii: ".") }
        guard dots.count == 2 else { throw Malformed(reason: "A JWT has three dot-separated parts; this has \(dots.count + 1).") }
        let parts = [
            token[token.startIndex..<dots[0]], token[token.utf8.index(after: dots[0])..<dots[1]],
            token[token.utf8.index(after: dots[1])..<token.endIndex],
        ]
        guard let h = Base64URL.decode(parts[0]) else { throw Malformed(reason: "The header is not base64url-encoded JSON.") }
        guard let p = Base64URL.decode(parts[1]) else { throw Malformed(reason: "The payload is not base64url-encoded JSON.") }
        guard let sig = Base64URL.decode(parts[2]) else { throw Malformed(reason: "The signature is not base64url.") }
        // RFC 7519 §4 (claims) and RFC 7515 §4 (header parameters): names must be unique. Deputy
        // rejects duplicates: two parsers of one token (this one and jwt-kit's, or a resource's and
        // its gateway's) must never disagree on which `aud` counts.
        let header = try Self.object(h, part: "header") { "The header has '\($0)' more than once." }
        let claims = try Self.object(p, part: "payload") { "The payload has the claim '\($0)' more than once." }
        self.header = header
        self.claims = claims
        self.signingInput = token[parts[0].startIndex..<parts[1].endIndex]
        self.signature = sig
    }

    private static func object(
        _ bytes: Data, part: String, duplicate: (String) -> String
    ) throws(Malformed) -> [String: JSONValue] {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes, rejectingDuplicateMembers: true) } catch {
            throw Malformed(reason: error.duplicateMember.map(duplicate) ?? "The \(part) is not base64url-encoded JSON.")
        }
        guard case .object(let members) = value else { throw Malformed(reason: "The \(part) is not base64url-encoded JSON.") }
        return members
    }

    /// Why a token could not be split.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// A string claim.
    public func string(_ name: String) -> String? { claims[name]?.stringValue }

    /// A NumericDate claim (accepts floats, as MSAL Python sends them).
    public func date(_ name: String) -> Date? { claims[name]?.numberValue.map { Date(timeIntervalSince1970: $0) } }
}
