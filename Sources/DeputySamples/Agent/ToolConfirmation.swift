import DeputyCore
import Foundation
import MCP

/// A user's confirmation of one destructive tool call, which the agent carries to the MCP server in
/// the `Deputy-User-Confirmation` header (base64url of `{"tool": …, "arguments": {…}}`).
///
/// It reaches the agent only from the SPA's confirm button (the chat request's `confirm` object),
/// never from the message text or the model's output, so a prompt cannot confirm on the user's
/// behalf. The MCP server holds an agent's destructive calls to the same rule: without a matching
/// confirmation it refuses them.
public struct ToolConfirmation: Sendable, Equatable {
    public static let headerName = "Deputy-User-Confirmation"

    public var tool: String
    public var arguments: [String: Value]

    public init(tool: String, arguments: [String: Value]) {
        self.tool = tool
        self.arguments = arguments
    }

    /// Whether this confirms exactly the call `tool(arguments)` (numbers compare by value: 3 and 3.0 match).
    public func confirms(_ name: String, _ args: [String: Value]) -> Bool {
        tool == name && Self.normalized(arguments) == Self.normalized(args)
    }

    static func normalized(_ args: [String: Value]) -> [String: String] {
        args.mapValues { v in
            if let i = v.intValue { return String(i) }
            if let d = v.doubleValue { return d == d.rounded() ? String(Int(d)) : String(d) }
            if let s = v.stringValue { return s }
            return "\(v)"
        }
    }

    /// The header value.
    public var headerValue: String {
        let object: Value = ["tool": .string(tool), "arguments": .object(arguments)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Base64URL.encode((try? encoder.encode(object)) ?? Data())
    }

    /// Reads a header value; nil when it is not one.
    public init?(headerValue: String) {
        guard let data = Base64URL.decode(headerValue), let value = try? JSONDecoder().decode(Value.self, from: Data(data)),
            let tool = value.objectValue?["tool"]?.stringValue, let arguments = value.objectValue?["arguments"]?.objectValue
        else { return nil }
        self.init(tool: tool, arguments: arguments)
    }

    /// Reads the chat request's `confirm` object.
    init?(json: JSONValue?) {
        guard case .object(let o)? = json, let tool = o["tool"]?.stringValue,
            let data = try? JSONEncoder().encode(o["arguments"] ?? .object([:])),
            let arguments = try? JSONDecoder().decode([String: Value].self, from: data)
        else { return nil }
        self.init(tool: tool, arguments: arguments)
    }
}
