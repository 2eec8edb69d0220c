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
