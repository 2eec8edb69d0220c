import DeputyCore
import Foundation
import Testing

/// The hand-written JSON parser against RFC 8259 and against Foundation's `JSONDecoder`, which it
/// replaces on the hot paths: both must accept and refuse the same texts and read the same values.
@Suite struct JSONParserTests {
    /// Foundation's reading of a text, or nil when it refuses it.
    func foundation(_ text: String) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    func parser(_ text: String) -> JSONValue? { try? JSONParser.parse(Array(text.utf8)) }

    static let accepted: [String] = [
        "{}", "[]", "null", "true", "false", "0", "-0", "1", "-1", "12.5", "1e3", "1E+3", "1.5e-3", "-0.0", "123456789012345678",
        "\"\"", "\"a\"", #""\"\\\/\b\f\n\r\t""#, #""\u00e9\u20AC""#, #""\ud83d\ude00""#, "\"é€😀\"",
        #"{"aud":"api://x","exp":1700000000,"scp":"a b","roles":["r1","r2"],"nested":{"a":[1,{"b":null}]}}"#,
        " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", "[[[[[[[[[[1]]]]]]]]]]", "1.7976931348623157e308", "5e-324", "0e12", "0e+3", "-0e3", "0e0",
    ]

    static let refused: [String] = [
        "", " ", "{", "}", "[", "[,1]", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "-", "1.", ".5", "1e", "1e+",
        "+1", "0x10", "NaN", "Infinity", "tru", "nul", "True", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\uD800\"", "\"\\uDC00\"",
        "\"\\uD83D\\u0041\"", "\"a\u{01}b\"", "\"tab\there\"", "1 2", "{} {}", "[1] x", "1e400", "-1e400", "{\"a\":1}}", "[1]]",
        "1e-400", "5e-344", "0.1e-330",
    ]

    @Test("accepts what RFC 8259 allows and reads it as Foundation does", arguments: accepted)
    func acceptsValidJSON(_ text: String) throws {
        let ours = try JSONParser.parse(Array(text.utf8))
        #expect(ours == foundation(text))
    }

    @Test("refuses what RFC 8259 does not allow, as Foundation does", arguments: refused)
    func refusesInvalidJSON(_ text: String) {
        #expect(parser(text) == nil)
        #expect(foundation(text) == nil)
    }

    @Test("refuses trailing commas, which RFC 8259 forbids and JSONDecoder tolerates", arguments: ["[1,]", "{\"a\":1,}", "[[],\n]"])
    func refusesTrailingCommas(_ text: String) {
        #expect(parser(text) == nil)
        #expect(foundation(text) != nil, "JSONDecoder now refuses \(text): move it to the common refusals")
    }

    @Test("reads zeros with exponents that RFC 8259 allows and JSONDecoder refuses", arguments: ["0e3", "[0E7]", "-0.0e3"])
    func readsZeroWithExponent(_ text: String) {
        #expect(parser(text) != nil)
        #expect(JSONParser.differsInFoundation(Array(text.utf8)))
        #expect(foundation(text) == nil, "JSONDecoder now reads \(text): drop this case from differsInFoundation")
    }

    @Test("refuses bytes that are not UTF-8 inside a string")
    func refusesInvalidUTF8() {
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]) }
    }

    @Test("refuses a repeated member name when asked, and names it; otherwise the last one wins")
    func duplicateMembers() {
        let text = Array(#"{"aud":"a","x":{"aud":"inner"},"aud":"b"}"#.utf8)
        do {
            _ = try JSONParser.parse(text, rejectingDuplicateMembers: true)
            Issue.record("a repeated member was accepted")
        } catch {
            #expect(error.duplicateMember == "aud")
        }
        #expect((try? JSONParser.parse(text))?.objectValue?["aud"] == .string("b"))
        // JSONDecoder keeps the first instead: a difference the differential checks allow for.
        #expect(foundation(String(decoding: text, as: UTF8.self))?.objectValue?["aud"] == .string("a"))
        #expect(JSONParser.differsInFoundation(text))
        // The same name in two different objects is not a repetition.
        #expect((try? JSONParser.parse(Array(#"{"a":{"b":1},"c":{"b":2}}"#.utf8), rejectingDuplicateMembers: true)) != nil)
        // Escapes are decoded before names are compared (RFC 8259 §8.3).
        #expect((try? JSONParser.parse(Array(#"{"aud":1,"a\u0075d":2}"#.utf8), rejectingDuplicateMembers: true)) == nil)
    }

    @Test("refuses nesting deeper than 512 levels instead of exhausting the stack")
    func depthLimit() {
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
        let hostile = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParser.Invalid.self) { try JSONParser.parse(Array(hostile.utf8)) }
    }

    @Test("errors say where parsing stopped")
    func errorOffsets() {
        do {
            _ = try JSONParser.parse(Array("{\n  \"a\": tru\n}".utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 9)
        }
    }

    @Test("agrees with Foundation on 5,000 random mutations of JSON texts")
    func differentialAgainstFoundation() {
        var generator = SystemRandomNumberGenerator()
        let seeds = Self.accepted.filter { !$0.isEmpty }
        let alphabet = Array(#"{}[]",:.-+eE0123456789aflnrstu\/ "#.utf8) + [0x01, 0xC3, 0xA9, 0xFF]
        var disagreements: [String] = []
        for _ in 0..<5_000 {
            var bytes = Array(seeds.randomElement(using: &generator)!.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let i = Int.random(in: 0...bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes.insert(alphabet.randomElement(using: &generator)!, at: i)
                case 1: if i < bytes.count { bytes.remove(at: i) }
                default: if i < bytes.count { bytes[i] = alphabet.randomElement(using: &generator)! }
                }
            }
            // A byte-order mark or UTF-16 text is read by Foundation and refused here (RFC 8259
            // §8.1: JSON between systems is UTF-8 without a BOM); keep to texts both must judge alike.
            if bytes.first == 0xEF || bytes.contains(0) { continue }
            let ours = try? JSONParser.parse(bytes)
            let theirs = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            if ours != theirs, !JSONParser.differsInFoundation(bytes) {
                disagreements.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        #expect(disagreements.isEmpty, "disagreements: \(disagreements.prefix(5))")
    }
}
