public import AsyncHTTPClient
import DeputyCore
public import DeputyTokenAcquisition
public import Foundation
public import Logging
public import MCP
public import NIOCore
public import NIOHTTP1

/// Supplies the `Authorization` header of each MCP request (a fresh or cached token).
public protocol MCPAuthorizer: Sendable {
    /// The header value (`Bearer …`), or nil to send none. Errors end the request and reach the
    /// caller unchanged (an `AcquisitionError` from On-Behalf-Of, say).
    func authorizationHeader(for endpoint: String) async throws -> String?
}

/// An MCP client's authorizer for a middle tier: it gets its own token for the MCP server by
/// On-Behalf-Of with the user's incoming token as the assertion — the user's token never travels
/// on. Tokens come from the `ConfidentialClient`'s cache while valid.
public struct OnBehalfOfAuthorizer: MCPAuthorizer {
    public let client: ConfidentialClient
    public let assertion: String
    public let scopes: [String]
    public let correlationID: String?

    /// - Parameters:
    ///   - client: the middle tier's confidential client (its own credential).
    ///   - assertion: the user's access token this middle tier received.
    ///   - scopes: the MCP server's scopes (`api://…/.default`).
    ///   - correlationID: sent with each token request (`client-request-id`).
    public init(client: ConfidentialClient, assertion: String, scopes: [String], correlationID: String? = nil) {
        self.client = client
        self.assertion = assertion
        self.scopes = scopes
        self.correlationID = correlationID
    }

    public func authorizationHeader(for endpoint: String) async throws -> String? {
        let token = try await client.acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes, correlationID: correlationID)
        return "Bearer \(token.token)"
    }
}

/// An MCP client's authorizer for an agent acting as its own user account (Microsoft Entra Agent
/// ID's agent user): the agent identity's token for its agent user, got with the user-FIC flow
/// (`ConfidentialClient.acquireTokenForAgentUser(username:userID:scopes:claims:correlationID:)` of DeputyTokenAcquisition).
public struct AgentUserAuthorizer: MCPAuthorizer {
    public let client: ConfidentialClient
    public let username: String
    public let scopes: [String]

    /// - Parameters:
    ///   - client: the agent identity's client (`ConfidentialClient(agentIdentity:)`).
    ///   - username: the agent user's UPN.
    ///   - scopes: the MCP server's scopes.
    public init(client: ConfidentialClient, username: String, scopes: [String]) {
        self.client = client
        self.username = username
        self.scopes = scopes
    }

    public func authorizationHeader(for endpoint: String) async throws -> String? {
        "Bearer " + (try await client.acquireTokenForAgentUser(username: username, scopes: scopes).token)
    }
}

/// Why an MCP request over HTTP failed before any JSON-RPC answer.
public enum MCPHTTPClientError: Error, Sendable, CustomStringConvertible {
    /// 401 or 403 from the MCP server, with its challenge (relay it: it may be a claims challenge).
    case challenge(status: Int, wwwAuthenticate: String?, body: [UInt8])
    /// Any other non-2xx answer.
    case http(status: Int, body: String)
    /// The server could not be reached.
    case transport(String)

    public var description: String {
        switch self {
        case .challenge(let status, let header, _): "the MCP server answered \(status) \(header ?? "")"
        case .http(let status, let body): "the MCP server answered \(status): \(body.prefix(200))"
        case .transport(let message): "the MCP server could not be reached: \(message)"
        }
    }
}

/// A Streamable HTTP client transport (MCP 2025-11-25, "Streamable HTTP") over AsyncHTTPClient.
///
/// Written here rather than using the SDK's `HTTPClientTransport` because, on Linux, that one
/// runs on URLSession (it cannot trust a local CA given in code, and it cannot read SSE answers)
/// and turns a 401/403 into a message without the `WWW-Authenticate` header — which is exactly
/// what a middle tier must relay. This one throws ``MCPHTTPClientError/challenge(status:wwwAuthenticate:body:)``
/// with the header, reads JSON and SSE answers, and forwards extra headers (a correlation id).
public actor MCPHTTPClientTransport: Transport {
    public nonisolated let logger: Logger
    public let endpoint: String
    let httpClient: HTTPClient
    let authorizer: (any MCPAuthorizer)?
    let extraHeaders: [(String, String)]
    let observer: (@Sendable (Int, HTTPHeaders) -> Void)?
    let timeout: TimeAmount
    var sessionID: String?
    var protocolVersion: String?
    let stream: AsyncThrowingStream<Data, any Error>
    let continuation: AsyncThrowingStream<Data, any Error>.Continuation

    /// - Parameters:
    ///   - endpoint: the MCP endpoint (`https://host:port/mcp`).
    ///   - authorizer: supplies the bearer token of each request.
    ///   - headers: sent on every request (`client-request-id`, say).
    ///   - httpClient: the client that sends the requests.
    ///   - timeout: the limit for each request.
    ///   - observer: sees each answer's status and headers (for diagnostics).
    ///   - logger: the transport's logger.
    public init(
        endpoint: String, httpClient: HTTPClient = .shared, authorizer: (any MCPAuthorizer)? = nil,
        headers: [(String, String)] = [], timeout: TimeAmount = .seconds(30),
        observer: (@Sendable (Int, HTTPHeaders) -> Void)? = nil, logger: Logger = Logger(label: "deputy.mcp.client")
    ) {
        self.endpoint = endpoint
        self.httpClient = httpClient
        self.authorizer = authorizer
        self.extraHeaders = headers
        self.observer = observer
        self.timeout = timeout
        self.logger = logger
        (stream, continuation) = AsyncThrowingStream<Data, any Error>.makeStream()
    }

    public func connect() async throws {}

    public func disconnect() async { continuation.finish() }

    public func receive() -> AsyncThrowingStream<Data, any Error> { stream }

    public func send(_ data: Data) async throws {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "Content-Type", value: "application/json")
        if let protocolVersion { request.headers.add(name: "MCP-Protocol-Version", value: protocolVersion) }
        if let sessionID { request.headers.add(name: "Mcp-Session-Id", value: sessionID) }
        for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
        if let authorizer, let value = try await authorizer.authorizationHeader(for: endpoint) {
            request.headers.add(name: "Authorization", value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: data))

        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: 8 << 20)
        } catch {
            throw MCPHTTPClientError.transport("\(error)")
        }
        observer?(Int(response.status.code), response.headers)
        if let id = response.headers.first(name: "Mcp-Session-Id") { sessionID = id }
        let bytes = Array(buffer: body)
        switch response.status.code {
        case 202, 204:
            return
        case 200..<300:
            break
        case 401, 403:
            throw MCPHTTPClientError.challenge(
                status: Int(response.status.code),
                wwwAuthenticate: response.headers.first(name: "WWW-Authenticate"), body: bytes)
        default:
            throw MCPHTTPClientError.http(status: Int(response.status.code), body: String(decoding: bytes.prefix(1024), as: UTF8.self))
        }
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        let messages = contentType.hasPrefix("text/event-stream") ? Self.serverSentEventData(bytes) : [Data(bytes)]
        for message in messages {
            noteProtocolVersion(request: data, response: message)
            continuation.yield(message)
        }
    }

    /// After `initialize`, later requests carry the negotiated `MCP-Protocol-Version`.
    func noteProtocolVersion(request: Data, response: Data) {
        guard protocolVersion == nil,
            case .object(let sent)? = try? JSONParser.parse(request), sent["method"]?.stringValue == "initialize",
            case .object(let got)? = try? JSONParser.parse(response),
            case .object(let result)? = got["result"], let version = result["protocolVersion"]?.stringValue
        else { return }
        protocolVersion = version
    }

    /// The `data` of each event in a complete SSE body (WHATWG HTML §9.2.6: lines joined with LF,
    /// events separated by a blank line).
    static func serverSentEventData(_ bytes: [UInt8]) -> [Data] {
        var events: [Data] = []
        var current: [String] = []
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !current.isEmpty {
                    events.append(Data(current.joined(separator: "\n").utf8))
                    current = []
                }
            } else if line.hasPrefix("data:") {
                var value = line.dropFirst(5)
                if value.first == " " { value = value.dropFirst() }
                current.append(String(value))
            }
        }
        if !current.isEmpty { events.append(Data(current.joined(separator: "\n").utf8)) }
        return events
    }
}
