import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyTestSupport
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import MCP
import NIOCore
import NIOHTTP1
import Testing

@testable import DeputyMCP

/// A toolbox for the tests: `whoami` answers with the caller (after a pause, so concurrent calls
/// overlap), `step_up` needs a claims challenge, `fail` throws an ordinary error.
struct ProbeTools: MCPToolbox {
    var serverInfo: (name: String, version: String) { ("probe", "1.0") }
    var tools: [Tool] {
        [
            Tool(name: "whoami", description: "the caller", inputSchema: ["type": "object"]),
            Tool(name: "step_up", description: "always needs c1", inputSchema: ["type": "object"]),
            Tool(name: "blocked", description: "always blocked downstream", inputSchema: ["type": "object"]),
            Tool(name: "relayed", description: "always a relayed MFA challenge", inputSchema: ["type": "object"]),
            Tool(name: "unavailable", description: "the downstream is down", inputSchema: ["type": "object"]),
            Tool(name: "fail", description: "always fails", inputSchema: ["type": "object"]),
            Tool(name: "approve", description: "needs a scope the tokens lack", inputSchema: ["type": "object"]),
        ]
    }

    func requiredScopes(for tool: String) -> [String] { tool == "approve" ? ["access_as_user", "Approve.All"] : [] }

    struct Boom: Error, CustomStringConvertible { var description: String { "the tool broke" } }

    func call(_ name: String, arguments: [String: Value], context: MCPToolContext) async throws -> CallTool.Result {
        switch name {
        case "whoami":
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
            return CallTool.Result(content: [.text(text: context.principal.username ?? "?", annotations: nil, _meta: nil)])
        case "step_up":
            throw ResourceValidationError.insufficientClaims(claims: ResourceValidator.authenticationContextClaims("c1"))
        case "blocked":
            throw ChallengeRelay(outcome: .blocked(errorCodes: [53003], message: "AADSTS53003: blocked"))
        case "relayed":
            throw ChallengeRelay(
                outcome: .stepUp(
                    ClaimsChallenge(
                        claims: #"{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}"#,
                        authorizationURI: "https://login.example/t/oauth2/v2.0/authorize"), errorCodes: [50076]))
        case "unavailable":
            throw ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The Data API could not be reached.", retryAfter: nil))
        default:
            throw Boom()
        }
    }
}

/// A fixed bearer token.
struct StaticAuthorizer: MCPAuthorizer {
    let token: String
    func authorizationHeader(for endpoint: String) async throws -> String? { "Bearer \(token)" }
}

@Suite("MCP endpoint and client transport")
struct MCPEndpointTests {
    static func withEndpoint(_ body: @escaping @Sendable (LiveAuthority, String) async throws -> Void) async throws {
        try await LiveAuthority.run { live in
            let webApi = DemoTenant.app("webApi")
            var config = ResourceConfiguration(authority: live.tenantAuthority + "/v2.0", audiences: [webApi.appId, webApi.identifierUri!])
            config.requiredScopes = ["access_as_user"]
            let port = try freeLoopbackPort()
            let url = "http://127.0.0.1:\(port)/mcp"
            let router = Router(context: BearerRequestContext.self)
            router.addMCPEndpoint(
                ProbeTools(), validator: try ResourceValidator(config),
                configuration: MCPEndpointConfiguration(
                    resourceURL: url, authorizationServers: [live.tenantAuthority + "/v2.0"],
                    scopesSupported: ["api://contoso-expenses-api/access_as_user"], scopePrefix: "api://contoso-expenses-api"))
            try await serving(router, port: port) { try await body(live, url) }
        }
    }

    static func post(
        _ url: String, token: String?, _ json: String, method: HTTPMethod = .POST
    ) async throws -> (Int, [String: String], String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "Content-Type", value: "application/json")
        if method == .POST { request.body = .bytes(ByteBuffer(string: json)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for h in response.headers { headers[h.name.lowercased()] = h.value }
        return (Int(response.status.code), headers, String(buffer: body))
    }

    static func call(_ tool: String, id: Int = 1) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":{}}}"#
    }

    @Test("Two users' concurrent calls with the same JSON-RPC id each get their own answer (one server and transport per request)")
    func noCrossTalk() async throws {
        try await Self.withEndpoint { live, url in
            let alice = try await live.userToken("alice")
            let bob = try await live.userToken("bob")
            try await withThrowingTaskGroup(of: (String, String).self) { group in
                for round in 0..<20 {
                    let (user, token) = round.isMultiple(of: 2) ? ("alice@contoso.com", alice) : ("bob@contoso.com", bob)
                    group.addTask { (user, try await Self.post(url, token: token, Self.call("whoami", id: 7)).2) }
                }
                for try await (user, body) in group {
                    #expect(body.contains(user))
                }
            }
        }
    }

    @Test("A tool's claims challenge answers the HTTP request with 401 insufficient_claims, not a JSON-RPC error in a 200")
    func challengeIsHTTP() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("bob")
            let (status, headers, body) = try await Self.post(url, token: token, Self.call("step_up"))
            #expect(status == 401)
            let challenge = try #require(headers["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:)))
            #expect(challenge.claims == #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
            #expect(challenge.authorizationURI == live.tenantAuthority + "/oauth2/v2.0/authorize")
            #expect(!body.contains("jsonrpc"))
            let (blocked, blockedHeaders, blockedBody) = try await Self.post(url, token: token, Self.call("blocked"))
            #expect(blocked == 403 && blockedHeaders["www-authenticate"] == nil && blockedBody.contains("53003"))
            // A challenge relayed from downstream names this server's metadata too (MCP authorization).
            let (relayed, relayedHeaders, _) = try await Self.post(url, token: token, Self.call("relayed"))
            #expect(relayed == 401)
            let metadataURL = url.replacingOccurrences(of: "/mcp", with: "/.well-known/oauth-protected-resource/mcp")
            #expect(relayedHeaders["www-authenticate"]?.contains(#"resource_metadata="\#(metadataURL)""#) == true)
            #expect(relayedHeaders["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:))?.claims.contains("p1") == true)
            // The middle tier's own trouble is not the user's to fix: a tool error, in a 200.
            let (down, _, downBody) = try await Self.post(url, token: token, Self.call("unavailable"))
            #expect(down == 200 && downBody.contains(#""isError":true"#) && downBody.contains("could not be reached"))
            // An ordinary failure stays a tool error the model can read.
            let (ok, _, failed) = try await Self.post(url, token: token, Self.call("fail"))
            #expect(ok == 200 && failed.contains(#""isError":true"#) && failed.contains("the tool broke"))
        }
    }

    @Test("Without a token: 401 with resource_metadata; GET and DELETE are 405; the RFC 9728 document names the exact /mcp URL and issuer")
    func metadataAndMethods() async throws {
        try await Self.withEndpoint { live, url in
            let (status, headers, _) = try await Self.post(url, token: nil, Self.call("whoami"))
            #expect(status == 401)
            let metadataURL = url.replacingOccurrences(of: "/mcp", with: "/.well-known/oauth-protected-resource/mcp")
            #expect(
                headers["www-authenticate"]
                    == #"Bearer scope="api://contoso-expenses-api/access_as_user", resource_metadata="\#(metadataURL)""#)
            let token = try await live.userToken("bob")
            #expect(try await Self.post(url, token: token, "", method: .GET).0 == 405)
            #expect(try await Self.post(url, token: token, "", method: .DELETE).0 == 405)
            let (ok, _, document) = try await Self.post(metadataURL, token: nil, "", method: .GET)
            #expect(ok == 200)
            let o = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(document.utf8)).objectValue)
            #expect(o["resource"] == .string(url))
            #expect(o["authorization_servers"] == .array([.string(live.tenantAuthority + "/v2.0")]))
            #expect(o["scopes_supported"] == .array([.string("api://contoso-expenses-api/access_as_user")]))
            // The root well-known URL answers the same document (clients fall back to it).
            let root = url.replacingOccurrences(of: "/mcp", with: "/.well-known/oauth-protected-resource")
            let (rootStatus, _, rootDocument) = try await Self.post(root, token: nil, "", method: .GET)
            #expect(rootStatus == 200 && rootDocument == document)
        }
    }

    @Test("A tool that needs more scope answers 403 insufficient_scope with every scope it needs, and says so when step-up keeps failing")
    func scopeStepUp() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("bob")
            let metadataURL = url.replacingOccurrences(of: "/mcp", with: "/.well-known/oauth-protected-resource/mcp")
            let union = "api://contoso-expenses-api/access_as_user api://contoso-expenses-api/Approve.All"
            var descriptions: [String] = []
            for _ in 0..<3 {
                let (status, headers, body) = try await Self.post(url, token: token, Self.call("approve"))
                #expect(status == 403)
                let header = try #require(headers["www-authenticate"])
                #expect(header.hasPrefix(#"Bearer error="insufficient_scope", scope="\#(union)", resource_metadata="\#(metadataURL)""#))
                #expect(!body.contains("jsonrpc"))
                descriptions.append(header)
            }
            #expect(descriptions[0].contains("needs Approve.All as well") && descriptions[1].contains("needs Approve.All as well"))
            #expect(descriptions[2].contains("Stop retrying"))
            // Other callers and other tools are not affected.
            let alice = try await live.userToken("alice")
            #expect(try await Self.post(url, token: alice, Self.call("approve")).1["www-authenticate"]?.contains("as well") == true)
            #expect(try await Self.post(url, token: token, Self.call("whoami")).0 == 200)
        }
    }

    @Test("The SDK's Client over MCPHTTPClientTransport lists and calls tools, and a challenge reaches the caller with its header")
    func clientTransport() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("alice")
            let transport = MCPHTTPClientTransport(endpoint: url, authorizer: StaticAuthorizer(token: token))
            let client = Client(name: "test", version: "1")
            try await client.connect(transport: transport)
            #expect(
                try await client.listTools().tools.map(\.name) == [
                    "whoami", "step_up", "blocked", "relayed", "unavailable", "fail", "approve",
                ])
            let result = try await client.callTool(name: "whoami", arguments: [:])
            #expect(result.content == [.text(text: "alice@contoso.com", annotations: nil, _meta: nil)])
            do {
                _ = try await client.callTool(name: "step_up", arguments: [:])
                Issue.record("expected a challenge")
            } catch MCPHTTPClientError.challenge(let status, let header, _) {
                #expect(status == 401 && header?.contains("insufficient_claims") == true)
            }
            await client.disconnect()
        }
    }

    /// A 2026-07-28 request: the envelope in `_meta` and the routing headers.
    static func stateless(
        _ url: String, token: String, method: String, params: String = "{}", id: String = "1", version: String = "2026-07-28",
        headers: [String: String]? = nil, name: String? = nil
    ) async throws -> (Int, [String: String], JSONValue?) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "Content-Type", value: "application/json")
        for (k, v) in headers ?? ["MCP-Protocol-Version": version, "Mcp-Method": method] { request.headers.add(name: k, value: v) }
        if let name { request.headers.add(name: "Mcp-Name", value: name) }
        let meta = #""_meta":{"io.modelcontextprotocol/protocolVersion":"\#(version)","io.modelcontextprotocol/clientCapabilities":{}}"#
        let inner = params == "{}" ? "{\(meta)}" : String(params.dropLast()) + ",\(meta)}"
        let idPart = id.isEmpty ? "" : #""id":\#(id),"#
        request.body = .bytes(ByteBuffer(string: #"{"jsonrpc":"2.0",\#(idPart)"method":"\#(method)","params":\#(inner)}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for h in response.headers { fields[h.name.lowercased()] = h.value }
        return (Int(response.status.code), fields, try? JSONParser.parse(body.readableBytesView))
    }

    @Test("2026-07-28: server/discover, tools/list and tools/call answer without a handshake, with the envelope's fields")
    func statelessRevision() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("alice")
            let (status, _, discover) = try await Self.stateless(url, token: token, method: "server/discover")
            #expect(status == 200)
            let d = try #require(discover?.objectValue?["result"]?.objectValue)
            #expect(d["supportedVersions"] == .array([.string("2026-07-28")]))
            #expect(d["capabilities"]?.objectValue?["tools"] != nil)
            #expect(d["resultType"] == .string("complete"))
            #expect(d["_meta"]?.objectValue?["io.modelcontextprotocol/serverInfo"]?.objectValue?["name"] == .string("probe"))
            let (_, _, list) = try await Self.stateless(url, token: token, method: "tools/list")
            let tools = try #require(list?.objectValue?["result"]?.objectValue)
            #expect(tools["tools"]?.arrayValue?.count == 7 && tools["ttlMs"] != nil && tools["cacheScope"] == .string("public"))
            let (callStatus, callHeaders, call) = try await Self.stateless(
                url, token: token, method: "tools/call", params: #"{"name":"whoami","arguments":{}}"#, id: "\"x\"", name: "whoami")
            #expect(callStatus == 200 && callHeaders["mcp-session-id"] == nil)
            let result = try #require(call?.objectValue)
            #expect(result["id"] == .string("x"))
            #expect(result["result"]?.objectValue?["content"]?.arrayValue?.first?.objectValue?["text"] == .string("alice@contoso.com"))
            #expect(result["result"]?.objectValue?["resultType"] == .string("complete"))
            // A challenge is still the HTTP answer, in this revision too.
            let (challenged, challengeHeaders, _) = try await Self.stateless(
                url, token: token, method: "tools/call", params: #"{"name":"step_up"}"#, name: "step_up")
            #expect(challenged == 401 && challengeHeaders["www-authenticate"]?.contains("insufficient_claims") == true)
            let (scoped, scopeHeaders, _) = try await Self.stateless(
                url, token: token, method: "tools/call", params: #"{"name":"approve"}"#, name: "approve")
            #expect(scoped == 403 && scopeHeaders["www-authenticate"]?.contains(#"error="insufficient_scope""#) == true)
        }
    }

    @Test("2026-07-28: a bad envelope gets the revision's error codes and HTTP statuses; a notification is accepted")
    func statelessRefusals() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("bob")
            func code(_ answer: (Int, [String: String], JSONValue?)) -> (Int, Double?) {
                (answer.0, answer.2?.objectValue?["error"]?.objectValue?["code"]?.numberValue)
            }
            // Mcp-Method that is not the body's method; Mcp-Name that is not the tool.
            #expect(
                code(
                    try await Self.stateless(
                        url, token: token, method: "tools/list",
                        headers: ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"]))
                    == (400, -32020))
            #expect(
                code(try await Self.stateless(url, token: token, method: "tools/call", params: #"{"name":"whoami"}"#, name: "fail"))
                    == (400, -32020))
            // A version this server does not speak, in header and body alike: -32022 naming what it speaks.
            let unsupported = try await Self.stateless(url, token: token, method: "tools/list", version: "2099-01-01")
            #expect(code(unsupported) == (400, -32022))
            #expect(
                unsupported.2?.objectValue?["error"]?.objectValue?["data"]?.objectValue?["supported"] == .array([.string("2026-07-28")]))
            #expect(code(try await Self.stateless(url, token: token, method: "resources/list")) == (404, -32601))
            #expect(try await Self.stateless(url, token: token, method: "notifications/cancelled", id: "").0 == 202)
            // Without _meta's envelope keys: -32602.
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Accept", value: "application/json")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "MCP-Protocol-Version", value: "2026-07-28")
            request.headers.add(name: "Mcp-Method", value: "tools/list")
            request.body = .bytes(ByteBuffer(string: #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 16)
            #expect(response.status.code == 400 && String(buffer: body).contains("-32602"))
            // The DNS-rebinding check applies to this revision too.
            let rebound = try await Self.stateless(
                url, token: token, method: "tools/list",
                headers: ["MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "Origin": "https://attacker.example"])
            #expect(rebound.0 == 403)
        }
    }

    @Test("DNS-rebinding protection: a Host or Origin that is neither loopback nor the resource URL's is refused")
    func hostAndOrigin() async throws {
        try await Self.withEndpoint { live, url in
            let token = try await live.userToken("bob")
            func status(_ name: String, _ value: String) async throws -> UInt {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.headers.add(name: "Accept", value: "application/json, text/event-stream")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.replaceOrAdd(name: name, value: value)
                request.body = .bytes(ByteBuffer(string: Self.call("whoami")))
                return try await HTTPClient.shared.execute(request, timeout: .seconds(30)).status.code
            }
            #expect(try await status("Host", "attacker.example:80") == 421)
            #expect(try await status("Origin", "https://attacker.example") == 403)
            #expect(try await Self.post(url, token: token, Self.call("whoami")).0 == 200)
        }
    }

    @Test("Server-sent events: each event's data lines are joined; comments and other fields are ignored")
    func serverSentEvents() {
        let body = Array("event: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: keep-alive\n\nid: 2\ndata:{\"b\":2}\n".utf8)
        #expect(MCPHTTPClientTransport.serverSentEventData(body) == [Data("{\"a\":\n1}".utf8), Data("{\"b\":2}".utf8)])
    }
}
