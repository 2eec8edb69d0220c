import DeputyCore
import FuzzSupport

/// Fuzzes the `application/x-www-form-urlencoded` reader of the token and authorize endpoints:
/// `FormParameters(parsing:)` (HTML form encoding, as RFC 6749 Appendix B uses it) and
/// `FormParameters.decode`.
///
/// Checks, beyond "does not crash or hang":
/// - a body that does not parse throws ``OAuthError/malformedRequest(_:)`` (AADSTS9002313), the
///   parser's only documented error;
/// - a parsed body has no pair with an empty name, and every accessor (`subscript`, `values`,
///   `require`, `rejectDuplicates`) answers;
/// - `encoded` reads back as the same pairs, in the same order (clients and the authority's own
///   OBO and refresh calls build bodies with it);
/// - `decode(encode(s)) == s` for every string `decode` returns;
/// - the size limit: a body longer than the limit is refused, never read.
@main
enum FuzzFormMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Fuzz.text(data, size)

    if let decoded = FormParameters.decode(body) {
        let again = FormParameters.decode(FormParameters.encode(decoded))
        Fuzz.check(again == decoded, "decode(encode(s)) gave \(String(reflecting: again)) for \(String(reflecting: decoded))")
    }

    do {
        let form = try FormParameters(parsing: body)
        Fuzz.log("parsed \(form.pairs.count) pairs: \(form.pairs.map(\.name))")
        Fuzz.check(!form.pairs.contains { $0.name.isEmpty }, "a pair with an empty name")
        for (name, value) in form.pairs {
            Fuzz.check(form.values(name).contains(value), "values(\(name)) misses \(String(reflecting: value))")
            if let first = form[name] {
                Fuzz.check(!first.isEmpty && (try? form.require(name)) == first, "subscript and require disagree for \(name)")
            } else {
                Fuzz.check((try? form.require(name)) == nil, "require(\(name)) answers what the subscript calls absent")
            }
        }
        _ = try? form.rejectDuplicates(except: ["resource", "audience", "scope"])

        let encoded = form.encoded
        do {
            let reparsed = try FormParameters(parsing: encoded)
            Fuzz.check(reparsed == form, "\(String(reflecting: encoded)) reads back as \(reparsed.pairs), not \(form.pairs)")
        } catch {
            Fuzz.check(false, "the encoded form \(String(reflecting: encoded)) does not parse: \(error)")
        }
    } catch {
        Fuzz.log("rejected: \(error)")
        Fuzz.check(error == .malformedRequest(""), "undocumented error \(error)")
    }

    let limit = 64
    if body.utf8.count > limit {
        do {
            _ = try FormParameters(parsing: body, sizeLimit: limit)
            Fuzz.check(false, "a body of \(body.utf8.count) bytes passed the limit of \(limit)")
        } catch {
            Fuzz.check(error == .malformedRequest(""), "undocumented error \(error)")
        }
    }
    return 0
}
