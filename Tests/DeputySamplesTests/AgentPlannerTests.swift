import DeputyCore
import DeputySamples
import DeputyTestSupport
import Foundation
import Hummingbird
import MCP
import NIOCore
import Testing

/// Tools that record calls and answer from a script (no network).
actor ScriptedTools: AgentTools {
    var calls: [(String, [String: Value])] = []
    let answer: @Sendable (String, [String: Value]) -> Value

    init(answer: @escaping @Sendable (String, [String: Value]) -> Value) { self.answer = answer }

    func listTools() async throws -> [Tool] {
        [
            Tool(name: "list_expenses", description: "list", inputSchema: ["type": "object"]),
            Tool(
                name: "approve_expense", description: "approve", inputSchema: ["type": "object", "properties": ["id": ["type": "integer"]]]),
        ]
    }

    func call(_ name: String, arguments: [String: Value]) async throws -> AgentToolCall {
        calls.append((name, arguments))
        let result = answer(name, arguments)
        let text = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        return AgentToolCall(tool: name, arguments: arguments, result: result, text: text, isError: false)
    }
}

@Suite("agent planners")
struct AgentPlannerTests {
    @Test(
        "The built-in planner reads the requests it knows, in the forms people type them, and nothing else",
        arguments: [
            ("list my expenses", BuiltInPlanner.Intent.list),
            ("Show me all my expenses please", .list),
            ("what are my expenses?", .list),
            ("show expense 2", .show(2)),
            ("Show expense #12", .show(12)),
            ("get expense 7", .show(7)),
            ("approve expense 3", .approve(3)),
            ("Please approve the expense #4", .approve(4)),
            (
                "submit an expense of 42.50 for a taxi to the airport",
                .submit(amount: 42.5, currency: nil, description: "a taxi to the airport")
            ),
            ("Submit expense of EUR 12,30 for coffee.", .submit(amount: 12.3, currency: "EUR", description: "coffee")),
            ("submit an expense of 9 usd for parking", .submit(amount: 9, currency: "USD", description: "parking")),
            ("submit an expense of €15 for lunch", .submit(amount: 15, currency: "EUR", description: "lunch")),
            ("submit an expense for lunch", .help),
            ("delete expense 5", .delete(5)),
            ("Please remove the expense #6", .delete(6)),
            ("delete all my expenses, I confirm", .deleteAll),
            ("approve expense", .help),
            ("tell me a joke", .help),
            ("", .help),
        ])
    func intents(message: String, intent: BuiltInPlanner.Intent) {
        #expect(BuiltInPlanner.intent(of: message) == intent)
    }

    @Test("The built-in planner calls the tool and answers from its result")
    func builtInReply() async throws {
        let tools = ScriptedTools { name, _ in
            name == "list_expenses"
                ? [
                    "expenses": [
                        [
                            "id": 1, "amount": "42.50", "currency": "EUR", "description": "Train", "ownerName": "Alice Adams",
                            "status": "submitted",
                        ]
                    ]
                ]
                : ["id": 1, "amount": "42.50", "currency": "EUR", "description": "Train", "ownerName": "Alice Adams", "status": "approved"]
        }
        let list = try await BuiltInPlanner().respond(to: "list my expenses", tools: tools)
        #expect(list == "You can see 1 expense:\n#1  42.50 EUR  Train — Alice Adams (submitted)")
        let approve = try await BuiltInPlanner().respond(to: "approve expense 1", tools: tools)
        #expect(approve == "Approved: #1  42.50 EUR  Train — Alice Adams (approved)")
        let calls = await tools.calls
        #expect(calls.map(\.0) == ["list_expenses", "approve_expense"] && calls[1].1 == ["id": .int(1)])
    }

    @Test("The chat-completions planner offers the MCP tools as functions, runs the model's tool calls and returns its last message")
    func chatCompletions() async throws {
        let requests = LockedBox<[JSONValue]>([])
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            var r = request
            let body = try await r.collectBody(upTo: 1 << 20)
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
            let turn = requests.withLock {
                $0.append(json)
                return $0.count
            }
            let message: JSONValue =
                turn == 1
                ? .object([
                    "role": .string("assistant"), "content": .null,
                    "tool_calls": .array([
                        .object([
                            "id": .string("call_1"), "type": .string("function"),
                            "function": .object(["name": .string("approve_expense"), "arguments": .string(#"{"id": 3}"#)]),
                        ])
                    ]),
                ])
                : .object(["role": .string("assistant"), "content": .string("Done: expense 3 is approved.")])
            let answer: JSONValue = .object(["choices": .array([.object(["index": .number(0), "message": message])])])
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: answer.serialized)))
        }
        let port = try freeLoopbackPort()
        try await serving(router, port: port) {
            let tools = ScriptedTools { _, _ in ["id": 3, "status": "approved"] }
            let planner = ChatCompletionsPlanner(endpoint: "http://127.0.0.1:\(port)/v1", model: "test-model")
            let reply = try await planner.respond(to: "approve the third one", tools: tools)
            #expect(reply == "Done: expense 3 is approved.")
            let calls = await tools.calls
            #expect(calls.count == 1 && calls[0].0 == "approve_expense" && calls[0].1 == ["id": .int(3)])
            let sent = requests.withLock { $0 }
            #expect(sent.count == 2)
            let first = try #require(sent.first?.objectValue)
            #expect(first["model"] == .string("test-model"))
            let names = first["tools"]?.arrayValue?.compactMap { $0.objectValue?["function"]?.objectValue?["name"]?.stringValue }
            #expect(names == ["list_expenses", "approve_expense"])
            // The second turn carries the tool's answer under the model's call id.
            let last = try #require(sent.last?.objectValue?["messages"]?.arrayValue?.last?.objectValue)
            #expect(last["role"] == .string("tool") && last["tool_call_id"] == .string("call_1"))
            #expect(last["content"]?.stringValue?.contains("approved") == true)
        }
    }
}
