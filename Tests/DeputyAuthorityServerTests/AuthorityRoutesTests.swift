import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The authority's HTTP surface, through Hummingbird's router test client.
@Suite("authority routes")
struct AuthorityRoutesTests {
    static func withApp(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await DemoAuthority.test(try await DemoAuthority.make(), body)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: JSONValue] {
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: buffer).utf8)) else {
            throw OAuthError.malformedRequest("not an object")
        }
        return o
    }

    static func form(_ pairs: [(String, String)]) -> ByteBuffer { ByteBuffer(string: FormParameters(pairs).encoded) }
    static let formHeaders: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
    static let tenant = DemoTenant.tenantID
    let reports = DemoTenant.app("reports")

    @Test("Discovery answers at Entra's v2 and v1 paths, by tenant id or domain, and templates the issuer for common")
    func discovery() async throws {
        try await Self.withApp { client in
            for path in ["/\(Self.tenant)/v2.0/.well-known/openid-configuration", "/contoso.com/v2.0/.well-known/openid-configuration"] {
                try await client.execute(uri: path, method: .get) { (r: TestResponse) async throws in
                    #expect(r.status == .ok)
                    let doc = try Self.json(r.body)
                    #expect(doc["issuer"]?.stringValue == "http://127.0.0.1:7400/\(Self.tenant)/v2.0")
                    #expect(doc["jwks_uri"]?.stringValue?.hasSuffix("/discovery/v2.0/keys") == true)
                    #expect(doc["code_challenge_methods_supported"]?.arrayValue == [.string("S256")])
                }
            }
            try await client.execute(uri: "/\(Self.tenant)/.well-known/openid-configuration", method: .get) {
                (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["issuer"]?.stringValue == "http://127.0.0.1:7400/\(Self.tenant)/")
            }
            try await client.execute(uri: "/common/v2.0/.well-known/openid-configuration", method: .get) { (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["issuer"]?.stringValue == "http://127.0.0.1:7400/{tenantid}/v2.0")
            }
            try await client.execute(uri: "/fabrikam.com/v2.0/.well-known/openid-configuration", method: .get) {
                (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                let body = try Self.json(r.body)
                #expect(body["error"]?.stringValue == "invalid_tenant")
                #expect(body["error_codes"]?.arrayValue == [.number(90002)])
            }
        }
    }

    @Test("The JWKS publishes RSA keys with kid, x5t, x5c and the tenant's issuer")
    func jwks() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/\(Self.tenant)/discovery/v2.0/keys", method: .get) { (r: TestResponse) async throws in
                let key = try #require(try Self.json(r.body)["keys"]?.arrayValue?.first?.objectValue)
                #expect(key["kty"]?.stringValue == "RSA" && key["use"]?.stringValue == "sig")
                #expect(key["kid"] == key["x5t"] && key["kid"] != nil)
                #expect(key["x5c"]?.arrayValue?.count == 1)
                #expect(key["issuer"]?.stringValue == "http://127.0.0.1:7400/\(Self.tenant)/v2.0")
            }
        }
    }

    @Test("MSAL's instance discovery and user realm calls are answered")
    func msalHelpers() async throws {
        try await Self.withApp { client in
            try await client.execute(
                uri: "/common/discovery/instance?api-version=1.1&authorization_endpoint=http://127.0.0.1:7400/x/oauth2/v2.0/authorize",
                method: .get
            ) { (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["tenant_discovery_endpoint"] != nil)
            }
            try await client.execute(
                uri: "/common/discovery/instance?authorization_endpoint=https://login.example.org/x/oauth2/v2.0/authorize", method: .get
            ) { (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["error"]?.stringValue == "invalid_instance")
            }
            try await client.execute(uri: "/common/userrealm/bob@contoso.com?api-version=1.0", method: .get) {
                (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["account_type"]?.stringValue == "Managed")
            }
        }
    }

    @Test("A token response is JSON with Cache-Control no-store")
    func tokenSuccess() async throws {
        try await Self.withApp { client in
            let body = Self.form([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                ("scope", "https://database.windows.net//.default"),
            ])
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: Self.formHeaders, body: body) {
                (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(r.headers[.cacheControl]?.contains("no-store") == true)
                let json = try Self.json(r.body)
                #expect(json["token_type"]?.stringValue == "Bearer" && json["access_token"] != nil && json["ext_expires_in"] != nil)
            }
        }
    }

    @Test("Errors use Entra's body: AADSTS description with trace lines, integer codes, the caller's correlation id, no-store")
    func errorBody() async throws {
        try await Self.withApp { client in
            var headers = Self.formHeaders
            headers[HTTPField.Name("client-request-id")!] = "11111111-2222-3333-4444-555555555555"
            let body = Self.form([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", "wrong-secret-00000000"),
                ("scope", "https://database.windows.net//.default"),
            ])
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: headers, body: body) {
                (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
                #expect(r.headers[.cacheControl]?.contains("no-store") == true)
                let e = try Self.json(r.body)
                #expect(e["error"]?.stringValue == "invalid_client")
                #expect(e["error_codes"]?.arrayValue == [.number(7_000_215)])
                #expect(e["correlation_id"]?.stringValue == "11111111-2222-3333-4444-555555555555")
                let description = try #require(e["error_description"]?.stringValue)
                #expect(description.hasPrefix("AADSTS7000215: "))
                #expect(
                    description.contains(
                        "\r\nTrace ID: \(e["trace_id"]?.stringValue ?? "-")\r\nCorrelation ID: 11111111-2222-3333-4444-555555555555\r\nTimestamp: "
                    ))
                #expect(e["error_uri"]?.stringValue == "http://127.0.0.1:7400/error?code=7000215")
                #expect(r.headers[HTTPField.Name("x-ms-request-id")!] == e["trace_id"]?.stringValue)
            }
        }
    }

    @Test("Wrong method, wrong content type, oversize body and unknown paths get Entra errors, and the server keeps serving")
    func badRequests() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .get) { (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["error_codes"]?.arrayValue == [.number(900561)])
            }
            try await client.execute(
                uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: "{}")
            ) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try Self.json(r.body)["error_codes"]?.arrayValue == [.number(9_002_313)])
            }
            let big = ByteBuffer(string: "grant_type=client_credentials&pad=" + String(repeating: "a", count: 1 << 20 + 10))
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: Self.formHeaders, body: big) {
                (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try Self.json(r.body)["error_codes"]?.arrayValue == [.number(9_002_313)])
            }
            try await client.execute(
                uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: Self.formHeaders, body: ByteBuffer(string: "grant_type=%ZZ")
            ) { (r: TestResponse) async throws in
                #expect(try Self.json(r.body)["error_codes"]?.arrayValue == [.number(9_002_313)])
            }
            try await client.execute(uri: "/nowhere", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .notFound)
                #expect(try Self.json(r.body)["error_codes"]?.arrayValue == [.number(90056)])
            }
            try await client.execute(uri: "/contoso.com/v2.0/.well-known/openid-configuration", method: .get) {
                (r: TestResponse) async throws in #expect(r.status == .ok)
            }
        }
    }

    @Test("CORS on the token endpoint answers registered SPA origins only")
    func cors() async throws {
        try await Self.withApp { client in
            var headers = Self.formHeaders
            headers[.origin] = "http://127.0.0.1:7401"
            let body = Self.form([("grant_type", "refresh_token"), ("client_id", DemoTenant.app("spa").appId), ("refresh_token", "x")])
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: headers, body: body) {
                (r: TestResponse) async throws in
                #expect(r.headers[.accessControlAllowOrigin] == "http://127.0.0.1:7401")
            }
            headers[.origin] = "https://evil.example"
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: headers, body: body) {
                (r: TestResponse) async throws in
                #expect(r.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test("A browser signs in through the HTML form: cookies, redirect with code, no Secure flag over http, then SSO")
    func browserSignIn() async throws {
        try await Self.withApp { client in
            let cli = DemoTenant.app("cli")
            let alice = DemoTenant.user("alice")
            let challenge = Base64URL.encode(Array(repeating: UInt8(7), count: 32))
            let authorize =
                "/contoso.com/oauth2/v2.0/authorize?"
                + FormParameters([
                    ("client_id", cli.appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                    ("scope", "api://contoso-expenses-api/access_as_user"), ("state", "xyz"), ("code_challenge", challenge),
                    ("code_challenge_method", "S256"), ("login_hint", alice.upn),
                ]).encoded
            let page = try await client.execute(uri: authorize, method: .get) { $0 }
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("name=\"username\"") && html.contains("value=\"\(alice.upn)\""))
            let cookies = page.headers[values: .setCookie]
            #expect(
                cookies.contains {
                    $0.hasPrefix(InteractiveSignIn.bindingCookiePrefix) && !$0.contains("Secure") && $0.contains("HttpOnly")
                })
            func hidden(_ name: String) -> String {
                let marker = "name=\"\(name)\" value=\""
                let start = html.range(of: marker)!.upperBound
                return String(html[start...].prefix { $0 != "\"" })
            }
            let cookieHeader = cookies.map { String($0.split(separator: ";")[0]) }.joined(separator: "; ")
            var headers = Self.formHeaders
            headers[.cookie] = cookieHeader
            let post = Self.form([
                ("flow", hidden("flow")), ("csrf_token", hidden("csrf_token")), ("username", alice.upn), ("password", alice.password),
            ])
            let redirect = try await client.execute(uri: "/\(Self.tenant)/login", method: .post, headers: headers, body: post) { $0 }
            #expect(redirect.status == .found)
            let location = try #require(redirect.headers[.location])
            #expect(location.hasPrefix("http://localhost?code=") && location.contains("state=xyz"))
            let session = try #require(redirect.headers[values: .setCookie].first { $0.hasPrefix("deputy_session=") })
            // Second authorize with the session cookie: no page, straight back with a code.
            let silent = try await client.execute(
                uri: authorize, method: .get, headers: [.cookie: String(session.split(separator: ";")[0])]
            ) { $0 }
            #expect(silent.status == .found && silent.headers[.location]?.contains("code=") == true)
        }
    }

    @Test("form_post answers with an auto-submitting form to the redirect URI")
    func formPost() async throws {
        try await Self.withApp { client in
            let uri =
                "/contoso.com/oauth2/v2.0/authorize?"
                + FormParameters([
                    ("client_id", DemoTenant.app("cli").appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
                    ("scope", "api://nowhere/x"), ("response_mode", "form_post"), ("state", "abc"),
                ]).encoded
            try await client.execute(uri: uri, method: .get) { (r: TestResponse) async throws in
                let html = String(buffer: r.body)
                #expect(html.contains("action=\"http://localhost\""))
                #expect(html.contains("name=\"error\" value=\"invalid_resource\""))
                #expect(html.contains("name=\"state\" value=\"abc\""))
            }
        }
    }

    @Test("Device code endpoint and the verification page")
    func deviceCode() async throws {
        try await Self.withApp { client in
            let body = Self.form([("client_id", DemoTenant.app("cli").appId), ("scope", "api://contoso-expenses-api/access_as_user")])
            try await client.execute(uri: "/contoso.com/oauth2/v2.0/devicecode", method: .post, headers: Self.formHeaders, body: body) {
                (r: TestResponse) async throws in
                let j = try Self.json(r.body)
                #expect(j["verification_uri"]?.stringValue == "http://127.0.0.1:7400/devicelogin")
                #expect(j["message"]?.stringValue?.contains(j["user_code"]?.stringValue ?? "?") == true)
            }
            try await client.execute(uri: "/devicelogin", method: .get) { (r: TestResponse) async throws in
                #expect(String(buffer: r.body).contains("name=\"user_code\""))
            }
        }
    }
}

@Suite("Authorization server metadata for MCP clients")
struct AuthorizationServerMetadataTests {
    @Test("RFC 8414's inserted path and OpenID's inserted and appended forms answer the same document as Entra's path")
    func everyWellKnownFormAnswers() async throws {
        try await AuthorityRoutesTests.withApp { client in
            let entra = try await client.execute(uri: "/\(DemoTenant.tenantID)/v2.0/.well-known/openid-configuration", method: .get) {
                try AuthorityRoutesTests.json($0.body)
            }
            let issuer = try #require(entra["issuer"]?.stringValue)
            let path = try #require(URL(string: issuer)?.path)  // /{tenant id}/v2.0
            for uri in [
                "/.well-known/oauth-authorization-server\(path)", "/.well-known/openid-configuration\(path)",
                "\(path)/.well-known/oauth-authorization-server",
            ] {
                try await client.execute(uri: uri, method: .get) { r in
                    #expect(r.status == .ok, "\(uri)")
                    let document = try AuthorityRoutesTests.json(r.body)
                    #expect(document == entra, "\(uri)")
                }
            }
            try await client.execute(uri: "/.well-known/oauth-authorization-server/no-such-tenant.example/v2.0", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect(String(buffer: r.body).contains("AADSTS90002"))
            }
        }
    }
}

@Suite("v1 endpoints")
struct V1EndpointsTests {
    @Test("The v1 token endpoint takes resource= as Entra's v1 does, and v1 discovery names endpoints that answer")
    func v1Token() async throws {
        try await AuthorityRoutesTests.withApp { client in
            let reports = DemoTenant.app("reports")
            let v1 = try await client.execute(uri: "/contoso.com/.well-known/openid-configuration", method: .get) {
                try AuthorityRoutesTests.json($0.body)
            }
            let path = try #require(v1["token_endpoint"]?.stringValue.flatMap { URL(string: $0)?.path })
            let body = AuthorityRoutesTests.form([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                ("resource", "https://database.windows.net/"),
            ])
            try await client.execute(uri: path, method: .post, headers: AuthorityRoutesTests.formHeaders, body: body) { r in
                #expect(r.status == .ok)
                let token = try #require(try AuthorityRoutesTests.json(r.body)["access_token"]?.stringValue)
                #expect(try UnverifiedJWT(token).string("aud") == DemoTenant.app("dataApi").appId)
            }
        }
    }
}
