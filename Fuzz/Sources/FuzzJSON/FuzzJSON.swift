import DeputyCore
import Foundation
import FuzzSupport

/// Fuzzes ``JSONParser``, the hand-written RFC 8259 parser that reads every token's header and
/// claims, claims requests and the authority's answers in the libraries.
///
/// Checks, beyond "does not crash or hang":
/// - it accepts exactly what Foundation's `JSONDecoder` accepts and reads the same value (texts
///   with a byte-order mark or NUL bytes aside: Foundation also reads UTF-16 and UTF-32; and
///   the two places Foundation departs from RFC 8259, `JSONParser.differsInFoundation`);
/// - a value it reads serializes (`JSONValue.serialized`) to a text it reads back as the same value;
/// - refusing repeated member names only ever refuses, never reads a different value;
/// - every refusal says where it stopped (an offset within the input).
@main
enum FuzzJSONMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let ours: JSONValue?
    do {
        ours = try JSONParser.parse(bytes)
    } catch {
        Fuzz.log("refused: \(error)")
        Fuzz.check(error.offset >= 0 && error.offset <= size, "offset \(error.offset) outside the input of \(size) bytes")
        ours = nil
    }
    if bytes.first != 0xEF, !bytes.contains(0) {
        let theirs = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        let tolerated = JSONParser.differsInFoundation(bytes)
        Fuzz.check(ours == theirs || tolerated, "JSONParser read \(String(describing: ours)), JSONDecoder \(String(describing: theirs))")
    }
    guard let ours else { return 0 }
    Fuzz.check((try? JSONParser.parse(ours.serialized)) == ours, "the serialized value does not read back as itself")
    if let strict = try? JSONParser.parse(bytes, rejectingDuplicateMembers: true) {
        Fuzz.check(strict == ours, "refusing duplicates read a different value")
    }
    return 0
}
