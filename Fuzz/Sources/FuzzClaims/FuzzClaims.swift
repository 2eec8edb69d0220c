import DeputyCore
import FuzzSupport

/// Fuzzes the OpenID Connect claims-request reader (OpenID Connect Core 1.0 §5.5), which reads the
/// `claims` parameter at authorize and token and the claims challenges of Conditional Access
/// (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, plain or base64):
/// `ClaimsRequest(parsing:)` and its accessors.
///
/// Checks, beyond "does not crash or hang":
/// - what does not read throws ``OAuthError/invalidClaimsParameter(_:)`` (AADSTS90014), the only
///   documented error;
/// - every accessor answers (`accessToken`, `clientCapabilities`, lower-cased as documented,
///   `requestedAuthenticationContexts`, `policyIDs`);
/// - `jsonString` reads back as the same request (the authority puts it in challenges and MSAL
///   sends it back);
/// - merging with an empty request changes nothing, and merging a request into itself is the same
///   request.
@main
enum FuzzClaimsMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = Fuzz.text(data, size)
    let request: ClaimsRequest
    do {
        request = try ClaimsRequest(parsing: text)
    } catch {
        Fuzz.log("rejected: \(error)")
        Fuzz.check(error == .invalidClaimsParameter(""), "undocumented error \(error)")
        return 0
    }
    Fuzz.log("parsed: \(request.jsonString)")
    _ = request.accessToken
    _ = request.isEmpty
    let capabilities = request.clientCapabilities
    Fuzz.check(capabilities.allSatisfy { $0 == $0.lowercased() }, "capabilities not lower-cased: \(capabilities)")
    _ = request.requestedAuthenticationContexts
    _ = request.policyIDs

    let json = request.jsonString
    do {
        let again = try ClaimsRequest(parsing: json)
        Fuzz.check(again == request, "jsonString \(json) reads back as \(again.jsonString)")
    } catch {
        Fuzz.check(false, "jsonString \(json) does not read back: \(error)")
    }
    Fuzz.check(request.merging(ClaimsRequest()) == request, "merging an empty request changed it")
    Fuzz.check(ClaimsRequest().merging(request) == request, "merging into an empty request changed it")
    Fuzz.check(request.merging(request) == request, "merging a request with itself changed it")
    return 0
}
