import DeputyCore
import Foundation
import MCP

/// One tool call the agent made for a chat message, as the SPA shows it.
public struct AgentToolCall: Sendable {
    public let tool: String
    public let arguments: [String: Value]
    /// The structured result (or the text, when the tool gave no structure).
    public let result: Value
    public let text: String
    public let isError: Bool

    public init(tool: String, arguments: [String: Value], result: Value, text: String, isError: Bool) {
        self.tool = tool
        self.arguments = arguments
        self.result = result
        self.text = text
        self.isError = isError
    }
}

/// What a planner can do: list the MCP server's tools and call them (for the signed-in user).
public protocol AgentTools: Sendable {
    func listTools() async throws -> [Tool]
    func call(_ name: String, arguments: [String: Value]) async throws -> AgentToolCall
}

/// Turns a chat message into tool calls and a reply.
public protocol AgentPlanner: Sendable {
    /// Answers `message`, calling tools through `tools` as needed; returns the reply text.
    func respond(to message: String, tools: any AgentTools) async throws -> String
}

/// The built-in planner: deterministic, offline, and small on purpose. It understands
/// "list my expenses", "show expense N", "submit an expense of AMOUNT for TEXT" and
/// "approve expense N", several of them in order ("…, then approve expense 3"), and says what it
/// can do otherwise.
public struct BuiltInPlanner: AgentPlanner {
    public init() {}

    /// A message's meaning, before any tool is called.
    public enum Intent: Equatable, Sendable {
        case list
        case show(Int)
        case submit(amount: Double, currency: String?, description: String)
        case approve(Int)
        case delete(Int)
        /// Every expense the user can see ("delete all my expenses"): one call per expense, each needing its own confirmation.
        case deleteAll
        case help
    }

    public static let help =
        "I can list your expenses (\"list my expenses\"), show one (\"show expense 2\"), "
        + "submit one (\"submit an expense of 42.50 for a taxi\"), approve one of your reports' (\"approve expense 3\") "
        + "or delete one of yours (\"delete expense 4\", after you confirm)."

    /// `id=3, reason=x` — a tool call's arguments for a confirmation prompt.
    public static func describe(_ arguments: [String: Value]) -> String {
        arguments.keys.sorted().map { k in
            let v = arguments[k]!
            return "\(k)=" + (v.intValue.map(String.init) ?? v.stringValue ?? v.doubleValue.map { String($0) } ?? "\(v)")
        }.joined(separator: ", ")
    }

    /// A message's steps, in order: clauses joined by "then" (", then", "and then", ";").
    public static func intents(of message: String) -> [Intent] {
        let clauses = message.split(separator: /(?i)\s*;\s*|\s*,?\s+(?:and\s+)?then\s+/).map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
        let steps = clauses.map(intent(of:))
        return steps.contains(.help) || steps.isEmpty ? [.help] : steps
    }

    /// Reads one clause (case-insensitive; "#" before numbers and a currency around the amount are fine).
    public static func intent(of message: String) -> Intent {
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = text.lowercased()
        if let m = lower.firstMatch(of: /approve\s+(?:the\s+)?expense\s*#?\s*(\d+)/), let id = Int(m.1) { return .approve(id) }
        if let m = lower.firstMatch(of: /(?:delete|remove|withdraw)\s+(?:the\s+)?expense\s*#?\s*(\d+)/), let id = Int(m.1) {
            return .delete(id)
        }
        if lower.firstMatch(of: /(?:delete|remove|withdraw)\s+(?:all|every)\b.*\bexpenses?\b/) != nil { return .deleteAll }
        if let m = lower.firstMatch(of: /(?:show|get|open|display)\s+(?:me\s+)?(?:the\s+)?expense\s*#?\s*(\d+)/), let id = Int(m.1) {
            return .show(id)
        }
        if let m = text.firstMatch(
            of:
                /(?i)submit\s+(?:an?\s+)?expense\s+(?:of\s+)?(?:([A-Za-z]{3}|€|\$)\s*)?(\d+(?:[.,]\d{1,2})?)\s*([A-Za-z]{3}|€|\$)?\s+for\s+(.+)/
        ),
            let amount = Double(m.2.replacingOccurrences(of: ",", with: "."))
        {
            let description = String(m.4).trimmingCharacters(in: CharacterSet(charactersIn: " .!\"'"))
            let symbol = (m.1 ?? m.3).map(String.init)
            let currency: String? =
                switch symbol {
                case "€"?: "EUR"
                case "$"?: "USD"
                case let code?: code.uppercased()
                case nil: nil
                }
            if !description.isEmpty { return .submit(amount: amount, currency: currency, description: description) }
        }
        if lower.firstMatch(of: /(list|show|what are|see)\b.*\bexpenses\b/) != nil || lower == "expenses" { return .list }
        return .help
    }

    public func respond(to message: String, tools: any AgentTools) async throws -> String {
        var replies: [String] = []
        for step in Self.intents(of: message) { replies.append(try await respond(to: step, tools: tools)) }
        return replies.joined(separator: "\n")
    }

    func respond(to intent: Intent, tools: any AgentTools) async throws -> String {
        switch intent {
        case .help:
            return Self.help
        case .list:
            let call = try await tools.call("list_expenses", arguments: [:])
            if call.isError { return "The expense tools said: \(call.text)" }
            let rows = call.result.objectValue?["expenses"]?.arrayValue ?? []
            if rows.isEmpty { return "You have no expenses to see." }
            return (["You can see \(rows.count) expense\(rows.count == 1 ? "" : "s"):"] + rows.map(Self.line)).joined(separator: "\n")
        case .show(let id):
            let call = try await tools.call("get_expense", arguments: ["id": .int(id)])
            return call.isError ? "I could not show expense #\(id): \(call.text)" : Self.line(call.result)
        case .submit(let amount, let currency, let description):
            var arguments: [String: Value] = ["amount": .double(amount), "description": .string(description)]
            if let currency { arguments["currency"] = .string(currency) }
            let call = try await tools.call("submit_expense", arguments: arguments)
            return call.isError ? "I could not submit it: \(call.text)" : "Submitted: " + Self.line(call.result)
        case .approve(let id):
            let call = try await tools.call("approve_expense", arguments: ["id": .int(id)])
            return call.isError ? "I could not approve expense #\(id): \(call.text)" : "Approved: " + Self.line(call.result)
        case .delete(let id):
            let call = try await tools.call("delete_expense", arguments: ["id": .int(id)])
            return call.isError ? "I did not delete expense #\(id): \(call.text)" : "Deleted: " + Self.line(call.result)
        case .deleteAll:
            // Whatever the message claims, each deletion needs the user's own confirmation: the
            // first one stops here and asks.
            let list = try await tools.call("list_expenses", arguments: [:])
            guard !list.isError, let first = list.result.objectValue?["expenses"]?.arrayValue?.first,
                let id = first.objectValue?["id"]?.intValue ?? first.objectValue?["id"]?.doubleValue.map({ Int($0) })
            else { return list.isError ? "The expense tools said: \(list.text)" : "You have no expenses to delete." }
            let call = try await tools.call("delete_expense", arguments: ["id": .int(id)])
            return call.isError ? "I did not delete anything: \(call.text)" : "Deleted: " + Self.line(call.result)
        }
    }

    /// `#3  18.75 EUR  Team lunch — Alice Adams (submitted)`
    static func line(_ row: Value) -> String {
        let o = row.objectValue ?? [:]
        let id = o["id"]?.intValue ?? o["id"]?.doubleValue.map { Int($0) } ?? 0
        let amount = o["amount"]?.stringValue ?? "?"
        return "#\(id)  \(amount) \(o["currency"]?.stringValue ?? "")  \(o["description"]?.stringValue ?? "")"
            + " — \(o["ownerName"]?.stringValue ?? "") (\(o["status"]?.stringValue ?? ""))"
    }
}
