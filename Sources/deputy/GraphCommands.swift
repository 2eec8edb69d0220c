import ArgumentParser
import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyTokenAcquisition
import Foundation
import NIOCore
import NIOHTTP1

// Commands that manage a running authority through its Microsoft Graph API, as a script would
// manage Entra: an app-only token from client credentials for https://graph.microsoft.com/.default,
// then Graph's requests. By default the demo's admin application from deputy up's manifest.

/// Where the Graph API is and who calls it.
struct GraphConnection: ParsableArguments {
    @Option(help: "deputy up's manifest: the authority and the admin application's secret.") var manifest = ".deputy/manifest.json"
    @Option(help: "Another authority with its tenant (http(s)://host:port/<tenant id>), instead of the manifest's.")
    var authority: String?
    @Option(help: "An application with Graph's application permissions, instead of the manifest's admin app.") var clientId: String?
    @Option(help: "Environment variable holding that application's client secret.") var clientSecretEnv = "DEPUTY_CLIENT_SECRET"
    @Option(help: "A PEM file of CA certificates to trust (an authority under --tls: <data-dir>/tls/ca.pem).") var caCertificate: String?

    /// The tenant's authority, the Graph origin, the client and its secret, the CA to trust.
    func settings() throws -> (authority: String, graph: String, clientID: String, secret: String, ca: String?) {
        var m: [String: JSONValue] = [:]
        if authority == nil || clientId == nil {
            guard let data = FileManager.default.contents(atPath: manifest), case .object(let o)? = try? JSONParser.parse(data) else {
                throw fail("cannot read deputy up's manifest \(manifest); start deputy up, or give --authority and --client-id")
            }
            m = o
        }
        guard let tenantAuthority = authority ?? m["authority"]?.stringValue, let url = URL(string: tenantAuthority),
            let scheme = url.scheme, let host = url.host
        else { throw fail("no authority: give --authority http(s)://host:port/<tenant id>") }
        let graph = "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        let admin = m["applications"]?.objectValue?["admin"]?.objectValue
        guard let client = clientId ?? admin?["appId"]?.stringValue else { throw fail("no client: give --client-id") }
        let secret = clientId == nil ? admin?["clientSecret"]?.stringValue : ProcessInfo.processInfo.environment[clientSecretEnv]
        guard let secret, !secret.isEmpty else { throw fail("set the client secret of \(client) in $\(clientSecretEnv)") }
        return (tenantAuthority, graph, client, secret, caCertificate ?? m["caCertificate"]?.stringValue)
    }

    /// Runs `body` with a Graph client holding a fresh app-only token.
    func run(_ body: (GraphClient) async throws -> Void) async throws {
        let s = try settings()
        try await withDeputyHTTPClient(trusting: s.ca) { http in
            let confidential = ConfidentialClient(
                authority: s.authority, clientID: s.clientID, credential: .secret(s.secret), httpClient: http)
            let token: String
            do { token = try await confidential.acquireTokenForClient(scopes: ["https://graph.microsoft.com/.default"]).token } catch {
                throw fail("could not get a Graph token for \(s.clientID) from \(s.authority): \(error)")
            }
            try await body(GraphClient(base: s.graph, token: token, http: http))
        }
    }
}

/// Graph's requests with a bearer token; a Graph error becomes a CLI message with its code.
struct GraphClient {
    let base: String
    let token: String
    let http: HTTPClient

    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue? {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serialized))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let json = try? JSONParser.parse(Data(bytes.readableBytesView))
        guard (200..<300).contains(Int(response.status.code)) else {
            let error = json?.objectValue?["error"]?.objectValue
            throw fail(
                "\(method.rawValue) \(path): \(response.status.code) \(error?["code"]?.stringValue ?? "") \(error?["message"]?.stringValue ?? "")"
            )
        }
        return json
    }

    /// Every page of a collection (following `@odata.nextLink`).
    func list(_ path: String) async throws -> [[String: JSONValue]] {
        var out: [[String: JSONValue]] = []
        var next: String? = path
        while let p = next {
            let page = try await call(.GET, p)
            out += page?.objectValue?["value"]?.arrayValue?.compactMap(\.objectValue) ?? []
            next = page?.objectValue?["@odata.nextLink"]?.stringValue.map { String($0.dropFirst(base.count)) }
        }
        return out
    }

    /// `$filter`-safe text: OData doubles a quote.
    static func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func path(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? s }
    static func query(_ s: String) -> String { FormParameters.encode(s) }
}

/// Prints a table of Graph objects.
func graphTable(_ objects: [[String: JSONValue]], _ columns: [String]) {
    table(
        columns,
        objects.map { o in
            columns.map { c in
                switch o[c] {
                case .string(let s)?: s
                case .bool(let b)?: b ? "yes" : "no"
                case .number(let n)?: String(Int(n))
                case .null?, nil: "—"
                case let v?: String(decoding: v.serialized, as: UTF8.self)
                }
            }
        })
}

// MARK: - Users (through Graph)

extension UserCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users (Graph GET /v1.0/users).")
        @Option(help: "An OData $filter, e.g. \"startswith(displayName,'A')\".") var filter: String?
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                let users = try await g.list(
                    "/v1.0/users?$select=id,displayName,userPrincipalName,accountEnabled&$orderby=displayName"
                        + (filter.map { "&$filter=" + GraphClient.query($0) } ?? ""))
                graphTable(users, ["displayName", "userPrincipalName", "accountEnabled", "id"])
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user (Graph POST /v1.0/users).")
        @Option(help: "The user principal name, e.g. carol@contoso.com.") var upn: String
        @Option(help: "The display name.") var name: String
        @Option(help: "Environment variable holding the password.") var passwordEnv = "DEPUTY_USER_PASSWORD"
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            guard let password = ProcessInfo.processInfo.environment[passwordEnv], !password.isEmpty else {
                throw fail("set the new user's password in $\(passwordEnv)")
            }
            try await graph.run { g in
                let user = try await g.call(
                    .POST, "/v1.0/users",
                    .object([
                        "accountEnabled": .bool(true), "displayName": .string(name), "userPrincipalName": .string(upn),
                        "mailNickname": .string(String(upn.prefix { $0 != "@" })),
                        "passwordProfile": .object(["password": .string(password)]),
                    ]))
                print("Created \(upn): \(user?.objectValue?["id"]?.stringValue ?? "")")
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password", abstract: "Reset a user's password (Graph PATCH passwordProfile; a critical event).")
        @Argument(help: "The user (object id or UPN).") var user: String
        @Option(help: "Environment variable holding the new password.") var passwordEnv = "DEPUTY_USER_PASSWORD"
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            guard let password = ProcessInfo.processInfo.environment[passwordEnv], !password.isEmpty else {
                throw fail("set the new password in $\(passwordEnv)")
            }
            try await graph.run { g in
                try await g.call(
                    .PATCH, "/v1.0/users/" + GraphClient.path(user), .object(["passwordProfile": .object(["password": .string(password)])]))
                print("Reset the password of \(user); tokens issued before now are refused by resources that evaluate continuously")
            }
        }
    }
}

// MARK: - Groups

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Manage groups of a running authority through Graph.",
        subcommands: [List.self, Create.self, Delete.self, AddMember.self, RemoveMember.self, Members.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups.")
        @OptionGroup var graph: GraphConnection
        func run() async throws { try await graph.run { g in graphTable(try await g.list("/v1.0/groups"), ["displayName", "id"]) } }
    }
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a security group.")
        @Argument(help: "The display name.") var name: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                let group = try await g.call(
                    .POST, "/v1.0/groups",
                    .object(["displayName": .string(name), "securityEnabled": .bool(true), "mailEnabled": .bool(false)]))
                print("Created group \(name): \(group?.objectValue?["id"]?.stringValue ?? "")")
            }
        }
    }
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a group.")
        @Argument(help: "The group's id.") var id: String
        @OptionGroup var graph: GraphConnection
        func run() async throws { try await graph.run { g in try await g.call(.DELETE, "/v1.0/groups/" + GraphClient.path(id)) } }
    }
    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a group's members.")
        @Argument(help: "The group's id.") var id: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                graphTable(try await g.list("/v1.0/groups/\(GraphClient.path(id))/members"), ["displayName", "userPrincipalName", "id"])
            }
        }
    }
    struct AddMember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-member", abstract: "Add a member (Graph members/$ref).")
        @Argument(help: "The group's id.") var group: String
        @Argument(help: "The member's object id.") var member: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                try await g.call(
                    .POST, "/v1.0/groups/\(GraphClient.path(group))/members/$ref",
                    .object(["@odata.id": .string("https://graph.microsoft.com/v1.0/directoryObjects/\(member)")]))
            }
        }
    }
    struct RemoveMember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove-member", abstract: "Remove a member.")
        @Argument(help: "The group's id.") var group: String
        @Argument(help: "The member's object id.") var member: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                try await g.call(.DELETE, "/v1.0/groups/\(GraphClient.path(group))/members/\(GraphClient.path(member))/$ref")
            }
        }
    }
}

// MARK: - Applications and grants

struct AppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app", abstract: "List applications and service principals of a running authority through Graph.",
        subcommands: [List.self, ServicePrincipals.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applications.")
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                graphTable(
                    try await g.list("/v1.0/applications?$select=id,appId,displayName,identifierUris&$orderby=displayName"),
                    ["displayName", "appId", "identifierUris"])
            }
        }
    }
    struct ServicePrincipals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "service-principals", abstract: "List service principals.")
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                graphTable(try await g.list("/v1.0/servicePrincipals?$orderby=displayName"), ["displayName", "appId", "id"])
            }
        }
    }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant", abstract: "Delegated permission grants of a running authority, through Graph.",
        discussion: "`deputy grants` lists them from a data directory's store instead.",
        subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List grants, naming client and resource.")
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                let sps = try await g.list("/v1.0/servicePrincipals?$select=id,displayName")
                let names = Dictionary(
                    sps.compactMap { o in o["id"]?.stringValue.map { ($0, o["displayName"]?.stringValue ?? $0) } },
                    uniquingKeysWith: { a, _ in a })
                let grants = try await g.list("/v1.0/oauth2PermissionGrants").map { o -> [String: JSONValue] in
                    var o = o
                    o["client"] = .string(o["clientId"]?.stringValue.flatMap { names[$0] } ?? "")
                    o["resource"] = .string(o["resourceId"]?.stringValue.flatMap { names[$0] } ?? "")
                    o["for"] = .string(o["consentType"]?.stringValue == "AllPrincipals" ? "all users" : o["principalId"]?.stringValue ?? "")
                    return o
                }
                graphTable(grants, ["client", "resource", "for", "scope", "id"])
            }
        }
    }
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant a client delegated scopes on a resource for all users (admin consent).")
        @Option(help: "The client's service principal id.") var client: String
        @Option(help: "The resource's service principal id.") var resource: String
        @Option(help: "Space-separated scope values, e.g. \"Data.Read\".") var scope: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in
                let grant = try await g.call(
                    .POST, "/v1.0/oauth2PermissionGrants",
                    .object([
                        "clientId": .string(client), "resourceId": .string(resource), "consentType": .string("AllPrincipals"),
                        "scope": .string(scope),
                    ]))
                print("Granted: \(grant?.objectValue?["id"]?.stringValue ?? "")")
            }
        }
    }
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a grant (the next OBO for it gets consent_required).")
        @Argument(help: "The grant's id.") var id: String
        @OptionGroup var graph: GraphConnection
        func run() async throws {
            try await graph.run { g in try await g.call(.DELETE, "/v1.0/oauth2PermissionGrants/" + GraphClient.path(id)) }
        }
    }
}
