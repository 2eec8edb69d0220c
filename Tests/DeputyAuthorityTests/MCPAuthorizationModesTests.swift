import Crypto
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

/// The authority as an MCP client meets it: Entra mode (the default, what Entra does) and MCP
/// spec mode (`mcpSpec: true`: what the MCP authorization specification 2026-07-28 asks of an
/// authorization server beyond Entra).
@Suite("MCP authorization modes")
struct MCPAuthorizationModesTests {
    static let mcpURL = "http://127.0.0.1:7404/mcp"
    static let approve = "api://contoso-expenses-mcp/Expenses.ReadWrite api://contoso-expenses-mcp/Expenses.Approve"
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier-of-enough-length"
    static var challenge: String { Base64URL.encode(SHA256.hash(data: Data(verifier.utf8))) }

    func pkce(method: String = "S256") -> [(String, String)] {
        [("code_challenge", method == "S256" ? Self.challenge : Self.verifier), ("code_challenge_method", method)]
    }

    func redeem(_ f: GrantsFixture, code: String, extra: [(String, String)] = []) async -> Result<TokenResponse, OAuthError> {
        await f.token(
            [
                ("grant_type", "authorization_code"), ("client_id", DemoTenant.app("mcpClient").appId), ("code", code),
                ("redirect_uri", "http://127.0.0.1:53682/callback"), ("code_verifier", Self.verifier),
            ] + extra)
    }

    func authorize(_ f: GrantsFixture, extra: [(String, String)]) async throws -> [String: String] {
        var browser = GrantsFixture.Browser()
        return try await f.signIn(
            clientID: DemoTenant.app("mcpClient").appId, redirectURI: "http://127.0.0.1:53682/callback", scope: Self.approve,
            user: DemoTenant.user("alice"), extra: extra, browser: &browser)
    }

    @Test("Entra mode: the RFC 8414 document is Entra's, without iss or client metadata documents, and no iss in the response")
    func entraModeMetadataAndResponse() async throws {
        let f = try await GrantsFixture.make()
        let doc = await f.authority.openIDConfiguration(tenantSegment: "contoso.com", tenantID: DemoTenant.tenantID, v2: true)
        #expect(doc["authorization_response_iss_parameter_supported"] == nil)
        #expect(doc["client_id_metadata_document_supported"] == nil)
        #expect(doc["code_challenge_methods_supported"] == .array([.string("S256")]))
        let answer = try await authorize(f, extra: pkce())
        #expect(answer["code"] != nil)
        #expect(answer["iss"] == nil)
        // Without PKCE a public client still gets a code, as from Entra.
        let plain = try await authorize(f, extra: [])
        #expect(plain["code"] != nil)
    }

    @Test("Entra mode: a resource naming another application is AADSTS9010010 with what Deputy saw and what to change")
    func entraModeResourceMismatch() async throws {
        let f = try await GrantsFixture.make()
        let answer = try await authorize(f, extra: pkce() + [("resource", "https://database.windows.net/")])
        #expect(answer["error"] == "invalid_target")
        #expect(answer["error_description"]?.contains("AADSTS9010010") == true)
        #expect(answer["error_description"]?.contains("resource 'https://database.windows.net/'") == true)
        #expect(answer["error_description"]?.contains("identifierUris") == true)
    }

    @Test("Entra mode: the MCP server's URL as resource is accepted when it is an identifier URI, and the audience stays the appId")
    func entraModeResourceMatches() async throws {
        let f = try await GrantsFixture.make()
        let answer = try await authorize(f, extra: pkce() + [("resource", Self.mcpURL)])
        let code = try #require(answer["code"])
        let token = try await redeem(f, code: code, extra: [("resource", Self.mcpURL)]).get()
        let claims = try await f.verifiedClaims(token.accessToken)
        #expect(claims["aud"] == .string(DemoTenant.app("mcpServer").appId))
        #expect(claims["scp"] == .string("Expenses.ReadWrite Expenses.Approve"))
    }

    @Test("Spec mode: the metadata says iss and client metadata documents are supported, and both answers carry iss")
    func specModeMetadataAndIssuer() async throws {
        let f = try await GrantsFixture.make(mcpSpec: true)
        let doc = await f.authority.openIDConfiguration(
            tenantSegment: "contoso.com", tenantID: DemoTenant.tenantID, v2: true, mcpSpec: true)
        #expect(doc["authorization_response_iss_parameter_supported"] == .bool(true))
        #expect(doc["client_id_metadata_document_supported"] == .bool(true))
        let issuer = "http://127.0.0.1:7400/\(DemoTenant.tenantID)/v2.0"
        #expect(doc["issuer"] == .string(issuer))
        let answer = try await authorize(f, extra: pkce())
        #expect(answer["code"] != nil)
        #expect(answer["iss"] == issuer)
        let refused = try await authorize(f, extra: pkce() + [("resource", "https://database.windows.net/")])
        #expect(refused["error"] == "invalid_target")
        #expect(refused["iss"] == issuer)
    }

    @Test("Spec mode: PKCE is required, and only S256")
    func specModeRequiresS256() async throws {
        let f = try await GrantsFixture.make(mcpSpec: true)
        let none = try await authorize(f, extra: [])
        #expect(none["error"] == "invalid_request")
        #expect(none["iss"] != nil)
        let plain = try await authorize(f, extra: pkce(method: "plain"))
        #expect(plain["error"] == "invalid_request")
        #expect(plain["error_description"]?.contains("S256") == true)
    }

    @Test("Spec mode: the resource indicator becomes the token's audience, on the code and on refresh")
    func specModeBindsAudience() async throws {
        let f = try await GrantsFixture.make(mcpSpec: true)
        let answer = try await authorize(f, extra: pkce() + [("resource", Self.mcpURL), ("scope", Self.approve + " offline_access")])
        let code = try #require(answer["code"])
        let token = try await redeem(f, code: code, extra: [("resource", Self.mcpURL)]).get()
        #expect(try await f.verifiedClaims(token.accessToken)["aud"] == .string(Self.mcpURL))
        let refresh = try #require(token.refreshToken)
        let renewed = try await f.success([
            ("grant_type", "refresh_token"), ("client_id", DemoTenant.app("mcpClient").appId), ("refresh_token", refresh),
            ("scope", Self.approve), ("resource", Self.mcpURL),
        ])
        #expect(try await f.verifiedClaims(renewed.accessToken)["aud"] == .string(Self.mcpURL))
        // Without an indicator the audience is the application's, as in Entra mode.
        let plain = try await f.success([
            ("grant_type", "refresh_token"), ("client_id", DemoTenant.app("mcpClient").appId),
            ("refresh_token", try #require(renewed.refreshToken)), ("scope", Self.approve),
        ])
        #expect(try await f.verifiedClaims(plain.accessToken)["aud"] == .string(DemoTenant.app("mcpServer").appId))
    }

    @Test("Spec mode: client credentials bind the audience to the resource indicator too")
    func specModeClientCredentials() async throws {
        let f = try await GrantsFixture.make(mcpSpec: true)
        let reports = DemoTenant.app("reports")
        let token = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "https://database.windows.net//.default"), ("resource", "https://database.windows.net/"),
        ])
        #expect(try await f.verifiedClaims(token.accessToken)["aud"] == .string("https://database.windows.net/"))
    }
}

/// A document server for the tests: the body and max-age per URL, and how often each was fetched.
final class StubMetadataFetcher: ClientMetadataFetching, Sendable {
    let documents: [String: (String, TimeInterval?)]
    let fetches = LockedBox<[String: Int]>([:])

    init(_ documents: [String: (String, TimeInterval?)]) { self.documents = documents }

    struct NotFound: Error {}

    func fetch(_ url: String, limit: Int, timeout: TimeInterval) async throws -> (body: [UInt8], maxAge: TimeInterval?) {
        fetches.withLock { $0[url, default: 0] += 1 }
        guard let (body, age) = documents[url] else { throw NotFound() }
        return (Array(body.utf8), age)
    }
}

@Suite("Client ID Metadata Documents (MCP spec mode)")
struct ClientMetadataDocumentTests {
    static let url = "https://client.example/oauth/metadata.json"
    static let redirect = "http://127.0.0.1:53682/callback"
    static func document(clientID: String = url, redirects: [String] = ["http://127.0.0.1/callback"], extra: String = "") -> String {
        let uris = redirects.map { "\"\($0)\"" }.joined(separator: ",")
        return
            #"{"client_id":"\#(clientID)","client_name":"Example MCP client","redirect_uris":[\#(uris)],"token_endpoint_auth_method":"none"\#(extra)}"#
    }

    static func fixture(mcpSpec: Bool = true, _ fetcher: StubMetadataFetcher) async throws -> GrantsFixture {
        try await GrantsFixture.make(mcpSpec: mcpSpec, configure: { $0.clientMetadataFetcher = fetcher })
    }

    func authorize(_ f: GrantsFixture, clientID: String = url, redirect: String = redirect) async -> InteractiveResult {
        await InteractiveSignIn(authority: f.authority).authorize(
            BrowserRequest(
                tenantSegment: "contoso.com",
                parameters: FormParameters([
                    ("client_id", clientID), ("redirect_uri", redirect), ("response_type", "code"),
                    ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"), ("code_challenge", MCPAuthorizationModesTests.challenge),
                    ("code_challenge_method", "S256"),
                ]), cookies: [:], correlationID: "c", ipAddress: nil))
    }

    @Test("A document's client signs a user in: its redirect URIs bind the request, and the token's azp is the document's URL")
    func signsIn() async throws {
        let fetcher = StubMetadataFetcher([Self.url: (Self.document(), 600)])
        let f = try await Self.fixture(fetcher)
        var browser = GrantsFixture.Browser()
        let answer = try await f.signIn(
            clientID: Self.url, redirectURI: Self.redirect, scope: "api://contoso-expenses-mcp/Expenses.ReadWrite",
            user: DemoTenant.user("alice"),
            extra: [("code_challenge", MCPAuthorizationModesTests.challenge), ("code_challenge_method", "S256")], browser: &browser,
            consent: true)
        let code = try #require(answer["code"])
        #expect(answer["iss"] != nil)
        let token = try await f.success([
            ("grant_type", "authorization_code"), ("client_id", Self.url), ("code", code), ("redirect_uri", Self.redirect),
            ("code_verifier", MCPAuthorizationModesTests.verifier),
        ])
        let claims = try await f.verifiedClaims(token.accessToken)
        #expect(claims["azp"] == .string(Self.url))
        #expect(claims["aud"] == .string(DemoTenant.app("mcpServer").appId))
        // The sign-in log names the client by its document's client_name.
        let log = try await f.authority.store.recentSignIns(limit: 10)
        #expect(log.contains { $0.appId == Self.url && $0.appDisplayName == "Example MCP client" })
        // Cached for its max-age: the second request does not fetch again.
        _ = await authorize(f)
        #expect(fetcher.fetches.withLock { $0[Self.url] } == 1)
    }

    @Test("A redirect URI the document does not list is refused on an error page, never redirected to")
    func redirectBinds() async throws {
        let f = try await Self.fixture(StubMetadataFetcher([Self.url: (Self.document(), nil)]))
        guard case .error(let e) = await authorize(f, redirect: "https://attacker.example/callback") else {
            Issue.record("expected an error page")
            return
        }
        #expect(e.aadsts == 50011)
    }

    @Test(
        "A document is refused with the reason when its client_id is not its URL, it lacks a name or redirect URIs, or it is a confidential client",
        arguments: [
            (#"{"client_id":"https://other.example/m.json","client_name":"x","redirect_uris":["http://127.0.0.1/callback"]}"#, "client_id"),
            (#"{"client_id":"https://client.example/oauth/metadata.json","redirect_uris":["http://127.0.0.1/callback"]}"#, "client_name"),
            (#"{"client_id":"https://client.example/oauth/metadata.json","client_name":"x","redirect_uris":[]}"#, "redirect_uris"),
            (
                #"{"client_id":"https://client.example/oauth/metadata.json","client_name":"x","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"private_key_jwt"}"#,
                "public clients"
            ),
            (
                #"{"client_id":"https://client.example/oauth/metadata.json","client_name":"x","redirect_uris":["javascript:alert(1)"]}"#,
                "redirect URI"
            ),
            ("not json", "JSON object"),
        ])
    func invalidDocuments(_ body: String, _ reason: String) async throws {
        let f = try await Self.fixture(StubMetadataFetcher([Self.url: (body, nil)]))
        guard case .error(let e) = await authorize(f) else {
            Issue.record("expected an error page")
            return
        }
        #expect(e.aadsts == 700016 && e.shortDescription.contains(reason), "\(e.shortDescription)")
    }

    @Test("In Entra mode, and for plain http that is not loopback, a URL client id is an unknown client and nothing is fetched")
    func notFetched() async throws {
        let entra = StubMetadataFetcher([Self.url: (Self.document(), nil)])
        let f = try await Self.fixture(mcpSpec: false, entra)
        guard case .error(let e) = await authorize(f) else {
            Issue.record("expected an error page")
            return
        }
        #expect(e.aadsts == 700016 && !e.shortDescription.contains("metadata document"))
        #expect(entra.fetches.withLock { $0.isEmpty })
        let plain = "http://client.example/oauth/metadata.json"
        let spec = StubMetadataFetcher([plain: (Self.document(clientID: plain), nil)])
        let g = try await Self.fixture(spec)
        _ = await authorize(g, clientID: plain)
        #expect(spec.fetches.withLock { $0.isEmpty })
    }
}
