import DeputyCore
import Foundation
import Testing

struct JSONSerializationTests {
    @Test("Serialized JSON parses back to the same value, escapes included, with sorted keys")
    func roundTrip() throws {
        let value = JSONValue.object([
            "s": .string("quote \" backslash \\ newline \n tab \t bell \u{07} é 🙂 / slash"),
            "i": .number(1_800_000_000), "f": .number(0.25), "neg": .number(-3), "t": .bool(true), "n": .null,
            "a": .array([.string("x"), .number(2), .object(["k": .string("v")])]),
        ])
        let bytes = value.serialized
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) == value)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("{\"a\":[\"x\",2,{\"k\":\"v\"}],\"f\":0.25,\"i\":1800000000,"))
        #expect(text.contains("\\u0007") && text.contains("/ slash"))
    }
}
