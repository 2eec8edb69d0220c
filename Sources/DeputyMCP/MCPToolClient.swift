public import AsyncHTTPClient
import DeputyCore
public import Foundation
public import MCP
import NIOCore
public import NIOHTTP1

/// What an MCP client learned of a server's protocol revisions, kept across sessions (one per
/// endpoint) so a session does not ask again: `server/discover`'s answer is cacheable for its
/// `ttlMs` (the MCP specification 2026-07-28, "Lifecycle").
public final class MCPServerProfiles: Sendable {
    enum Era: Sendable {
        /// Speaks 2026-07-28: one POST per request, no handshake.
        case stateless(version: String)
        /// Answered `server/discover` with an error: the handshake revisions.
        case handshake
    }

    private let known = LRUCache<String, Era>(capacity: 256)

    public init() {}

    func era(_ endpoint: String, now: Date = Date()) -> Era? { known.value(for: endpoint, now: now) }
    func remember(_ era: Era, for endpoint: String, for seconds: TimeInterval, now: Date = Date()) {
        known.set(era, for: endpoint, expiresAt: now + seconds)
    }
}

/// An MCP client for tools over Streamable HTTP, in the revision the server offers: MCP
/// 2026-07-28 when `server/discover` says so (each tool call is then one POST), else the
/// handshake revisions through the SDK's `Client` over ``MCPHTTPClientTransport`` (`initialize`,
/// `notifications/initialized`, then the calls).
///
/// A 401 or 403 from the server is thrown as ``MCPHTTPClientError/challenge(status:wwwAuthenticate:body:)``
/// with its `WWW-Authenticate` header, for a middle tier to relay; a JSON-RPC error as `MCPError`.
public actor MCPToolClient {
    public let endpoint: String
    let httpClient: HTTPClient
    let authorizer: (any MCPAuthorizer)?
    let extraHeaders: [(String, String)]
    let observer: (@Sendable (Int, HTTPHeaders) -> Void)?
    let profiles: MCPServerProfiles
    let clientInfo: (name: String, version: String)
    var legacy: Client?
    var legacyTransport: MCPHTTPClientTransport?
    var nextID = 1

    /// - Parameters:
    ///   - endpoint: the MCP endpoint (`https://host:port/mcp`).
    ///   - httpClient: the client that sends the requests.
    ///   - authorizer: supplies the bearer token of each request.
    ///   - headers: sent on every request (`client-request-id`, say).
    ///   - profiles: what is known of servers' revisions, shared between clients (one per process).
    ///   - clientInfo: the client's name and version, sent to the server.
    ///   - observer: sees each answer's status and headers.
    public init(
        endpoint: String, httpClient: HTTPClient = .shared, authorizer: (any MCPAuthorizer)? = nil, headers: [(String, String)] = [],
        profiles: MCPServerProfiles, clientInfo: (name: String, version: String) = ("deputy", "1.0.0"),
        observer: (@Sendable (Int, HTTPHeaders) -> Void)? = nil
    ) {
        self.endpoint = endpoint
        self.httpClient = httpClient
        self.authorizer = authorizer
        self.extraHeaders = headers
        self.profiles = profiles
        self.clientInfo = clientInfo
        self.observer = observer
    }

    /// The revision in use: `server/discover` on first use (unless known), the handshake otherwise.
    func era() async throws -> MCPServerProfiles.Era {
        if let known = profiles.era(endpoint) { return known }
        let version = StatelessMCP.versions[0]
        do {
            let result = try await statelessRequest("server/discover", params: [:], version: version)
            let offered = result["supportedVersions"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard let mutual = StatelessMCP.versions.first(where: offered.contains), result["capabilities"] != nil else {
                profiles.remember(.handshake, for: endpoint, for: 3600)
                return .handshake
            }
            let ttl = (result["ttlMs"]?.numberValue).map { min(max($0 / 1000, 0), 86_400) } ?? 3600
            profiles.remember(.stateless(version: mutual), for: endpoint, for: ttl)
            return .stateless(version: mutual)
        } catch let error as MCPHTTPClientError {
            // A challenge is the caller's to relay; a refusal of the method or version means the handshake.
            if case .challenge = error { throw error }
            if case .transport = error { throw error }
            profiles.remember(.handshake, for: endpoint, for: 3600)
            return .handshake
        } catch is MCPError {
            profiles.remember(.handshake, for: endpoint, for: 3600)
            return .handshake
        }
    }

    /// Runs `operation`; when the server answers 401/403 and the authorizer can act on it
    /// (``MCPChallengeHandling``: sign in, step up), once more with the new token.
    func retryingChallenge<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        do {
            return try await operation()
        } catch MCPHTTPClientError.challenge(let status, let header, let body) {
            guard let handler = authorizer as? any MCPChallengeHandling,
                try await handler.handleChallenge(status: status, wwwAuthenticate: header, endpoint: endpoint)
            else { throw MCPHTTPClientError.challenge(status: status, wwwAuthenticate: header, body: body) }
            // A handshake session opened with the old token stays; its next request carries the new one.
            return try await operation()
        }
    }

    /// `tools/list`.
    public func listTools() async throws -> [Tool] {
        try await retryingChallenge { try await listToolsOnce() }
    }

    func listToolsOnce() async throws -> [Tool] {
        switch try await era() {
        case .stateless(let version):
            let result = try await statelessRequest("tools/list", params: [:], version: version)
            return try JSONDecoder().decode([Tool].self, from: Data((result["tools"] ?? .array([])).serialized))
        case .handshake:
            return try await handshakeClient().listTools().tools
        }
    }

    /// `tools/call`: the content and whether the tool reported an error.
    public func callTool(name: String, arguments: [String: Value]) async throws -> (content: [Tool.Content], isError: Bool?) {
        try await retryingChallenge { try await callToolOnce(name: name, arguments: arguments) }
    }

    func callToolOnce(name: String, arguments: [String: Value]) async throws -> (content: [Tool.Content], isError: Bool?) {
        switch try await era() {
        case .stateless(let version):
            let args = try StatelessMCP.json(arguments)
            let result = try await statelessRequest(
                "tools/call", params: ["name": .string(name), "arguments": args], version: version, name: name)
            let called = try JSONDecoder().decode(CallTool.Result.self, from: Data(JSONValue.object(result).serialized))
            return (called.content, called.isError)
        case .handshake:
            return try await handshakeClient().callTool(name: name, arguments: arguments)
        }
    }

    /// Ends the handshake session, if one was opened.
    public func close() async {
        if let legacy { await legacy.disconnect() }
        legacy = nil
        legacyTransport = nil
    }

    func handshakeClient() async throws -> Client {
        if let legacy { return legacy }
        let transport = MCPHTTPClientTransport(
            endpoint: endpoint, httpClient: httpClient, authorizer: authorizer, headers: extraHeaders, observer: observer)
        let client = Client(name: clientInfo.name, version: clientInfo.version)
        do {
            try await client.connect(transport: transport)
        } catch {
            // connect() starts the client's message loop before initialize: end it, or it waits forever.
            await client.disconnect()
            throw error
        }
        legacy = client
        legacyTransport = transport
        return client
    }

    /// One 2026-07-28 request: the envelope in `_meta`, the routing headers, one POST.
    func statelessRequest(
        _ method: String, params: [String: JSONValue], version: String, name: String? = nil
    ) async throws -> [String: JSONValue] {
        var params = params
        params["_meta"] = .object([
            StatelessMCP.protocolVersionKey: .string(version), StatelessMCP.clientCapabilitiesKey: .object([:]),
            "io.modelcontextprotocol/clientInfo": .object(["name": .string(clientInfo.name), "version": .string(clientInfo.version)]),
        ])
        let id = nextID
        nextID += 1
        let message: JSONValue = .object([
            "jsonrpc": .string("2.0"), "id": .number(Double(id)), "method": .string(method), "params": .object(params),
        ])
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "MCP-Protocol-Version", value: version)
        request.headers.add(name: "Mcp-Method", value: method)
        if let name { request.headers.add(name: "Mcp-Name", value: Self.headerSafe(name)) }
        for (header, value) in extraHeaders { request.headers.add(name: header, value: value) }
        if let authorizer, let value = try await authorizer.authorizationHeader(for: endpoint) {
            request.headers.add(name: "Authorization", value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: message.serialized))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: .seconds(30))
            body = try await response.body.collect(upTo: 8 << 20)
        } catch {
            throw MCPHTTPClientError.transport("\(error)")
        }
        observer?(Int(response.status.code), response.headers)
        let bytes = Array(buffer: body)
        if response.status.code == 401 || response.status.code == 403 {
            throw MCPHTTPClientError.challenge(
                status: Int(response.status.code), wwwAuthenticate: response.headers.first(name: "WWW-Authenticate"), body: bytes)
        }
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        let payload =
            contentType.hasPrefix("text/event-stream") ? MCPHTTPClientTransport.serverSentEventData(bytes).last ?? Data() : Data(bytes)
        // The revision answers JSON-RPC errors with 4xx statuses and a JSON body: read them as errors.
        guard case .object(let answer)? = try? JSONParser.parse(payload) else {
            throw MCPHTTPClientError.http(status: Int(response.status.code), body: String(decoding: bytes.prefix(1024), as: UTF8.self))
        }
        if let error = answer["error"] {
            throw (try? JSONDecoder().decode(MCPError.self, from: Data(error.serialized))) ?? MCPError.internalError(nil)
        }
        guard (200..<300).contains(response.status.code), case .object(let result)? = answer["result"] else {
            throw MCPHTTPClientError.http(status: Int(response.status.code), body: String(decoding: bytes.prefix(1024), as: UTF8.self))
        }
        return result
    }

    /// A header value as the revision sends names that are not plain printable ASCII.
    static func headerSafe(_ value: String) -> String {
        let plain = value.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        return plain ? value : "=?base64?\(Data(value.utf8).base64EncodedString())?="
    }
}
