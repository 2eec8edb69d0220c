import ArgumentParser
import DeputyAudit
import DeputyCore
import Dispatch
import Foundation
import MCP

// MARK: - audit

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check a middle tier (any language) against the delegation rules, with deputy up's authority behind it.",
        discussion: """
            Run your middle tier with deputy up's authority and the auditTarget registration from the manifest \
            (applications.auditTarget: appId, clientSecret, identifierUri api://deputy-audit-target); it must get a token \
            for the Data API (https://database.windows.net//.default) by On-Behalf-Of and call the manifest's Data API. \
            The audit then calls --target as a client would and reports each rule: rejects-missing-token, \
            rejects-wrong-audience, rejects-expired-token, rejects-bad-signature, rejects-alg-none, obo-downstream, \
            no-passthrough, relays-claims-challenge, relays-consent-required, no-token-leak, and with --mcp \
            mcp-resource-metadata, mcp-401-challenge, mcp-insufficient-scope. For the run it switches on a Conditional \
            Access policy that requires MFA for the downstream API and takes the target's consent grant away for one \
            call; both are undone at the end, on Ctrl-C, or by the next audit after a crash. Exit status 0 when no rule \
            failed, 1 otherwise. See docs/audit.md.
            """)

    @Option(help: "deputy up's manifest.") var manifest = ".deputy/manifest.json"
    @Option(help: "The middle tier's URL to call (an MCP endpoint with --mcp).") var target: String
    @Option(help: "The HTTP method of the call.") var method = "GET"
    @Option(help: "The JSON body of the call.") var body: String?
    @Flag(help: "The target is an MCP server: call --tool over Streamable HTTP and check the MCP rules too.") var mcp = false
    @Option(help: "With --mcp: the tool to call.") var tool: String?
    @Option(help: "With --mcp: the tool's arguments (a JSON object).") var arguments = "{}"
    @Option(help: "With --mcp: a tool that needs more than the server's baseline scope (checks the 403 step-up).") var stepUpTool: String?
    @Option(help: "The manifest application whose API the caller's token is for.") var app = "auditTarget"
    @Option(help: "The manifest application the target gets downstream tokens as (default: --app).") var client: String?
    @Option(help: "The manifest service the target calls for the user (a deputy up service).") var downstream = "dataApi"
    @Option(help: "The manifest user the audit signs in as.") var user = "alice"
    @Option(help: "A scope the caller asks for (repeatable; default: the app's scopes in the manifest).") var scope: [String] = []
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(help: "The authority's data directory (default: the manifest's directory).") var dataDir: String?
    @OptionGroup var database: DatabaseOption

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: manifest) else {
            throw fail("cannot read the manifest \(manifest) (start deputy up, or give --manifest)")
        }
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(data) } catch { throw fail("\(manifest): not JSON (\(error.description))") }
        if mcp && tool == nil { throw fail("--mcp needs --tool (the tool to call)") }
        var options = AuditOptions(target: target)
        options.method = method
        options.body = body
        if mcp {
            options.mcpTool = tool
            guard case .object? = try? JSONParser.parse(Data(arguments.utf8)),
                let decoded = try? JSONDecoder().decode([String: Value].self, from: Data(arguments.utf8))
            else { throw fail("--arguments must be a JSON object") }
            options.mcpArguments = decoded
            options.stepUpTool = stepUpTool
        }
        options.app = app
        options.client = client
        options.downstream = downstream
        options.user = user
        if !scope.isEmpty { options.scopes = scope }
        let directory = dataDir ?? (URL(fileURLWithPath: manifest).deletingLastPathComponent().path)
        let store = try await existingStore(dataDir: directory, database: database)
        let journal = URL(fileURLWithPath: directory).appendingPathComponent("audit-journal.json")
        let ca = parsed.objectValue?["caCertificate"]?.stringValue
        var report: AuditReport?
        var failure: String?
        try await withDeputyHTTPClient(trusting: ca) { http in
            var configured = try Auditor(manifest: parsed, store: store, httpClient: http, options: options, journal: journal)
            configured.progress = { FileHandle.standardError.write(Data("deputy audit: \($0)\n".utf8)) }
            let auditor = configured
            // Ctrl-C or SIGTERM: undo what the journal names, then stop.
            let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number)
                source.setEventHandler {
                    Task {
                        let undone = (try? await auditor.restoreLeftovers()) ?? 0
                        FileHandle.standardError.write(Data("deputy audit: interrupted; undid \(undone) change(s)\n".utf8))
                        Foundation.exit(130)
                    }
                }
                source.resume()
                return source
            }
            defer { signals.forEach { $0.cancel() } }
            do {
                report = try await auditor.run()
            } catch let error as Auditor.Failure {
                failure = error.description
            } catch {
                failure = "the audit stopped: \(error)"
            }
        }
        if let failure { throw fail(failure) }
        guard let report else { return }
        if json {
            print(String(decoding: report.json.serialized, as: UTF8.self))
        } else {
            print(report.table)
        }
        if !report.passed { throw ExitCode.failure }
    }
}
