import DeputyCore
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import MCP
import NIOCore

/// Header names of MCP's Streamable HTTP transport.
enum MCPHeader {
    static let protocolVersion = HTTPField.Name("MCP-Protocol-Version")!
    /// 2026-07-28: the JSON-RPC method, repeated in a header so proxies can route on it.
    static let method = HTTPField.Name("Mcp-Method")!
    /// 2026-07-28: the tool (or prompt, or resource) a request names.
    static let name = HTTPField.Name("Mcp-Name")!
}

/// MCP 2026-07-28, the stateless revision: every POST is one self-contained JSON-RPC request,
/// with no `initialize` handshake and no session (the MCP specification 2026-07-28, "Lifecycle"
/// and "Transports"). A client learns what the server speaks with `server/discover`; each request
/// carries the protocol version, the client's capabilities and its info in `params._meta`, and
/// repeats the version, method and tool name in headers.
///
/// Hand-written: the Swift MCP SDK (0.12.1) implements the handshake revisions only. The SDK's
/// types (`Tool`, `CallTool.Result`) are reused for the content; this adds the envelope.
enum StatelessMCP {
    /// Revisions served without a handshake.
    static let versions = ["2026-07-28"]
    /// Revisions that begin with `initialize` (served by the SDK's `Server`).
    static let handshakeVersions: Set<String> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

    /// `_meta` keys of the envelope.
    static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    /// JSON-RPC error codes of the revision, with the HTTP status each is answered with.
    enum ErrorCode: Int {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case headerMismatch = -32020
        case unsupportedProtocolVersion = -32022

        var status: HTTPResponse.Status { self == .methodNotFound ? .notFound : .badRequest }
    }

    /// A refusal of the envelope, before any method runs.
    struct Refusal: Error {
        var code: ErrorCode
        var message: String
        var data: JSONValue? = nil
    }

    /// A header whose value may be base64-wrapped (`=?base64?…?=`) when it is not plain text.
    static func decodedHeader(_ value: String) -> String {
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?="),
            let data = Data(base64Encoded: String(value.dropFirst(9).dropLast(2)))
        else { return value }
        return String(decoding: data, as: UTF8.self)
    }

    /// Any Codable value of the SDK as a `JSONValue`.
    static func json(_ value: some Encodable) throws -> JSONValue {
        try JSONParser.parse(try JSONEncoder().encode(value))
    }
}

extension MCPEndpoint {
    /// Answers one 2026-07-28 request. Order of the checks as the revision gives them: the
    /// transport (Host/Origin, Accept, Content-Type), the JSON-RPC envelope, `_meta`, the headers
    /// against the body (-32020), then the version (-32022); then the method.
    func handleStateless(
        _ request: Request, body: ByteBuffer, principal: Principal, toolContext: MCPToolContext, slot: ChallengeSlot
    ) async -> Response {
        let sdk = sdkRequest(request, body: body)
        let validation = HTTPValidationContext(httpMethod: "POST", supportedProtocolVersions: Set(StatelessMCP.versions))
        for validator in transportValidators {
            if let refusal = validator.validate(sdk, context: validation) { return response(refusal) }
        }
        guard case .object(let message)? = try? JSONParser.parse(body.readableBytesView) else {
            let parsed = (try? JSONParser.parse(body.readableBytesView)) != nil
            return rpcError(
                id: .null, parsed ? .invalidRequest : .parseError,
                parsed ? "Body must be a single JSON-RPC request or notification object" : "Parse error")
        }
        guard message["jsonrpc"] == .string("2.0"), case .string(let method)? = message["method"] else {
            return rpcError(id: message["id"] ?? .null, .invalidRequest, "Body must be a single JSON-RPC request or notification object")
        }
        let headerVersion = request.headers[MCPHeader.protocolVersion] ?? ""
        guard let id = message["id"], id != .null else {
            // A notification: the revision defines none from client to server; acknowledged.
            if !StatelessMCP.versions.contains(headerVersion) {
                return rpcError(id: .null, .unsupportedProtocolVersion, "Unsupported protocol version", data: supported(headerVersion))
            }
            return Response(status: .accepted, headers: [.cacheControl: "no-store"])
        }
        let params = message["params"]?.objectValue ?? [:]
        do {
            try checkEnvelope(method: method, params: params, headers: request.headers)
        } catch {
            return rpcError(id: id, error.code, error.message, data: error.data)
        }
        let serverInfo: JSONValue = .object([
            "name": .string(toolbox.serverInfo.name), "version": .string(toolbox.serverInfo.version),
        ])
        let meta: JSONValue = .object([StatelessMCP.serverInfoKey: serverInfo])
        do {
            var result: [String: JSONValue]
            switch method {
            case "server/discover":
                result = [
                    "supportedVersions": .array(StatelessMCP.versions.map(JSONValue.string)),
                    "capabilities": .object(["tools": .object(["listChanged": .bool(false)])]),
                    "ttlMs": .number(3_600_000), "cacheScope": .string("public"),
                ]
            case "tools/list":
                let tools = try toolbox.tools.map { try StatelessMCP.json($0) }
                // The same list for every caller: cacheable by shared caches for an hour.
                result = ["tools": .array(tools), "ttlMs": .number(3_600_000), "cacheScope": .string("public")]
            case "tools/call":
                guard case .string(let name)? = params["name"] else {
                    return rpcError(id: id, .invalidParams, "tools/call needs params.name")
                }
                let arguments = try params["arguments"].map { try JSONDecoder().decode([String: Value].self, from: Data($0.serialized)) }
                do {
                    let called = try await callTool(
                        name, arguments: arguments ?? [:], principal: principal, toolContext: toolContext, slot: slot)
                    result = try StatelessMCP.json(called).objectValue ?? [:]
                } catch let error as MCPError {
                    // The HTTP answer is the challenge when there is one (the caller checks the slot).
                    return rpcError(id: id, code: error.code, error.localizedDescription)
                }
            default:
                return rpcError(id: id, .methodNotFound, "Method not found: \(method)")
            }
            result["resultType"] = .string("complete")
            result["_meta"] = meta
            return rpcAnswer(.object(["jsonrpc": .string("2.0"), "id": id, "result": .object(result)]), status: .ok)
        } catch {
            return rpcError(id: id, .invalidParams, "Invalid params: \(error)")
        }
    }

    /// `_meta` and the routing headers (the MCP specification 2026-07-28, "Transports").
    func checkEnvelope(method: String, params: [String: JSONValue], headers: HTTPFields) throws(StatelessMCP.Refusal) {
        let meta = params["_meta"]?.objectValue
        guard let meta, meta[StatelessMCP.protocolVersionKey] != nil, meta[StatelessMCP.clientCapabilitiesKey] != nil else {
            throw .init(
                code: .invalidParams,
                message:
                    "params._meta is missing the required envelope key(s): \(StatelessMCP.protocolVersionKey), \(StatelessMCP.clientCapabilitiesKey)"
            )
        }
        let bodyVersion = meta[StatelessMCP.protocolVersionKey]?.stringValue
        guard let headerVersion = headers[MCPHeader.protocolVersion], headerVersion == bodyVersion else {
            throw .init(code: .headerMismatch, message: "MCP-Protocol-Version does not match params._meta's protocol version")
        }
        guard headers[MCPHeader.method] == method else {
            throw .init(code: .headerMismatch, message: "Mcp-Method does not match the request's method")
        }
        if ["tools/call", "prompts/get", "resources/read"].contains(method) {
            let named = params["name"]?.stringValue ?? params["uri"]?.stringValue
            guard let header = headers[MCPHeader.name], StatelessMCP.decodedHeader(header) == named else {
                throw .init(code: .headerMismatch, message: "Mcp-Name does not match the request's name")
            }
        }
        guard let bodyVersion, StatelessMCP.versions.contains(bodyVersion) else {
            throw .init(code: .unsupportedProtocolVersion, message: "Unsupported protocol version", data: supported(bodyVersion ?? ""))
        }
    }

    func supported(_ requested: String) -> JSONValue {
        .object(["supported": .array(StatelessMCP.versions.map(JSONValue.string)), "requested": .string(requested)])
    }

    func rpcError(id: JSONValue, _ code: StatelessMCP.ErrorCode, _ message: String, data: JSONValue? = nil) -> Response {
        var error: [String: JSONValue] = ["code": .number(Double(code.rawValue)), "message": .string(message)]
        if let data { error["data"] = data }
        return rpcAnswer(.object(["jsonrpc": .string("2.0"), "id": id, "error": .object(error)]), status: code.status)
    }

    /// An error the SDK's `MCPError` names (an internal error answers 200, as unmapped codes do).
    func rpcError(id: JSONValue, code: Int, _ message: String) -> Response {
        let error: JSONValue = .object(["code": .number(Double(code)), "message": .string(message)])
        return rpcAnswer(.object(["jsonrpc": .string("2.0"), "id": id, "error": error]), status: .ok)
    }

    func rpcAnswer(_ message: JSONValue, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: message.serialized)))
    }
}
