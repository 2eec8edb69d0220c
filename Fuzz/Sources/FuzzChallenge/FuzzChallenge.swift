import DeputyCore
import Foundation
import FuzzSupport

/// Fuzzes the `WWW-Authenticate` reader (RFC 9110 §11.6.1 challenges: RFC 6750's Bearer, RFC 9728's
/// `resource_metadata`, Entra's claims challenges and Microsoft.Identity.Web's 403 consent form):
/// `AuthenticationChallenge.parse(_:)`, then `ClaimsChallenge(wwwAuthenticate:)` and
/// `ConsentChallenge(wwwAuthenticate:)`, which middle tiers run on every downstream 401 and 403.
///
/// Checks, beyond "does not crash or hang":
/// - every challenge has a scheme, and parameters or a token68 but not both (RFC 9110 §11.3);
/// - schemes and parameter names are ASCII tokens (RFC 9110 §5.6.2), and a token68 holds only the
///   characters of RFC 9110 §11.2;
/// - a challenge rendered with `headerValue` reads back as the same challenge (the Hummingbird
///   middleware relays challenges this way);
/// - a claims challenge has claims, and claims that are JSON survive `headerValue()` and a re-read;
/// - a consent challenge keeps its consent URI and scopes through `headerValue` and a re-read.
@main
enum FuzzChallengeMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let header = Fuzz.text(data, size)
    let challenges = AuthenticationChallenge.parse(header)
    Fuzz.log("\(challenges.count) challenges: \(challenges.map(\.headerValue))")
    for challenge in challenges {
        Fuzz.check(!challenge.scheme.isEmpty, "a challenge without a scheme")
        _ = challenge["realm"]
        // Finding 1 (fixed): `A b c=d` (a token, then parameters) gave a challenge with both, whose
        // `headerValue` dropped the parameters.
        Fuzz.check(challenge.token68 == nil || challenge.parameters.isEmpty, "a challenge with a token68 and parameters: \(challenge)")
        // Finding 2 (fixed): tokens held non-ASCII, and separators joined to combining marks.
        Fuzz.check(isToken(challenge.scheme), "the scheme \(String(reflecting: challenge.scheme)) is not a token")
        for parameter in challenge.parameters {
            Fuzz.check(isToken(parameter.name), "the parameter name \(String(reflecting: parameter.name)) is not a token")
        }
        if let token68 = challenge.token68 {
            Fuzz.check(isToken68(token68), "\(String(reflecting: token68)) is not a token68")
        }
        let rendered = challenge.headerValue
        let reparsed = AuthenticationChallenge.parse(rendered)
        Fuzz.check(reparsed == [challenge], "\(String(reflecting: rendered)) reads back as \(reparsed), not \(challenge)")
    }

    // Finding 3 (fixed): a blank `claims` (`claims=" "`, or a quoted string that is not closed)
    // gave a claims challenge with no claims, where the initializer's documentation says nil.
    if let claims = ClaimsChallenge(wwwAuthenticate: header) {
        Fuzz.log("claims challenge: \(claims.claims)")
        Fuzz.check(!claims.claims.isEmpty, "a claims challenge with empty claims")
        let rendered = claims.headerValue(clientID: "00000003-0000-0000-c000-000000000000")
        let again = ClaimsChallenge(wwwAuthenticate: rendered)
        Fuzz.check(again != nil, "the rendered claims challenge \(String(reflecting: rendered)) is not a claims challenge")
        if claims.claims.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            Fuzz.check(
                again?.claims == claims.claims,
                "claims \(String(reflecting: claims.claims)) read back as \(String(reflecting: again?.claims))")
        }
        Fuzz.check(again?.authorizationURI == claims.authorizationURI, "authorization_uri changed in a round trip")
        _ = try? ClaimsRequest(parsing: claims.claims)
    }

    if let consent = ConsentChallenge(wwwAuthenticate: header) {
        Fuzz.log("consent challenge: \(consent.scopes)")
        let again = ConsentChallenge(wwwAuthenticate: consent.headerValue)
        let same = again?.consentURI == consent.consentURI && again?.scopes == consent.scopes
        Fuzz.check(same, "\(consent) reads back as \(String(describing: again))")
    }
    return 0
}

/// Whether `c` is an ASCII letter or digit (written out here rather than taken from the parser
/// under test).
func isAlphaNumeric(_ c: Unicode.Scalar) -> Bool {
    (0x30...0x39).contains(c.value) || (0x41...0x5A).contains(c.value) || (0x61...0x7A).contains(c.value)
}

/// Whether `text` is a `token` (RFC 9110 §5.6.2): one or more `tchar`, ASCII letters, digits and
/// the marks listed there.
func isToken(_ text: String) -> Bool {
    !text.isEmpty && text.unicodeScalars.allSatisfy { isAlphaNumeric($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0) }
}

/// Whether `text` is a `token68` (RFC 9110 §11.2): ASCII letters, digits and `-._~+/`, then any `=`.
func isToken68(_ text: String) -> Bool {
    let scalars = Array(text.unicodeScalars)
    let body = scalars.prefix { $0 != "=" }
    return !body.isEmpty && body.allSatisfy { isAlphaNumeric($0) || "-._~+/".unicodeScalars.contains($0) }
        && scalars.dropFirst(body.count).allSatisfy { $0 == "=" }
}
