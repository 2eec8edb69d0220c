import DeputyCore
import Foundation
import Testing

struct ScopesTests {
    @Test("Parsing splits on whitespace, drops duplicates and keeps the first order")
    func parse() {
        #expect(
            Scopes.parse("openid  profile\tapi://x/read\nopenid api://x/read offline_access") == [
                "openid", "profile", "api://x/read", "offline_access",
            ])
    }

    @Test("Parsing nothing or blanks gives no scopes", arguments: [nil, "", "   ", "\t\n"] as [String?])
    func parseEmpty(_ value: String?) {
        #expect(Scopes.parse(value).isEmpty)
    }

    @Test("Duplicates are case-sensitive (scope values are case-sensitive strings)")
    func parseIsCaseSensitive() {
        #expect(Scopes.parse("User.Read user.read User.Read") == ["User.Read", "user.read"])
    }

    @Test("Formatting joins with single spaces")
    func format() {
        #expect(Scopes.format(["openid", "api://x/read"]) == "openid api://x/read")
        #expect(Scopes.format([String]()) == "")
    }
}

struct RequestedScopeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var token: String
        var expected: RequestedScope
        var resource: String?
        var testDescription: String { token }
    }

    @Test(
        "Scopes are read the way Entra reads them",
        arguments: [
            Case(token: "openid", expected: .openID("openid"), resource: nil),
            Case(token: "OpenID", expected: .openID("openid"), resource: nil),
            Case(token: "offline_access", expected: .openID("offline_access"), resource: nil),
            Case(token: "profile", expected: .openID("profile"), resource: nil),
            Case(token: "email", expected: .openID("email"), resource: nil),
            Case(token: "api://x/read", expected: .resource(resource: "api://x", value: "read"), resource: "api://x"),
            Case(token: "api://x/.default", expected: .resourceDefault(resource: "api://x"), resource: "api://x"),
            Case(
                token: "https://database.windows.net//.default",
                expected: .resourceDefault(resource: "https://database.windows.net/"),
                resource: "https://database.windows.net/"),
            Case(
                token: "https://database.windows.net//user_impersonation",
                expected: .resource(resource: "https://database.windows.net/", value: "user_impersonation"),
                resource: "https://database.windows.net/"),
            Case(
                token: "https://graph.microsoft.com/User.Read",
                expected: .resource(resource: "https://graph.microsoft.com", value: "User.Read"),
                resource: "https://graph.microsoft.com"),
            Case(
                token: "7e9a1b3c-4d5e-4f6a-9b0c-2d4e6f8a0b12/.default",
                expected: .resourceDefault(resource: "7e9a1b3c-4d5e-4f6a-9b0c-2d4e6f8a0b12"),
                resource: "7e9a1b3c-4d5e-4f6a-9b0c-2d4e6f8a0b12"),
            Case(
                token: "User.Read", expected: .resource(resource: "https://graph.microsoft.com", value: "User.Read"),
                resource: "https://graph.microsoft.com"),
        ]
    )
    func reads(_ c: Case) {
        let scope = RequestedScope(c.token)
        #expect(scope == c.expected)
        #expect(scope.resource == c.resource)
    }

    @Test("A bare scope names Microsoft Graph")
    func graphIsTheDefaultResource() {
        #expect(RequestedScope.microsoftGraph == "https://graph.microsoft.com")
        #expect(RequestedScope("Mail.Send").resource == RequestedScope.microsoftGraph)
    }
}

struct ClaimsRequestTests {
    static let challenge = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#

    @Test("A plain JSON claims request is parsed")
    func parsesPlainJSON() throws {
        let request = try ClaimsRequest(parsing: "  \(Self.challenge)\n")
        #expect(request.requestedAuthenticationContexts == ["c1"])
        #expect(request.accessToken["acrs"]?.objectValue?["essential"] == .bool(true))
        #expect(!request.isEmpty)
    }

    @Test("A base64 claims request (as a WWW-Authenticate challenge carries it) is parsed")
    func parsesBase64() throws {
        let base64 = Data(Self.challenge.utf8).base64EncodedString()
        let request = try ClaimsRequest(parsing: base64)
        #expect(try request == ClaimsRequest(parsing: Self.challenge))
        #expect(request.requestedAuthenticationContexts == ["c1"])
    }

    @Test("A base64url claims request without padding is parsed")
    func parsesBase64URL() throws {
        // Chosen so the standard encoding has '+' or '/' and padding.
        let json = #"{"access_token":{"xms_cc":{"values":["cp1"]},"x":{"v":"??>>"}}}"#
        let encoded = Base64URL.encode(Array(json.utf8))
        let request = try ClaimsRequest(parsing: encoded)
        #expect(request.clientCapabilities == ["cp1"])
    }

    @Test(
        "A claims request that is not a JSON object of objects is AADSTS90014",
        arguments: [
            "", "not json", "[1,2]", "\"text\"", "42", "null", "{", #"{"access_token":"c1"}"#,
            #"{"access_token":{"acrs":{"value":"c1"}},"id_token":[]}"#, #"{"access_token":null}"#,
            Data("[{}]".utf8).base64EncodedString(),
        ]
    )
    func rejectsNonObjects(_ text: String) {
        let error = #expect(throws: OAuthError.self) { try ClaimsRequest(parsing: text) }
        #expect(error?.aadsts == 90014)
        #expect(error?.error == .invalidRequest)
    }

    @Test("The error for a non-object member names the member")
    func nonObjectMemberIsNamed() {
        let error = #expect(throws: OAuthError.self) { try ClaimsRequest(parsing: #"{"userinfo":{},"id_token":1}"#) }
        #expect(error?.message.contains("'id_token'") == true)
    }

    @Test("An empty object is an empty claims request")
    func emptyObject() throws {
        let request = try ClaimsRequest(parsing: "{}")
        #expect(request.isEmpty)
        #expect(request == ClaimsRequest())
        #expect(request.jsonString == "{}")
    }

    @Test("Client capabilities are lower-cased; non-string values are ignored")
    func clientCapabilities() throws {
        let request = try ClaimsRequest(parsing: #"{"access_token":{"xms_cc":{"values":["CP1","cp2",3]}}}"#)
        #expect(request.clientCapabilities == ["cp1", "cp2"])
    }

    @Test("No access_token member means no capabilities, contexts or policy ids")
    func missingAccessToken() throws {
        let request = try ClaimsRequest(parsing: #"{"id_token":{"auth_time":{"essential":true}}}"#)
        #expect(request.accessToken.isEmpty)
        #expect(request.clientCapabilities.isEmpty)
        #expect(request.requestedAuthenticationContexts.isEmpty)
        #expect(request.policyIDs.isEmpty)
    }

    struct ContextsCase: Sendable, CustomTestStringConvertible {
        var json: String
        var expected: [String]
        var testDescription: String { json }
    }

    @Test(
        "Authentication contexts are read from 'value' and 'values'",
        arguments: [
            ContextsCase(json: #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#, expected: ["c1"]),
            ContextsCase(json: #"{"access_token":{"acrs":{"essential":true,"values":["c2","c3"]}}}"#, expected: ["c2", "c3"]),
            ContextsCase(json: #"{"access_token":{"acrs":{"value":"c1","values":["c4"]}}}"#, expected: ["c1", "c4"]),
            ContextsCase(json: #"{"access_token":{"acrs":{"essential":true}}}"#, expected: []),
            ContextsCase(json: #"{"access_token":{"acrs":"c1"}}"#, expected: []),
        ]
    )
    func authenticationContexts(_ c: ContextsCase) throws {
        #expect(try ClaimsRequest(parsing: c.json).requestedAuthenticationContexts == c.expected)
    }

    @Test("Policy ids are read from capolids and the documented polids")
    func policyIDs() throws {
        let capolids = try ClaimsRequest(parsing: #"{"access_token":{"capolids":{"essential":true,"values":["p1","p2"]}}}"#)
        #expect(capolids.policyIDs == ["p1", "p2"])
        let polids = try ClaimsRequest(parsing: #"{"access_token":{"polids":{"essential":true,"values":["p3"]}}}"#)
        #expect(polids.policyIDs == ["p3"])
        let both = try ClaimsRequest(
            parsing: #"{"access_token":{"capolids":{"values":["p1"]},"polids":{"Values":["p9"]}}}"#)
        #expect(both.policyIDs == ["p1", "p9"])
    }

    @Test("Merging keeps both sides' members and the other side wins on a conflicting member")
    func merging() throws {
        let mine = try ClaimsRequest(
            parsing: #"{"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"value":"c1"}},"userinfo":{"email":null}}"#)
        let theirs = try ClaimsRequest(
            parsing: #"{"access_token":{"acrs":{"essential":true,"value":"c2"}},"id_token":{"auth_time":{"essential":true}}}"#)
        let merged = mine.merging(theirs)
        #expect(merged.clientCapabilities == ["cp1"])
        #expect(merged.requestedAuthenticationContexts == ["c2"])
        #expect(merged.accessToken["acrs"] == .object(["essential": .bool(true), "value": .string("c2")]))
        #expect(merged.json["id_token"] != nil)
        #expect(merged.json["userinfo"] != nil)
        // Merging does not change either side.
        #expect(mine.requestedAuthenticationContexts == ["c1"])
        #expect(theirs.clientCapabilities.isEmpty)
    }

    @Test("Merging into an empty request gives the other request")
    func mergingIntoEmpty() throws {
        let other = try ClaimsRequest(parsing: Self.challenge)
        #expect(ClaimsRequest().merging(other) == other)
        #expect(other.merging(ClaimsRequest()) == other)
    }

    @Test("jsonString is minified with sorted keys and survives a round trip")
    func jsonString() throws {
        let request = try ClaimsRequest(
            parsing:
                #"{ "access_token": { "xms_cc": { "values": ["cp1"] }, "acrs": { "essential": true, "value": "c1" }, "n": {"v": 2} } }"#)
        #expect(request.jsonString == #"{"access_token":{"acrs":{"essential":true,"value":"c1"},"n":{"v":2},"xms_cc":{"values":["cp1"]}}}"#)
        #expect(try ClaimsRequest(parsing: request.jsonString) == request)
    }
}

struct EntraErrorBodyTests {
    /// 2023-11-14 22:13:20 UTC.
    static let date = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("An OAuthError renders exactly as Entra's error body")
    func rendersOAuthError() {
        let error = OAuthError(.invalidGrant, aadsts: 50126, message: "Error validating credentials due to invalid username or password.")
        let body = EntraErrorBody(error, traceId: "t", correlationId: "c", at: Self.date, errorURIBase: "https://login.example")
        #expect(body.error == "invalid_grant")
        #expect(
            body.errorDescription == "AADSTS50126: Error validating credentials due to invalid username or password."
                + "\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2023-11-14 22:13:20Z")
        #expect(body.errorCodes == [50126])
        #expect(body.timestamp == "2023-11-14 22:13:20Z")
        #expect(body.traceId == "t")
        #expect(body.correlationId == "c")
        #expect(body.errorUri == "https://login.example/error?code=50126")
        #expect(body.suberror == nil)
        #expect(body.claims == nil)
        #expect(body.aadsts == 50126)
    }

    @Test("suberror and claims are passed through")
    func passesSuberrorAndClaims() {
        let claims = #"{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}"#
        let error = OAuthError(.interactionRequired, aadsts: 50076, message: "MFA required.", suberror: "basic_action", claims: claims)
        let body = EntraErrorBody(error, traceId: "t", correlationId: "c", at: Self.date, errorURIBase: "https://x")
        #expect(body.suberror == "basic_action")
        #expect(body.claims == claims)
        #expect(body.error == "interaction_required")
    }

    @Test("An error without an AADSTS code has no error_codes or error_uri")
    func withoutAADSTS() throws {
        let error = OAuthError(.invalidRequest, message: "Something.")
        let body = EntraErrorBody(error, traceId: "t", correlationId: "c", at: Self.date, errorURIBase: "https://x")
        #expect(body.errorDescription.hasPrefix("Something.\r\nTrace ID: t"))
        #expect(body.errorCodes == nil)
        #expect(body.errorUri == nil)
        let json = try Self.jsonObject(body)
        #expect(json["error_codes"] == nil)
        #expect(json["error_uri"] == nil)
        #expect(json["suberror"] == nil)
        #expect(json["claims"] == nil)
    }

    @Test("The JSON uses Entra's snake_case keys; error_codes are integers and claims a string")
    func jsonKeys() throws {
        let error = OAuthError.consentRequired(clientAppID: "app", clientName: "App")
        var body = EntraErrorBody(error, traceId: "t", correlationId: "c", at: Self.date, errorURIBase: "https://x")
        body.claims = #"{"access_token":{}}"#
        let json = try Self.jsonObject(body)
        #expect(
            Set(json.keys) == [
                "error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri",
                "suberror", "claims",
            ])
        #expect(json["error_codes"] as? [Int] == [65001])
        #expect(json["error"] as? String == "invalid_grant")
        #expect(json["suberror"] as? String == "consent_required")
        #expect(json["claims"] as? String == #"{"access_token":{}}"#)
        #expect(json["trace_id"] as? String == "t")
        #expect(json["correlation_id"] as? String == "c")
        #expect(json["error_uri"] as? String == "https://x/error?code=65001")
        // The integers are JSON numbers, not strings.
        let text = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        #expect(text.contains(#""error_codes":[65001]"#))
    }

    @Test("The JSON decodes back to the same body")
    func codableRoundTrip() throws {
        let body = EntraErrorBody(OAuthError.pkceMismatch(), traceId: "t", correlationId: "c", at: Self.date, errorURIBase: "https://x")
        let decoded = try JSONDecoder().decode(EntraErrorBody.self, from: JSONEncoder().encode(body))
        #expect(decoded == body)
    }

    @Test(
        "Timestamps are UTC with seconds and a Z",
        arguments: [
            (0.0, "1970-01-01 00:00:00Z"),
            (1_700_000_000.999, "2023-11-14 22:13:20Z"),
            (951_782_400, "2000-02-29 00:00:00Z"),
        ]
    )
    func timestamps(_ seconds: Double, _ expected: String) {
        #expect(EntraErrorBody.timestampFormat(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test("The AADSTS number is read from error_codes, else from the description")
    func readsAADSTS() {
        #expect(EntraErrorBody(error: "invalid_grant", errorDescription: "AADSTS70008: Expired.").aadsts == 70008)
        #expect(EntraErrorBody(error: "invalid_grant", errorDescription: "AADSTS1: x", errorCodes: [65001]).aadsts == 65001)
        #expect(EntraErrorBody(error: "invalid_request", errorDescription: "No code here.").aadsts == nil)
    }

    static func jsonObject(_ body: EntraErrorBody) throws -> [String: Any] {
        let data = try JSONEncoder().encode(body)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

struct OAuthErrorTests {
    @Test(
        "invalid_client answers 401, every other error 400",
        arguments: [
            (OAuthError.Code.invalidClient, 401), (.invalidRequest, 400), (.invalidGrant, 400), (.unauthorizedClient, 400),
            (.invalidScope, 400), (.unsupportedGrantType, 400), (.interactionRequired, 400),
        ]
    )
    func defaultStatus(_ code: OAuthError.Code, _ status: Int) {
        #expect(OAuthError(code, message: "m").status == status)
    }

    @Test("Catalogue entries carry their status")
    func catalogueStatus() {
        #expect(OAuthError.invalidClientSecret(appID: "a").status == 401)
        #expect(OAuthError.missingParameter("x").status == 400)
        #expect(OAuthError.serverError(logDetail: "boom").status == 500)
    }

    @Test("An explicit status wins over the default")
    func explicitStatus() {
        #expect(OAuthError(.invalidClient, message: "m", status: 400).status == 400)
    }

    @Test("Equality compares the error code and AADSTS number only")
    func equality() {
        #expect(OAuthError(.invalidGrant, aadsts: 70000, message: "a") == OAuthError(.invalidGrant, aadsts: 70000, message: "b"))
        #expect(OAuthError(.invalidGrant, aadsts: 70000, message: "a") != OAuthError(.invalidGrant, aadsts: 70008, message: "a"))
        #expect(OAuthError(.invalidGrant, aadsts: 70000, message: "a") != OAuthError(.invalidRequest, aadsts: 70000, message: "a"))
    }

    @Test("Descriptions carry the AADSTS prefix")
    func descriptions() {
        let error = OAuthError(.invalidGrant, aadsts: 70000, message: "Bad.")
        #expect(error.shortDescription == "AADSTS70000: Bad.")
        #expect(error.description == "invalid_grant: AADSTS70000: Bad.")
        #expect(OAuthError(.invalidRequest, message: "Bad.").shortDescription == "Bad.")
    }

    @Test("The log detail never reaches the client's error body")
    func logDetailIsNotRendered() throws {
        let error = OAuthError.serverError(logDetail: "secret-stack-trace")
        let body = EntraErrorBody(error, traceId: "t", correlationId: "c", at: Date(), errorURIBase: "https://x")
        let text = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        #expect(!text.contains("secret-stack-trace"))
    }
}

struct Base64URLTests {
    @Test(
        "Encoding then decoding gives back the bytes",
        arguments: [[], [0], [0xFB], [0xFB, 0xFF], [0xFB, 0xFF, 0xBF], Array("hello, world".utf8), Array(0...255)] as [[UInt8]]
    )
    func roundTrip(_ bytes: [UInt8]) throws {
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("+"))
        #expect(!encoded.contains("/"))
        #expect(!encoded.contains("="))
        #expect(try #require(Base64URL.decode(encoded)) == Data(bytes))
    }

    @Test("Encoding uses the URL-safe alphabet without padding")
    func alphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.encode(Array("a".utf8)) == "YQ")
    }

    @Test(
        "Padded and standard base64 input is accepted by the lenient reading only",
        arguments: [("YQ==", [0x61]), ("YQ", [0x61]), ("-_8=", [0xFB, 0xFF]), ("+/8=", [0xFB, 0xFF]), ("+/8", [0xFB, 0xFF])]
            as [(String, [UInt8])]
    )
    func acceptsPaddedAndStandard(_ text: String, _ bytes: [UInt8]) {
        // Only the lenient reading (for values clients send padded, like a certificate's x5t#S256);
        // tokens are read strictly (RFC 7515 §2).
        #expect(Base64URL.decodeLenient(text) == Data(bytes))
        #expect(Base64URL.decode(text) == (text == Base64URL.encode(bytes) ? Data(bytes) : nil))
    }

    @Test("Input that cannot be base64 is rejected", arguments: ["A", "AAAAA", "a$b!", "Y Q"])
    func rejectsInvalid(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }
}

struct UnverifiedJWTTests {
    static func part(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }
    static let header = part(#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#)
    static let payload = part(#"{"aud":"api://x","iss":"https://issuer","exp":1700000000.5,"scp":"read"}"#)
    static let signature = Base64URL.encode([1, 2, 3, 4, 250, 251])

    @Test("A compact JWS is split and decoded without verification")
    func splits() throws {
        let token = "\(Self.header).\(Self.payload).\(Self.signature)"
        let jwt = try UnverifiedJWT(token)
        #expect(jwt.header["kid"] == .string("k1"))
        #expect(jwt.header["alg"]?.stringValue == "RS256")
        #expect(jwt.string("aud") == "api://x")
        #expect(jwt.string("scp") == "read")
        #expect(jwt.string("exp") == nil)
        #expect(jwt.date("exp") == Date(timeIntervalSince1970: 1_700_000_000.5))
        #expect(jwt.date("missing") == nil)
        #expect(jwt.signingInput == "\(Self.header).\(Self.payload)")
        #expect(jwt.signature == Data([1, 2, 3, 4, 250, 251]))
    }

    @Test("An empty signature (unsecured JWS) is split")
    func emptySignature() throws {
        let jwt = try UnverifiedJWT("\(Self.header).\(Self.payload).")
        #expect(jwt.signature.isEmpty)
    }

    struct MalformedCase: Sendable, CustomTestStringConvertible {
        var name: String
        var parts: [String]
        var reason: String
        var token: String { parts.joined(separator: ".") }
        var testDescription: String { name }
    }

    @Test(
        "Malformed tokens are rejected with a reason",
        arguments: [
            MalformedCase(name: "empty", parts: [], reason: "three dot-separated parts; this has 1"),
            MalformedCase(name: "two parts", parts: [header, payload], reason: "this has 2"),
            MalformedCase(name: "four parts", parts: [header, payload, signature, "x"], reason: "this has 4"),
            MalformedCase(name: "header not base64", parts: ["!!!", payload, signature], reason: "header"),
            MalformedCase(name: "header not JSON", parts: [part("nope"), payload, signature], reason: "header"),
            MalformedCase(name: "header an array", parts: [part("[1]"), payload, signature], reason: "header"),
            MalformedCase(name: "payload not JSON", parts: [header, part("{"), signature], reason: "payload"),
            MalformedCase(name: "payload a string", parts: [header, part(#""s""#), signature], reason: "payload"),
            MalformedCase(name: "signature not base64url", parts: [header, payload, "a$b"], reason: "signature"),
        ]
    )
    func rejectsMalformed(_ c: MalformedCase) {
        let error = #expect(throws: UnverifiedJWT.Malformed.self) { try UnverifiedJWT(c.token) }
        #expect(error?.reason.contains(c.reason) == true, "\(error?.reason ?? "no error")")
        #expect(error?.description == error?.reason)
    }
}
