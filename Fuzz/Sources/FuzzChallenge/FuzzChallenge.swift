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
/// - a challenge rendered with `headerValue` reads back as the same challenge (the Hummingbird
///   middleware relays challenges this way);
/// - a claims challenge whose claims are JSON keeps them through `headerValue()` and a re-read;
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
        // Known finding 1: `A b c=d` (a token, then parameters) gives a challenge with both, whose
        // `headerValue` drops the parameters.
        let consistent = challenge.token68 == nil || challenge.parameters.isEmpty
        Fuzz.checkKnown(consistent, "a challenge with a token68 and parameters: \(challenge)")
        guard consistent else { continue }
        let rendered = challenge.headerValue
        let reparsed = AuthenticationChallenge.parse(rendered)
        if joinsSyntax(rendered) {
            Fuzz.checkKnown(reparsed == [challenge], "\(String(reflecting: rendered)) reads back as \(reparsed), not \(challenge)")
        } else {
            Fuzz.check(reparsed == [challenge], "\(String(reflecting: rendered)) reads back as \(reparsed), not \(challenge)")
        }
    }

    // Known finding 3: a blank `claims` (`claims=" "`) gives a claims challenge with no claims,
    // where the initializer's documentation says nil.
    if let claims = ClaimsChallenge(wwwAuthenticate: header), !claims.claims.isEmpty || Fuzz.strict {
        Fuzz.log("claims challenge: \(claims.claims)")
        Fuzz.checkKnown(!claims.claims.isEmpty, "a claims challenge with empty claims")
        let rendered = claims.headerValue(clientID: "00000003-0000-0000-c000-000000000000")
        let again = ClaimsChallenge(wwwAuthenticate: rendered)
        Fuzz.check(again != nil, "the rendered claims challenge \(String(reflecting: rendered)) is not a claims challenge")
        if claims.claims.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            Fuzz.check(
                again?.claims == claims.claims,
                "claims \(String(reflecting: claims.claims)) read back as \(String(reflecting: again?.claims))")
        }
        if joinsSyntax(rendered) {
            Fuzz.checkKnown(again?.authorizationURI == claims.authorizationURI, "authorization_uri changed in a round trip")
        } else {
            Fuzz.check(again?.authorizationURI == claims.authorizationURI, "authorization_uri changed in a round trip")
        }
        _ = try? ClaimsRequest(parsing: claims.claims)
    }

    if let consent = ConsentChallenge(wwwAuthenticate: header) {
        Fuzz.log("consent challenge: \(consent.scopes)")
        let again = ConsentChallenge(wwwAuthenticate: consent.headerValue)
        let same = again?.consentURI == consent.consentURI && again?.scopes == consent.scopes
        let message = "\(consent) reads back as \(String(describing: again))"
        if joinsSyntax(consent.headerValue) { Fuzz.checkKnown(same, message) } else { Fuzz.check(same, message) }
    }
    return 0
}

/// Whether `header` has a grapheme cluster that joins one of the header's separators (space, tab,
/// comma, `=`, quote, backslash) with other scalars, such as a space followed by U+0301.
/// Known finding 2: the parser reads `Character`s, so it does not see that separator, and tokens
/// may hold non-ASCII (RFC 9110 §5.6.2 allows only ASCII `tchar`).
func joinsSyntax(_ header: String) -> Bool {
    header.contains { character in
        character.unicodeScalars.count > 1 && character.unicodeScalars.contains { " \t,=\"\\".unicodeScalars.contains($0) }
    }
}
