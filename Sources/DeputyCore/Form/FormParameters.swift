import Foundation

/// An `application/x-www-form-urlencoded` body (or query string) as an ordered multimap.
///
/// Written by hand rather than using Hummingbird's `URLEncodedFormDecoder`: OAuth needs to *see*
/// duplicates (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
/// once") and reject them with an OAuth error, while RFC 8693/8707 allow `resource` and
/// `audience` to repeat; Hummingbird's decoder throws a non-HTTP error on duplicates, and it would
/// pull the HTTP framework into the engine.
public struct FormParameters: Sendable, Equatable {
    /// Name/value pairs in the order they appeared.
    public private(set) var pairs: [(name: String, value: String)]

    /// The default body size limit of the token endpoint (bytes).
    public static let defaultSizeLimit = 1 << 20

    public init(_ pairs: [(String, String)] = []) {
        self.pairs = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// Parses a form body.
    /// - Throws: ``OAuthError/malformedRequest(_:)`` for bad percent-encoding or a body over `sizeLimit`.
    public init(parsing body: some StringProtocol, sizeLimit: Int = FormParameters.defaultSizeLimit) throws(OAuthError) {
        guard body.utf8.count <= sizeLimit else {
            throw .malformedRequest("The request body exceeds \(sizeLimit) bytes.")
        }
        var result: [(String, String)] = []
        // Split on bytes, not Characters: bodies carry kilobytes of tokens.
        let bytes = Array(body.utf8)
        for field in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = field.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = FormParameters.decode(bytes: parts[0]) else {
                throw .malformedRequest("A parameter name is not valid percent-encoding.")
            }
            guard let value = FormParameters.decode(bytes: parts.count > 1 ? parts[1] : []) else {
                throw .malformedRequest("The value of parameter '\(name)' is not valid percent-encoding.")
            }
            if name.isEmpty { continue }
            result.append((name, value))
        }
        self.init(result)
    }

    /// Decodes `+` as space and `%XX` escapes (HTML form encoding); nil when an escape or the UTF-8 is invalid.
    public static func decode(_ s: some StringProtocol) -> String? { decode(bytes: Array(s.utf8)[...]) }

    static func decode(bytes input: ArraySlice<UInt8>) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var it = input.makeIterator()
        while let b = it.next() {
            switch b {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let h = it.next(), let l = it.next(), let hv = hex(h), let lv = hex(l) else { return nil }
                bytes.append(hv << 4 | lv)
            default: bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The single value of `name`; nil when absent. Empty values count as absent, as in Entra.
    public subscript(_ name: String) -> String? {
        guard let v = pairs.first(where: { $0.name == name })?.value, !v.isEmpty else { return nil }
        return v
    }

    /// All values of `name`, in order.
    public func values(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    /// The value of a required parameter.
    /// - Throws: ``OAuthError/missingParameter(_:)`` (AADSTS900144).
    public func require(_ name: String) throws(OAuthError) -> String {
        guard let v = self[name] else { throw .missingParameter(name) }
        return v
    }

    /// Rejects any parameter that appears more than once, except those in `repeatable`.
    /// - Throws: ``OAuthError/malformedRequest(_:)`` naming the parameter.
    public func rejectDuplicates(except repeatable: Set<String> = []) throws(OAuthError) {
        var seen = Set<String>()
        for (name, _) in pairs where !repeatable.contains(name) {
            if !seen.insert(name).inserted {
                throw .malformedRequest("The parameter '\(name)' is duplicated.")
            }
        }
    }

    /// Appends a pair.
    public mutating func append(_ name: String, _ value: String) { pairs.append((name: name, value: value)) }

    /// Encodes the parameters as a form body / query string.
    public var encoded: String {
        pairs.map { "\(FormParameters.encode($0.name))=\(FormParameters.encode($0.value))" }.joined(separator: "&")
    }

    /// Percent-encodes a form component (unreserved characters of RFC 3986 stay as they are).
    public static func encode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    public static func == (lhs: FormParameters, rhs: FormParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.name == $1.name && $0.value == $1.value }
    }
}
