import AsyncHTTPClient
import DeputyCore
import Foundation
import MCP
import NIOCore
import NIOHTTP1

/// A planner backed by any OpenAI-compatible chat-completions server with tool calling (a local
/// Ollama at `http://127.0.0.1:11434/v1`, say): the MCP server's tools are offered as functions,
/// the model's tool calls go to the MCP server, and its last message is the reply.
public struct ChatCompletionsPlanner: AgentPlanner {
    /// The API base, e.g. `http://127.0.0.1:11434/v1` (requests go to `<endpoint>/chat/completions`).
    public let endpoint: String
    public let model: String
    let apiKey: String?
    let http: HTTPClient
    /// At most this many model turns per message.
    public let maxTurns: Int

    public init(endpoint: String, model: String, apiKey: String? = nil, maxTurns: Int = 6, httpClient: HTTPClient = .shared) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.model = model
        self.apiKey = apiKey
        self.maxTurns = maxTurns
        self.http = httpClient
    }

    public struct ModelError: Error, CustomStringConvertible {
        public var description: String
    }

    static let system =
        "You are Contoso's expense assistant. You act for the signed-in user through the expense tools only. "
        + "Call a tool when the user asks about expenses; answer briefly with what the tool returned."

    public func respond(to message: String, tools: any AgentTools) async throws -> String {
        let functions: [JSONValue] = try await tools.listTools().map { tool in
            .object([
                "type": .string("function"),
                "function": .object([
                    "name": .string(tool.name), "description": .string(tool.description ?? ""), "parameters": Self.json(tool.inputSchema),
                ]),
            ])
        }
        var messages: [JSONValue] = [
            .object(["role": .string("system"), "content": .string(Self.system)]),
            .object(["role": .string("user"), "content": .string(message)]),
        ]
        for _ in 0..<maxTurns {
            let reply = try await complete(messages: messages, tools: functions)
            let calls = reply["tool_calls"]?.arrayValue ?? []
            if calls.isEmpty { return reply["content"]?.stringValue ?? "" }
            messages.append(.object(reply))
            for call in calls {
                let o = call.objectValue ?? [:]
                let function = o["function"]?.objectValue ?? [:]
                let name = function["name"]?.stringValue ?? ""
                // OpenAI sends arguments as a JSON string; some servers send an object.
                var arguments: [String: Value] = [:]
                if let text = function["arguments"]?.stringValue {
                    arguments = (try? JSONDecoder().decode([String: Value].self, from: Data(text.utf8))) ?? [:]
                } else if let object = function["arguments"] {
                    arguments = (try? JSONDecoder().decode([String: Value].self, from: Data(object.serialized))) ?? [:]
                }
                let result = try await tools.call(name, arguments: arguments)
                messages.append(
                    .object(["role": .string("tool"), "tool_call_id": o["id"] ?? .string(name), "content": .string(result.text)]))
            }
        }
        throw ModelError(description: "the model did not finish within \(maxTurns) turns")
    }

    /// One chat-completions round: the first choice's message.
    func complete(messages: [JSONValue], tools: [JSONValue]) async throws -> [String: JSONValue] {
        var request = HTTPClientRequest(url: endpoint + "/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        let body: JSONValue = .object([
            "model": .string(model), "messages": .array(messages), "tools": .array(tools), "stream": .bool(false),
        ])
        request.body = .bytes(ByteBuffer(bytes: body.serialized))
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(120))
            data = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw ModelError(description: "the model at \(endpoint) could not be reached: \(error)")
        }
        guard response.status == .ok, case .object(let o)? = try? JSONParser.parse(Data(data.readableBytesView)),
            let message = o["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue
        else {
            throw ModelError(description: "the model at \(endpoint) answered \(response.status.code) without a message")
        }
        return message
    }

    static func json(_ value: Value) -> JSONValue {
        (try? JSONParser.parse(JSONEncoder().encode(value))) ?? .object([:])
    }
}
