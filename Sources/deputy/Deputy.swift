import ArgumentParser
import AsyncHTTPClient
import DeputyAuthority
import DeputyAuthorityPostgres
import DeputyAuthoritySQLite
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import DeputyObservability
import DeputyPostgres
import DeputySamples
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// The `deputy` command line: argument parsing and wiring only.
@main
struct Deputy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deputy",
        abstract: "A local Microsoft Entra ID authority and the delegation chain around it.",
        subcommands: [
            Up.self, Serve.self, AuthorityCommand.self, TenantCommand.self, Grants.self, PolicyCommand.self, WhatIfCommand.self, Logs.self,
            Totp.self, Decode.self, AgentCommand.self, AuditCommand.self, UserCommand.self, GroupCommand.self,
            AppCommand.self, GrantCommand.self,
        ],
        defaultSubcommand: nil)

    /// Runs Swift concurrency's tasks on NIO's event loops (one per core) instead of a second
    /// thread pool beside them: a request then stays on the thread that read it. Measured in
    /// docs/benchmarks.md (client credentials +15%). `DEPUTY_NIO_EXECUTOR=0` keeps the default
    /// executor, e.g. to compare.
    static func main() async {
        if ProcessInfo.processInfo.environment["DEPUTY_NIO_EXECUTOR"] != "0" {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await main(nil)
    }
}

/// Prints one clear message to standard error and exits non-zero (never a stack trace).
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode.failure
}

/// The message for a server that stopped, naming the port when it was taken.
func stopped(_ error: any Error, port: Int, option: String) -> ExitCode {
    let text = "\(error)"
    if text.contains("Address already in use") {
        return fail("cannot listen on 127.0.0.1:\(port): the port is already in use; choose another \(option)")
    }
    return fail("the authority stopped: \(text)")
}

/// Prints a line and flushes standard output, so a server's banner shows at once when the output
/// is a file or a pipe (`deputy up > up.log`, a process manager), where C's stdio buffers it.
func printNow(_ line: String) {
    print(line)
    fflush(nil)
}

/// Bootstraps logging (text), for commands without `ObservabilityOptions`.
func makeLogger(_ label: String) -> Logger {
    Observability.bootstrapLogging(format: .text, level: logLevel)
    return Logger(label: label)
}

/// `LOG_LEVEL` (trace, debug, info, notice, warning, error, critical), info by default.
var logLevel: Logger.Level { ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info }

extension Observability.LogFormat: ExpressibleByArgument {}
extension Observability.OTLPEncoding: ExpressibleByArgument {}

/// `--log-format`, `--otlp-endpoint` and `--otlp-encoding`: logs, metrics and traces of a server command.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Log lines as text, or json (one JSON object per line, for log collectors). The level is $LOG_LEVEL (info).")
    var logFormat: Observability.LogFormat = .text
    @Option(
        help:
            "Export traces with OTLP over HTTP to this collector, e.g. http://127.0.0.1:4318 (/v1/traces is added). Off without it.")
    var otlpEndpoint: String?
    @Option(help: "The OTLP body: protobuf or json.") var otlpEncoding: Observability.OTLPEncoding = .protobuf

    /// Logging, metrics (`/metrics` on every service) and, with an endpoint, tracing; the
    /// exporter's service goes first into the command's service group (it stops last).
    func bootstrap(_ label: String) throws -> (Logger, [any Service]) {
        Observability.bootstrapLogging(format: logFormat, level: logLevel)
        Observability.bootstrapMetrics()
        guard let otlpEndpoint else { return (Logger(label: label), []) }
        guard let url = URL(string: otlpEndpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw fail("--otlp-endpoint must be an http(s) URL such as http://127.0.0.1:4318, found '\(otlpEndpoint)'")
        }
        return (Logger(label: label), [try Observability.bootstrapTracing(endpoint: otlpEndpoint, encoding: otlpEncoding)])
    }
}

/// `--database-url`: the authority's store in PostgreSQL rather than the data directory's SQLite file.
struct DatabaseOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Keep the authority's store in this PostgreSQL database instead of <data-dir>/store.sqlite "
                + "(postgres://user:password@host:port/database[?sslmode=disable|prefer|require]); several authorities "
                + "on one database behave as one. Default: $DEPUTY_DATABASE_URL.",
            valueName: "url"))
    var databaseURL: String?

    /// The URL given, or `DEPUTY_DATABASE_URL`.
    var url: String? {
        databaseURL ?? ProcessInfo.processInfo.environment["DEPUTY_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Where the store is, for messages: the data directory, or the database URL without its password.
    func location(dataDir: String) -> String {
        guard let url else { return dataDir }
        return (try? PostgresDatabaseURL(url).redacted) ?? "the database"
    }
}

/// Opens (creating) the store: the PostgreSQL database when one is named, else the data directory's SQLite file.
func openStore(dataDir: String, database: DatabaseOption) async throws -> RecordStore {
    // The store holds signing keys, the manifest demo secrets: files are for this user only.
    umask(0o077)
    // The data directory also holds TLS files, the manifest and the Data API's expenses.
    do {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
        throw fail("cannot create the data directory \(dataDir): \(error)")
    }
    if let url = database.url {
        do {
            return try await RecordStore.postgres(url: url).0
        } catch {
            throw fail("cannot open the database \(database.location(dataDir: dataDir)): \(error)")
        }
    }
    do {
        return try RecordStore.sqlite(path: dataDir + "/store.sqlite")
    } catch {
        throw fail("cannot open the data directory \(dataDir): \(error)")
    }
}

/// The data directory's local CA for `--tls`, created on first use.
func localCA(dataDir: String) throws -> LocalCertificateAuthority {
    let ca = LocalCertificateAuthority(directory: dataDir + "/tls")
    do { try ca.ensure() } catch { throw fail("cannot create the local CA in \(ca.directory): \(error)") }
    return ca
}

func seedMessage(_ result: Authority.SeedResult, dataDir: String, file: String) -> String? {
    switch result {
    case .seeded: "seeded \(dataDir) from \(file)"
    case .reseeded: "rebuilt the directory in \(dataDir) from \(file) (--reseed)"
    case .unchanged: nil
    case .fileDiffersFromStore:
        "warning: \(file) differs from the directory stored in \(dataDir); the store stays the truth (runtime changes survive). Use --reseed to rebuild the directory from the file."
    }
}

// MARK: - up

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the chain on localhost with the embedded Contoso demo tenant.",
        discussion: """
            Runs the whole chain in one process: the authority, the SPA, the Web API, the assistive agent, the MCP \
            server, the Data API and the Reports API. Ports are fixed offsets from --port-base: authority +0, SPA +1, \
            Web API +2, agent +3, MCP server +4, Data API +5, Reports API +6. Prints URLs, users and passwords, and \
            writes a manifest (JSON) for scripts and tests. Stops cleanly on SIGINT and SIGTERM.
            """)

    @Option(help: "First port of the chain.") var portBase = DemoTenant.defaultPortBase
    @Option(help: "Where the store, keys, the Data API's expenses and TLS files live.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Where to write the manifest (default: <data-dir>/manifest.json).") var manifest: String?
    @Flag(help: "Serve over HTTPS with a generated local CA (MSAL and azure-identity require https).") var tls = false
    @Flag(help: "Apply RFC 9700 where it is stricter than Entra (PKCE S256 for all, refresh-token reuse revokes the family).") var strict =
        false
    @Flag(
        help:
            "Authorize as the MCP authorization specification (2026-07-28) asks, beyond Entra: RFC 8707 resource binds the audience, PKCE S256 required, RFC 9207 iss in authorization responses, Client ID Metadata Documents."
    )
    var mcpSpec = false
    @Flag(help: "Rebuild the directory from the demo tenant even if the store has one.") var reseed = false
    @Flag(
        help:
            "Expose test controls: POST /_deputy/test/clock {\"advanceSeconds\": N} moves the authority's clock (with a tenant administrator's Graph token: User.ReadWrite.All or Directory.ReadWrite.All, app-only or a Global Administrator's)."
    )
    var testControls = false
    @Option(
        help:
            "Serve the SPA's index.html, app.js and style.css from this folder, read at every request (for editing them without rebuilding)."
    )
    var spaAssets: String?
    @OptionGroup var llm: LLMOptions
    @OptionGroup var observability: ObservabilityOptions

    func planner(_ httpClient: HTTPClient) -> any AgentPlanner { llm.planner(httpClient: httpClient) }

    func run() async throws {
        // Before any HTTP client is made: AsyncHTTPClient takes the tracer at creation.
        let (logger, telemetry) = try observability.bootstrap("deputy")
        try llm.validate()
        var demo = DemoTenant(portBase: portBase, https: tls)
        let store = try await openStore(dataDir: dataDir, database: database)
        // --strict and --mcp-spec are switches of this run: the store is seeded (or compared) with
        // the modes it already has, and the flags are applied afterwards, so a flag alone neither
        // needs --reseed nor makes the tenant file look changed.
        let stored = reseed ? nil : try await store.directories().first { $0.tenant.id == DemoTenant.tenantID }?.tenant
        demo.strict = stored.map { $0.strict ?? false } ?? strict
        demo.mcpSpec = stored.map { $0.mcpSpec ?? false } ?? mcpSpec
        let file: LoadedTenantFile
        do { file = try TenantFileLoader.load(yaml: demo.yaml, fileName: "<embedded demo tenant>") } catch { throw fail(error.description) }
        let ca = tls ? try localCA(dataDir: dataDir) : nil
        // With test controls the clock can be moved (and the move is kept for `deputy totp`);
        // without, it is the system clock and any earlier move is forgotten.
        let clock = OffsetTimeSource(offset: testControls ? try await store.clockOffset() : 0)
        if !testControls { try await store.setClockOffset(0) }
        let manifestPath = manifest ?? dataDir + "/manifest.json"
        let demoTenant = demo
        let dataDirectory = dataDir
        let controls = testControls
        let caPath = ca.map { URL(fileURLWithPath: $0.caCertificatePath).standardizedFileURL.path }
        // The chain's services reach the authority (and each other) over HTTP(S), trusting the local CA.
        try await withDeputyHTTPClient(trusting: caPath) { httpClient in
            var configuration = AuthorityConfiguration(baseURL: demo.url(.authority))
            configuration.clientMetadataFetcher = HTTPClientMetadataFetcher(httpClient: httpClient)
            let (authority, seeded) = try await Authority.open(
                configuration: configuration, store: store, tenantFile: file, reseed: reseed, time: clock, logger: logger)
            if let message = seedMessage(seeded, dataDir: database.location(dataDir: dataDir), file: "the demo tenant") {
                logger.notice("\(message)")
            }
            if demo.strict != strict || demo.mcpSpec != mcpSpec {
                let (strict, mcpSpec) = (strict, mcpSpec)
                try await store.updateDirectory(tenantID: DemoTenant.tenantID) { dir in
                    dir.tenant.strict = strict
                    dir.tenant.mcpSpec = mcpSpec
                }
                logger.notice(
                    "the demo tenant now runs \(strict ? "strict" : "not strict") and in \(mcpSpec ? "MCP spec mode" : "Entra mode") (--strict, --mcp-spec)"
                )
            }
            let services: [DemoTenant.Role] = DemoTenant.Role.allCases
            let environment = DemoChain.Environment(
                demo: demo, directory: file.tenants[0], dataDirectory: dataDir, httpClient: httpClient,
                planner: planner(httpClient), time: clock, spaAssets: spaAssets)
            let chain: [any Service] = try DemoChain.services.map { service in
                let port = portBase + service.role.portOffset
                switch try service.routes(environment) {
                case .pages(let router): return try ServiceServer.application(router: router, port: port, tls: ca, logger: logger)
                case .api(let router): return try ServiceServer.application(router: router, port: port, tls: ca, logger: logger)
                }
            }
            let app = try AuthorityServer.application(
                authority: authority, port: portBase + DemoTenant.Role.authority.portOffset, tls: ca,
                testClock: testControls ? clock : nil, logger: logger
            ) { _ in
                let object = demoTenant.manifest(caCertificate: caPath, services: services)
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                do {
                    try enc.encode(JSONValue.object(object)).write(to: URL(fileURLWithPath: manifestPath), options: .atomic)
                } catch {
                    logger.error("cannot write the manifest \(manifestPath): \(error)")
                }
                printNow(
                    UpBanner.text(
                        demo: demoTenant, caPath: caPath, manifestPath: manifestPath, dataDir: dataDirectory, testControls: controls))
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: (telemetry + [app, HTTPClientShutdown(client: httpClient)] + chain).map {
                        ServiceGroupConfiguration.ServiceConfiguration(service: $0)
                    },
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do { try await group.run() } catch { throw stopped(error, port: portBase, option: "--port-base") }
        }
    }
}

/// Shuts an HTTP client down when its turn in graceful shutdown comes. A ServiceGroup stops its
/// services in reverse order: listed after the authority and before the chain's services, the
/// client closes once those have drained their requests and before the authority stops, which
/// would otherwise wait on the client's idle keep-alive connections.
struct HTTPClientShutdown: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try? await client.shutdown()
    }
}

enum UpBanner {
    static func text(demo: DemoTenant, caPath: String?, manifestPath: String, dataDir: String, testControls: Bool) -> String {
        var lines = ["", "Deputy is running (tenant Contoso, \(DemoTenant.tenantID))", ""]
        lines.append("  authority      \(demo.url(.authority))/\(DemoTenant.tenantID)")
        lines.append("  discovery      \(demo.url(.authority))/\(DemoTenant.tenantID)/v2.0/.well-known/openid-configuration")
        for service in DemoChain.services.reversed() { lines.append("  " + service.summary(demo)) }
        lines.append("")
        lines.append("  user                                           password        TOTP secret")
        for u in DemoTenant.users {
            lines.append(
                "  " + u.upn.padding(toLength: 46, withPad: " ", startingAt: 0) + " "
                    + u.password.padding(toLength: 15, withPad: " ", startingAt: 0)
                    + " " + (u.totpSecret ?? "(not registered)"))
        }
        lines.append("  TOTP codes     deputy totp alice --data-dir \(dataDir)   (Conditional Access: docs/conditional-access.md)")
        lines.append(
            "  sign-in log    \(demo.url(.authority))/\(DemoTenant.tenantID)/signins (administrators: bob)   or: deputy logs --data-dir \(dataDir)"
        )
        if testControls { lines.append("  test controls  POST \(demo.url(.authority))/_deputy/test/clock {\"advanceSeconds\": 30}") }
        lines.append("")
        lines.append("  application                   appId                                  secret")
        for a in DemoTenant.apps {
            lines.append(
                "  " + a.key.padding(toLength: 29, withPad: " ", startingAt: 0) + " " + a.appId + "   " + (a.secret ?? "(public client)"))
        }
        lines.append("")
        if let caPath { lines.append("  CA certificate  \(caPath)  (trust it: REQUESTS_CA_BUNDLE=\(caPath))") }
        lines.append("  manifest        \(manifestPath)")
        lines.append("")
        return lines.joined(separator: "\n")
    }
}

// MARK: - authority

struct AuthorityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authority", abstract: "Run the authority alone with a tenant file.", subcommands: [Serve.self, RotateKeys.self],
        defaultSubcommand: Serve.self)

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the authority (the default).")
        @Option(help: "The tenant file (YAML).") var tenant: String
        @Option(help: "Port to listen on (127.0.0.1).") var port = DemoTenant.defaultPortBase
        @Option(help: "Where the store, keys and TLS files live.") var dataDir = ".deputy-authority"
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Serve over HTTPS with a generated local CA.") var tls = false
        @Option(help: "Base URL of issuers and endpoints (default: http(s)://127.0.0.1:<port>).") var issuerBase: String?
        @Flag(help: "Rebuild the directory from the tenant file even if the store has one.") var reseed = false
        @OptionGroup var observability: ObservabilityOptions

        func run() async throws {
            let (logger, telemetry) = try observability.bootstrap("deputy")
            let file: LoadedTenantFile
            do { file = try TenantFileLoader.load(path: tenant) } catch { throw fail(error.description) }
            let store = try await openStore(dataDir: dataDir, database: database)
            let ca = tls ? try localCA(dataDir: dataDir) : nil
            let base = issuerBase ?? "\(tls ? "https" : "http")://127.0.0.1:\(port)"
            guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw fail("--issuer-base must be an http(s) URL such as https://127.0.0.1:\(port), found '\(base)'")
            }
            // An HTTP client for Client ID Metadata Documents (tenants in MCP spec mode).
            try await withDeputyHTTPClient(trusting: nil) { httpClient in
                var configuration = AuthorityConfiguration(baseURL: base)
                configuration.clientMetadataFetcher = HTTPClientMetadataFetcher(httpClient: httpClient)
                let (authority, seeded) = try await Authority.open(
                    configuration: configuration, store: store, tenantFile: file, reseed: reseed, logger: logger)
                if let message = seedMessage(seeded, dataDir: database.location(dataDir: dataDir), file: tenant) {
                    logger.notice("\(message)")
                }
                let tenants = try await authority.tenants()
                let caFile = ca?.caCertificatePath
                let app = try AuthorityServer.application(authority: authority, port: port, tls: ca, logger: logger) { _ in
                    for t in tenants {
                        printNow("tenant \(t.tenant.displayName): \(authority.configuration.issuerV2(tenantID: t.tenantID))")
                    }
                    if let caFile { printNow("CA certificate: \(caFile)") }
                }
                let group = ServiceGroup(
                    configuration: .init(
                        services: (telemetry + [app]).map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                do { try await group.run() } catch { throw stopped(error, port: port, option: "--port") }
            }
        }
    }

    struct RotateKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-keys",
            abstract: "Make a new signing key current; the previous key stays published for a grace period (24 hours).",
            discussion: "Works on the store directly; a running authority uses the new key from its next request.")
        @Option(help: "The authority's data directory.") var dataDir = ".deputy"
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            let store = try await existingStore(dataDir: dataDir, database: database)
            let manager = SigningKeyManager(store: store, time: SystemTimeSource())
            let record = try await manager.rotate()
            print("new signing key \(record.kid) is current; earlier keys stay in the JWKS for 24 hours")
        }
    }
}

// MARK: - tenant

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Work with tenant files.", subcommands: [Validate.self, Demo.self, Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a data directory's current tenants as a tenant file that loads unchanged.",
            discussion:
                "The store's state with every runtime change (consents, Graph writes, critical events). It holds password hashes, TOTP secrets and client-secret hashes: keep it private."
        )
        @Option(help: "The authority's data directory.") var dataDir = ".deputy"
        @OptionGroup var database: DatabaseOption
        @Option(help: "Only this tenant (id or domain).") var tenant: String?
        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

        func run() async throws {
            let store = try await existingStore(dataDir: dataDir, database: database)
            let chosen = try await tenants(in: store, named: tenant)
            guard !chosen.isEmpty else { throw fail("no tenant \(tenant ?? "") in \(database.location(dataDir: dataDir))") }
            let text = try TenantFileWriter.yaml(chosen)
            guard let output else { return print(text, terminator: "") }
            // Readable by its owner only from the first byte: it holds hashes and TOTP secrets.
            let written = FileManager.default.createFile(
                atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            guard written else { throw fail("cannot write \(output)") }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: output)
            print("wrote \(chosen.count) tenant(s) to \(output)")
        }
    }

    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the embedded Contoso demo tenant as a tenant file (a start for your own, or for `deputy authority`).",
            discussion: "Redirect URIs and the services' URLs follow --port-base, as in `deputy up`.")
        @Option(help: "First port of the chain the URLs name.") var portBase = DemoTenant.defaultPortBase
        @Flag(help: "Name https URLs (as `deputy up --tls`).") var tls = false

        func run() async throws { print(DemoTenant(portBase: portBase, https: tls).yaml) }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a tenant file and list every problem with file:line.")
        @Argument(help: "The tenant file (YAML).") var file: String

        func run() async throws {
            do {
                let loaded = try TenantFileLoader.load(path: file)
                for t in loaded.tenants {
                    let agentUsers = t.users.filter(\.isAgentUser).count
                    let blueprints = t.applications.filter(\.isAgentIdentityBlueprint).count
                    print(
                        "\(file): tenant \(t.tenant.displayName) (\(t.tenant.id)): \(t.users.count - agentUsers) users, \(t.groups.count) groups, "
                            + "\(t.applications.count - blueprints) applications, \(t.oauth2PermissionGrants.count) grants, "
                            + "\(t.appRoleAssignments.count) app role assignments, \(t.conditionalAccessPolicies.count) policies")
                    let agents = t.servicePrincipals.filter(\.isAgentIdentity)
                    if blueprints + agents.count + agentUsers > 0 {
                        let count = { (n: Int, one: String, many: String) in "\(n) \(n == 1 ? one : many)" }
                        print(
                            "\(file): Agent ID: \(count(blueprints, "blueprint", "blueprints")), "
                                + "\(count(agents.count, "agent identity", "agent identities")), \(count(agentUsers, "agent user", "agent users"))"
                        )
                        let index = DirectoryIndex(t)
                        for agent in agents {
                            let user = index.agentUser(of: agent).map { ", agent user \($0.userPrincipalName)" } ?? ""
                            print(
                                "  "
                                    + AgentDescription.agentIdentity(
                                        agent.appId, blueprintID: agent.agentIdentityBlueprintId, tenant: index) + user)
                        }
                    }
                }
                print("\(file) is valid")
            } catch {
                throw fail(error.description)
            }
        }
    }
}

// MARK: - grants

struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List delegated permission grants: who may act for whom, on what (from the tenant file and granted at runtime).",
        discussion: "Reads the store of a data directory directly, so it shows consent given while the authority runs.")
    @Option(help: "The authority's data directory.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Only this tenant (id or domain).") var tenant: String?

    func run() async throws {
        let directories = try await tenants(in: existingStore(dataDir: dataDir, database: database), named: tenant)
        if directories.isEmpty { throw fail("no tenant \(tenant ?? "") in \(database.location(dataDir: dataDir))") }
        for d in directories {
            let index = DirectoryIndex(d)
            print("tenant \(d.tenant.displayName) (\(d.tenant.id))")
            let name = { (spID: String) -> String in
                guard let sp = index.servicePrincipal(id: spID) else { return spID }
                return index.application(appID: sp.appId)?.displayName ?? sp.displayName ?? sp.appId
            }
            let rows = d.oauth2PermissionGrants.map { g -> [String] in
                let who =
                    g.isAllPrincipals
                    ? "all users" : (g.principalId.flatMap { index.user(id: $0)?.userPrincipalName } ?? g.principalId ?? "?")
                return [name(g.clientId), name(g.resourceId), who, g.scope]
            }
            table(["client (may act)", "resource", "for", "scopes"], rows)
            print("")
        }
    }
}

// MARK: - decode

struct Decode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a token's header and claims with what each Entra claim means (no signature check).")
    @Argument(help: "The JWT (or '-' to read it from standard input).") var token: String
    @Option(help: "A data directory whose tenant names the token's agent and blueprint (ids are shown otherwise).") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption

    func run() async throws {
        var text = token
        if token == "-" { text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.lowercased().hasPrefix("bearer ") { text = String(text.dropFirst(7)) }
        let jwt: UnverifiedJWT
        do { jwt = try UnverifiedJWT(text) } catch { throw fail("not a JWT: \(error.description)") }
        print("header (not verified):")
        printClaims(jwt.header)
        print("claims:")
        printClaims(jwt.claims)
        // Agent ID facts in words, with names from the data directory's tenant when there is one.
        var tenant: DirectoryIndex?
        if let tid = jwt.string("tid"), database.url != nil || FileManager.default.fileExists(atPath: dataDir + "/store.sqlite"),
            let store = try? await openStore(dataDir: dataDir, database: database)
        {
            tenant = (try? await store.directories())?.first { $0.tenant.id == tid }.map(DirectoryIndex.init)
        }
        if let agent = AgentDescription.describe(claims: jwt.claims, tenant: tenant) { print("agent: \(agent)") }
    }

    func printClaims(_ claims: [String: JSONValue]) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for key in claims.keys.sorted() {
            let value = String(decoding: (try? enc.encode(claims[key]!)) ?? Data(), as: UTF8.self)
            var line = "  \(key): \(value)"
            if ["iat", "nbf", "exp", "auth_time"].contains(key), let n = claims[key]?.numberValue {
                line += "  (\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: n))))"
            }
            if let meaning = ClaimGlossary.claims[key] { line += "\n      \(meaning)" }
            print(line)
        }
    }
}
