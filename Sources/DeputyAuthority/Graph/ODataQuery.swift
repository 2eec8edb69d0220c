public import DeputyCore
public import Foundation

/// The OData query options Microsoft Graph takes on directory collections ("Use query parameters
/// to customize responses"): `$filter` with `eq`, `ne`, `gt`, `ge`, `lt`, `le`, `in`,
/// `startswith`, `endswith`, `not`, `and`, `or` and parentheses; `$select`; `$orderby` with `asc`
/// or `desc`; `$top`; and `$skiptoken` for the next page. Hand-written: no listed package parses
/// OData, and Graph's directory subset is small.
public struct ODataQuery: Sendable {
    /// A query option Graph would refuse (`400 BadRequest` / `Request_UnsupportedQuery`).
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public var filter: Filter?
    /// Properties to return (`id` is always kept, as Graph does).
    public var select: [String]?
    public var orderBy: [(property: String, descending: Bool)] = []
    public var top: Int
    /// Where the page starts: the count of objects before it.
    public var skip = 0

    /// Reads the options from a query's parameters.
    /// - Parameters:
    ///   - parameters: the request's query.
    ///   - defaultTop: the page size without `$top` (Graph: 100 for users and groups).
    ///   - maxTop: the largest `$top` (Graph: 999 for directory objects).
    public init(parameters: FormParameters, defaultTop: Int = 100, maxTop: Int = 999) throws(Invalid) {
        top = defaultTop
        if let t = parameters["$top"] {
            guard let n = Int(t), (1...maxTop).contains(n) else {
                throw Invalid(description: "Invalid value '\(t)' for $top: expected 1 to \(maxTop).")
            }
            top = n
        }
        if let f = parameters["$filter"], !f.trimmingCharacters(in: .whitespaces).isEmpty {
            var p = Parser(f)
            filter = try p.parseAll()
        }
        if let s = parameters["$select"] {
            let names = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty, names.allSatisfy(Self.isIdentifier) else { throw Invalid(description: "Invalid $select '\(s)'.") }
            select = names
        }
        if let o = parameters["$orderby"] {
            for part in o.split(separator: ",") {
                let words = part.split(separator: " ").map(String.init)
                guard (1...2).contains(words.count), Self.isIdentifier(words[0]),
                    words.count == 1 || ["asc", "desc"].contains(words[1].lowercased())
                else { throw Invalid(description: "Invalid $orderby '\(o)': expected property [asc|desc].") }
                orderBy.append((words[0], words.count == 2 && words[1].lowercased() == "desc"))
            }
        }
        if let token = parameters["$skiptoken"] {
            guard let bytes = Base64URL.decode(token), let text = String(bytes: bytes, encoding: .utf8), let n = Int(text), n >= 0 else {
                throw Invalid(description: "Invalid $skiptoken: pass the one from @odata.nextLink unchanged.")
            }
            skip = n
        }
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "/" || $0 == "@" || $0 == "." }
    }

    /// One page: the objects the filter selects, ordered, from ``skip``, at most ``top``, with only
    /// the selected properties; and the `$skiptoken` of the next page when there is one.
    public func page(_ objects: [JSONValue]) -> (value: [JSONValue], nextSkipToken: String?) {
        var selected = objects.filter { filter?.matches($0) ?? true }
        if !orderBy.isEmpty {
            selected.sort { a, b in
                for (property, descending) in orderBy {
                    let c = Filter.compare(Filter.value(a, property), Filter.value(b, property))
                    if let c, c != .orderedSame { return descending ? c == .orderedDescending : c == .orderedAscending }
                }
                return false
            }
        }
        let end = min(selected.count, skip + top)
        let slice = skip < end ? Array(selected[skip..<end]) : []
        let next = end < selected.count ? Base64URL.encode(Array(String(end).utf8)) : nil
        guard let select else { return (slice, next) }
        let keep = Set(select + ["id"])
        return (
            slice.map { v in
                guard case .object(let o) = v else { return v }
                return .object(o.filter { keep.contains($0.key) })
            }, next
        )
    }

    /// A `$filter` expression.
    public indirect enum Filter: Sendable {
        case compare(path: String, op: String, value: JSONValue)
        case isIn(path: String, values: [JSONValue])
        case function(name: String, path: String, argument: String)
        case not(Filter)
        case and(Filter, Filter)
        case or(Filter, Filter)

        /// Whether an object satisfies the expression (strings compare without case, as Graph's
        /// directory properties do; times compare as times).
        public func matches(_ object: JSONValue) -> Bool {
            switch self {
            case .and(let a, let b): return a.matches(object) && b.matches(object)
            case .or(let a, let b): return a.matches(object) || b.matches(object)
            case .not(let a): return !a.matches(object)
            case .isIn(let path, let values):
                let v = Self.value(object, path)
                return values.contains { Self.compare(v, $0) == .orderedSame }
            case .function(let name, let path, let argument):
                guard case .string(let text)? = Self.value(object, path) else { return false }
                let (s, a) = (text.lowercased(), argument.lowercased())
                switch name {
                case "startswith": return s.hasPrefix(a)
                case "endswith": return s.hasSuffix(a)
                default: return s.contains(a)
                }
            case .compare(let path, let op, let literal):
                let v = Self.value(object, path)
                if op == "eq" || op == "ne" {
                    let equal = (v == nil && literal == .null) || Self.compare(v, literal) == .orderedSame
                    return op == "eq" ? equal : !equal
                }
                guard let c = Self.compare(v, literal) else { return false }
                switch op {
                case "gt": return c == .orderedDescending
                case "ge": return c != .orderedAscending
                case "lt": return c == .orderedAscending
                default: return c != .orderedDescending
                }
            }
        }

        /// The value at a `/`-separated path (a collection's `any` is not supported).
        static func value(_ object: JSONValue, _ path: String) -> JSONValue? {
            var current: JSONValue? = object
            for part in path.split(separator: "/") {
                guard case .object(let o)? = current else { return nil }
                current = o[String(part)]
            }
            if current == .null { return nil }
            return current
        }

        static func compare(_ a: JSONValue?, _ b: JSONValue?) -> ComparisonResult? {
            switch (a, b) {
            case (.string(let x)?, .string(let y)?):
                if let dx = date(x), let dy = date(y) { return dx == dy ? .orderedSame : dx < dy ? .orderedAscending : .orderedDescending }
                return x.caseInsensitiveCompare(y)
            case (.number(let x)?, .number(let y)?): return x == y ? .orderedSame : x < y ? .orderedAscending : .orderedDescending
            case (.bool(let x)?, .bool(let y)?): return x == y ? .orderedSame : (!x && y) ? .orderedAscending : .orderedDescending
            case (nil, nil): return .orderedSame
            case (nil, _): return .orderedAscending
            case (_, nil): return .orderedDescending
            default: return nil
            }
        }

        static func date(_ s: String) -> Date? {
            guard s.count >= 20, s.contains("T") else { return nil }
            if let d = try? Date(s, strategy: .iso8601) { return d }
            return try? Date(s, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        }
    }

    /// A recursive-descent parser over `$filter`'s tokens.
    struct Parser {
        enum Token: Equatable {
            case word(String)
            case string(String)
            case open, close, comma, colon
        }
        var tokens: [Token] = []
        var position = 0
        var error: Invalid?
        let text: String

        init(_ text: String) {
            self.text = text
            var chars = Array(text)
            var i = 0
            while i < chars.count {
                let c = chars[i]
                if c == " " || c == "\t" {
                    i += 1
                } else if c == "(" {
                    tokens.append(.open)
                    i += 1
                } else if c == ")" {
                    tokens.append(.close)
                    i += 1
                } else if c == "," {
                    tokens.append(.comma)
                    i += 1
                } else if c == "'" {
                    // OData strings double a quote to escape it.
                    var s = ""
                    i += 1
                    var closed = false
                    while i < chars.count {
                        if chars[i] == "'" {
                            if i + 1 < chars.count, chars[i + 1] == "'" {
                                s.append("'")
                                i += 2
                                continue
                            }
                            closed = true
                            i += 1
                            break
                        }
                        s.append(chars[i])
                        i += 1
                    }
                    if !closed { error = Invalid(description: "Invalid $filter '\(text)': a string is not closed.") }
                    tokens.append(.string(s))
                } else {
                    var w = ""
                    while i < chars.count, !" \t(),'".contains(chars[i]) {
                        w.append(chars[i])
                        i += 1
                    }
                    tokens.append(.word(w))
                }
            }
            chars.removeAll()
        }

        func invalid(_ why: String) -> Invalid { Invalid(description: "Invalid $filter '\(text)': \(why).") }

        mutating func next() -> Token? {
            guard position < tokens.count else { return nil }
            defer { position += 1 }
            return tokens[position]
        }
        func peekWord() -> String? {
            guard position < tokens.count, case .word(let w) = tokens[position] else { return nil }
            return w.lowercased()
        }

        mutating func parseAll() throws(Invalid) -> Filter {
            if let error { throw error }
            let f = try parseOr()
            guard position == tokens.count else { throw invalid("unexpected text after the expression") }
            return f
        }

        mutating func parseOr() throws(Invalid) -> Filter {
            var left = try parseAnd()
            while peekWord() == "or" {
                position += 1
                left = .or(left, try parseAnd())
            }
            return left
        }

        mutating func parseAnd() throws(Invalid) -> Filter {
            var left = try parseUnary()
            while peekWord() == "and" {
                position += 1
                left = .and(left, try parseUnary())
            }
            return left
        }

        mutating func parseUnary() throws(Invalid) -> Filter {
            if peekWord() == "not" {
                position += 1
                return .not(try parseUnary())
            }
            return try parsePrimary()
        }

        mutating func parsePrimary() throws(Invalid) -> Filter {
            guard let token = next() else { throw invalid("the expression ends too early") }
            switch token {
            case .open:
                let inner = try parseOr()
                guard next() == .close else { throw invalid("a parenthesis is not closed") }
                return inner
            case .word(let w) where ["startswith", "endswith", "contains"].contains(w.lowercased()):
                guard next() == .open, case .word(let path)? = next(), next() == .comma, case .string(let arg)? = next(), next() == .close
                else {
                    throw invalid("expected \(w)(property,'text')")
                }
                return .function(name: w.lowercased(), path: path, argument: arg)
            case .word(let path):
                guard ODataQuery.isIdentifier(path) else { throw invalid("'\(path)' is not a property") }
                guard let op = peekWord(), ["eq", "ne", "gt", "ge", "lt", "le", "in"].contains(op) else {
                    throw invalid("expected eq, ne, gt, ge, lt, le or in after '\(path)'")
                }
                position += 1
                if op == "in" {
                    guard next() == .open else { throw invalid("expected a list after in") }
                    var values: [JSONValue] = []
                    while true {
                        values.append(try literal())
                        guard let t = next() else { throw invalid("a list is not closed") }
                        if t == .close { break }
                        guard t == .comma else { throw invalid("expected , or ) in a list") }
                    }
                    return .isIn(path: path, values: values)
                }
                return .compare(path: path, op: op, value: try literal())
            default:
                throw invalid("unexpected punctuation")
            }
        }

        mutating func literal() throws(Invalid) -> JSONValue {
            switch next() {
            case .string(let s)?: return .string(s)
            case .word(let w)?:
                switch w.lowercased() {
                case "true": return .bool(true)
                case "false": return .bool(false)
                case "null": return .null
                default:
                    if let n = Double(w) { return .number(n) }
                    // GUIDs and times are bare literals in OData.
                    if UUID(uuidString: w) != nil || Filter.date(w) != nil { return .string(w) }
                    throw invalid("'\(w)' is not a value (quote strings: 'text')")
                }
            default: throw invalid("expected a value")
            }
        }
    }
}
