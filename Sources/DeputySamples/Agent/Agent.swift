import AsyncHTTPClient
import DeputyCore
import DeputyHummingbird
import DeputyMCP
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCP
import NIOCore
import NIOHTTP1

/// The assistive agent, the new middle tier: `POST /chat {"message": "…"}` for a user signed in
/// to the SPA. A planner turns the message into MCP tool calls; the MCP client reaches the MCP
/// server with the agent's own token, got by On-Behalf-Of with the user's token as the assertion.
/// What the agent cannot satisfy — a claims challenge from its OBO or from the MCP server (which
/// may itself be relaying the Data API's), missing consent, a block — goes back to the SPA.
///
/// The agent is a Microsoft Entra Agent ID agent identity: users sign in for its blueprint's API,
/// and its ``ConfidentialClient`` authenticates with the token the blueprint gets for it
/// (``AgentIdentityCredential``) — the same OBO as the Web API's, a different middle actor.
///
/// A destructive tool call (the MCP server marks it `destructiveHint`) is never made on the
/// planner's word alone: the agent answers with a `confirmation` for the SPA to show, and makes
/// the call only when the next request's `confirm` object names exactly that call — which only the
/// SPA's confirm button sends, so no prompt can confirm for the user.
///
/// `GET /report` is the agent acting on its own: a monthly summary from the Data API with an
/// app-only token of the agent identity, for a user holding the blueprint's `Reports.Run` role.
public struct Agent: Sendable {
    let validator: ResourceValidator
    let obo: ConfidentialClient
    /// The MCP endpoint, e.g. `http://127.0.0.1:7404/mcp`.
    let mcpEndpoint: String
    /// What the agent asks for by OBO (`api://contoso-expenses-mcp/.default`).
    let mcpScopes: [String]
    /// What the caller's token for the agent should carry (named in a relayed consent challenge).
    let callerScopes: [String]
    let planner: any AgentPlanner
    let http: HTTPClient
    /// The Data API's origin and its `.default` scope, for the autonomous report (nil: no `/report`).
    let reports: (dataAPI: String, scopes: [String])?
    /// Which MCP tools are destructive (`destructiveHint`), learned from `tools/list` and shared by sessions.
    let destructiveTools = LockedBox<[String: Bool]>([:])
    /// The MCP server's protocol revision, learned once (`server/discover`) and shared by sessions.
    let mcpProfiles = MCPServerProfiles()
    /// Tool calls of messages a step-up interrupted, for the retried message to resume from.
    let resumptions = ResumeLedger()

    /// The role a user needs for `GET /report` (an app role of the blueprint).
    public static let reportRole = "Reports.Run"

    public init(
        validator: ResourceValidator, obo: ConfidentialClient, mcpEndpoint: String,
        mcpScopes: [String] = ["api://contoso-expenses-mcp/.default"],
        callerScopes: [String] = ["api://contoso-expense-agent/.default"], planner: any AgentPlanner = BuiltInPlanner(),
        reports: (dataAPI: String, scopes: [String])? = nil, httpClient: HTTPClient = .shared
    ) {
        self.reports = reports
        self.validator = validator
        self.obo = obo
        self.mcpEndpoint = mcpEndpoint
        self.mcpScopes = mcpScopes
        self.callerScopes = callerScopes
        self.planner = planner
        self.http = httpClient
    }

    /// The validator configuration for the agent: its appId and App ID URI, `access_as_user`, delegated tokens.
    public static func configuration(authority: String, appID: String, appIDURI: String) -> ResourceConfiguration {
        var c = ResourceConfiguration(authority: authority, audiences: [appID, appIDURI])
        c.acceptedKinds = [.delegated]
        c.requiredScopes = ["access_as_user"]
        return c
    }

    public func addRoutes<Context: AuthenticatedRequestContext>(to router: Router<Context>) {
        router.group("chat").add(middleware: BearerTokenMiddleware(validator: validator)).post { request, context in
            try await chat(request, context: context)
        }
        if reports != nil {
            router.group("report").add(middleware: BearerTokenMiddleware(validator: validator)).get { request, context in
                try await report(request, context: context)
            }
        }
    }

    /// The agent on its own (Microsoft Learn, "Autonomous agent flow"): the caller's token only
    /// admits the request (the `Reports.Run` role); the Data API sees the agent identity's app-only
    /// token with its `Expenses.Read.All` role, and the agent's Conditional Access (block only).
    func report<Context: AuthenticatedRequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        guard principal.roles.contains(Self.reportRole) else {
            return problemResponse(.forbidden, "forbidden", "The monthly report needs the \(Self.reportRole) role.")
        }
        guard let reports else { throw HTTPError(.notFound) }
        let correlation = request.headers[HTTPField.Name("client-request-id")!]
        let answer: (status: Int, body: JSONValue?)
        do {
            answer = try await Self.monthlyReport(
                client: obo, dataAPI: reports.dataAPI, scopes: reports.scopes, correlationID: correlation, httpClient: http)
        } catch let error as AcquisitionError {
            // A block on the agent is the agent's: the user cannot remedy it, so it is not relayed as a challenge.
            TokenChainRecorder.current?.failed(DataAPIClient.describe(error))
            if error.serviceError?.isBlock == true {
                return problemResponse(
                    .forbidden, "access_blocked",
                    "AADSTS53003: Conditional Access blocks this agent when it acts on its own; acting for you still works.")
            }
            // The code only: the token service's text and the request stay out of the answer.
            let code = error.serviceError?.errorCodes.first.map { " (AADSTS\($0))" } ?? ""
            return problemResponse(.badGateway, "agent_token_failed", "The agent could not get its own token\(code).")
        }
        guard answer.status == 200, let body = answer.body else {
            return problemResponse(.badGateway, "data_api_failed", "The Data API answered \(answer.status).")
        }
        return try jsonResponse(body)
    }

    /// The monthly summary, fetched as the agent identity itself (client credentials with T1).
    public static func monthlyReport(
        client: ConfidentialClient, dataAPI: String, scopes: [String], correlationID: String?,
        httpClient: HTTPClient
    ) async throws -> (status: Int, body: JSONValue?) {
        // An on-demand job: each run gets a new token (MSAL's WithForceRefresh), so Conditional
        // Access for the agent is evaluated at every report, not once an hour.
        let token = try await client.acquireTokenForClient(scopes: scopes, forceRefresh: true, correlationID: correlationID)
        var request = HTTPClientRequest(url: dataAPI + "/reports/monthly")
        request.headers.add(name: "Authorization", value: "Bearer \(token.token)")
        if let correlationID { request.headers.add(name: "client-request-id", value: correlationID) }
        let response = try await httpClient.execute(request, timeout: .seconds(30))
        TokenChainRecorder.current?.downstream(headerValue: response.headers.first(name: TokenChainReport.headerName.rawName))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), try? JSONParser.parse(Data(body.readableBytesView)))
    }

    func chat<Context: AuthenticatedRequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        var r = request
        let body = try await r.collectBody(upTo: 16 * 1024)
        guard case .object(let o)? = try? JSONParser.parse(Data(body.readableBytesView)),
            let message = o["message"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !message.isEmpty,
            message.count <= 2_000
        else {
            return problemResponse(.badRequest, "invalid_request", "Send {\"message\": \"…\"} (at most 2,000 characters).")
        }
        let correlation = request.headers[HTTPField.Name("client-request-id")!]
        // A confirmation comes from the SPA's confirm button, as its own field: never from the message.
        let confirmation = ToolConfirmation(json: o["confirm"])
        if o["confirm"] != nil && confirmation == nil {
            return problemResponse(.badRequest, "invalid_request", "confirm must be {\"tool\": \"…\", \"arguments\": {…}}.")
        }
        var headers = correlation.map { [("client-request-id", $0)] } ?? []
        if let confirmation { headers.append((ToolConfirmation.headerName, confirmation.headerValue)) }
        // A message retried after a step-up names what it resumes: the calls it completed before
        // the challenge are not made again (the user's and message's own record, used once).
        let user = "\(principal.tenantID ?? "")|\(principal.objectID ?? "")"
        let replay = o["resume"]?.stringValue.flatMap { resumptions.take($0, user: user, message: message) } ?? []
        let session = MCPSession(
            endpoint: mcpEndpoint, httpClient: http, headers: headers,
            authorizer: OnBehalfOfAuthorizer(client: obo, assertion: principal.token, scopes: mcpScopes, correlationID: correlation),
            profiles: mcpProfiles, confirmation: confirmation, destructiveTools: destructiveTools, replay: replay)
        let reply: String
        do {
            reply = try await planner.respond(to: message, tools: session)
            await session.close()
        } catch {
            let executed = await session.executed
            await session.close()
            let relayed = relay(error)
            guard let challenge = relayed as? ChallengeRelay, case .stepUp = challenge.outcome, !executed.isEmpty else { throw relayed }
            // The SPA retries the message after the step-up: it sends `resume` back so the calls
            // already made (an expense submitted, say) are not made twice.
            let id = resumptions.save(.init(user: user, message: message, calls: executed))
            return challenge.response(adding: ["resume": .string(id)])
        }
        let calls: [JSONValue] = await session.calls.map { call in
            .object([
                "tool": .string(call.tool), "arguments": ChatCompletionsPlanner.json(.object(call.arguments)),
                "result": ChatCompletionsPlanner.json(call.result), "isError": .bool(call.isError),
            ])
        }
        var answer: [String: JSONValue] = ["reply": .string(reply), "toolCalls": .array(calls)]
        if let pending = await session.pendingConfirmation {
            answer["confirmation"] = .object([
                "tool": .string(pending.tool), "arguments": ChatCompletionsPlanner.json(.object(pending.arguments)),
                "prompt": .string(
                    "The agent wants to call \(pending.tool)(\(BuiltInPlanner.describe(pending.arguments))), which cannot be undone. Confirm?"
                ),
            ])
        }
        return try jsonResponse(.object(answer))
    }

    /// What the SPA gets when the chain below the agent failed.
    func relay(_ error: any Error) -> any Error {
        switch error {
        case let error as AcquisitionError:
            TokenChainRecorder.current?.failed(DataAPIClient.describe(error))
            return ChallengeRelay(error, authorizationURI: validator.authorizationEndpoint, scopes: callerScopes)
        case MCPHTTPClientError.challenge(let status, let header, let body):
            if let relay = ChallengeRelay(
                downstreamStatus: status, wwwAuthenticate: header, authorizationURI: validator.authorizationEndpoint,
                body: body)
            {
                return relay
            }
            return ChallengeRelay(
                outcome: .downstreamFailure(status: 502, message: "The MCP server refused this agent's token.", retryAfter: nil))
        // Fixed sentences: a downstream error's text (a body, a URL with a query) stays out of the answer.
        case is MCPHTTPClientError:
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The MCP server failed.", retryAfter: nil))
        case is ChatCompletionsPlanner.ModelError:
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The agent's model failed.", retryAfter: nil))
        default:
            return ChallengeRelay(
                outcome: .downstreamFailure(status: 502, message: "The agent could not complete the request.", retryAfter: nil))
        }
    }
}

/// One chat message's MCP session: one MCP client for this user only, reused by every tool call
/// of the message. Nothing is sent before the first tool use (a message the planner does not
/// understand costs no token). When the MCP server speaks MCP 2026-07-28 (learned once per
/// process), a tool call is one HTTP request; otherwise the client opens a handshake session.
actor MCPSession: AgentTools {
    let client: MCPToolClient
    let lastChain = LockedBox<String?>(nil)
    private(set) var calls: [AgentToolCall] = []
    let recorder = TokenChainRecorder.current
    /// The user's confirmation this request carries (at most one call).
    let confirmation: ToolConfirmation?
    /// A destructive call the planner asked for without the user's confirmation.
    private(set) var pendingConfirmation: ToolConfirmation?
    let destructiveTools: LockedBox<[String: Bool]>
    /// Calls an interrupted attempt of this message completed: answered from here, not made again.
    var replay: [AgentToolCall]
    /// Calls that reached the MCP server (or were answered from `replay`), in order.
    private(set) var executed: [AgentToolCall] = []

    init(
        endpoint: String, httpClient: HTTPClient, headers: [(String, String)], authorizer: any MCPAuthorizer,
        profiles: MCPServerProfiles = MCPServerProfiles(), confirmation: ToolConfirmation? = nil,
        destructiveTools: LockedBox<[String: Bool]> = LockedBox([:]), replay: [AgentToolCall] = []
    ) {
        self.replay = replay
        self.confirmation = confirmation
        self.destructiveTools = destructiveTools
        let lastChain = self.lastChain
        client = MCPToolClient(
            endpoint: endpoint, httpClient: httpClient, authorizer: authorizer, headers: headers, profiles: profiles,
            clientInfo: ("contoso-expense-agent", "1.0.0")
        ) { _, headers in
            if let chain = headers.first(name: TokenChainReport.headerName.rawName) { lastChain.withLock { $0 = chain } }
        }
    }

    func listTools() async throws -> [Tool] {
        let tools: [Tool]
        do { tools = try await client.listTools() } catch {
            takeChain()
            throw error
        }
        destructiveTools.withLock { known in for t in tools { known[t.name] = t.annotations.destructiveHint ?? false } }
        return tools
    }

    /// Whether the MCP server marks the tool destructive (asked once per tool name, then remembered).
    func isDestructive(_ name: String) async throws -> Bool {
        if let known = destructiveTools.withLock({ $0[name] }) { return known }
        _ = try await listTools()
        return destructiveTools.withLock { $0[name] } ?? false
    }

    func call(_ name: String, arguments: [String: Value]) async throws -> AgentToolCall {
        if let i = replay.firstIndex(where: { $0.tool == name && $0.arguments == arguments }) {
            let done = replay.remove(at: i)
            calls.append(done)
            executed.append(done)
            return done
        }
        if try await isDestructive(name), confirmation?.confirms(name, arguments) != true {
            // Not without the user: the SPA shows the confirmation, and only its button confirms.
            pendingConfirmation = ToolConfirmation(tool: name, arguments: arguments)
            let text = "\(name) cannot be undone, so it needs the user's confirmation first; the user has been asked."
            let call = AgentToolCall(tool: name, arguments: arguments, result: .string(text), text: text, isError: true)
            calls.append(call)
            return call
        }
        let result: (content: [Tool.Content], isError: Bool?)
        do {
            result = try await client.callTool(name: name, arguments: arguments)
        } catch let error as MCPError {
            takeChain()
            let text = Self.modelText(error)
            let call = AgentToolCall(tool: name, arguments: arguments, result: .string(text), text: text, isError: true)
            calls.append(call)
            executed.append(call)
            return call
        } catch {
            takeChain()
            throw error
        }
        takeChain()
        let text = result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined(separator: "\n")
        let structured = (try? JSONDecoder().decode(Value.self, from: Data(text.utf8))).map { value -> Value in
            if case .array(let rows) = value { return ["expenses": .array(rows)] }
            return value
        }
        let call = AgentToolCall(
            tool: name, arguments: arguments, result: structured ?? .string(text), text: text, isError: result.isError ?? false)
        calls.append(call)
        executed.append(call)
        return call
    }

    /// What the model reads of an MCP error: the server's own argument check (bounded), otherwise
    /// a fixed sentence — never an error text from further down the chain.
    static func modelText(_ error: MCPError) -> String {
        if case .invalidParams(let message?) = error { return "The tool refused its arguments: " + String(message.prefix(200)) }
        return "The expense tools could not complete the call."
    }

    /// Hands the MCP server's token-chain report of the last answer to this request's recorder.
    func takeChain() {
        let chain = lastChain.withLock { value in
            defer { value = nil }
            return value
        }
        recorder?.downstream(headerValue: chain)
    }

    func close() async { await client.close() }
}

/// The tool calls a chat message completed before a step-up interrupted it, kept for ten minutes
/// for the retried message (the SPA sends the id back as `resume`). A record is bound to the user
/// and the message and is used once.
final class ResumeLedger: Sendable {
    struct Record: Sendable {
        var user: String
        var message: String
        var calls: [AgentToolCall]
    }

    static let lifetime: TimeInterval = 600
    private let records = LRUCache<String, Record>(capacity: 10_000)

    func save(_ record: Record, now: Date = Date()) -> String {
        let id = UUID().uuidString
        records.set(record, for: id, expiresAt: now + Self.lifetime)
        return id
    }

    func take(_ id: String, user: String, message: String, now: Date = Date()) -> [AgentToolCall]? {
        guard let record = records.value(for: id, now: now), record.user == user, record.message == message else { return nil }
        records.remove(id)
        return record.calls
    }
}
