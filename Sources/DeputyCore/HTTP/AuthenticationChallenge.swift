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
        let rendered = parameters.map { p in
            "\(p.name)=\"" + p.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return scheme + " " + rendered.joined(separator: ", ")
    }

    /// Every challenge in a header value. Lenient where real servers are sloppy: unquoted values
    /// with spaces up to the next `,` (MSAL.NET's own sample writes `claims={…}` unquoted).
    public static func parse(_ header: String) -> [AuthenticationChallenge] {
        var out: [AuthenticationChallenge] = []
        var s = Substring(header)
        func skipSpaces() { s = s.drop { $0 == " " || $0 == "\t" } }
        func token() -> String {
            let t = s.prefix { !" \t,=\"".contains($0) }
            s = s.dropFirst(t.count)
            return String(t)
        }
        while true {
            skipSpaces()
            while s.first == "," {
                s = s.dropFirst()
                skipSpaces()
            }
            guard !s.isEmpty else { break }
            let scheme = token()
            guard !scheme.isEmpty else {
                s = s.dropFirst()
                continue
            }
            var challenge = AuthenticationChallenge(scheme: scheme)
            skipSpaces()
            // Parameters until the next scheme (a token not followed by `=`).
            while !s.isEmpty {
                skipSpaces()
                let save = s
                let name = token()
                skipSpaces()
                guard !name.isEmpty, s.first == "=" else {
                    if !name.isEmpty, challenge.parameters.isEmpty, challenge.token68 == nil, s.first != "," {
                        // token68 (possibly with trailing '=' padding)
                        var t = name
                        while s.first == "=" {
                            t.append("=")
                            s = s.dropFirst()
                        }
                        challenge.token68 = t
                        continue
                    }
                    s = save
                    break
                }
                // `abc==` or `abc=` at the end: a token68 with padding, not a parameter.
                let afterEquals = s.dropFirst()
                if challenge.parameters.isEmpty, challenge.token68 == nil,
                    afterEquals.first == "=" || afterEquals.trimmingCharacters(in: .whitespaces).isEmpty || afterEquals.first == ","
                {
                    var t = name
                    while s.first == "=" {
                        t.append("=")
                        s = s.dropFirst()
                    }
                    challenge.token68 = t
                    continue
                }
                s = s.dropFirst()  // "="
                skipSpaces()
                var value = ""
                if s.first == "\"" {
                    s = s.dropFirst()
                    while let c = s.first, c != "\"" {
                        if c == "\\", s.count > 1 { s = s.dropFirst() }
                        value.append(s.first!)
                        s = s.dropFirst()
                    }
                    s = s.dropFirst()  // closing quote
                } else {
                    // Unquoted: up to the next comma that is not inside braces (a raw JSON value).
                    var depth = 0
                    while let c = s.first, !(c == "," && depth == 0) {
                        if c == "{" { depth += 1 } else if c == "}" { depth -= 1 }
                        value.append(c)
                        s = s.dropFirst()
                    }
                    value = value.trimmingCharacters(in: .whitespaces)
                }
                challenge.parameters.append(Parameter(name, value))
                skipSpaces()
                if s.first == "," { s = s.dropFirst() }
            }
            out.append(challenge)
        }
        return out
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

    /// Reads a claims challenge from a `WWW-Authenticate` value, or nil when there is none.
    /// `claims` is base64-decoded when it decodes to JSON (MSAL.NET's rule: length a multiple
    /// of four, no whitespace), else taken as it is.
    public init?(wwwAuthenticate header: String) {
        guard let bearer = AuthenticationChallenge.parse(header).first(where: { $0.scheme.lowercased() == "bearer" }),
            let raw = bearer["claims"], !raw.isEmpty
        else { return nil }
        self.claims = ClaimsChallenge.decode(raw)
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
        scopes = (bearer["scopes"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        claims = bearer["claims"].flatMap { $0.isEmpty ? nil : ClaimsChallenge.decode($0) }
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
