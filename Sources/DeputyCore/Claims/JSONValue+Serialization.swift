/// Compact JSON text for a ``JSONValue``, written directly: tokens are serialized on every
/// issuance, and going through `JSONEncoder`'s generic machinery costs more than the text itself.
/// Object keys are emitted in sorted order so the output is deterministic.
extension JSONValue {
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { out += Array(String(Int64(n)).utf8) } else { out += Array(String(n).utf8) }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// RFC 8259 §7: quotation mark, reverse solidus and control characters are escaped.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (ids, scopes, URLs) need no escaping: copied in one append.
        var s = s
        let plain = s.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Writes one JSON object straight to bytes, member by member, for records written on every
/// request (the sign-in log) where `JSONEncoder`'s generic path would cost more than the work.
public struct JSONObjectWriter: Sendable {
    private var bytes: [UInt8]
    private var empty = true

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        JSONValue.writeString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string member; nil leaves the member out.
    public mutating func string(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONValue.writeString(value, to: &bytes)
    }

    public mutating func number(_ name: String, _ value: Double) {
        key(name)
        JSONValue.number(value).write(to: &bytes)
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        bytes += Array((value ? "true" : "false").utf8)
    }

    /// A list of strings; nil leaves the member out.
    public mutating func strings(_ name: String, _ values: [String]?) {
        guard let values else { return }
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONValue.writeString(v, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// A nested object.
    public mutating func object(_ name: String, _ value: JSONObjectWriter) {
        key(name)
        bytes += value.finished
    }

    /// A list of nested objects.
    public mutating func objects(_ name: String, _ values: [JSONObjectWriter]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += v.finished
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// The object's text.
    public var finished: [UInt8] { bytes + [UInt8(ascii: "}")] }
}

// Literals, so claims and headers read as JSON in code and tests: `["roles": ["Approver"]]`.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
