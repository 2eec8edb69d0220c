public import Foundation

/// An OpenID Connect claims request (OIDC Core §5.5) as Entra uses it: the `claims` parameter at
/// authorize and token, and the claims challenge of Conditional Access and resources
/// (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`; Microsoft Learn,
/// "Claims challenges, claims requests and client capabilities").
///
/// The JSON is kept as a tree so unknown members survive a round trip; helpers read the members
/// Deputy acts on (`xms_cc`, `acrs`, `capolids`/`polids`).
public struct ClaimsRequest: Sendable, Equatable {
    /// The parsed JSON object.
    public private(set) var json: [String: JSONValue]

    public init() { json = [:] }

    /// Parses a claims request. Accepts plain JSON, or base64 of it (as a `WWW-Authenticate` challenge carries it).
    /// - Throws: ``OAuthError/invalidClaimsParameter(_:)`` when it is not a JSON object.
    public init(parsing text: String) throws(OAuthError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var data = Data(trimmed.utf8)
        if !trimmed.hasPrefix("{"), let decoded = Data(base64Encoded: trimmed) ?? Base64URL.decodeLenient(trimmed) {
            data = decoded
        }
        guard let value = try? JSONParser.parse(data), case .object(let obj) = value else {
            throw .invalidClaimsParameter("Expected a JSON object such as {\"access_token\":{…}}.")
        }
        for (key, member) in obj {
            guard case .object = member else {
                throw .invalidClaimsParameter("The member '\(key)' must be a JSON object.")
            }
        }
        json = obj
    }

    /// The claims requested for the access token.
    public var accessToken: [String: JSONValue] {
        if case .object(let o)? = json["access_token"] { return o }
        return [:]
    }

    /// Client capabilities (`xms_cc` values), lower-cased (`CP1` and `cp1` are the same capability).
    public var clientCapabilities: [String] {
        guard case .object(let cc)? = accessToken["xms_cc"], case .array(let values)? = cc["values"] else { return [] }
        return values.compactMap { if case .string(let s) = $0 { s.lowercased() } else { nil } }
    }

    /// Authentication context class references asked for (`acrs` with `value` or `values`).
    public var requestedAuthenticationContexts: [String] {
        guard case .object(let acrs)? = accessToken["acrs"] else { return [] }
        var out: [String] = []
        if case .string(let v)? = acrs["value"] { out.append(v) }
        if case .array(let vs)? = acrs["values"] {
            out += vs.compactMap { if case .string(let s) = $0 { s } else { nil } }
        }
        return out
    }

    /// The earliest issuance time a continuous access evaluation challenge asks for
    /// (`{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`; Microsoft Learn, "How to
    /// use Continuous Access Evaluation enabled APIs in your applications"): the value is Unix
    /// seconds, as a string or a number.
    public var notBefore: Date? {
        guard case .object(let nbf)? = accessToken["nbf"] else { return nil }
        let seconds = nbf["value"]?.numberValue ?? nbf["value"]?.stringValue.flatMap { Double($0) }
        return seconds.map { Date(timeIntervalSince1970: $0) }
    }

    /// The claims request of a continuous access evaluation challenge: a token issued at or after `time`.
    public static func notBefore(_ time: Date) -> ClaimsRequest {
        var r = ClaimsRequest()
        let seconds = String(Int64(time.timeIntervalSince1970.rounded(.down)))
        r.json = ["access_token": .object(["nbf": .object(["essential": .bool(true), "value": .string(seconds)])])]
        return r
    }

    /// Conditional Access policy ids of a challenge (`capolids`, or the documented `polids`).
    public var policyIDs: [String] {
        var out: [String] = []
        for key in ["capolids", "polids"] {
            guard case .object(let p)? = accessToken[key] else { continue }
            for k in ["values", "Values"] {
                if case .array(let vs)? = p[k] { out += vs.compactMap { if case .string(let s) = $0 { s } else { nil } } }
            }
        }
        return out
    }

    /// Merges another request into this one, member by member (MSAL's merge of a claims challenge
    /// with client capabilities: the other request's members win on conflict).
    public func merging(_ other: ClaimsRequest) -> ClaimsRequest {
        var result = self
        for (token, value) in other.json {
            if case .object(let mine)? = result.json[token], case .object(let theirs) = value {
                result.json[token] = .object(mine.merging(theirs) { _, new in new })
            } else {
                result.json[token] = value
            }
        }
        return result
    }

    /// Minified JSON with sorted keys.
    public var jsonString: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? enc.encode(JSONValue.object(json))) ?? Data("{}".utf8), as: UTF8.self)
    }

    public var isEmpty: Bool { json.isEmpty }
}

/// A JSON value tree.
public enum JSONValue: Codable, Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var numberValue: Double? { if case .number(let n) = self { n } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}
