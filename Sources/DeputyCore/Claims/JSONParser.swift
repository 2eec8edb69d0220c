/// A strict RFC 8259 parser from UTF-8 bytes to ``JSONValue``, for the parts of a JWT and the
/// other small documents read on every request.
///
/// Why by hand: `JSONDecoder` decodes an untyped value only by trying each type in turn (every
/// miss throws), which made decoding a token's claims a tenth of an On-Behalf-Of request's time,
/// and it cannot report duplicate member names, which RFC 7519 §4 asks JWT parsers to reject. No
/// package available to Deputy parses JSON into a dynamic value. The grammar is RFC 8259's; what it
/// accepts and refuses matches `JSONDecoder` (a differential test and a fuzz target check it),
/// except where `JSONDecoder` departs from RFC 8259 or RFC 7519 (``differsInFoundation(_:)``:
/// trailing commas, `0e3`, which of two repeated names counts) and for a byte-order mark and UTF-16
/// (refused: RFC 8259 §8.1). Repeated names are refused when asked.
public struct JSONParser {
    /// Why a document was refused, with the byte offset where parsing stopped.
    public struct Invalid: Error, Sendable, CustomStringConvertible, Equatable {
        public var reason: String
        public var offset: Int
        /// The name an object repeated, when that is why (with `rejectingDuplicateMembers`).
        public var duplicateMember: String? = nil
        public var description: String { "\(reason) (at byte \(offset))" }
    }

    /// Containers nested deeper than this are refused (`JSONDecoder`'s limit is also 512).
    public static let maximumDepth = 512

    /// Parses one JSON text (RFC 8259 §2: a value with optional whitespace around it).
    /// - Parameter bytes: the text, UTF-8 without a byte-order mark (RFC 8259 §8.1).
    /// - Parameter rejectingDuplicateMembers: refuse an object that names a member twice
    ///   (RFC 7519 §4, RFC 7515 §4); otherwise the last one wins (RFC 7519 §4's alternative).
    public static func parse(_ bytes: some Collection<UInt8>, rejectingDuplicateMembers: Bool = false) throws(Invalid) -> JSONValue {
        let buffer = Array(bytes)
        return try buffer.withUnsafeBufferPointer { (pointer) throws(Invalid) -> JSONValue in
            var parser = JSONParser(bytes: pointer, rejectDuplicates: rejectingDuplicateMembers)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.position == pointer.count else { throw parser.invalid("Unexpected content after the JSON value.") }
            return value
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let rejectDuplicates: Bool
    private var position = 0

    private init(bytes: UnsafeBufferPointer<UInt8>, rejectDuplicates: Bool) {
        self.bytes = bytes
        self.rejectDuplicates = rejectDuplicates
    }

    private func invalid(_ reason: String) -> Invalid { Invalid(reason: reason, offset: position) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    /// RFC 8259 §2: space, horizontal tab, line feed, carriage return.
    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(Invalid) -> JSONValue {
        guard let byte = current else { throw invalid("Unexpected end of the JSON text.") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw invalid("Unexpected character '\(Unicode.Scalar(byte))'.")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Invalid) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw invalid("Unexpected end of the JSON text.") }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw invalid("Invalid literal; expected '\(word)'.") }
        position += count
    }

    private mutating func object(depth: Int) throws(Invalid) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw invalid("Too many nested arrays or objects (more than \(Self.maximumDepth)).") }
        position += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw invalid("Expected a member name in quotes.") }
            let nameStart = position
            let name = try string()
            // Checked before the value is read, so a repeated name is reported as such whatever follows.
            if rejectDuplicates, members[name] != nil {
                throw Invalid(reason: "The member '\(name)' appears more than once.", offset: nameStart, duplicateMember: name)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw invalid("Expected ':' after a member name.") }
            position += 1
            skipWhitespace()
            members[name] = try value(depth: depth)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default: throw invalid("Expected ',' or '}' in an object.")
            }
        }
    }

    private mutating func array(depth: Int) throws(Invalid) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw invalid("Too many nested arrays or objects (more than \(Self.maximumDepth)).") }
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: throw invalid("Expected ',' or ']' in an array.")
            }
        }
    }

    /// RFC 8259 §7: a quoted string; escapes decoded, control characters and invalid UTF-8 refused.
    private mutating func string() throws(Invalid) -> String {
        position += 1  // opening quote
        let start = position
        // The common case, no escapes: the bytes between the quotes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                guard let text = String(validating: slice, as: UTF8.self) else { throw invalid("The string is not valid UTF-8.") }
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw invalid("A control character must be escaped in a string.") }
            position += 1
        }
        var decoded = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: decoded, as: UTF8.self) else { throw invalid("The string is not valid UTF-8.") }
                position += 1
                return text
            case UInt8(ascii: "\\"):
                position += 1
                guard let escape = current else { break }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"): decoded.append(contentsOf: try unicodeEscape())
                default:
                    position -= 1
                    throw invalid("Invalid escape '\\\(Unicode.Scalar(escape))' in a string.")
                }
            default:
                guard byte >= 0x20 else { throw invalid("A control character must be escaped in a string.") }
                decoded.append(byte)
                position += 1
            }
        }
        throw invalid("Unterminated string.")
    }

    /// `\uXXXX`, with a UTF-16 surrogate pair as two escapes (RFC 8259 §7); a lone surrogate is refused.
    private mutating func unicodeEscape() throws(Invalid) -> [UInt8] {
        let high = try hex4()
        var scalarValue = UInt32(high)
        if (0xD800...0xDBFF).contains(high) {
            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                throw invalid("A high surrogate escape must be followed by a low surrogate escape.")
            }
            position += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw invalid("Expected a low surrogate escape.") }
            scalarValue = 0x10000 + ((UInt32(high) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
        } else if (0xDC00...0xDFFF).contains(high) {
            throw invalid("A low surrogate escape without a high surrogate.")
        }
        guard let scalar = Unicode.Scalar(scalarValue) else { throw invalid("Invalid Unicode escape.") }
        return Array(String(Character(scalar)).utf8)
    }

    private mutating func hex4() throws(Invalid) -> UInt16 {
        guard bytes.count - position >= 4 else { throw invalid("Unterminated \\u escape.") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw invalid("Invalid hexadecimal digit in a \\u escape.")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as a finite Double.
    private mutating func number() throws(Invalid) -> Double {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, isDigit(first) else { throw invalid("Expected a digit.") }
        position += 1
        var significant = first != UInt8(ascii: "0")
        if significant {
            skipDigits()
        } else if let next = current, isDigit(next) {
            throw invalid("A number must not have a leading zero.")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard let d = current, isDigit(d) else { throw invalid("Expected a digit after the decimal point.") }
            while let d = current, isDigit(d) {
                significant = significant || d != UInt8(ascii: "0")
                position += 1
            }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let d = current, isDigit(d) else { throw invalid("Expected a digit in the exponent.") }
            skipDigits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        // Too large, or so small it would read as zero: refused, as JSONDecoder refuses them.
        guard let number = Double(text), number.isFinite, number != 0 || !significant else {
            position = start
            throw invalid("The number \(text) is not representable.")
        }
        return number
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let d = current, isDigit(d) { position += 1 }
    }

}

extension JSONParser {
    /// Whether `JSONDecoder` reads a text differently from this parser: a comma right before a
    /// closing bracket or brace (which it tolerates; RFC 8259 §4–5 do not allow it), a zero written
    /// with an exponent (it refuses some, `0e3`, `-0.0e3`, and reads others, `0e12`, `0.0e3`,
    /// `-0e3`; RFC 8259 §6 allows them all), or a member name repeated in an object (it keeps
    /// the first; this parser keeps the last, as RFC 7519 §4 and ECMAScript's `JSON.parse` do).
    /// For differential checks.
    public static func differsInFoundation(_ bytes: some Sequence<UInt8>) -> Bool {
        let text = Array(bytes)
        do { _ = try parse(text, rejectingDuplicateMembers: true) } catch { if error.duplicateMember != nil { return true } }
        var inString = false
        var escaped = false
        var afterComma = false
        for (i, byte) in text.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            case 0x20, 0x09, 0x0A, 0x0D: break
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                afterComma = false
                let numberBytes = "0123456789.-+eE".utf8
                guard i == 0 || !numberBytes.contains(text[i - 1]) else { continue }
                var end = i
                while end < text.count, numberBytes.contains(text[end]) { end += 1 }
                if isZeroWithExponent(text[i..<end]) { return true }
            default: afterComma = false
            }
        }
        return false
    }

    /// `-?0(.0+)?[eE]…`: zero with an exponent.
    private static func isZeroWithExponent(_ token: ArraySlice<UInt8>) -> Bool {
        var rest = token.drop { $0 == UInt8(ascii: "-") }
        guard rest.first == UInt8(ascii: "0") else { return false }
        rest = rest.dropFirst()
        if rest.first == UInt8(ascii: ".") { rest = rest.dropFirst().drop { $0 == UInt8(ascii: "0") } }
        return rest.first.map { $0 | 0x20 == UInt8(ascii: "e") } ?? false
    }
}
