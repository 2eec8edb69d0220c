import ArgumentParser
import DeputyAuthority
import DeputyCore
import Foundation
import NIOHTTP1

// `deputy user …`: users of a running authority through its Graph API (deputy up's manifest names
// it and the admin application), or, with --data-dir, on a data directory's store directly (no
// authority running; one that runs sees the change at its next request). Disabling, deleting,
// a new password and revoking sessions are continuous access evaluation's critical events.

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage users of a running authority through Graph; raise and list their critical events.",
        discussion: """
            Each change is a critical event: resources that evaluate continuously (the chain's Data API \
            and MCP server) refuse the user's tokens issued before it with a claims challenge, and the \
            authority asks the user to sign in again. Graph does the same through \
            POST /v1.0/users/{id}/revokeSignInSessions, PATCH /v1.0/users/{id} and DELETE /v1.0/users/{id}.
            """,
        subcommands: [
            List.self, Create.self, RevokeSessions.self, Disable.self, Enable.self, SetPassword.self, Delete.self, Risk.self, Location.self,
            Events.self,
        ])

    struct Target: ParsableArguments {
        @Argument(help: "The user (UPN, mail, object id, or a bare name such as alice).") var user: String
        @Option(help: "Work on this data directory's store directly instead of a running authority's Graph API.") var dataDir: String?
        @OptionGroup var database: DatabaseOption
        @Option(help: "Only this tenant (id or domain), with --data-dir.") var tenant: String?
        @OptionGroup var graph: GraphConnection

        /// Whether to change the store rather than call Graph: `--data-dir` or `--database-url` given
        /// (not `$DEPUTY_DATABASE_URL` alone, which names where an authority keeps its store).
        var onStore: Bool { dataDir != nil || database.databaseURL != nil }

        /// The user's object id through Graph (a bare name is the start of a UPN).
        func graphUserID(_ g: GraphClient) async throws -> String {
            if user.contains("@") || UUID(uuidString: user) != nil {
                return try await g.call(.GET, "/v1.0/users/" + GraphClient.path(user) + "?$select=id")?.objectValue?["id"]?.stringValue
                    ?? user
            }
            let found = try await g.list(
                "/v1.0/users?$select=id,userPrincipalName&$filter="
                    + GraphClient.query("startswith(userPrincipalName,\(GraphClient.quoted(user + "@")))"))
            guard found.count == 1, let id = found[0]["id"]?.stringValue else { throw fail("no single user '\(user)' (give the UPN)") }
            return id
        }

        /// Calls Graph for the user, or raises `kind` on the store with --data-dir.
        func change(_ kind: CriticalEvent.Kind?, _ what: String, graph request: (GraphClient, String) async throws -> Void) async throws {
            guard onStore else {
                return try await graph.run { g in
                    let id = try await graphUserID(g)
                    try await request(g, id)
                    print(
                        "\(what) \(user) (\(id))"
                            + (kind == nil ? "" : "; tokens issued before now are refused by resources that evaluate continuously"))
                }
            }
            if let kind { return try await raise(kind, what) }
            let (store, d, u) = try await resolve()
            try await store.updateDirectory(tenantID: d.tenant.id) { d in
                if let i = d.users.firstIndex(where: { $0.id == u.id }) { d.users[i].accountEnabled = true }
            }
            print("\(what) \(u.userPrincipalName)")
        }

        /// The store, the tenant and the user named.
        func resolve() async throws -> (RecordStore, TenantDirectory, User) {
            let (store, d) = try await existingTenant(dataDir: dataDir ?? ".deputy", database: database, tenant: tenant)
            let index = DirectoryIndex(d)
            let byName = d.users.first { u in ["@", "_"].contains { u.userPrincipalName.lowercased().hasPrefix(user.lowercased() + $0) } }
            guard let u = index.user(login: user) ?? index.user(id: user) ?? byName, !u.isAgentUser else {
                throw fail("no user '\(user)' in tenant \(d.tenant.displayName)")
            }
            return (store, d, u)
        }

        /// Raises `kind` for the user and prints what happened.
        func raise(_ kind: CriticalEvent.Kind, _ what: String) async throws {
            let (store, d, u) = try await resolve()
            let event = try await ContinuousAccess.raise(
                kind, userID: u.id, tenantID: d.tenant.id, at: try await authorityNow(store), in: store)
            print(
                "\(what) \(u.userPrincipalName): critical event \(event.sequence) (\(kind.rawValue)) at "
                    + "\(event.occurredAt.formatted(.iso8601)); tokens issued before it are refused by resources that evaluate continuously"
            )
        }
    }

    struct RevokeSessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-sessions", abstract: "End the user's sessions and refresh tokens (Graph revokeSignInSessions).")
        @OptionGroup var target: Target
        func run() async throws {
            try await target.change(.sessionsRevoked, "Revoked the sessions of") { g, id in
                try await g.call(.POST, "/v1.0/users/\(id)/revokeSignInSessions")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable the account (accountEnabled: false).")
        @OptionGroup var target: Target
        func run() async throws {
            try await target.change(.userDisabled, "Disabled") { g, id in
                try await g.call(.PATCH, "/v1.0/users/\(id)", .object(["accountEnabled": .bool(false)]))
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable the account again (not a critical event; earlier sessions stay ended).")
        @OptionGroup var target: Target
        func run() async throws {
            try await target.change(nil, "Enabled") { g, id in
                try await g.call(.PATCH, "/v1.0/users/\(id)", .object(["accountEnabled": .bool(true)]))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete the user and their own consent grants and role assignments.")
        @OptionGroup var target: Target
        func run() async throws {
            try await target.change(.userDeleted, "Deleted") { g, id in try await g.call(.DELETE, "/v1.0/users/\(id)") }
        }
    }

    struct Risk: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the user's risk level, as Identity Protection would (a test control, on the data directory's store).",
            discussion: "Raising it to high is a critical event; Conditional Access policies with userRiskLevels see the new level.")
        @OptionGroup var target: Target
        @Argument(help: "none, low, medium or high.") var level: String
        func run() async throws {
            let level = level.lowercased()
            guard ["none", "low", "medium", "high"].contains(level) else {
                throw fail("the risk level '\(self.level)' is not one of none, low, medium, high")
            }
            if level == "high" { return try await target.raise(.userRiskHigh, "Raised to high risk:") }
            let (store, d, u) = try await target.resolve()
            try await store.updateDirectory(tenantID: d.tenant.id) { d in
                if let i = d.users.firstIndex(where: { $0.id == u.id }) { d.users[i].userRiskLevel = level }
            }
            print("Set the risk of \(u.userPrincipalName) to \(level)")
        }
    }

    struct Location: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a user's sign-ins to another network address (a test control, on the data directory's store).",
            discussion:
                "Conditional Access then places the user's sign-ins there (named locations). While an enabled policy strictly enforces location (sessionControls.continuousAccessEvaluation.mode strictEnforcement), it is a critical event."
        )
        @OptionGroup var target: Target
        @Argument(help: "An IPv4 or IPv6 address, or 'request' for the request's own address again.") var address: String
        func run() async throws {
            let (store, d, u) = try await target.resolve()
            let place = address == "request" ? nil : address
            let event: CriticalEvent?
            do {
                event = try await ContinuousAccess.moveSignIns(
                    to: place, userID: u.id, tenantID: d.tenant.id, at: try await authorityNow(store), in: store)
            } catch let e as ContinuousAccess.InvalidAddress {
                throw fail(e.description)
            }
            let whereTo = place.map { "from \($0)" } ?? "from their own address again"
            if let event {
                print(
                    "\(u.userPrincipalName) now signs in \(whereTo): critical event \(event.sequence) (locationChanged); a policy enforces location strictly"
                )
            } else {
                print("\(u.userPrincipalName) now signs in \(whereTo) (no policy enforces location strictly: not a critical event)")
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's critical events, oldest first.")
        @Option(help: "The authority's data directory.") var dataDir = ".deputy"
        @OptionGroup var database: DatabaseOption
        @Option(help: "Only this tenant (id or domain).") var tenant: String?
        func run() async throws {
            let (store, d) = try await existingTenant(dataDir: dataDir, database: database, tenant: tenant)
            let events = try await store.criticalEvents(tenantID: d.tenant.id, after: 0, limit: .max)
            if events.isEmpty { return print("No critical events in the last \(Int(CriticalEvent.retention / 86_400)) days.") }
            let names = Dictionary(d.users.map { ($0.id, $0.userPrincipalName) }, uniquingKeysWith: { a, _ in a })
            table(
                ["#", "time", "event", "user"],
                events.map { ["\($0.sequence)", $0.occurredAt.formatted(.iso8601), $0.kind.rawValue, names[$0.userID] ?? $0.userID] })
        }
    }
}
