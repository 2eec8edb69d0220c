import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyMCP
import DeputySamples
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

/// The agent's chain over loopback HTTP — the SPA's token → agent → OBO → MCP server → OBO →
/// Data API — with the demo tenant's Conditional Access enforced and demo-mode chain reports on.
@Suite("chain: SPA → agent → MCP server → Data API")
struct AgentChainTests {
    struct Chain: Sendable {
        let live: LiveAuthority
        let agent: String
        let mcp: String
        let data: String
        let store: ExpenseStore
    }

    /// The authority, the Data API, the MCP server and the agent, each on its own port.
    static func withChain(
        edit: (@Sendable (inout TenantDirectory) -> Void)? = nil, planner: any AgentPlanner = BuiltInPlanner(),
        continuousAccess: Bool = false, time: any TimeSource = SystemTimeSource(), _ body: @escaping @Sendable (Chain) async throws -> Void
    ) async throws {
        try await LiveAuthority.run(conditionalAccess: true, edit: edit, time: time) { live in
            let issuer = live.tenantAuthority + "/v2.0"
            let dataApi = DemoTenant.app("dataApi")
            let mcpApp = DemoTenant.app("mcpServer")
            let agentApp = DemoTenant.app("agent")
            let store = try ExpenseStore()
            try store.seedIfEmpty(DataAPI.demoExpenses(now: Date()))
            let dataRouter = DemoChain.serviceRouter(role: "dataApi", name: "Contoso SQL", browserOrigin: nil, demoMode: true)
            // With continuous access evaluation, the resources read the authority's event feed before every decision.
            func cae(_ app: DemoTenant.DemoApp) -> ContinuousAccessConfiguration? {
                continuousAccess
                    ? ContinuousAccessConfiguration(authority: issuer, clientID: app.appId, clientSecret: app.secret!, maxDelay: 0) : nil
            }
            var dataConfiguration = DataAPI.configuration(authority: issuer, appID: dataApi.appId, appIDURI: dataApi.identifierUri!)
            dataConfiguration.continuousAccess = cae(dataApi)
            DataAPI(
                validator: try ResourceValidator(dataConfiguration),
                reportValidator: try ResourceValidator(
                    DataAPI.reportConfiguration(authority: issuer, appID: dataApi.appId, appIDURI: dataApi.identifierUri!)),
                store: store, managers: [DemoTenant.user("alice").id: DemoTenant.user("bob").id]
            ).addRoutes(to: dataRouter)
            let dataPort = try freeLoopbackPort()
            let mcpPort = try freeLoopbackPort()
            let agentPort = try freeLoopbackPort()
            let data = "http://127.0.0.1:\(dataPort)"
            let mcp = "http://127.0.0.1:\(mcpPort)/mcp"
            let agent = "http://127.0.0.1:\(agentPort)"

            let mcpRouter = DemoChain.serviceRouter(role: "mcpServer", name: mcpApp.displayName, browserOrigin: nil, demoMode: true)
            try ExpenseTools.addEndpoint(
                to: mcpRouter, issuer: issuer, appID: mcpApp.appId, appIDURIs: [mcpApp.identifierUri!], resourceURL: mcp,
                obo: ConfidentialClient(
                    authority: live.tenantAuthority, clientID: mcpApp.appId, credential: .secret(mcpApp.secret!),
                    clientCapabilities: continuousAccess ? ["cp1"] : []),
                dataAPI: data, continuousAccess: cae(mcpApp))

            let agentRouter = DemoChain.serviceRouter(role: "agent", name: agentApp.displayName, browserOrigin: nil, demoMode: true)
            // The agent is an agent identity: users sign in for its blueprint; its blueprint's secret gets its credential.
            let blueprint = DemoTenant.app("agentBlueprint")
            Agent(
                validator: try ResourceValidator(
                    Agent.configuration(authority: issuer, appID: blueprint.appId, appIDURI: blueprint.identifierUri!)),
                obo: DemoChain.agentClient(authority: live.tenantAuthority), mcpEndpoint: mcp, planner: planner,
                reports: (dataAPI: data, scopes: ["https://database.windows.net//.default"])
            ).addRoutes(to: agentRouter)

            try await serving(dataRouter, port: dataPort) {
                try await serving(mcpRouter, port: mcpPort) {
                    try await serving(agentRouter, port: agentPort) {
                        try await body(Chain(live: live, agent: agent, mcp: mcp, data: data, store: store))
                    }
                }
            }
        }
    }

    struct Answer {
        let status: Int
        let headers: [String: String]
        let body: String
        var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) }
        var chain: TokenChainReport? { headers["deputy-token-chain"].flatMap(TokenChainReport.init(headerValue:)) }
    }

    static func send(
        _ url: String, method: HTTPMethod = .POST, token: String?, body: String?, correlation: String,
        headers extra: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "client-request-id", value: correlation)
        for (n, v) in extra { request.headers.add(name: n, value: v) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for h in response.headers { headers[h.name.lowercased()] = h.value }
        return Answer(status: Int(response.status.code), headers: headers, body: String(buffer: data))
    }

    static func chat(_ chain: Chain, _ message: String, token: String, correlation: String) async throws -> Answer {
        try await send(
            chain.agent + "/chat", token: token,
            body: String(decoding: JSONValue.object(["message": .string(message)]).serialized, as: UTF8.self),
            correlation: correlation)
    }

    static let agentScope = "api://contoso-expense-agent/access_as_user"

    @Test(
        "Scenario 2: the Data API's MFA challenge crosses two middle tiers to the caller; after MFA the same message lists the expenses, and the log shows both"
    )
    func stepUpThroughTheAgent() async throws {
        try await Self.withChain { chain in
            let alice = DemoTenant.user("alice")
            let weak = try await chain.live.userToken("alice", scope: Self.agentScope)
            let refused = try await Self.chat(chain, "list my expenses", token: weak, correlation: "scenario-2-a")
            #expect(refused.status == 401)
            let challenge = try #require(refused.headers["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:)))
            #expect(challenge.claims == SignInDriver.mfaChallenge && challenge.error == "insufficient_claims")
            #expect(challenge.authorizationURI == chain.live.tenantAuthority + "/oauth2/v2.0/authorize")

            let strong = try await SignInDriver.token(
                authority: chain.live.authority, user: alice, scope: Self.agentScope, claims: challenge.claims)
            let answer = try await Self.chat(chain, "list my expenses", token: strong, correlation: "scenario-2-b")
            #expect(answer.status == 200)
            let o = try #require(answer.json?.objectValue)
            #expect(o["reply"]?.stringValue?.hasPrefix("You can see 3 expenses") == true)
            let call = try #require(o["toolCalls"]?.arrayValue?.first?.objectValue)
            #expect(call["tool"]?.stringValue == "list_expenses" && call["isError"] == .bool(false))

            // Each hop saw a fresh token for itself, minted for the hop before it: nothing passed through.
            let hops = try #require(answer.chain).hops
            #expect(hops.map(\.service) == ["agent", "mcpServer", "dataApi"])
            #expect(
                hops.map(\.aud) == [
                    DemoTenant.app("agentBlueprint").appId, DemoTenant.app("mcpServer").appId, DemoTenant.app("dataApi").appId,
                ])
            #expect(hops.map(\.azp) == [DemoTenant.app("cli").appId, DemoTenant.app("agent").appId, DemoTenant.app("mcpServer").appId])
            #expect(hops.allSatisfy { $0.oid == alice.id && $0.amr?.contains("mfa") == true })
            #expect(answer.chain?.correlationId == "scenario-2-b")

            let log = try await chain.live.authority.store.recentSignIns(limit: 200)
            let failed = try #require(log.first { $0.correlationId == "scenario-2-a" && $0.appId == DemoTenant.app("mcpServer").appId })
            #expect(failed.status.errorCode == 50076 && failed.resourceId == DemoTenant.app("dataApi").appId && failed.userId == alice.id)
            let agentHop = try #require(log.first { $0.correlationId == "scenario-2-b" && $0.appId == DemoTenant.app("agent").appId })
            #expect(agentHop.status.errorCode == 0 && agentHop.resourceId == DemoTenant.app("mcpServer").appId)
            let mcpHop = try #require(log.first { $0.correlationId == "scenario-2-b" && $0.appId == DemoTenant.app("mcpServer").appId })
            #expect(mcpHop.status.errorCode == 0 && mcpHop.conditionalAccessStatus == "success")
        }
    }

    @Test("Scenario 3: approve_expense demands the c1 authentication context; bob steps up, the approval succeeds and the row changes")
    func approvalNeedsAuthenticationContext() async throws {
        try await Self.withChain { chain in
            let bob = DemoTenant.user("bob")
            let pending = try #require(
                try chain.store.visible(to: bob.id).first { $0.ownerOid == DemoTenant.user("alice").id && $0.status == "submitted" })
            let id = try #require(pending.id)
            let weak = try await chain.live.userToken("bob", scope: Self.agentScope)
            let refused = try await Self.chat(chain, "approve expense \(id)", token: weak, correlation: "scenario-3-a")
            #expect(refused.status == 401)
            let challenge = try #require(refused.headers["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:)))
            #expect(challenge.claims == #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
            #expect(try chain.store.expense(id, visibleTo: bob.id)?.status == "submitted")

            let stepped = try await SignInDriver.token(
                authority: chain.live.authority, user: bob, scope: Self.agentScope, claims: challenge.claims)
            #expect(try UnverifiedJWT(stepped).claims["acrs"] == .array([.string("c1")]))
            let answer = try await Self.chat(chain, "approve expense #\(id)", token: stepped, correlation: "scenario-3-b")
            #expect(answer.status == 200)
            #expect(answer.json?.objectValue?["reply"]?.stringValue?.hasPrefix("Approved: #\(id)") == true)
            let row = try #require(try chain.store.expense(id, visibleTo: bob.id))
            #expect(row.status == "approved" && row.approvedAt != nil)
            // The MCP server saw c1 in its own (OBO) token: acrs travels with the user's authentication.
            #expect(answer.chain?.hops.first { $0.service == "mcpServer" }?.acrs == ["c1"])
        }
    }

    @Test("Scenario 4: a guest is blocked by Conditional Access for the MCP server; the caller gets 403 with AADSTS53003 and no challenge")
    func guestBlocked() async throws {
        try await Self.withChain { chain in
            let eve = try await chain.live.userToken("eve", scope: Self.agentScope)
            let answer = try await Self.chat(chain, "list my expenses", token: eve, correlation: "scenario-4")
            #expect(answer.status == 403)
            #expect(answer.headers["www-authenticate"] == nil)
            #expect(answer.json?.objectValue?["error"]?.stringValue == "access_blocked")
            #expect(answer.json?.objectValue?["error_codes"] == .array([.number(53003)]))
            let log = try await chain.live.authority.store.recentSignIns(limit: 200)
            let blocked = try #require(log.first { $0.correlationId == "scenario-4" && $0.appId == DemoTenant.app("agent").appId })
            #expect(blocked.status.errorCode == 53003 && blocked.resourceId == DemoTenant.app("mcpServer").appId)
        }
    }

    @Test(
        "A block met one hop further down (guests blocked from the Data API only) reaches the caller as the same 403 across both middle tiers"
    )
    func blockRelayedAcrossHops() async throws {
        let blockGuests = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e03"
        try await Self.withChain(edit: { directory in
            directory.conditionalAccessPolicies = directory.conditionalAccessPolicies.map { policy in
                guard case .object(var p) = policy, p["id"]?.stringValue == blockGuests,
                    case .object(var conditions)? = p["conditions"], case .object(var apps)? = conditions["applications"]
                else { return policy }
                apps["includeApplications"] = .array([.string(DemoTenant.app("dataApi").appId)])
                conditions["applications"] = .object(apps)
                p["conditions"] = .object(conditions)
                return .object(p)
            }
        }) { chain in
            let eve = try await chain.live.userToken("eve", scope: Self.agentScope)
            let answer = try await Self.chat(chain, "list my expenses", token: eve, correlation: "block-two-hops")
            #expect(answer.status == 403 && answer.headers["www-authenticate"] == nil)
            #expect(answer.json?.objectValue?["error"]?.stringValue == "access_blocked")
            #expect(answer.json?.objectValue?["error_codes"] == .array([.number(53003)]))
            let log = try await chain.live.authority.store.recentSignIns(limit: 200).filter { $0.correlationId == "block-two-hops" }
            // The agent's OBO for the MCP server went through; the MCP server's for the Data API was blocked.
            #expect(log.contains { $0.appId == DemoTenant.app("agent").appId && $0.status.errorCode == 0 })
            #expect(log.contains { $0.appId == DemoTenant.app("mcpServer").appId && $0.status.errorCode == 53003 })
        }
    }

    @Test("Scenario 5: a token minted for the agent is refused by the MCP server and by the Data API (no passthrough)")
    func noPassthrough() async throws {
        try await Self.withChain { chain in
            let token = try await chain.live.userToken("bob", scope: Self.agentScope)
            let list = #"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#
            let mcp = try await Self.send(
                chain.mcp, token: token, body: list, correlation: "scenario-5-mcp",
                headers: [("Accept", "application/json, text/event-stream")])
            #expect(mcp.status == 401)
            #expect(mcp.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)
            #expect(mcp.headers["www-authenticate"]?.contains("resource_metadata=") == true)
            let data = try await Self.send(chain.data + "/expenses", method: .GET, token: token, body: nil, correlation: "scenario-5-data")
            #expect(data.status == 401)
            #expect(data.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)
            // The demo-mode report shows the refused hop as refused.
            #expect(data.chain?.hops.first?.status == 401 && data.chain?.hops.first?.aud == DemoTenant.app("agentBlueprint").appId)
        }
    }

    @Test("Scenario 7: the report-only policy is logged as reportOnly… on every hop and changes nothing")
    func reportOnlyPolicy() async throws {
        try await Self.withChain { chain in
            let alice = DemoTenant.user("alice")
            let strong = try await SignInDriver.token(authority: chain.live.authority, user: alice, scope: Self.agentScope)
            let answer = try await Self.chat(chain, "list my expenses", token: strong, correlation: "scenario-7")
            #expect(answer.status == 200)
            let weak = try await chain.live.userToken("bob", scope: Self.agentScope)
            let hello = try await Self.chat(chain, "what can you do?", token: weak, correlation: "scenario-7-b")
            #expect(hello.status == 200 && hello.json?.objectValue?["reply"]?.stringValue == BuiltInPlanner.help)

            let reportOnly = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e04"
            let log = try await chain.live.authority.store.recentSignIns(limit: 200).filter { $0.correlationId == "scenario-7" }
            #expect(log.count == 2)  // the agent's OBO and the MCP server's OBO
            for record in log {
                #expect(record.status.errorCode == 0)
                let policy = try #require(record.appliedConditionalAccessPolicies.first { $0.id == reportOnly })
                #expect(policy.result.hasPrefix("reportOnly"))
            }
            // bob's password-only sign-in would have been interrupted by the report-only MFA policy — and still got his token.
            let ropc = try await chain.live.authority.store.recentSignIns(limit: 200).first {
                $0.correlationId == "setup" && $0.userId == DemoTenant.user("bob").id && $0.status.errorCode == 0
            }
            #expect(ropc?.appliedConditionalAccessPolicies.first { $0.id == reportOnly }?.result == "reportOnlyInterrupted")
        }
    }

    @Test("A message the planner does not understand costs no token: the agent answers with what it can do")
    func helpCostsNoToken() async throws {
        try await Self.withChain { chain in
            let token = try await chain.live.userToken("bob", scope: Self.agentScope)
            let answer = try await Self.chat(chain, "tell me a joke", token: token, correlation: "help")
            #expect(answer.status == 200 && answer.json?.objectValue?["toolCalls"] == .array([]))
            #expect(try await chain.live.tokenRequests(client: DemoTenant.app("agent").appId) == 0)
            #expect(try await chain.live.tokenRequests(client: DemoTenant.app("agentBlueprint").appId) == 0)
            let bad = try await Self.send(chain.agent + "/chat", token: token, body: #"{"text": 1}"#, correlation: "bad")
            #expect(bad.status == 400 && bad.body.contains("invalid_request"))
        }
    }

    /// A model for the chat-completions planner that plans from the conversation alone (so a
    /// retried message is planned again from scratch): submit, then approve `approve`, then reply.
    static func withScriptedModel(approve: Int64, _ body: @escaping @Sendable (ChatCompletionsPlanner) async throws -> Void) async throws {
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            var r = request
            let json = try JSONParser.parse(try await r.collectBody(upTo: 1 << 20).readableBytesView)
            let toolResults = json.objectValue?["messages"]?.arrayValue?.filter { $0.objectValue?["role"] == .string("tool") }.count ?? 0
            func call(_ name: String, _ arguments: String) -> JSONValue {
                .object([
                    "role": .string("assistant"), "content": .null,
                    "tool_calls": .array([
                        .object([
                            "id": .string("call_\(toolResults)"), "type": .string("function"),
                            "function": .object(["name": .string(name), "arguments": .string(arguments)]),
                        ])
                    ]),
                ])
            }
            let message: JSONValue =
                switch toolResults {
                case 0: call("submit_expense", #"{"amount": 12.5, "description": "Taxi to the station"}"#)
                case 1: call("approve_expense", #"{"id": \#(approve)}"#)
                default: .object(["role": .string("assistant"), "content": .string("Submitted and approved.")])
                }
            let answer: JSONValue = .object(["choices": .array([.object(["index": .number(0), "message": message])])])
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: answer.serialized)))
        }
        let port = try freeLoopbackPort()
        try await serving(router, port: port) {
            try await body(ChatCompletionsPlanner(endpoint: "http://127.0.0.1:\(port)/v1", model: "scripted"))
        }
    }

    @Test(
        "After a step-up the agent resumes the interrupted call: the expense submitted before the challenge is not submitted twice",
        arguments: ["built-in", "chat-completions"])
    func resumeAfterStepUp(_ plannerKind: String) async throws {
        let bob = DemoTenant.user("bob")
        let alice = DemoTenant.user("alice")
        // Alice's submitted expense that bob approves; the demo seed has one (the same in every store).
        let seeded = DataAPI.demoExpenses(now: Date())
        let approveIndex = try #require(seeded.firstIndex { $0.ownerOid == alice.id && $0.status == "submitted" })
        let approve = Int64(approveIndex + 1)
        @Sendable func run(_ planner: any AgentPlanner) async throws {
            try await Self.withChain(planner: planner) { chain in
                #expect(try chain.store.expense(approve, visibleTo: bob.id)?.status == "submitted")
                let before = try chain.store.visible(to: bob.id).filter { $0.ownerOid == bob.id }.count
                let message = "submit an expense of 12.50 for Taxi to the station, then approve expense \(approve)"
                // bob has MFA (the Data API's policy) but not the c1 context approving needs.
                let signedIn = try await SignInDriver.response(authority: chain.live.authority, user: bob, scope: Self.agentScope)
                let mfa = signedIn.accessToken
                let refused = try await Self.chat(chain, message, token: mfa, correlation: "resume-a")
                #expect(refused.status == 401)
                let resume = try #require(refused.json?.objectValue?["resume"]?.stringValue)
                let challenge = try #require(refused.headers["www-authenticate"].flatMap(ClaimsChallenge.init(wwwAuthenticate:)))
                #expect(try chain.store.visible(to: bob.id).filter { $0.ownerOid == bob.id }.count == before + 1)

                // The session's MFA satisfies c1's policy: the refresh token with the claims request gets c1
                // (a second TOTP in the same 30-second step would be refused as a replay).
                let stepped = try await chain.live.authority.token(
                    TokenRequest(
                        tenantSegment: "contoso.com",
                        form: FormParameters([
                            ("grant_type", "refresh_token"), ("client_id", DemoTenant.app("cli").appId),
                            ("refresh_token", try #require(signedIn.refreshToken)), ("scope", Self.agentScope),
                            ("claims", challenge.claims),
                        ]), correlationID: "resume-step-up")
                ).get().accessToken
                #expect(try UnverifiedJWT(stepped).claims["acrs"] == .array([.string("c1")]))
                @Sendable func retry(_ resume: String?) async throws -> Answer {
                    var body: [String: JSONValue] = ["message": .string(message)]
                    if let resume { body["resume"] = .string(resume) }
                    return try await Self.send(
                        chain.agent + "/chat", token: stepped, body: String(decoding: JSONValue.object(body).serialized, as: UTF8.self),
                        correlation: "resume-b")
                }
                let answer = try await retry(resume)
                #expect(answer.status == 200)
                let calls = answer.json?.objectValue?["toolCalls"]?.arrayValue?.compactMap { $0.objectValue?["tool"]?.stringValue }
                #expect(calls == ["submit_expense", "approve_expense"])
                #expect(try chain.store.visible(to: bob.id).filter { $0.ownerOid == bob.id }.count == before + 1, "submitted once")
                #expect(try chain.store.expense(approve, visibleTo: bob.id)?.status == "approved")
                // The record is used once: the same id again resumes nothing (the message runs anew).
                let again = try await retry(resume)
                #expect(again.status == 200)
                #expect(try chain.store.visible(to: bob.id).filter { $0.ownerOid == bob.id }.count == before + 2)
            }
        }
        if plannerKind == "built-in" {
            try await run(BuiltInPlanner())
        } else {
            try await Self.withScriptedModel(approve: approve) { try await run($0) }
        }
    }
}
