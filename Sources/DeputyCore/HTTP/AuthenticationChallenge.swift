import Foundation

/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): a scheme and its parameters,
/// in order. Parses what resources send (RFC 6750's Bearer, Entra's claims challenges, the
/// 403 consent form of Microsoft.Identity.Web) and renders them back.
///
/// Hand-written: the grammar is small, and no listed package parses challenges.
public struct AuthenticationChallenge: Sendable, Equatable {
    public var scheme: String
    public var parameters: [Parameter]
    /// A token68 value instead of parameters (`Negotiate abc==`).
    public var token68: String?

    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(scheme: String, parameters: [Parameter] = [], token68: String? = nil) {
        self.scheme = scheme
        self.parameters = parameters
        self.token68 = token68
    }

    /// A parameter's value (names compare case-insensitively).
    public subscript(_ name: String) -> String? {
        parameters.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The header value: `Scheme name="value", …` (every value quoted, `"` and `\` escaped).
    public var headerValue: String {
        if let token68 { return "\(scheme) \(token68)" }
        guard !parameters.isEmpty else { return scheme }
        return scheme + " " + parameters.map { "\($0.name)=" + Self.quoted($0.value) }.joined(separator: ", ")
    }

    /// A quoted-string (RFC 9110 §5.6.4), escaped scalar by scalar: a `"` followed by a combining
    /// mark is one `Character`, which a replacement by `Character` would not see.
    static func quoted(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for c in value.unicodeScalars {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        out.append("\"")
        return String(out)
    }

    /// Every challenge in a header value (RFC 9110 §11.6.1:
    /// `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`).
    ///
    /// Read over Unicode scalars, not `Character`s, so that a separator followed by a combining mark
    /// is still a separator. A challenge whose scheme or a parameter name is not an ASCII `token`
    /// (RFC 9110 §5.6.2), or whose token68 has other characters than RFC 9110 §11.2 allows, is
    /// dropped with its parameters. A challenge has a token68 or parameters, never both (RFC 9110
    /// §11.3), and its `headerValue` reads back as the same challenge.
    ///
    /// Lenient where real servers are sloppy: unquoted values with spaces up to the next `,`
    /// outside braces (MSAL.NET's own sample writes `claims={…}` unquoted), and missing commas: a
    /// bare token after a challenge's parameters, or after a token that is not the last thing of
    /// its challenge, starts the next challenge, so `X realm="a" Basic realm="b"` is two
    /// challenges and `A b c=d` is `A` and `b c=d`. A parameter whose quoted string is not closed
    /// is dropped.
    public static func parse(_ header: String) -> [AuthenticationChallenge] {
        let s = Array(header.unicodeScalars)
        var i = 0
        var out: [AuthenticationChallenge] = []
        // The challenge being read, and whether its tokens are all RFC 9110 tokens.
        var current: AuthenticationChallenge?
        var valid = false
        // Only spaces since the current challenge's scheme: where its token68 may stand.
        var afterScheme = false

        func isSpace(_ at: Int) -> Bool { at < s.count && (s[at] == " " || s[at] == "\t") }
        func skipSpaces(from start: Int) -> Int {
            var j = start
            while isSpace(j) { j += 1 }
            return j
        }
        func text(_ range: Range<Int>) -> String {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[range])
            return String(v)
        }
        func finishChallenge() {
            if let current, valid { out.append(current) }
            current = nil
        }
        /// A quoted-string from its opening quote; nil when it is not closed.
        func quotedString() -> String? {
            i += 1
            var v = String.UnicodeScalarView()
            while i < s.count {
                let c = s[i]
                i += 1
                if c == "\"" { return String(v) }
                if c == "\\", i < s.count {
                    v.append(s[i])
                    i += 1
                } else {
                    v.append(c)
                }
            }
            return nil
        }
        /// A parameter's value: quoted, or unquoted up to the next comma outside braces (a raw
        /// JSON value), without surrounding whitespace.
        func value() -> String? {
            if i < s.count, s[i] == "\"" { return quotedString() }
            var depth = 0
            var start = i
            while i < s.count, !(s[i] == "," && depth == 0) {
                if s[i] == "{" { depth += 1 } else if s[i] == "}" { depth = max(0, depth - 1) }
                i += 1
            }
            var end = i
            while start < end, CharacterSet.whitespaces.contains(s[start]) { start += 1 }
            while start < end, CharacterSet.whitespaces.contains(s[end - 1]) { end -= 1 }
            return text(start..<end)
        }

        while true {
            i = skipSpaces(from: i)
            guard i < s.count else { break }
            if s[i] == "," || s[i] == "=" || s[i] == "\"" {
                // A separator, or a stray `=` or quoted string where a token belongs: skipped.
                if s[i] == "\"" { _ = quotedString() } else { i += 1 }
                afterScheme = false
                continue
            }
            let start = i
            while i < s.count, !isSpace(i), s[i] != ",", s[i] != "=", s[i] != "\"" { i += 1 }
            let word = text(start..<i)
            let next = skipSpaces(from: i)
            if next < s.count, s[next] == "=" {
                // `abc==`, or `abc=` at the end of a challenge: a token68 with padding, not a parameter.
                var end = next
                while end < s.count, s[end] == "=" { end += 1 }
                let rest = skipSpaces(from: end)
                if afterScheme, next == i, isToken68(word), end - next >= 2 || rest == s.count || s[rest] == "," {
                    current?.token68 = word + String(repeating: "=", count: end - next)
                    afterScheme = false
                    i = end
                    continue
                }
                i = skipSpaces(from: next + 1)
                let parameterValue = value()
                afterScheme = false
                guard current != nil else { continue }
                if !isToken(word) { valid = false }
                // After a token68 a parameter has no challenge to belong to (RFC 9110 §11.3).
                if let parameterValue, current?.token68 == nil { current?.parameters.append(Parameter(word, parameterValue)) }
                continue
            }
            // A bare token: the current challenge's token68 when it is all the challenge has (and
            // the challenge is dropped when it is not a token68), else the next challenge's scheme.
            if afterScheme, next == s.count || s[next] == "," {
                if isToken68(word) { current?.token68 = word } else { valid = false }
                afterScheme = false
                continue
            }
            finishChallenge()
            current = AuthenticationChallenge(scheme: word)
            valid = isToken(word)
            afterScheme = true
        }
        finishChallenge()
        return out
    }

    /// Whether `c` is a `tchar` (RFC 9110 §5.6.2): an ASCII letter or digit, or one of the marks listed there.
    static func isTChar(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return "!#$%&'*+-.^_`|~".unicodeScalars.contains(c)
        }
    }

    /// Whether `text` is a `token` (RFC 9110 §5.6.2): one or more `tchar`.
    static func isToken(_ text: String) -> Bool { !text.isEmpty && text.unicodeScalars.allSatisfy(isTChar) }

    /// Whether `text` is a `token68` without its padding (RFC 9110 §11.2): one or more of ALPHA,
    /// DIGIT, `-`, `.`, `_`, `~`, `+` and `/`.
    static func isToken68(_ text: String) -> Bool {
        !text.isEmpty
            && text.unicodeScalars.allSatisfy { c in
                (0x30...0x39).contains(c.value) || (0x41...0x5A).contains(c.value) || (0x61...0x7A).contains(c.value)
                    || "-._~+/".unicodeScalars.contains(c)
            }
    }
}

/// A claims challenge (Microsoft Learn, "Claims challenges, claims requests and client capabilities"):
/// Conditional Access or a resource wants a token with more
/// (`acrs`, MFA through `capolids`, a fresh `nbf`). The client sends `claims` to authorize.
public struct ClaimsChallenge: Sendable, Equatable {
    /// The claims request as JSON (decoded when the header carried base64).
    public var claims: String
    public var authorizationURI: String?
    public var error: String?

    public init(claims: String, authorizationURI: String? = nil, error: String? = nil) {
        self.claims = claims
        self.authorizationURI = authorizationURI
        self.error = error
    }

    /// Reads a claims challenge from a `WWW-Authenticate` value, or nil when there is none: no
    /// Bearer challenge, or no `claims`, a blank one, or one whose quoted string is not closed.
    /// `claims` is base64-decoded when it decodes to JSON (MSAL.NET's rule: length a multiple
    /// of four, no whitespace), else taken as it is.
    public init?(wwwAuthenticate header: String) {
        guard let bearer = AuthenticationChallenge.parse(header).first(where: { $0.scheme.lowercased() == "bearer" }),
            let claims = bearer["claims"].map(ClaimsChallenge.decode), !claims.isEmpty
        else { return nil }
        self.claims = claims
        self.authorizationURI = bearer["authorization_uri"]
        self.error = bearer["error"]
    }

    static func decode(_ raw: String) -> String {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        if trimmed.count % 4 == 0, !trimmed.contains(where: \.isWhitespace), let data = Data(base64Encoded: trimmed),
            let text = String(data: data, encoding: .utf8), text.trimmingCharacters(in: .whitespaces).hasPrefix("{")
        {
            return text
        }
        return trimmed
    }

    /// The `WWW-Authenticate` value a resource or middle tier sends (the form of Microsoft Learn's
    /// "Claims challenges, claims requests and client capabilities").
    public func headerValue(clientID: String? = nil) -> String { challenge(clientID: clientID).headerValue }

    /// The challenge, for callers that add parameters (e.g. `resource_metadata`).
    public func challenge(clientID: String? = nil) -> AuthenticationChallenge {
        var p: [AuthenticationChallenge.Parameter] = [.init("realm", "")]
        if let authorizationURI { p.append(.init("authorization_uri", authorizationURI)) }
        if let clientID { p.append(.init("client_id", clientID)) }
        p.append(.init("error", error ?? "insufficient_claims"))
        p.append(.init("claims", Data(claims.utf8).base64EncodedString()))
        return AuthenticationChallenge(scheme: "Bearer", parameters: p)
    }
}

/// The 403 consent form Microsoft.Identity.Web sends (its `ReplyForbiddenWithWwwAuthenticateHeader`):
/// `Bearer consentUri="…", claims="…", scopes="s1,s2", proposedAction="consent"`.
public struct ConsentChallenge: Sendable, Equatable {
    public var consentURI: String?
    public var scopes: [String]
    public var claims: String?

    public init(consentURI: String?, scopes: [String], claims: String? = nil) {
        self.consentURI = consentURI
        self.scopes = scopes
        self.claims = claims
    }

    public init?(wwwAuthenticate header: String) {
        guard let bearer = AuthenticationChallenge.parse(header).first(where: { $0.scheme.lowercased() == "bearer" }),
            bearer["proposedAction"]?.lowercased() == "consent"
        else { return nil }
        consentURI = bearer["consentUri"]
        // Split on the scalar `,`: a comma followed by a combining mark is one `Character`.
        scopes = (bearer["scopes"] ?? "").unicodeScalars.split(separator: ",").map { String(String.UnicodeScalarView($0)) }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        claims = bearer["claims"].map(ClaimsChallenge.decode).flatMap { $0.isEmpty ? nil : $0 }
    }

    public var headerValue: String {
        var p: [AuthenticationChallenge.Parameter] = []
        if let consentURI { p.append(.init("consentUri", consentURI)) }
        p.append(.init("claims", claims ?? ""))
        p.append(.init("scopes", scopes.joined(separator: ",")))
        p.append(.init("proposedAction", "consent"))
        return AuthenticationChallenge(scheme: "Bearer", parameters: p).headerValue
    }
}
