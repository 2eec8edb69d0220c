import AsyncHTTPClient
import DeputyCore
import DeputyMCP
import Foundation
import MCP
import NIOCore
import NIOHTTP1

/// One request the audit made to the target and what came back.
struct Exchange: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String
    /// An MCP tool call answered with `isError` (a tool error in a 200).
    var toolError = false

    /// A 2xx answer that is not a tool error.
    var succeeded: Bool { (200..<300).contains(status) && !toolError }

    var wwwAuthenticate: String? { headers["www-authenticate"] }

    /// The answer as evidence: status, challenge and the start of the body.
    var evidence: JSONValue {
        var o: [String: JSONValue] = ["status": .number(Double(status)), "body": .string(String(body.prefix(300)))]
        if let h = wwwAuthenticate { o["wwwAuthenticate"] = .string(h) }
        return .object(o)
    }
}

/// How the audit reaches the target: a plain HTTP request (the method, body and headers a client
/// of that middle tier sends) or an MCP tool call, in whichever MCP revision the server speaks.
struct AuditTarget: Sendable {
    enum Kind: Sendable {
        case http(method: String, body: String?)
        case mcp(tool: String, arguments: [String: Value])
    }

    let url: String
    let kind: Kind
    let http: HTTPClient

    /// Sends one request with `token` (none when nil) and returns the answer; never throws for an
    /// HTTP status, only when the target cannot be reached.
    func send(token: String?, correlation: String, tool: String? = nil) async throws -> Exchange {
        switch kind {
        case .http(let method, let body):
            var request = HTTPClientRequest(url: url)
            request.method = HTTPMethod(rawValue: method.uppercased())
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            request.headers.add(name: "client-request-id", value: correlation)
            request.headers.add(name: "Accept", value: "application/json")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let data = try await response.body.collect(upTo: 4 << 20)
            var headers: [String: String] = [:]
            for h in response.headers { headers[h.name.lowercased()] = h.value }
            return Exchange(status: Int(response.status.code), headers: headers, body: String(buffer: data))
        case .mcp(let defaultTool, let arguments):
            let observed = LockedBox<[String: String]>([:])
            let client = MCPToolClient(
                endpoint: url, httpClient: http, authorizer: token.map(StaticBearer.init), headers: [("client-request-id", correlation)],
                profiles: MCPServerProfiles(), clientInfo: ("deputy-audit", "1.0.0")
            ) { _, headers in
                var o: [String: String] = [:]
                for h in headers { o[h.name.lowercased()] = h.value }
                observed.withLock { $0 = o }
            }
            defer { Task { await client.close() } }
            do {
                let result = try await client.callTool(name: tool ?? defaultTool, arguments: tool == nil ? arguments : [:])
                let text = result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined(separator: "\n")
                return Exchange(status: 200, headers: observed.withLock { $0 }, body: text, toolError: result.isError == true)
            } catch MCPHTTPClientError.challenge(let status, let header, let body) {
                var headers = observed.withLock { $0 }
                if let header { headers["www-authenticate"] = header }
                return Exchange(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
            } catch MCPHTTPClientError.http(let status, let body) {
                return Exchange(status: status, headers: observed.withLock { $0 }, body: body)
            } catch let error as MCPError {
                return Exchange(
                    status: 200, headers: observed.withLock { $0 }, body: "JSON-RPC error \(error.code): \(error.localizedDescription)",
                    toolError: true)
            }
        }
    }
}

/// A fixed bearer token for the MCP client.
struct StaticBearer: MCPAuthorizer {
    let token: String
    func authorizationHeader(for endpoint: String) async throws -> String? { "Bearer \(token)" }
}
