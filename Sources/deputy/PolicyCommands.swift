import ArgumentParser
import DeputyAuthority
import DeputyAuthorityPostgres
import DeputyCore
import DeputyPostgres
import Foundation
import NIOHTTP1

// Commands that read or change Conditional Access state on a data directory's store directly;
// a running authority sees changes at its next request.

/// Opens the store that an authority has already created (in the data directory, or the database).
func existingStore(dataDir: String, database: DatabaseOption) async throws -> RecordStore {
    guard database.url != nil || FileManager.default.fileExists(atPath: dataDir + "/store.sqlite") else {
        throw fail("\(dataDir) has no store (store.sqlite); start the authority with --data-dir \(dataDir) first")
    }
    let store = try await openStore(dataDir: dataDir, database: database)
    if database.url != nil, try await store.directories().isEmpty {
        throw fail("the database \(database.location(dataDir: dataDir)) holds no tenant; start the authority with --database-url first")
    }
    return store
}

/// The store's tenants, or only the one named by id or verified domain.
func tenants(in store: RecordStore, named tenant: String?) async throws -> [TenantDirectory] {
    try await store.directories().filter { d in
        tenant.map { t in
            d.tenant.id.lowercased() == t.lowercased() || d.tenant.verifiedDomains.contains { $0.lowercased() == t.lowercased() }
        } ?? true
    }
}

/// Opens an existing store and picks one tenant (the only one, or by id or domain).
func existingTenant(dataDir: String, database: DatabaseOption, tenant: String?) async throws -> (RecordStore, TenantDirectory) {
    let store = try await existingStore(dataDir: dataDir, database: database)
    let matches = try await tenants(in: store, named: tenant)
    let location = database.location(dataDir: dataDir)
    guard matches.count == 1, let d = matches.first else {
        throw fail(
            matches.isEmpty ? "no tenant \(tenant ?? "") in \(location)" : "\(location) holds several tenants; name one with --tenant")
    }
    return (store, d)
}

/// The authority's clock as the store knows it (moved by `--test-controls`).
func authorityNow(_ store: RecordStore) async throws -> Date { Date() + (try await store.clockOffset()) }

func table(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
    for row in [header] + rows {
        print("  " + header.indices.map { i in row[i].padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

// MARK: - totp

struct Totp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a demo user's current TOTP code (RFC 6238), as their authenticator app would show it.",
        discussion: "Uses the authority's clock (including a move made with --test-controls).")
    @Argument(help: "The user (UPN, mail or object id).") var user: String
    @Option(help: "The authority's data directory.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Only this tenant (id or domain).") var tenant: String?

    func run() async throws {
        let (store, d) = try await existingTenant(dataDir: dataDir, database: database, tenant: tenant)
        let index = DirectoryIndex(d)
        // A bare name (`alice`) is the local part of a UPN.
        let byName = d.users.first { u in ["@", "_"].contains { u.userPrincipalName.lowercased().hasPrefix(user.lowercased() + $0) } }
        guard let u = index.user(login: user) ?? index.user(id: user) ?? byName else {
            throw fail("no user '\(user)' in tenant \(d.tenant.displayName)")
        }
        guard let secret = u.totpSecret else {
            throw fail("\(u.userPrincipalName) has not registered an authenticator (they register at their next MFA sign-in)")
        }
        let now = try await authorityNow(store)
        guard let code = TOTP.code(base32Secret: secret, at: now) else {
            throw fail("the TOTP secret of \(u.userPrincipalName) is not base32")
        }
        let left = Int(TOTP.period - now.timeIntervalSince1970.truncatingRemainder(dividingBy: TOTP.period))
        print("\(code)  (\(u.userPrincipalName), valid for \(left) more seconds)")
    }
}

// MARK: - logs

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the sign-in log: every issuance attempt with its Conditional Access result.",
        discussion: "Newest last. --verbose lists every policy's result and why.")
    @Option(help: "The authority's data directory.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Only this tenant (id or domain).") var tenant: String?
    @Option(help: "How many recent sign-ins.") var top = 20
    @Option(help: "Only this user (UPN).") var user: String?
    @Option(help: "Only this client application (appId).") var app: String?
    @Flag(help: "Keep printing new sign-ins as they happen.") var follow = false
    @Flag(help: "List every policy's result and why.") var verbose = false

    func run() async throws {
        let (store, d) = try await existingTenant(dataDir: dataDir, database: database, tenant: tenant)
        var seen = Set<String>()
        var first = true
        repeat {
            let (userFilter, appFilter) = (user?.lowercased(), app?.lowercased())
            let page = try await store.signIns(
                SignInQuery(tenantID: d.tenant.id, limit: first ? top : 5000) { r in
                    (userFilter.map { r.userPrincipalName?.lowercased() == $0 } ?? true)
                        && (appFilter.map { r.appId?.lowercased() == $0 } ?? true)
                })
            let records = page.records.filter { !seen.contains($0.id) }.reversed()
            for r in records {
                seen.insert(r.id)
                let status = r.status.errorCode == 0 ? "success" : "AADSTS\(r.status.errorCode)"
                print(
                    "\(ISO8601DateFormatter().string(from: r.createdDateTime))  \(status)  CA \(r.conditionalAccessStatus)  "
                        + "\(r.userPrincipalName ?? "(app)")  \(r.appDisplayName ?? r.appId ?? "?") → \(r.resourceDisplayName ?? r.resourceId ?? "?")  "
                        + "\(r.isInteractive ? "interactive" : "non-interactive") \(r.authenticationProtocol)")
                if let agent = r.agent {
                    print(
                        "    agent: \(agent.agentDisplayName ?? agent.agentIdentityId) of blueprint \(agent.parentDisplayName ?? agent.parentAppId) "
                            + "(\(agent.agentType.rawValue), subject \(agent.agentSubjectType.rawValue))")
                }
                if verbose || r.status.errorCode != 0 {
                    for p in r.appliedConditionalAccessPolicies where verbose || p.result == "failure" {
                        print(
                            "    \(p.result.padding(toLength: 22, withPad: " ", startingAt: 0)) \(p.displayName)"
                                + (p.explanation.isEmpty ? "" : " — " + p.explanation.joined(separator: "; ")))
                    }
                }
            }
            first = false
            if follow { try await Task.sleep(for: .seconds(1)) }
        } while follow
    }
}

// MARK: - whatif

struct WhatIfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whatif",
        abstract: "Which Conditional Access policies would apply to a sign-in, and why (the live evaluator).")
    @Option(help: "The user (UPN or object id).") var user: String?
    @Option(help: "A service principal (id or appId), for app-only sign-ins; an agent identity acts on its own, or for --user.")
    var servicePrincipal: String?
    @Option(help: "The resource (appId or identifier URI).") var resource: String
    @Option(help: "The client application (appId), or an agent identity acting for --user.") var client: String?
    @Option(help: "An authentication context asked for (c1…c99).") var acrs: String?
    @Option(help: "The sign-in's IP address.") var ip: String?
    @Option(help: "The device platform (android, iOS, windows, macOS, linux).") var platform: String?
    @Option(help: "browser or mobileAppsAndDesktopClients.") var clientAppType: String?
    @Option(help: "Sign-in risk (none, low, medium, high).") var signInRisk: String?
    @Option(help: "User risk (none, low, medium, high).") var userRisk: String?
    @Option(help: "An agent identity's risk (none, low, medium, high), when an agent identity is the client.") var agentRisk: String?
    @Option(help: "The authority's data directory.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Only this tenant (id or domain).") var tenant: String?

    func run() async throws {
        let (store, d) = try await existingTenant(dataDir: dataDir, database: database, tenant: tenant)
        var q = WhatIf.Question()
        q.agentIdRiskLevel = agentRisk
        q.userID = user
        q.servicePrincipalID = servicePrincipal
        q.resourceAppID = resource
        q.clientAppID = client
        q.authenticationContext = acrs
        q.ipAddress = ip
        q.devicePlatform = platform
        q.clientAppType = clientAppType
        q.signInRiskLevel = signInRisk
        q.userRiskLevel = userRisk
        let offset = try await store.clockOffset()
        let result: (ConditionalAccessOutcome, [WhatIf.Answer])
        let whatIf = WhatIf(time: OffsetTimeSource(offset: offset))
        do { result = try whatIf.evaluate(q, tenant: DirectoryIndex(d)) } catch { throw fail("\(error)") }
        if let summary = try? whatIf.summary(q, tenant: DirectoryIndex(d)) { print("sign-in: \(summary)") }
        for a in result.1 {
            let e = a.evaluation
            print(
                "\(e.applies ? "applies " : "no      ") \(e.policy.displayName) [\(e.policy.state.rawValue)]"
                    + (e.applies
                        ? "  controls: \(e.enforcedGrantControls.joined(separator: ", "))"
                        : "  reasons: \(e.reasons.joined(separator: ", "))"))
            for line in e.explanation { print("           \(line)") }
        }
        let outcome = result.0
        print(
            "decision: \(outcome.decision.rawValue)"
                + (outcome.requirements.isEmpty ? "" : " (needs \(outcome.requirements.map(\.rawValue).joined(separator: ", ")))")
                + (outcome.failedPolicyIDs.isEmpty ? "" : " capolids \(outcome.failedPolicyIDs.joined(separator: ","))"))
    }
}

// MARK: - policy

/// Where `deputy policy` works: a data directory's store (the default), or with `--graph` a
/// running authority's Graph API (`/v1.0/identity/conditionalAccess/policies`).
struct PolicyTarget: ParsableArguments {
    @Option(help: "The authority's data directory.") var dataDir = ".deputy"
    @OptionGroup var database: DatabaseOption
    @Option(help: "Only this tenant (id or domain).") var tenant: String?
    @Flag(help: "Through the running authority's Graph API (deputy up's manifest and its admin app) instead of the store.")
    var graph = false
    @OptionGroup var connection: GraphConnection

    static let path = "/v1.0/identity/conditionalAccess/policies"
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract:
            "List, apply, delete and switch (enable, disable, report-only) Conditional Access policies (Graph conditionalAccessPolicy JSON).",
        discussion:
            "On a data directory's store by default; with --graph through a running authority's Microsoft Graph API, as a script manages Entra.",
        subcommands: [List.self, Apply.self, Delete.self, Enable.self, Disable.self, ReportOnly.self])

    /// Sets one policy's `state`, as the Entra admin center's switch does.
    static func setState(_ id: String, _ state: ConditionalAccessPolicy.State, _ target: PolicyTarget) async throws {
        if target.graph {
            return try await target.connection.run { g in
                try await g.call(.PATCH, PolicyTarget.path + "/" + GraphClient.path(id), .object(["state": .string(state.rawValue)]))
                print("policy \(id): \(state.rawValue)")
            }
        }
        let (store, d) = try await existingTenant(dataDir: target.dataDir, database: target.database, tenant: target.tenant)
        guard let index = d.conditionalAccessPolicies.firstIndex(where: { $0.objectValue?["id"]?.stringValue == id }),
            case .object(var policy) = d.conditionalAccessPolicies[index]
        else { throw fail("no policy \(id) in tenant \(d.tenant.displayName) (deputy policy list shows them)") }
        policy["state"] = .string(state.rawValue)
        let updated = JSONValue.object(policy)
        do { _ = try ConditionalAccessPolicy.parse(updated) } catch { throw fail("\(error)") }
        try await store.updateDirectory(tenantID: d.tenant.id) { dir in
            if let i = dir.conditionalAccessPolicies.firstIndex(where: { $0.objectValue?["id"]?.stringValue == id }) {
                dir.conditionalAccessPolicies[i] = updated
            }
        }
        print("policy \(policy["displayName"]?.stringValue ?? id) (\(id)): \(state.rawValue)")
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a policy on (state enabled); the authority enforces it on its next request.")
        @Argument(help: "The policy id.") var id: String
        @OptionGroup var target: PolicyTarget
        func run() async throws { try await PolicyCommand.setState(id, .enabled, target) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn a policy off (state disabled).")
        @Argument(help: "The policy id.") var id: String
        @OptionGroup var target: PolicyTarget
        func run() async throws { try await PolicyCommand.setState(id, .disabled, target) }
    }

    struct ReportOnly: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report-only",
            abstract: "Evaluate and log a policy without enforcing it (enabledForReportingButNotEnforced).")
        @Argument(help: "The policy id.") var id: String
        @OptionGroup var target: PolicyTarget
        func run() async throws { try await PolicyCommand.setState(id, .enabledForReportingButNotEnforced, target) }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's policies.")
        @OptionGroup var target: PolicyTarget

        func run() async throws {
            if target.graph {
                return try await target.connection.run { g in
                    graphTable(try await g.list(PolicyTarget.path), ["id", "state", "displayName"])
                }
            }
            let (_, d) = try await existingTenant(dataDir: target.dataDir, database: target.database, tenant: target.tenant)
            let index = DirectoryIndex(d)
            let readable = Set(index.policies.map(\.id))
            var rows = index.policies.map { [$0.id, $0.state.rawValue, $0.displayName] }
            // A stored policy the authority cannot read is listed too, so that it can be deleted or
            // replaced by its id: the authority refuses to start while it is there.
            for (i, json) in d.conditionalAccessPolicies.enumerated() {
                let id = json.objectValue?["id"]?.stringValue ?? "#\(i + 1)"
                if !readable.contains(id) { rows.append([id, "unreadable", json.objectValue?["displayName"]?.stringValue ?? ""]) }
            }
            table(["id", "state", "displayName"], rows)
            for problem in index.policyProblems { FileHandle.standardError.write(Data("unreadable: \(problem)\n".utf8)) }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or replace policies from a JSON file: one policy, a list, or Graph's {\"value\": [...]}.",
            discussion:
                "A policy with the id of an existing one replaces it. Every policy is checked first; nothing changes if one is invalid. With --graph, each is a Graph POST (new) or PATCH (existing id)."
        )
        @Option(name: .shortAndLong, help: "The JSON file.") var file: String
        @OptionGroup var target: PolicyTarget

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw fail("cannot read \(file)") }
            let json: JSONValue
            do { json = try JSONParser.parse(data) } catch {
                let line = data.prefix(error.offset).count { $0 == UInt8(ascii: "\n") } + 1
                throw fail("\(file):\(line): not JSON: \(error.reason)")
            }
            let items: [JSONValue]
            switch json {
            case .array(let a): items = a
            case .object(let o): if case .array(let a)? = o["value"] { items = a } else { items = [json] }
            default: throw fail("\(file): expected a policy object, a list, or {\"value\": [...]}")
            }
            var parsed: [ConditionalAccessPolicy] = []
            for (i, item) in items.enumerated() {
                do { parsed.append(try ConditionalAccessPolicy.parse(item, position: "#\(i + 1)")) } catch {
                    throw fail("\(file): \(error)")
                }
            }
            let policies = parsed
            if target.graph {
                return try await target.connection.run { g in
                    let existing = Set(try await g.list(PolicyTarget.path).compactMap { $0["id"]?.stringValue })
                    for p in policies {
                        guard case .object(var body) = p.json else { continue }
                        if existing.contains(p.id) {
                            body.removeValue(forKey: "id")
                            try await g.call(.PATCH, PolicyTarget.path + "/" + GraphClient.path(p.id), .object(body))
                        } else {
                            try await g.call(.POST, PolicyTarget.path, p.json)
                        }
                        print("applied \(p.displayName) (\(p.id), \(p.state.rawValue))")
                    }
                }
            }
            let (store, d) = try await existingTenant(dataDir: target.dataDir, database: target.database, tenant: target.tenant)
            try await store.updateDirectory(tenantID: d.tenant.id) { dir in
                for p in policies {
                    if let i = dir.conditionalAccessPolicies.firstIndex(where: { $0.objectValue?["id"]?.stringValue == p.id }) {
                        dir.conditionalAccessPolicies[i] = p.json
                    } else {
                        dir.conditionalAccessPolicies.append(p.json)
                    }
                }
            }
            for p in policies { print("applied \(p.displayName) (\(p.id), \(p.state.rawValue))") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a policy by id.")
        @Argument(help: "The policy id.") var id: String
        @OptionGroup var target: PolicyTarget

        func run() async throws {
            if target.graph {
                return try await target.connection.run { g in
                    try await g.call(.DELETE, PolicyTarget.path + "/" + GraphClient.path(id))
                    print("deleted policy \(id)")
                }
            }
            let (store, d) = try await existingTenant(dataDir: target.dataDir, database: target.database, tenant: target.tenant)
            guard d.conditionalAccessPolicies.contains(where: { $0.objectValue?["id"]?.stringValue == id }) else {
                throw fail("no policy \(id) in tenant \(d.tenant.displayName)")
            }
            try await store.updateDirectory(tenantID: d.tenant.id) {
                $0.conditionalAccessPolicies.removeAll { $0.objectValue?["id"]?.stringValue == id }
            }
            print("deleted policy \(id)")
        }
    }
}
