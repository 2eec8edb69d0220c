import ArgumentParser
import AsyncHTTPClient
import DeputyAuthorityServer
import DeputyCore
import DeputyHummingbird
import DeputyMCP
import DeputySamples
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import Hummingbird
import Logging
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// How the agent plans: the built-in deterministic planner, or an OpenAI-compatible model.
struct LLMOptions: ParsableArguments {
    @Option(
        help:
            "An OpenAI-compatible chat-completions API with tool calling for the agent (e.g. http://127.0.0.1:11434/v1 for Ollama); default: the built-in planner."
    )
    var llmEndpoint: String?
    @Option(help: "The model name for --llm-endpoint.") var llmModel = "llama3.1"
    @Option(help: "Environment variable holding the API key for --llm-endpoint, if it needs one.") var llmApiKeyEnv = "DEPUTY_LLM_API_KEY"

    func validate() throws {
        if let llmEndpoint, URL(string: llmEndpoint)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw fail("--llm-endpoint must be an http(s) URL such as http://127.0.0.1:11434/v1, found '\(llmEndpoint)'")
        }
    }

    func planner(httpClient: HTTPClient) -> any AgentPlanner {
        guard let llmEndpoint else { return BuiltInPlanner() }
        return ChatCompletionsPlanner(
            endpoint: llmEndpoint, model: llmModel, apiKey: ProcessInfo.processInfo.environment[llmApiKeyEnv],
            httpClient: httpClient)
    }
}

/// What every `deputy serve` service needs: where it listens and which authority it trusts.
struct ServiceOptions: ParsableArguments {
    @Option(
        help:
            "The authority with its tenant: https://login.microsoftonline.com/<tenant id> (Entra ID) or Deputy's (…/<tenant id>); a trailing /v2.0 is fine."
    )
    var authority: String
    @Option(help: "This service's application (client) id.") var clientId: String
    @Option(help: "Port to listen on.") var port: Int
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "A PEM file of CA certificates to trust for outgoing HTTPS (a Deputy authority under --tls: <data-dir>/tls/ca.pem).")
    var caCertificate: String?
    @Flag(help: "Demo mode: report each hop's token claims in the Deputy-Token-Chain response header.") var demo = false
    @OptionGroup var observability: ObservabilityOptions

    /// `https://…/<tenant>` (for token requests) and `https://…/<tenant>/v2.0` (the issuer).
    func authorities() throws -> (tenant: String, issuer: String) {
        var base = authority.hasSuffix("/") ? String(authority.dropLast()) : authority
        if base.hasSuffix("/v2.0") { base = String(base.dropLast(5)) }
        guard let url = URL(string: base), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.path.count > 1 else {
            throw fail(
                "--authority must be an http(s) URL with the tenant, such as https://login.microsoftonline.com/<tenant id>, found '\(authority)'"
            )
        }
        return (base, base + "/v2.0")
    }

    /// Runs `body` with an HTTP client that trusts `--ca-certificate`.
    func withHTTPClient(_ body: (HTTPClient) async throws -> Void) async throws {
        if let caCertificate, !FileManager.default.isReadableFile(atPath: caCertificate) {
            throw fail("cannot read --ca-certificate \(caCertificate)")
        }
        try await withDeputyHTTPClient(trusting: caCertificate, body)
    }
}

/// Runs `body` with an HTTP client for the chain's outgoing calls (trusting `caPath` besides the
/// system's roots, when given), and shuts the client down however `body` ends.
func withDeputyHTTPClient(trusting caPath: String?, _ body: (HTTPClient) async throws -> Void) async throws {
    var configuration = HTTPClient.Configuration()
    // No service here expects a redirect, and following one could carry a bearer token or a
    // client metadata fetch somewhere else.
    configuration.redirectConfiguration = .disallow
    if let caPath {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.file(caPath)]
        configuration.tlsConfiguration = tls
    }
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try? await client.shutdown()
}

/// A middle tier's own credential: a secret from the environment, or a certificate.
struct CredentialOptions: ParsableArguments {
    @Option(help: "Environment variable holding this service's client secret.") var clientSecretEnv = "DEPUTY_CLIENT_SECRET"
    @Option(help: "A PEM certificate registered on the application (instead of a secret).") var certificate: String?
    @Option(help: "The certificate's PEM private key.") var privateKey: String?

    func credential() throws -> ClientCredential {
        if let certificate {
            guard let privateKey else { throw fail("--certificate needs --private-key") }
            do {
                let pem = try String(contentsOfFile: certificate, encoding: .utf8)
                let der = try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem).toDERBytes()
                return .certificate(
                    try ClientCertificate(privateKeyPEM: String(contentsOfFile: privateKey, encoding: .utf8), certificateDER: der))
            } catch {
                throw fail("cannot use the certificate \(certificate) with the key \(privateKey): \(error)")
            }
        }
        guard let secret = ProcessInfo.processInfo.environment[clientSecretEnv], !secret.isEmpty else {
            throw fail("set the client secret in $\(clientSecretEnv) (or use --certificate and --private-key)")
        }
        return .secret(secret)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one service of the chain alone, against any authority (Entra ID included).",
        subcommands: [DataAPICommand.self, MCPServerCommand.self, WebAPICommand.self, AgentCommand.self])

    /// Runs one service until SIGINT or SIGTERM.
    static func run<Context: RequestContext>(
        _ router: Router<Context>, options: ServiceOptions, httpClient: HTTPClient, telemetry: [any Service], name: String, logger: Logger
    ) async throws where Context.Source == ApplicationRequestContextSource {
        let app = try ServiceServer.application(router: router, host: options.host, port: options.port, tls: nil, logger: logger) { port in
            printNow("\(name) listening on http://\(options.host):\(port)")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: (telemetry + [HTTPClientShutdown(client: httpClient), app]).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try await group.run() } catch { throw stopped(error, port: options.port, option: "--port") }
    }

    struct DataAPICommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data-api",
            abstract: "The Data API (expenses over REST, Data.Read / Data.Write; the monthly report for Expenses.Read.All).")
        @OptionGroup var service: ServiceOptions
        @Option(help: "This API's App ID URI (https://database.windows.net/ is Azure SQL's own and cannot be registered in a real tenant).")
        var appIdUri = "https://database.windows.net/"
        @Option(help: "The SQLite database of expenses (created and seeded with demo rows if empty).") var database = "expenses.sqlite"
        @Option(help: "USER_OID=MANAGER_OID: who approves whose expenses (repeatable).") var manager: [String] = []

        func run() async throws {
            let (logger, telemetry) = try service.observability.bootstrap("deputy")
            let (_, issuer) = try service.authorities()
            var managers: [String: String] = [:]
            for pair in manager {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw fail("--manager must be USER_OID=MANAGER_OID, found '\(pair)'") }
                managers[parts[0]] = parts[1]
            }
            let store: ExpenseStore
            do { store = try ExpenseStore(path: database) } catch { throw fail("cannot open the database \(database): \(error)") }
            try await service.withHTTPClient { http in
                let router = DemoChain.serviceRouter(role: "dataApi", name: "Data API", browserOrigin: nil, demoMode: service.demo)
                DataAPI(
                    validator: try ResourceValidator(
                        DataAPI.configuration(authority: issuer, appID: service.clientId, appIDURI: appIdUri), client: http),
                    reportValidator: try ResourceValidator(
                        DataAPI.reportConfiguration(authority: issuer, appID: service.clientId, appIDURI: appIdUri),
                        client: http),
                    store: store, managers: managers
                ).addRoutes(to: router)
                try await Serve.run(router, options: service, httpClient: http, telemetry: telemetry, name: "Data API", logger: logger)
            }
        }
    }

    struct MCPServerCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mcp-server", abstract: "The MCP server (/mcp): expense tools that call the Data API by OBO.")
        @OptionGroup var service: ServiceOptions
        @OptionGroup var credential: CredentialOptions
        @Option(help: "This server's App ID URI (repeatable).") var appIdUri: [String] = []
        @Option(help: "The /mcp URL clients use (RFC 9728 resource; default http://<host>:<port>/mcp).") var publicUrl: String?
        @Option(help: "The Data API's origin.") var dataApi: String
        @Option(help: "The scope to request for the Data API by OBO.") var dataApiScope = "https://database.windows.net//.default"

        func run() async throws {
            let (logger, telemetry) = try service.observability.bootstrap("deputy")
            let (tenant, issuer) = try service.authorities()
            let secret = try credential.credential()
            let resource = publicUrl ?? "http://\(service.host):\(service.port)/mcp"
            try await service.withHTTPClient { http in
                let router = DemoChain.serviceRouter(role: "mcpServer", name: "MCP server", browserOrigin: nil, demoMode: service.demo)
                try ExpenseTools.addEndpoint(
                    to: router, issuer: issuer, appID: service.clientId, appIDURIs: appIdUri, resourceURL: resource,
                    obo: ConfidentialClient(authority: tenant, clientID: service.clientId, credential: secret, httpClient: http),
                    dataAPI: dataApi, dataScopes: [dataApiScope], httpClient: http)
                try await Serve.run(router, options: service, httpClient: http, telemetry: telemetry, name: "MCP server", logger: logger)
            }
        }
    }

    struct WebAPICommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "web-api", abstract: "The Web API (/api/expenses): calls the Data API by OBO.")
        @OptionGroup var service: ServiceOptions
        @OptionGroup var credential: CredentialOptions
        @Option(help: "This API's App ID URI.") var appIdUri: String
        @Option(help: "The Data API's origin.") var dataApi: String
        @Option(help: "The scope to request for the Data API by OBO.") var dataApiScope = "https://database.windows.net//.default"
        @Option(help: "The SPA's origin (CORS).") var spaOrigin: String?

        func run() async throws {
            let (logger, telemetry) = try service.observability.bootstrap("deputy")
            let (tenant, issuer) = try service.authorities()
            let secret = try credential.credential()
            try await service.withHTTPClient { http in
                let router = DemoChain.serviceRouter(role: "webApi", name: "Web API", browserOrigin: spaOrigin, demoMode: service.demo)
                WebAPI(
                    validator: try ResourceValidator(
                        WebAPI.configuration(authority: issuer, appID: service.clientId, appIDURI: appIdUri), client: http),
                    obo: ConfidentialClient(authority: tenant, clientID: service.clientId, credential: secret, httpClient: http),
                    dataAPI: dataApi, dataScopes: [dataApiScope], callerScopes: ["\(appIdUri)/.default"], httpClient: http
                ).addRoutes(to: router)
                try await Serve.run(router, options: service, httpClient: http, telemetry: telemetry, name: "Web API", logger: logger)
            }
        }
    }

    struct AgentCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "agent", abstract: "The assistive agent (POST /chat): MCP tools through OBO.")
        @OptionGroup var service: ServiceOptions
        @OptionGroup var credential: CredentialOptions
        @OptionGroup var llm: LLMOptions
        @Option(help: "This agent's App ID URI.") var appIdUri: String
        @Option(help: "The MCP endpoint (…/mcp).") var mcpServer: String
        @Option(help: "The scope to request for the MCP server by OBO (e.g. api://…/.default).") var mcpScope: String
        @Option(help: "The SPA's origin (CORS).") var spaOrigin: String?
        @Option(
            help: ArgumentHelp(
                "Act as this Agent ID agent identity (its client id): --client-id is then its blueprint, whose credential gets the agent's (fmi_path).",
                valueName: "id"))
        var agentIdentity: String?
        @Option(help: "The Data API's origin, for GET /report (the agent's own monthly report, app-only).") var dataApi: String?
        @Option(help: "The scope to request for the Data API as the agent itself.") var dataApiScope =
            "https://database.windows.net//.default"

        func run() async throws {
            let (logger, telemetry) = try service.observability.bootstrap("deputy")
            try llm.validate()
            let (tenant, issuer) = try service.authorities()
            let secret = try credential.credential()
            try await service.withHTTPClient { http in
                let router = DemoChain.serviceRouter(
                    role: "agent", name: "Assistive agent", browserOrigin: spaOrigin, demoMode: service.demo)
                let obo =
                    agentIdentity.map { id in
                        ConfidentialClient(
                            agentIdentity: AgentIdentityCredential(
                                authority: tenant, blueprintClientID: service.clientId, blueprintCredential: secret,
                                agentIdentityID: id, httpClient: http), httpClient: http)
                    } ?? ConfidentialClient(authority: tenant, clientID: service.clientId, credential: secret, httpClient: http)
                Agent(
                    validator: try ResourceValidator(
                        Agent.configuration(authority: issuer, appID: service.clientId, appIDURI: appIdUri), client: http),
                    obo: obo,
                    mcpEndpoint: mcpServer, mcpScopes: [mcpScope], callerScopes: ["\(appIdUri)/.default"],
                    planner: llm.planner(httpClient: http),
                    reports: dataApi.map { (dataAPI: $0, scopes: [dataApiScope]) }, httpClient: http
                ).addRoutes(to: router)
                try await Serve.run(router, options: service, httpClient: http, telemetry: telemetry, name: "Agent", logger: logger)
            }
        }
    }
}
