import AsyncHTTPClient
import DeputyCore
import DeputyHummingbird
import DeputyMCP
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import MCP
import NIOCore
import NIOHTTP1

/// The MCP server's tools over the expense data: `list_expenses`, `get_expense`,
/// `submit_expense`, `approve_expense`. Each reaches the Data API with the MCP server's own token,
/// got by On-Behalf-Of — never with the token it received. `approve_expense` requires the
/// authentication context `c1`: without it the HTTP request is answered with a claims challenge.
/// `delete_expense` is destructive: an agent (Microsoft Entra Agent ID, `xms_act_fct` 11) may call
/// it only with the user's confirmation of that very call (``ToolConfirmation``); people's own
/// clients need none.
public struct ExpenseTools: MCPToolbox {
    let dataAPI: DataAPIClient
    /// The authentication context approving requires.
    public let approvalContext: String

    public init(dataAPI: DataAPIClient, approvalContext: String = "c1") {
        self.dataAPI = dataAPI
        self.approvalContext = approvalContext
    }

    /// The validator configuration for the MCP server: its appId and App ID URIs (the `/mcp` URL
    /// among them, for clients that use RFC 8707 resource indicators), delegated tokens with
    /// `Expenses.ReadWrite`.
    public static func configuration(authority: String, appID: String, appIDURIs: [String]) -> ResourceConfiguration {
        var c = ResourceConfiguration(authority: authority, audiences: Set([appID] + appIDURIs))
        c.acceptedKinds = [.delegated]
        c.requiredScopes = ["Expenses.ReadWrite"]
        return c
    }

    /// Serves the expense tools at `/mcp` on `router`, with their RFC 9728 metadata: tokens for
    /// `appID` or one of `appIDURIs` (the `/mcp` URL is added), and the Data API reached by OBO
    /// with `obo`, the MCP server's own client. With `continuousAccess`, tokens issued before a
    /// user's critical event are refused with the `nbf` claims challenge.
    public static func addEndpoint(
        to router: Router<BearerRequestContext>, issuer: String, appID: String, appIDURIs: [String], resourceURL: String,
        obo: ConfidentialClient, dataAPI: String, dataScopes: [String] = ["https://database.windows.net//.default"],
        continuousAccess: ContinuousAccessConfiguration? = nil,
        httpClient: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    ) throws {
        var config = configuration(authority: issuer, appID: appID, appIDURIs: appIDURIs + [resourceURL])
        config.continuousAccess = continuousAccess
        let validator = try ResourceValidator(config, client: httpClient, time: time)
        let tools = ExpenseTools(
            dataAPI: DataAPIClient(
                obo: obo, baseURL: dataAPI, scopes: dataScopes, authorizationURI: validator.authorizationEndpoint,
                callerScopes: appIDURIs.first.map { ["\($0)/.default"] } ?? [], httpClient: httpClient))
        router.addMCPEndpoint(
            tools, validator: validator,
            configuration: MCPEndpointConfiguration(
                resourceURL: resourceURL, authorizationServers: [issuer],
                scopesSupported: appIDURIs.first.map { ["\($0)/Expenses.ReadWrite"] } ?? [], scopePrefix: appIDURIs.first))
    }

    public var serverInfo: (name: String, version: String) { ("contoso-expenses", "1.0.0") }

    /// Approving needs `Expenses.Approve` besides the baseline: clients ask for it only when they
    /// approve (the 403 `insufficient_scope` step-up names both).
    public func requiredScopes(for tool: String) -> [String] {
        tool == "approve_expense" ? ["Expenses.ReadWrite", "Expenses.Approve"] : []
    }

    public var tools: [Tool] {
        let id: Value = [
            "type": "object", "properties": ["id": ["type": "integer", "description": "The expense's id."]], "required": ["id"],
        ]
        return [
            Tool(
                name: "list_expenses",
                description: "List the expenses the signed-in user may see: their own and, for a manager, their reports'.",
                inputSchema: ["type": "object", "properties": [:]], annotations: .init(readOnlyHint: true)),
            Tool(name: "get_expense", description: "Show one expense by id.", inputSchema: id, annotations: .init(readOnlyHint: true)),
            Tool(
                name: "submit_expense", description: "Submit an expense for the signed-in user; their manager approves it.",
                inputSchema: [
                    "type": "object",
                    "properties": [
                        "amount": ["type": "number", "description": "The amount, e.g. 42.5."],
                        "description": ["type": "string", "description": "What it was for."],
                        "currency": ["type": "string", "description": "ISO 4217 code, EUR by default."],
                    ], "required": ["amount", "description"],
                ]),
            Tool(
                name: "approve_expense",
                description: "Approve a report's submitted expense (managers only; requires step-up authentication).",
                inputSchema: id, annotations: .init(destructiveHint: false, idempotentHint: true)),
            Tool(
                name: "delete_expense",
                description:
                    "Delete one of the signed-in user's expenses that is not approved yet. Cannot be undone; an agent needs the user's confirmation.",
                inputSchema: id, annotations: .init(destructiveHint: true, idempotentHint: false)),
        ]
    }

    public func call(_ name: String, arguments: [String: Value], context: MCPToolContext) async throws -> CallTool.Result {
        let correlation = context.headers[HTTPField.Name("client-request-id")!]
        let token = context.principal.token
        switch name {
        case "list_expenses":
            return try await result(dataAPI.call(.GET, "/expenses", assertion: token, correlationID: correlation))
        case "get_expense":
            let id = try Self.id(arguments)
            return try await result(dataAPI.call(.GET, "/expenses/\(id)", assertion: token, correlationID: correlation))
        case "submit_expense":
            guard let amount = arguments["amount"]?.doubleValue ?? arguments["amount"]?.intValue.map(Double.init),
                let text = arguments["description"]?.stringValue
            else {
                return CallTool.Result(
                    content: [.text(text: "submit_expense needs amount (a number) and description (text).", annotations: nil, _meta: nil)],
                    isError: true)
            }
            var body: [String: JSONValue] = ["amount": .number(amount), "description": .string(text)]
            if let currency = arguments["currency"]?.stringValue { body["currency"] = .string(currency) }
            return try await result(
                dataAPI.call(
                    .POST, "/expenses", body: ByteBuffer(bytes: JSONValue.object(body).serialized),
                    assertion: token, correlationID: correlation))
        case "approve_expense":
            // A sensitive action: the caller's token must show the authentication context, else
            // the whole HTTP request is answered 401 insufficient_claims (Microsoft Learn, "Claims
            // challenges, claims requests and client capabilities").
            guard context.principal.authenticationContexts.contains(approvalContext) else {
                TokenChainRecorder.current?.failed("approve_expense requires authentication context \(approvalContext)")
                throw ResourceValidationError.insufficientClaims(claims: ResourceValidator.authenticationContextClaims(approvalContext))
            }
            let id = try Self.id(arguments)
            return try await result(dataAPI.call(.POST, "/expenses/\(id)/approve", assertion: token, correlationID: correlation))
        case "delete_expense":
            let id = try Self.id(arguments)
            if let refusal = Self.agentRule(name, arguments, context: context) { return refusal }
            return try await result(dataAPI.call(.DELETE, "/expenses/\(id)", assertion: token, correlationID: correlation))
        default:
            throw MCPError.invalidParams("Unknown tool: \(name)")
        }
    }

    /// The agent rule of destructive tools: a token from an agent acting for a user (or as itself)
    /// is refused unless the request confirms this very call. The refusal is a tool error the agent
    /// reads, not an authorization failure: the token is fine, the user has not said yes.
    static func agentRule(_ name: String, _ arguments: [String: Value], context: MCPToolContext) -> CallTool.Result? {
        guard context.principal.agent?.actorIsAgent == true else { return nil }
        let confirmation = context.headers[HTTPField.Name(ToolConfirmation.headerName)!].flatMap(ToolConfirmation.init(headerValue:))
        if confirmation?.confirms(name, arguments) == true { return nil }
        TokenChainRecorder.current?.failed("\(name) refused: an agent needs the user's confirmation")
        let text =
            "\(name) is destructive: an agent may call it only with the user's confirmation of this call (\(ToolConfirmation.headerName))."
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], isError: true)
    }

    struct BadArguments: Error, CustomStringConvertible { var description: String }

    static func id(_ arguments: [String: Value]) throws -> Int {
        if let id = arguments["id"]?.intValue { return id }
        if let d = arguments["id"]?.doubleValue, d == d.rounded() { return Int(d) }
        if let s = arguments["id"]?.stringValue, let id = Int(s) { return id }
        throw BadArguments(description: "The tool needs id (an integer).")
    }

    /// What the model reads when the Data API refuses: a fixed sentence per error code, never the
    /// downstream body, whose text the model would take as instructions (a description stored by
    /// another user is data, not a prompt) and which may name internals.
    static func refusal(status: Int, error: String?) -> String {
        switch error {
        case "not_found": "No such expense."
        case "forbidden": "The Data API does not allow this user to do that with this expense."
        case "already_approved": "This expense is already approved."
        case "invalid_request": "The Data API did not accept the request's arguments."
        default: "The Data API refused the request (HTTP \(status))."
        }
    }

    /// A Data API answer as a tool result: the JSON as text and as structured content; a 4xx
    /// (no such expense, not the approver, already approved) is a tool error the model can read.
    func result(_ answer: DataAPIClient.Answer) throws -> CallTool.Result {
        let data = Data(answer.body.readableBytesView)
        let value = try? JSONDecoder().decode(Value.self, from: data)
        let text = String(decoding: data, as: UTF8.self)
        guard (200..<300).contains(answer.status) else {
            let message = Self.refusal(status: answer.status, error: value?.objectValue?["error"]?.stringValue)
            return CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
        }
        // structuredContent must be an object (MCP 2025-06-18 §tools): lists are wrapped.
        let structured: Value? =
            switch value {
            case .array(let rows)?: ["expenses": .array(rows)]
            case .object?: value
            default: nil
            }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], structuredContent: structured, isError: false)
    }
}
