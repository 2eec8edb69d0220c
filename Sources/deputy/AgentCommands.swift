import ArgumentParser
import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyMCP
import DeputySamples
import DeputyTokenAcquisition
import Foundation
import MCP

/// `deputy agent`: the demo agent identity (Microsoft Entra Agent ID) acting on its own or as its
/// agent user, against a running `deputy up`; and its risk, a test control.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "The demo agent identity acting on its own or as its agent user (against a running deputy up).",
        subcommands: [Report.self, FileExpense.self, Risk.self])

    /// What the commands read from `deputy up`'s manifest.
    struct Chain {
        var authority: String
        var dataAPI: String
        var mcpServer: String
        var blueprintID: String
        var blueprintSecret: String
        var agentID: String
        var agentUser: String
        var caCertificate: String?

        init(manifest path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw fail("cannot read the manifest \(path) (start deputy up, or give --manifest)")
            }
            guard case .object(let m)? = try? JSONParser.parse(data),
                let authority = m["authority"]?.stringValue, case .object(let services)? = m["services"],
                case .object(let apps)? = m["applications"],
                let dataAPI = services["dataApi"]?.stringValue, let mcp = services["mcpServer"]?.stringValue,
                let blueprint = apps["agentBlueprint"]?.objectValue, let agent = apps["agent"]?.objectValue,
                let blueprintID = blueprint["appId"]?.stringValue, let secret = blueprint["clientSecret"]?.stringValue,
                let agentID = agent["agentIdentityId"]?.stringValue,
                let agentUser = agent["agentUser"]?.objectValue?["userPrincipalName"]?.stringValue
            else {
                throw fail(
                    "\(path): not a deputy up manifest with the agent (applications.agentBlueprint, applications.agent.agentIdentityId)")
            }
            self.authority = authority
            self.dataAPI = dataAPI
            self.mcpServer = mcp + "/mcp"
            self.blueprintID = blueprintID
            self.blueprintSecret = secret
            self.agentID = agentID
            self.agentUser = agentUser
            caCertificate = m["caCertificate"]?.stringValue
        }

        /// The agent identity's client: the blueprint's secret gets its credential (fmi_path).
        func client(_ http: HTTPClient) -> ConfidentialClient {
            ConfidentialClient(
                agentIdentity: AgentIdentityCredential(
                    authority: authority, blueprintClientID: blueprintID,
                    blueprintCredential: .secret(blueprintSecret), agentIdentityID: agentID,
                    httpClient: http), httpClient: http)
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The monthly expense summary, app-only as the agent identity (client credentials with its blueprint's token).",
            discussion: "Conditional Access for agents applies: enable the demo's 'Block the expense agent acting on its own' policy "
                + "(deputy policy enable 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e05) and the report is refused, while the agent acting for a user still works."
        )
        @Option(help: "deputy up's manifest.") var manifest = ".deputy/manifest.json"

        func run() async throws {
            let chain = try Chain(manifest: manifest)
            var failure: String?
            try await withDeputyHTTPClient(trusting: chain.caCertificate) { http in
                let answer: (status: Int, body: JSONValue?)
                do {
                    answer = try await Agent.monthlyReport(
                        client: chain.client(http), dataAPI: chain.dataAPI,
                        scopes: ["https://database.windows.net//.default"], correlationID: nil, httpClient: http)
                } catch let error as AcquisitionError {
                    failure =
                        error.serviceError?.isBlock == true
                        ? "Conditional Access blocks the agent acting on its own: \(error.serviceError?.description ?? "")"
                        : "the agent could not get its token: \(error)"
                    return
                }
                guard answer.status == 200, let months = answer.body?.objectValue?["months"]?.arrayValue else {
                    failure = "the Data API answered \(answer.status)"
                    return
                }
                print("Monthly expenses (as \(chain.agentID), app-only):")
                table(
                    ["month", "owner", "count", "amount"],
                    months.compactMap(\.objectValue).map { o in
                        [
                            o["month"]?.stringValue ?? "", o["ownerName"]?.stringValue ?? "", String(Int(o["count"]?.numberValue ?? 0)),
                            "\(o["amount"]?.stringValue ?? "") \(o["currency"]?.stringValue ?? "")",
                        ]
                    })
            }
            if let failure { throw fail(failure) }
        }
    }

    struct FileExpense: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "file-expense",
            abstract: "File a draft expense in the agent user's own name through the MCP server (the agent-user flow: T1, T2, user_fic).")
        @Option(help: "The amount, e.g. 12.50.") var amount: Double
        @Option(help: "What it was for.") var description: String
        @Option(help: "ISO 4217 code.") var currency = "EUR"
        @Option(help: "deputy up's manifest.") var manifest = ".deputy/manifest.json"

        func run() async throws {
            let chain = try Chain(manifest: manifest)
            guard amount > 0, !description.isEmpty else { throw fail("--amount must be positive and --description not empty") }
            var failure: String?
            try await withDeputyHTTPClient(trusting: chain.caCertificate) { http in
                let authorizer = AgentUserAuthorizer(
                    client: chain.client(http), username: chain.agentUser,
                    scopes: ["api://contoso-expenses-mcp/.default"])
                let client = Client(name: "deputy-agent-user", version: "1.0.0")
                do {
                    try await client.connect(
                        transport: MCPHTTPClientTransport(endpoint: chain.mcpServer, httpClient: http, authorizer: authorizer))
                    let result = try await client.callTool(
                        name: "submit_expense",
                        arguments: [
                            "amount": .double(amount), "description": .string(description), "currency": .string(currency),
                        ])
                    let text = result.content.compactMap { if case .text(let t, _, _) = $0 { t } else { nil } }.joined(separator: "\n")
                    if result.isError == true {
                        failure = "the MCP server refused: \(text)"
                    } else {
                        print("filed as \(chain.agentUser): \(text)")
                    }
                } catch {
                    failure = "\(error)"
                }
                await client.disconnect()
            }
            if let failure { throw fail(failure) }
        }
    }

    struct Risk: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set an agent identity's risk (a test control for conditions.agentIdRiskLevels).")
        @Argument(help: "none, low, medium or high.") var level: String
        @Option(help: "The agent identity's id (the demo agent by default).") var agent = DemoTenant.app("agent").appId
        @Option(help: "The authority's data directory.") var dataDir = ".deputy"
        @OptionGroup var database: DatabaseOption
        @Option(help: "Only this tenant (id or domain).") var tenant: String?

        func run() async throws {
            guard ["none", "low", "medium", "high"].contains(level) else {
                throw fail("the risk is none, low, medium or high, not '\(level)'")
            }
            let (store, d) = try await existingTenant(dataDir: dataDir, database: database, tenant: tenant)
            guard d.servicePrincipals.contains(where: { $0.isAgentIdentity && ($0.id == agent || $0.appId == agent) }) else {
                throw fail("no agent identity \(agent) in tenant \(d.tenant.displayName)")
            }
            let risk = level
            try await store.updateDirectory(tenantID: d.tenant.id) { dir in
                for i in dir.servicePrincipals.indices where dir.servicePrincipals[i].id == agent || dir.servicePrincipals[i].appId == agent
                {
                    dir.servicePrincipals[i].agentRiskLevel = risk
                }
            }
            print("agent identity \(agent): risk \(level)")
        }
    }
}
