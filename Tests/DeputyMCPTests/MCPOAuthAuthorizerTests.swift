import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyTestSupport
import DeputyTokenValidation
import Foundation
import Hummingbird
import MCP
import NIOCore
import NIOHTTP1
import Testing

@testable import DeputyMCP

/// Two tools: `whoami` needs the baseline scope, `approve` also `Expenses.Approve` (step-up).
struct ApprovalTools: MCPToolbox {
    var serverInfo: (name: String, version: String) { ("approvals", "1.0") }
    var tools: [Tool] {
        [
            Tool(name: "whoami", description: "the caller", inputSchema: ["type": "object"]),
            Tool(name: "approve", description: "needs Expenses.Approve", inputSchema: ["type": "object"]),
        ]
    }
    func requiredScopes(for tool: String) -> [String] { tool == "approve" ? ["Expenses.ReadWrite", "Expenses.Approve"] : [] }
    func call(_ name: String, arguments: [String: Value], context: MCPToolContext) async throws -> CallTool.Result {
        CallTool.Result(content: [.text(text: "\(name) by \(context.principal.username ?? "?")", annotations: nil, _meta: nil)])
    }
}

/// A browser for the authority's pages over HTTP: it fills the sign-in form and follows the
/// redirect to the client's loopback listener, as a person's browser would.
actor PageBrowser {
    let user: DemoTenant.DemoUser
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
    var cookies: [String: String] = [:]
    private(set) var authorizeURLs: [String] = []

    init(user: DemoTenant.DemoUser) { self.user = user }

    func shutdown() async { try? await http.shutdown() }

    func get(_ url: String) async throws -> (Int, HTTPHeaders, String) { try await send(url, method: .GET, form: nil) }

    func send(_ url: String, method: HTTPMethod, form: [(String, String)]?) async throws -> (Int, HTTPHeaders, String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if !cookies.isEmpty { request.headers.add(name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")) }
        if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: FormParameters(form).encoded))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        for header in response.headers[canonicalForm: "set-cookie"] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
            if pair.count == 2 { cookies[String(pair[0])] = String(pair[1]) }
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers, String(buffer: body))
    }

    /// Signs in at `url` and follows redirects until the client's loopback listener answers.
    func signIn(_ url: String) async throws {
        authorizeURLs.append(url)
        let origin = url.components(separatedBy: "/").prefix(3).joined(separator: "/")
        var (status, headers, html) = try await get(url)
        for _ in 0..<5 {
            if status == 302, let location = headers.first(name: "Location") {
                (status, headers, html) = try await get(location)
                continue
            }
            guard status == 200, let action = Self.attribute("action", in: html) else { break }
            var form = ["flow", "csrf_token"].compactMap { name in Self.hidden(name, in: html).map { (name, $0) } }
            if html.contains("name=\"password\"") {
                form += [("username", user.upn), ("password", user.password)]
            } else if html.contains("name=\"decision\"") {
                form.append(("decision", "accept"))
            } else {
                return  // the loopback listener's own page
            }
            (status, headers, html) = try await send(origin + action, method: .POST, form: form)
        }
    }

    static func hidden(_ name: String, in html: String) -> String? {
        guard let start = html.range(of: "name=\"\(name)\" value=\"")?.upperBound else { return nil }
        return String(html[start...].prefix { $0 != "\"" })
    }

    static func attribute(_ name: String, in html: String) -> String? {
        guard let start = html.range(of: "\(name)=\"")?.upperBound else { return nil }
        return String(html[start...].prefix { $0 != "\"" }).replacingOccurrences(of: "&#x2F;", with: "/")
    }
}

@Suite("MCP client sign-in (authorization code, PKCE, loopback redirect)")
struct MCPOAuthAuthorizerTests {
    @Test(
        "A Swift MCP client signs a person in on the server's 401 and steps up on 403 insufficient_scope with the union of scopes",
        arguments: ["Entra mode", "spec mode"])
    func signInAndStepUp(_ mode: String) async throws {
        let port = try freeLoopbackPort()
        let url = "http://127.0.0.1:\(port)/mcp"
        // The MCP server's URL is one of its identifier URIs (RFC 8707 resource = the MCP URL).
        // In spec mode the authority also sends iss (checked by the client) and binds aud to the URL.
        try await LiveAuthority.run(edit: { dir in
            if let i = dir.applications.firstIndex(where: { $0.appId == DemoTenant.app("mcpServer").appId }) {
                dir.applications[i].identifierUris = (dir.applications[i].identifierUris ?? []) + [url]
            }
            dir.tenant.mcpSpec = mode == "spec mode"
        }) { live in
            let mcpApp = DemoTenant.app("mcpServer")
            var config = ResourceConfiguration(
                authority: live.tenantAuthority + "/v2.0", audiences: [mcpApp.appId, mcpApp.identifierUri!, url])
            config.requiredScopes = ["Expenses.ReadWrite"]
            let router = Router(context: BearerRequestContext.self)
            router.addMCPEndpoint(
                ApprovalTools(), validator: try ResourceValidator(config),
                configuration: MCPEndpointConfiguration(
                    resourceURL: url, authorizationServers: [live.tenantAuthority + "/v2.0"],
                    scopesSupported: ["api://contoso-expenses-mcp/Expenses.ReadWrite"], scopePrefix: "api://contoso-expenses-mcp"))
            let browser = PageBrowser(user: DemoTenant.user("bob"))
            let audience = mode == "spec mode" ? url : mcpApp.appId
            do { try await run(router, port: port, url: url, browser: browser, audience: audience) } catch {
                await browser.shutdown()
                throw error
            }
            await browser.shutdown()
        }
    }

    func run(_ router: Router<BearerRequestContext>, port: Int, url: String, browser: PageBrowser, audience: String) async throws {
        do {
            try await serving(router, port: port) {
                let authorizer = MCPOAuthAuthorizer(clientID: DemoTenant.app("mcpClient").appId) { try await browser.signIn($0) }
                let client = MCPToolClient(endpoint: url, authorizer: authorizer, profiles: MCPServerProfiles())
                let first = try await client.callTool(name: "whoami", arguments: [:])
                #expect(first.content == [.text(text: "whoami by bob@contoso.com", annotations: nil, _meta: nil)])
                var urls = await browser.authorizeURLs
                #expect(urls.count == 1)
                let signIn = try #require(URLComponents(string: urls[0])?.queryItems)
                func value(_ name: String) -> String? { signIn.first { $0.name == name }?.value }
                #expect(value("code_challenge_method") == "S256" && value("resource") == url)
                #expect(value("scope") == "api://contoso-expenses-mcp/Expenses.ReadWrite offline_access")
                #expect(value("redirect_uri")?.hasPrefix("http://127.0.0.1:") == true)
                #expect(await authorizer.grantedScopes == ["api://contoso-expenses-mcp/Expenses.ReadWrite"])
                let bearer = try #require(try await authorizer.authorizationHeader(for: url))
                #expect(try UnverifiedJWT(String(bearer.dropFirst("Bearer ".count))).string("aud") == audience)

                let approved = try await client.callTool(name: "approve", arguments: [:])
                #expect(approved.content == [.text(text: "approve by bob@contoso.com", annotations: nil, _meta: nil)])
                urls = await browser.authorizeURLs
                #expect(urls.count == 2)
                let stepUp = URLComponents(string: urls[1])?.queryItems?.first { $0.name == "scope" }?.value
                #expect(
                    stepUp == "api://contoso-expenses-mcp/Expenses.ReadWrite api://contoso-expenses-mcp/Expenses.Approve offline_access")
                // The token it holds now serves both tools without signing in again.
                _ = try await client.callTool(name: "whoami", arguments: [:])
                #expect(await browser.authorizeURLs.count == 2)
                await client.close()
            }
        }
    }

    @Test("A server that keeps refusing the same step-up is not signed into again and again")
    func boundedStepUp() async throws {
        let authorizer = MCPOAuthAuthorizer(clientID: "c") { _ in Issue.record("no sign-in expected") }
        let port = try freeLoopbackPort()
        let origin = "http://127.0.0.1:\(port)"
        let header =
            #"Bearer error="insufficient_scope", scope="a b", resource_metadata="\#(origin)/.well-known/oauth-protected-resource/mcp""#
        // A server with no metadata: each allowed attempt fails fast; the third is refused outright.
        try await serving(Router(), port: port) {
            for _ in 0..<2 {
                await #expect(throws: MCPOAuthError.self) {
                    _ = try await authorizer.handleChallenge(status: 403, wwwAuthenticate: header, endpoint: origin + "/mcp")
                }
            }
            let third = try await authorizer.handleChallenge(status: 403, wwwAuthenticate: header, endpoint: origin + "/mcp")
            #expect(third == false)
        }
        // Other answers are not the authorizer's to handle.
        #expect(
            try await authorizer.handleChallenge(status: 403, wwwAuthenticate: #"Bearer error="access_denied""#, endpoint: "x") == false)
    }
}
