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
/// Until agent identities land, the agent authenticates as an app registration: the
/// ``ConfidentialClient``'s credential is the seam (an assertion provider for an agent identity).
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

    public init(validator: ResourceValidator, obo: ConfidentialClient, mcpEndpoint: String,
                mcpScopes: [String] = ["api://contoso-expenses-mcp/.default"],
                callerScopes: [String] = ["api://contoso-expense-agent/.default"], planner: any AgentPlanner = BuiltInPlanner(),
                httpClient: HTTPClient = .shared) {
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
    }

    func chat<Context: AuthenticatedRequestContext>(_ request: Request, context: Context) async throws -> Response {
        guard let principal = context.principal else { throw HTTPError(.unauthorized) }
        var r = request
        let body = try await r.collectBody(upTo: 16 * 1024)
        guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)),
              let message = o["message"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !message.isEmpty, message.count <= 2_000
        else {
            return problemResponse(.badRequest, "invalid_request", "Send {\"message\": \"…\"} (at most 2,000 characters).")
        }
        let correlation = request.headers[HTTPField.Name("client-request-id")!]
        let session = MCPSession(endpoint: mcpEndpoint, httpClient: http, headers: correlation.map { [("client-request-id", $0)] } ?? [],
                                 authorizer: OnBehalfOfAuthorizer(client: obo, assertion: principal.token, scopes: mcpScopes, correlationID: correlation))
        let reply: String
        do {
            reply = try await planner.respond(to: message, tools: session)
            await session.close()
        } catch {
            await session.close()
            throw relay(error)
        }
        let calls: [JSONValue] = await session.calls.map { call in
            .object(["tool": .string(call.tool), "arguments": ChatCompletionsPlanner.json(.object(call.arguments)),
                     "result": ChatCompletionsPlanner.json(call.result), "isError": .bool(call.isError)])
        }
        return try jsonResponse(.object(["reply": .string(reply), "toolCalls": .array(calls)]))
    }

    /// What the SPA gets when the chain below the agent failed.
    func relay(_ error: any Error) -> any Error {
        switch error {
        case let error as AcquisitionError:
            TokenChainRecorder.current?.failed(DataAPIClient.describe(error))
            return ChallengeRelay(error, authorizationURI: validator.authorizationEndpoint, scopes: callerScopes)
        case MCPHTTPClientError.challenge(let status, let header, let body):
            if let relay = ChallengeRelay(downstreamStatus: status, wwwAuthenticate: header, authorizationURI: validator.authorizationEndpoint,
                                          body: body) {
                return relay
            }
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The MCP server refused this agent's token.", retryAfter: nil))
        case let error as MCPHTTPClientError:
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The MCP server failed: \(error)", retryAfter: nil))
        case let error as ChatCompletionsPlanner.ModelError:
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The agent's model failed: \(error)", retryAfter: nil))
        default:
            return ChallengeRelay(outcome: .downstreamFailure(status: 502, message: "The agent could not complete the request: \(error)", retryAfter: nil))
        }
    }
}

/// One chat message's MCP session: connected on the first tool use (a message the planner does
/// not understand costs no token), one MCP client and transport for this user only.
actor MCPSession: AgentTools {
    let transport: MCPHTTPClientTransport
    let lastChain = LockedBox<String?>(nil)
    var client: Client?
    private(set) var calls: [AgentToolCall] = []
    let recorder = TokenChainRecorder.current

    init(endpoint: String, httpClient: HTTPClient, headers: [(String, String)], authorizer: any MCPAuthorizer) {
        let lastChain = self.lastChain
        transport = MCPHTTPClientTransport(endpoint: endpoint, httpClient: httpClient, authorizer: authorizer, headers: headers) { _, headers in
            if let chain = headers.first(name: TokenChainReport.headerName.rawName) { lastChain.withLock { $0 = chain } }
        }
    }

    func connected() async throws -> Client {
        if let client { return client }
        let client = Client(name: "contoso-expense-agent", version: "1.0.0")
        do {
            try await client.connect(transport: transport)
        } catch {
            // connect() starts the client's message loop before initialize: end it, or it waits forever.
            await client.disconnect()
            takeChain()
            throw error
        }
        lastChain.withLock { $0 = nil }
        self.client = client
        return client
    }

    func listTools() async throws -> [Tool] {
        try await connected().listTools().tools
    }

    func call(_ name: String, arguments: [String: Value]) async throws -> AgentToolCall {
        let client = try await connected()
        let result: (content: [Tool.Content], isError: Bool?)
        do {
            result = try await client.callTool(name: name, arguments: arguments)
        } catch let error as MCPError {
            takeChain()
            let call = AgentToolCall(tool: name, arguments: arguments, result: .string(error.localizedDescription),
                                     text: error.localizedDescription, isError: true)
            calls.append(call)
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
        let call = AgentToolCall(tool: name, arguments: arguments, result: structured ?? .string(text), text: text, isError: result.isError ?? false)
        calls.append(call)
        return call
    }

    /// Hands the MCP server's token-chain report of the last answer to this request's recorder.
    func takeChain() {
        let chain = lastChain.withLock { value in defer { value = nil }; return value }
        recorder?.downstream(headerValue: chain)
    }

    func close() async {
        if let client { await client.disconnect() }
        client = nil
    }
}
