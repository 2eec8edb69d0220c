import DeputyCore
import Foundation
import Testing

/// Inputs found with the fuzz targets in Fuzz/ (Fuzz/README.md, "Known findings" 1, 2, 3 and 8),
/// written as literals: `WWW-Authenticate` challenges (RFC 9110 §11.6.1) and base64url (RFC 4648
/// §5, RFC 7515 §2).
@Suite("fuzz regressions (DeputyCore)")
struct FuzzRegressionTests {
    typealias Challenge = AuthenticationChallenge

    // MARK: - WWW-Authenticate

    /// Finding 1, FuzzChallenge: `A b c=d` gave one challenge `A` with the token68 `b` and the
    /// parameter `c=d`, which `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]` does not
    /// allow, and whose `headerValue` dropped the parameter. A bare token that is not all its
    /// challenge has now starts the next challenge, as when a comma is missing.
    @Test("A token followed by parameters starts the next challenge, so no challenge has a token68 and parameters")
    func tokenFollowedByParameters() {
        #expect(Challenge.parse("A b c=d") == [Challenge(scheme: "A"), Challenge(scheme: "b", parameters: [.init("c", "d")])])
        #expect(
            Challenge.parse(#"X realm="a" Basic realm="b""#) == [
                Challenge(scheme: "X", parameters: [.init("realm", "a")]), Challenge(scheme: "Basic", parameters: [.init("realm", "b")]),
            ])
        // The README's input: `$` is a token, so a challenge of its own.
        #expect(
            Challenge.parse(#"X realm="a"$ Basic realm="b""#) == [
                Challenge(scheme: "X", parameters: [.init("realm", "a")]), Challenge(scheme: "$"),
                Challenge(scheme: "Basic", parameters: [.init("realm", "b")]),
            ])
        // A token68 is still read where it is all the challenge has (RFC 9110 §11.6.1's grammar).
        #expect(Challenge.parse("Negotiate abc==") == [Challenge(scheme: "Negotiate", token68: "abc==")])
        #expect(
            Challenge.parse("Basic dXNlcjpwYXNz, Bearer") == [
                Challenge(scheme: "Basic", token68: "dXNlcjpwYXNz"), Challenge(scheme: "Bearer"),
            ])
        #expect(
            Challenge.parse(#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#) == [
                Challenge(
                    scheme: "Newauth", parameters: [.init("realm", "apps"), .init("type", "1"), .init("title", #"Login to "apps""#)]),
                Challenge(scheme: "Basic", parameters: [.init("realm", "simple")]),
            ])
    }

    /// Finding 2, FuzzChallenge: the parser read `Character`s (grapheme clusters), so a tab followed
    /// by U+08E3 was not a separator: `B\t\u{08E3}` gave the token68 `\u{08E3}`, whose rendering
    /// read back as the scheme `B \u{08E3}`; and tokens could hold non-ASCII, which RFC 9110 §5.6.2
    /// does not allow. The parser now reads Unicode scalars and drops a challenge with a token that
    /// is not one.
    @Test("A separator followed by a combining mark is still a separator, and a challenge with a non-ASCII token is dropped")
    func combiningMarksAndNonASCIITokens() {
        #expect(Challenge.parse("B\t\u{08E3}").isEmpty)
        #expect(Challenge.parse("B \u{0301}, Basic realm=\"r\"") == [Challenge(scheme: "Basic", parameters: [.init("realm", "r")])])
        #expect(Challenge.parse(#"Bearér realm="x", Basic realm="y""#) == [Challenge(scheme: "Basic", parameters: [.init("realm", "y")])])
        #expect(Challenge.parse(#"Bearer réalm="x""#).isEmpty)
        #expect(Challenge.parse("Negotiate abcé").isEmpty)
        // Values may hold anything: a value starting with a combining mark keeps its quotes, and a
        // quote followed by one is escaped.
        let value = "\u{0301}x\"\u{0301}\\"
        let challenge = Challenge(scheme: "Bearer", parameters: [.init("realm", value)])
        #expect(challenge.headerValue.unicodeScalars.elementsEqual("Bearer realm=\"\u{0301}x\\\"\u{0301}\\\\\"".unicodeScalars))
        #expect(Challenge.parse(challenge.headerValue) == [challenge])
        #expect(Challenge.parse("Bearer realm=\"\u{0301}x\"").first?["realm"] == "\u{0301}x")
    }

    @Test(
        "Every challenge read from a header reads back as itself from its headerValue",
        arguments: [
            "A b c=d", #"X realm="a"$ Basic realm="b""#, #"X realm="a" Basic realm="b""#, "B\t\u{08E3}", "B\t\u{08E3} c=\"\u{0301}\"",
            "A b c", "A b==c d=e", #"Bearer realm="a\\b \"q\"",  , ,Bearer abc=, Basic"#, "Bearer error=, realm=\"x\"",
            #"Bearer claims={"access_token":{"acrs":{"essential":true,"value":"c1"}}}, error=insufficient_claims"#,
            "Bearer \"stray\" realm=x", "=a, \"b\" c", "Basic a!b, Bearer x=\u{0301}", "Bearer realm=\"\u{0301}\", \u{0301}=1",
        ])
    func roundTrip(_ header: String) {
        for challenge in Challenge.parse(header) {
            #expect(challenge.token68 == nil || challenge.parameters.isEmpty, "\(challenge)")
            #expect(challenge.scheme.unicodeScalars.allSatisfy { $0.isASCII }, "\(challenge)")
            #expect(Challenge.parse(challenge.headerValue) == [challenge], "\(String(reflecting: challenge.headerValue))")
        }
    }

    /// Finding 3, FuzzChallenge: `Bearer claims=" ` (a quoted string that is not closed) gave a
    /// `ClaimsChallenge` with empty claims, where its documentation says nil. A parameter whose
    /// quoted string is not closed is now dropped, and blank claims are no claims.
    @Test("A blank or unclosed claims parameter is no claims challenge")
    func blankClaims() {
        #expect(ClaimsChallenge(wwwAuthenticate: #"Bearer claims=" "#) == nil)
        #expect(ClaimsChallenge(wwwAuthenticate: #"Bearer claims=" ""#) == nil)
        #expect(ClaimsChallenge(wwwAuthenticate: #"Bearer claims="""#) == nil)
        #expect(ClaimsChallenge(wwwAuthenticate: "Bearer claims=, error=insufficient_claims") == nil)
        #expect(ClaimsChallenge(wwwAuthenticate: #"Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsi"#) == nil)
        #expect(
            Challenge.parse(#"Bearer error="insufficient_claims", claims="eyJh"#) == [
                Challenge(scheme: "Bearer", parameters: [.init("error", "insufficient_claims")])
            ])
        let consent = ConsentChallenge(
            wwwAuthenticate: #"Bearer consentUri="https://login.example/authorize", claims=" ", scopes="a, b", proposedAction="consent""#)
        #expect(consent?.claims == nil && consent?.scopes == ["a", "b"])
        // A claims challenge that has claims is still read.
        let claims = ClaimsChallenge(wwwAuthenticate: #"Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==""#)
        #expect(claims?.claims == #"{"access_token":{}}"#)
    }

    @Test("Consent scopes split on the comma even when a combining mark follows it")
    func consentScopesSplitOnScalars() throws {
        let consent = try #require(
            ConsentChallenge(wwwAuthenticate: "Bearer scopes=\"a,\u{0301}b\", proposedAction=\"consent\""))
        #expect(consent.scopes.count == 2)
        #expect(ConsentChallenge(wwwAuthenticate: consent.headerValue)?.scopes == consent.scopes)
    }

    // MARK: - base64url

    /// Finding 8 (no target checked it): `Base64URL.decode` accepted non-zero trailing bits (`AB` and
    /// `AA` both gave `[0]`), any number of `=` (`Zg===`, `=`), and `+/` mixed with `-_`, so
    /// `UnverifiedJWT` accepted padded parts, which RFC 7515 §2 excludes. It now reads only the
    /// canonical encoding.
    @Test("Base64URL.decode reads only canonical base64url: no padding, no + or /, zero trailing bits")
    func strictBase64URL() {
        #expect(Base64URL.decode("AA") == Data([0]))
        #expect(Base64URL.decode("AB") == nil)
        #expect(Base64URL.decode("Zg") == Data("f".utf8))
        #expect(Base64URL.decode("Zg==") == nil)
        #expect(Base64URL.decode("Zg===") == nil)
        #expect(Base64URL.decode("=") == nil)
        #expect(Base64URL.decode("YQ==") == nil)
        #expect(Base64URL.decode("-_8") == Data([0xFB, 0xFF]))
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("-/8") == nil)
        #expect(Base64URL.decode("-_9") == nil)
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("") == Data())
        // The lenient reader, for values other software writes loosely, keeps the old behaviour.
        #expect(Base64URL.decodeLenient("Zg==") == Data("f".utf8))
        #expect(Base64URL.decodeLenient("+/8=") == Data([0xFB, 0xFF]))
        #expect(Base64URL.decodeLenient("AB") == Data([0]))
    }

    @Test("Every two- and three-character text that Base64URL.decode accepts is the encoding of what it decodes to")
    func canonicalRoundTrip() {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=")
        var accepted = [0, 0]
        var mismatches: [String] = []
        for a in alphabet {
            for b in alphabet {
                let two = String([a, b])
                if let bytes = Base64URL.decode(two) {
                    accepted[0] += 1
                    if Base64URL.encode(bytes) != two { mismatches.append(two) }
                }
                for c in alphabet {
                    let three = String([a, b, c])
                    if let bytes = Base64URL.decode(three) {
                        accepted[1] += 1
                        if Base64URL.encode(bytes) != three { mismatches.append(three) }
                    }
                }
            }
        }
        // One text per byte value, and one per pair of byte values.
        #expect(accepted == [256, 65_536])
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test("UnverifiedJWT refuses a token whose parts are padded or use standard base64")
    func paddedJWTParts() throws {
        func padded(_ part: String) -> String { part + String(repeating: "=", count: (4 - part.count % 4) % 4) }
        let header = Base64URL.encode(Array(#"{"alg":"RS256","kid":"k1"}"#.utf8))
        let payload = Base64URL.encode(Array(#"{"sub":"x"}"#.utf8))
        let signature = Base64URL.encode([0xFB, 0xFF, 1, 2])
        try #require(padded(header) != header && padded(payload) != payload && padded(signature) != signature)
        let jwt = try UnverifiedJWT("\(header).\(payload).\(signature)")
        #expect(jwt.signature == Data([0xFB, 0xFF, 1, 2]))

        let cases = [
            ("\(padded(header)).\(payload).\(signature)", "The header is not base64url-encoded JSON."),
            ("\(header).\(padded(payload)).\(signature)", "The payload is not base64url-encoded JSON."),
            ("\(header).\(payload).\(padded(signature))", "The signature is not base64url."),
            ("\(header).\(payload).\(Data([0xFB, 0xFF, 1, 2]).base64EncodedString())", "The signature is not base64url."),
        ]
        for (token, reason) in cases {
            let error = #expect(throws: UnverifiedJWT.Malformed.self) { try UnverifiedJWT(token) }
            #expect(error?.reason == reason, "\(token)")
        }
    }
}
