import DeputyCore
import Testing

struct FormParametersTests {
    // MARK: - Parsing

    struct DecodingCase: Sendable, CustomTestStringConvertible {
        var body: String
        var name: String
        var expected: String?
        var testDescription: String { "\(body) → \(name)=\(expected ?? "nil")" }
    }

    @Test(
        "Values are decoded as HTML form encoding",
        arguments: [
            DecodingCase(body: "scope=openid+profile", name: "scope", expected: "openid profile"),
            DecodingCase(body: "redirect_uri=https%3A%2F%2Fapp%2Fcb", name: "redirect_uri", expected: "https://app/cb"),
            DecodingCase(body: "v=%2B%2b", name: "v", expected: "++"),
            DecodingCase(body: "v=caf%C3%A9", name: "v", expected: "café"),
            DecodingCase(body: "v=a%20b+c", name: "v", expected: "a b c"),
            DecodingCase(body: "v=x%3Dy%26z", name: "v", expected: "x=y&z"),
            DecodingCase(body: "v=a=b", name: "v", expected: "a=b"),
            DecodingCase(body: "client%5Fid=abc", name: "client_id", expected: "abc"),
        ]
    )
    func decodesValues(_ c: DecodingCase) throws {
        let form = try FormParameters(parsing: c.body)
        #expect(form[c.name] == c.expected)
    }

    @Test("Empty values count as absent, but are kept as pairs")
    func emptyValuesAreAbsent() throws {
        let form = try FormParameters(parsing: "a=&b&c=1")
        #expect(form["a"] == nil)
        #expect(form["b"] == nil)
        #expect(form["c"] == "1")
        #expect(form.values("a") == [""])
        #expect(form.pairs.count == 3)
    }

    @Test("Pairs keep the order in which they appeared, and empty fields and names are skipped")
    func keepsOrder() throws {
        let form = try FormParameters(parsing: "z=1&&a=2&=orphan&m=3&a=4")
        #expect(form.pairs.map(\.name) == ["z", "a", "m", "a"])
        #expect(form.pairs.map(\.value) == ["1", "2", "3", "4"])
        #expect(form.values("a") == ["2", "4"])
        #expect(form["a"] == "2")
    }

    @Test("An empty body has no parameters")
    func emptyBody() throws {
        let form = try FormParameters(parsing: "")
        #expect(form.pairs.isEmpty)
        #expect(form == FormParameters())
    }

    @Test(
        "Malformed percent-encoding is AADSTS9002313",
        arguments: ["code=%", "code=%4", "code=%GG", "code=%zz1", "%=x", "code=%C3%28", "v=%FF"]
    )
    func rejectsMalformedPercentEncoding(_ body: String) {
        let error = #expect(throws: OAuthError.self) { try FormParameters(parsing: body) }
        #expect(error?.error == .invalidRequest)
        #expect(error?.aadsts == 9_002_313)
        #expect(error?.status == 400)
    }

    @Test("The error for a bad value names the parameter")
    func malformedValueNamesParameter() {
        let error = #expect(throws: OAuthError.self) { try FormParameters(parsing: "grant_type=x&client_id=%Q1") }
        #expect(error?.message.contains("'client_id'") == true)
    }

    @Test("A body over the size limit is rejected; one at the limit is accepted")
    func sizeLimit() throws {
        let body = "a=" + String(repeating: "x", count: 98)  // 100 bytes
        #expect(try FormParameters(parsing: body, sizeLimit: 100)["a"]?.count == 98)
        let error = #expect(throws: OAuthError.self) { try FormParameters(parsing: body + "x", sizeLimit: 100) }
        #expect(error?.aadsts == 9_002_313)
        #expect(error?.message.contains("100 bytes") == true)
    }

    @Test("The size limit counts UTF-8 bytes, not characters")
    func sizeLimitCountsBytes() {
        // 5 characters, 10 bytes.
        #expect(throws: OAuthError.self) { try FormParameters(parsing: "v=éééé", sizeLimit: 9) }
    }

    @Test("The default size limit is 1 MiB")
    func defaultSizeLimit() throws {
        #expect(FormParameters.defaultSizeLimit == 1_048_576)
        let big = "a=" + String(repeating: "x", count: FormParameters.defaultSizeLimit)
        #expect(throws: OAuthError.self) { try FormParameters(parsing: big) }
    }

    // MARK: - Duplicates

    @Test("A duplicated parameter is AADSTS9002313 naming the parameter")
    func rejectsDuplicates() throws {
        let form = try FormParameters(parsing: "grant_type=a&scope=x&grant_type=b")
        let error = #expect(throws: OAuthError.self) { try form.rejectDuplicates() }
        #expect(error?.aadsts == 9_002_313)
        #expect(error?.error == .invalidRequest)
        #expect(error?.message.contains("'grant_type'") == true)
    }

    @Test("A duplicated parameter is rejected even when both values are empty")
    func rejectsEmptyDuplicates() throws {
        let form = try FormParameters(parsing: "scope=&scope=")
        #expect(throws: OAuthError.malformedRequest("")) { try form.rejectDuplicates() }
    }

    @Test("Repeatable parameters may appear more than once")
    func allowsRepeatable() throws {
        let form = try FormParameters(parsing: "resource=a&audience=x&resource=b&audience=y&scope=s")
        try form.rejectDuplicates(except: ["resource", "audience"])
        #expect(form.values("resource") == ["a", "b"])
    }

    @Test("Allowing one repeatable parameter does not allow another")
    func repeatableIsPerParameter() throws {
        let form = try FormParameters(parsing: "resource=a&resource=b&scope=x&scope=y")
        let error = #expect(throws: OAuthError.self) { try form.rejectDuplicates(except: ["resource"]) }
        #expect(error?.message.contains("'scope'") == true)
    }

    @Test("Distinct parameters pass the duplicate check")
    func distinctParametersPass() throws {
        try FormParameters(parsing: "a=1&b=2&c=3").rejectDuplicates()
    }

    // MARK: - Required parameters

    @Test("A missing required parameter is AADSTS900144 naming it", arguments: ["", "client_id=", "other=1"])
    func requireMissing(_ body: String) throws {
        let form = try FormParameters(parsing: body)
        let error = #expect(throws: OAuthError.self) { try form.require("client_id") }
        #expect(error?.aadsts == 900144)
        #expect(error?.error == .invalidRequest)
        #expect(error?.message == "The request body must contain the following parameter: 'client_id'.")
    }

    @Test("A present required parameter is returned")
    func requirePresent() throws {
        #expect(try FormParameters(parsing: "client_id=abc").require("client_id") == "abc")
    }

    // MARK: - Encoding

    @Test("Encoding percent-encodes everything but unreserved characters")
    func encodes() {
        var form = FormParameters()
        form.append("redirect_uri", "https://app/cb?x=1&y=2")
        form.append("scope", "openid profile")
        form.append("v", "A-z_0.9~+")
        #expect(form.encoded == "redirect_uri=https%3A%2F%2Fapp%2Fcb%3Fx%3D1%26y%3D2&scope=openid%20profile&v=A-z_0.9~%2B")
    }

    @Test(
        "Non-ASCII characters are percent-encoded as UTF-8",
        arguments: [("é", "%C3%A9"), ("日本", "%E6%97%A5%E6%9C%AC"), ("Ωmega", "%CE%A9mega")]
    )
    func encodesNonASCII(_ value: String, _ expected: String) {
        #expect(FormParameters.encode(value) == expected)
    }

    @Test(
        "Encoding then parsing gives back the same pairs",
        arguments: [
            [("a", "1"), ("b", "two words"), ("a", "3")],
            [("redirect_uri", "https://x.example/cb?q=1&r=%20"), ("claims", #"{"access_token":{"acrs":{"value":"c1"}}}"#)],
            [("unicode", "café 日本 🎉"), ("plus", "a+b"), ("percent", "100%")],
            [("k", "v=w=x"), ("empty", "")],
        ]
    )
    func encodedRoundTrip(_ pairs: [(String, String)]) throws {
        let form = FormParameters(pairs)
        let parsed = try FormParameters(parsing: form.encoded)
        #expect(parsed == form)
    }

    @Test("Equality compares names, values and order")
    func equality() {
        #expect(FormParameters([("a", "1"), ("b", "2")]) == FormParameters([("a", "1"), ("b", "2")]))
        #expect(FormParameters([("a", "1"), ("b", "2")]) != FormParameters([("b", "2"), ("a", "1")]))
        #expect(FormParameters([("a", "1")]) != FormParameters([("a", "2")]))
    }
}
