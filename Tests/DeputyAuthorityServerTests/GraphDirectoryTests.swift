import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Microsoft Graph's directory API on the authority's origin, with bodies from Graph's v1.0
/// documentation ("Create user", "Create conditionalAccessPolicy", "Create namedLocation", "Add
/// members"), its OData query options, its authorization and its error body.
@Suite("Graph directory API")
struct GraphDirectoryTests {
    struct Client {
        let client: any TestClientProtocol
        let token: String

        func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, JSONValue?) {
            var headers: HTTPFields = [.authorization: "Bearer \(token)"]
            if body != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
                ($0.status, try? JSONParser.parse(Data($0.body.readableBytesView)))
            }
        }
    }

    static func token(_ client: any TestClientProtocol, _ form: [(String, String)]) async throws -> String {
        let r = try await client.execute(
            uri: "/\(DemoTenant.tenantID)/oauth2/v2.0/token", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: FormParameters(form).encoded)
        ) { $0 }
        let json = try JSONParser.parse(Data(r.body.readableBytesView))
        return try #require(json.objectValue?["access_token"]?.stringValue, "no token: \(String(buffer: r.body))")
    }

    /// The demo admin application, app-only, with Graph's write permissions.
    static func admin(_ client: any TestClientProtocol) async throws -> Client {
        let admin = DemoTenant.app("admin")
        return Client(
            client: client,
            token: try await token(
                client,
                [
                    ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                    ("scope", "https://graph.microsoft.com/.default"),
                ]))
    }

    /// A user's delegated Graph token through the public CLI app (password grant).
    static func delegated(_ client: any TestClientProtocol, _ user: String, scope: String) async throws -> Client {
        let u = DemoTenant.user(user)
        return Client(
            client: client,
            token: try await token(
                client,
                [
                    ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", u.upn),
                    ("password", u.password), ("scope", "https://graph.microsoft.com/" + scope),
                ]))
    }

    static func withGraph(_ body: @escaping @Sendable (any TestClientProtocol, Authority) async throws -> Void) async throws {
        let authority = try await DemoAuthority.make()
        try await DemoAuthority.test(authority) { client in try await body(client, authority) }
    }

    static func values(_ json: JSONValue?) -> [[String: JSONValue]] {
        json?.objectValue?["value"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    @Test("Users: $filter, $select, $orderby and $top with @odata.nextLink, as Graph answers them")
    func queryUsers() async throws {
        try await Self.withGraph { client, _ in
            let graph = try await Self.admin(client)
            let (s1, a) = try await graph.call(
                .get, "/v1.0/users?$filter=startswith(displayName,'a')&$select=displayName,userPrincipalName")
            #expect(s1 == .ok)
            #expect(a?.objectValue?["@odata.context"]?.stringValue == "https://graph.microsoft.com/v1.0/$metadata#users")
            #expect(Self.values(a).map { $0["userPrincipalName"]?.stringValue } == ["alice@contoso.com"])
            #expect(Set(Self.values(a).first?.keys.map { $0 } ?? []) == ["id", "displayName", "userPrincipalName"])
            // No secret ever leaves: no password hash or TOTP secret in any user.
            let (_, all) = try await graph.call(.get, "/v1.0/users")
            #expect(Self.values(all).count == 3)  // alice, bob and eve (agent users are not listed here)
            #expect(Self.values(all).allSatisfy { $0["passwordHash"] == nil && $0["totpSecret"] == nil })

            var names: [String] = []
            var next: String? = "/v1.0/users?$orderby=displayName%20desc&$top=2&$select=displayName"
            while let uri = next {
                let (status, page) = try await graph.call(.get, uri)
                #expect(status == .ok)
                names += Self.values(page).compactMap { $0["displayName"]?.stringValue }
                next = page?.objectValue?["@odata.nextLink"]?.stringValue.map { String($0.dropFirst("http://127.0.0.1:7400".count)) }
            }
            #expect(names == Self.values(all).compactMap { $0["displayName"]?.stringValue }.sorted { $0.lowercased() > $1.lowercased() })

            let (s2, or) = try await graph.call(
                .get,
                "/v1.0/users?$filter=userPrincipalName%20eq%20'ALICE@contoso.com'%20or%20(accountEnabled%20eq%20true%20and%20startswith(displayName,'Bob'))&$select=displayName"
            )
            #expect(s2 == .ok && Set(Self.values(or).compactMap { $0["displayName"]?.stringValue }) == ["Alice Adams", "Bob Brown"])
            let (bad, error) = try await graph.call(.get, "/v1.0/users?$filter=displayName%20like%20'a'")
            #expect(bad == .badRequest && error?.objectValue?["error"]?.objectValue?["code"]?.stringValue == "Request_UnsupportedQuery")
            let (badTop, _) = try await graph.call(.get, "/v1.0/users?$top=0")
            #expect(badTop == .badRequest)
        }
    }

    @Test("Create user (Graph's example body), read it by UPN, update, sign in with its password, delete: 201, 200, 204, token, 204, 404")
    func userLifecycle() async throws {
        try await Self.withGraph { client, authority in
            let graph = try await Self.admin(client)
            let body = #"""
                {"accountEnabled": true, "displayName": "Adele Vance", "mailNickname": "AdeleV", "userPrincipalName": "AdeleV@contoso.com",
                 "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"}}
                """#
            let (created, user) = try await graph.call(.post, "/v1.0/users", body)
            #expect(created == .created)
            let id = try #require(user?.objectValue?["id"]?.stringValue)
            #expect(user?.objectValue?["@odata.context"]?.stringValue == "https://graph.microsoft.com/v1.0/$metadata#users/$entity")
            let (dup, _) = try await graph.call(.post, "/v1.0/users", body)
            #expect(dup == .badRequest)

            let (read, got) = try await graph.call(.get, "/v1.0/users/AdeleV@contoso.com")
            #expect(read == .ok && got?.objectValue?["id"]?.stringValue == id)
            let (patched, _) = try await graph.call(.patch, "/v1.0/users/\(id)", #"{"jobTitle": "Marketing Assistant"}"#)
            #expect(patched == .noContent)
            let (_, after) = try await graph.call(.get, "/v1.0/users/\(id)?$select=jobTitle")
            #expect(after?.objectValue?["jobTitle"]?.stringValue == "Marketing Assistant")
            let (readOnly, _) = try await graph.call(.patch, "/v1.0/users/\(id)", #"{"passwordHash": "x"}"#)
            #expect(readOnly == .badRequest)
            let (place, placeError) = try await graph.call(.patch, "/v1.0/users/\(id)", #"{"signInIPAddress": "junk"}"#)
            #expect(
                place == .badRequest
                    && placeError?.objectValue?["error"]?.objectValue?["message"] == .string("Property 'signInIPAddress' is read-only."))
            let (unknown, unknownError) = try await graph.call(.patch, "/v1.0/users/\(id)", #"{"officeLocation": "B1"}"#)
            #expect(unknown == .badRequest)
            #expect(
                unknownError?.objectValue?["error"]?.objectValue?["message"]
                    == .string("Property 'officeLocation' does not exist on type 'microsoft.graph.user'."))

            // The new user signs in with the password Graph set.
            let signIn = try await Self.token(
                client,
                [
                    ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", "AdeleV@contoso.com"),
                    ("password", "xWwvJ]6NMw+bWH-d"), ("scope", "api://contoso-expenses-api/access_as_user"),
                ])
            #expect(!signIn.isEmpty)

            let (deleted, _) = try await graph.call(.delete, "/v1.0/users/\(id)")
            #expect(deleted == .noContent)
            let (gone, error) = try await graph.call(.get, "/v1.0/users/\(id)")
            #expect(gone == .notFound)
            #expect(error?.objectValue?["error"]?.objectValue?["code"]?.stringValue == "Request_ResourceNotFound")
            #expect(error?.objectValue?["error"]?.objectValue?["innerError"]?.objectValue?["request-id"] != nil)
            let events = try await authority.store.criticalEvents(tenantID: DemoTenant.tenantID, after: 0, limit: 10)
            #expect(events.map(\.kind) == [.userDeleted] && events.first?.userID == id)
        }
    }

    @Test(
        "A Conditional Access policy created through Graph blocks the next token request; disabled by PATCH it does not; DELETE removes it")
    func policyLifecycle() async throws {
        try await Self.withGraph { client, _ in
            let graph = try await Self.admin(client)
            let bob = DemoTenant.user("bob")
            let location = #"""
                {"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Untrusted IP named location", "isTrusted": false,
                 "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "12.34.221.11/22"}]}
                """#
            let (locationCreated, named) = try await graph.call(.post, "/v1.0/identity/conditionalAccess/namedLocations", location)
            #expect(locationCreated == .created && named?.objectValue?["@odata.type"] == .string("#microsoft.graph.ipNamedLocation"))
            let locationID = try #require(named?.objectValue?["id"]?.stringValue)
            let policy = #"""
                {"displayName": "Block bob everywhere", "state": "enabled",
                 "conditions": {"users": {"includeUsers": ["\#(bob.id)"]}, "applications": {"includeApplications": ["All"]},
                   "clientAppTypes": ["all"], "locations": {"includeLocations": ["All"], "excludeLocations": ["\#(locationID)"]}},
                 "grantControls": {"operator": "OR", "builtInControls": ["block"]}}
                """#
            let (created, p) = try await graph.call(.post, "/v1.0/identity/conditionalAccess/policies", policy)
            #expect(created == .created && p?.objectValue?["createdDateTime"] != nil)
            let id = try #require(p?.objectValue?["id"]?.stringValue)

            func bobsToken() async throws -> Int {
                try await client.execute(
                    uri: "/\(DemoTenant.tenantID)/oauth2/v2.0/token", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(
                        string: FormParameters([
                            ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", bob.upn),
                            ("password", bob.password), ("scope", "api://contoso-expenses-api/access_as_user"),
                        ]).encoded)
                ) { r in
                    (try? JSONParser.parse(Data(r.body.readableBytesView)))?.objectValue?["error_codes"]?.arrayValue?.first?.numberValue
                        .map { Int($0) } ?? 0
                }
            }
            #expect(try await bobsToken() == 53003)
            let (inUse, _) = try await graph.call(.delete, "/v1.0/identity/conditionalAccess/namedLocations/\(locationID)")
            #expect(inUse == .badRequest)
            let (disabled, _) = try await graph.call(.patch, "/v1.0/identity/conditionalAccess/policies/\(id)", #"{"state": "disabled"}"#)
            #expect(disabled == .noContent)
            #expect(try await bobsToken() == 0)
            let (invalid, error) = try await graph.call(
                .patch, "/v1.0/identity/conditionalAccess/policies/\(id)",
                #"{"grantControls": {"operator": "XOR", "builtInControls": ["mfa"]}}"#)
            #expect(invalid == .badRequest && error?.objectValue?["error"]?.objectValue?["message"]?.stringValue?.isEmpty == false)
            #expect(try await graph.call(.delete, "/v1.0/identity/conditionalAccess/policies/\(id)").0 == .noContent)
            #expect(try await graph.call(.get, "/v1.0/identity/conditionalAccess/policies/\(id)").0 == .notFound)
            #expect(try await graph.call(.delete, "/v1.0/identity/conditionalAccess/namedLocations/\(locationID)").0 == .noContent)
        }
    }

    @Test("Group members by $ref (Graph's Add members body), and grants and applications listed and changed")
    func groupsGrantsApplications() async throws {
        try await Self.withGraph { client, _ in
            let graph = try await Self.admin(client)
            let alice = DemoTenant.user("alice")
            let (created, group) = try await graph.call(
                .post, "/v1.0/groups", #"{"displayName": "Auditors", "mailEnabled": false, "securityEnabled": true}"#)
            #expect(created == .created)
            let gid = try #require(group?.objectValue?["id"]?.stringValue)
            let ref = #"{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/\#(alice.id)"}"#
            #expect(try await graph.call(.post, "/v1.0/groups/\(gid)/members/$ref", ref).0 == .noContent)
            #expect(try await graph.call(.post, "/v1.0/groups/\(gid)/members/$ref", ref).0 == .badRequest)
            let (_, members) = try await graph.call(.get, "/v1.0/groups/\(gid)/members")
            #expect(Self.values(members).map { $0["id"]?.stringValue } == [alice.id])
            #expect(Self.values(members).first?["@odata.type"]?.stringValue == "#microsoft.graph.user")
            #expect(try await graph.call(.delete, "/v1.0/groups/\(gid)/members/\(alice.id)/$ref").0 == .noContent)
            #expect(Self.values(try await graph.call(.get, "/v1.0/groups/\(gid)/members").1).isEmpty)

            let (_, grants) = try await graph.call(.get, "/v1.0/oauth2PermissionGrants?$filter=consentType%20eq%20'AllPrincipals'")
            let grant = try #require(Self.values(grants).first { $0["scope"]?.stringValue == "Data.Read Data.Write" })
            let grantID = try #require(grant["id"]?.stringValue)
            #expect(try await graph.call(.patch, "/v1.0/oauth2PermissionGrants/\(grantID)", #"{"scope": "Data.Read"}"#).0 == .noContent)
            #expect(try await graph.call(.get, "/v1.0/oauth2PermissionGrants/\(grantID)").1?.objectValue?["scope"] == .string("Data.Read"))
            #expect(try await graph.call(.patch, "/v1.0/oauth2PermissionGrants/\(grantID)", #"{"clientId": "x"}"#).0 == .badRequest)

            let (_, apps) = try await graph.call(.get, "/v1.0/applications?$filter=displayName%20eq%20'Contoso%20Directory%20Admin'")
            let app = try #require(Self.values(apps).first)
            // Secrets are hashed in the store and never returned, not even hashed.
            #expect(app["passwordCredentials"]?.arrayValue?.allSatisfy { $0.objectValue?["hashedSecret"] == nil } == true)
            let (_, sps) = try await graph.call(.get, "/v1.0/servicePrincipals?$filter=appId%20eq%20'\(DemoTenant.app("admin").appId)'")
            #expect(Self.values(sps).count == 1)
            // Graph generates a new application's appId.
            let (made, newApp) = try await graph.call(.post, "/v1.0/applications", #"{"displayName": "Inventory"}"#)
            #expect(made == .created && UUID(uuidString: newApp?.objectValue?["appId"]?.stringValue ?? "") != nil)
        }
    }

    @Test("Authorization as in Graph: 401 without a token, 403 Authorization_RequestDenied without the permission or an admin role")
    func authorization() async throws {
        try await Self.withGraph { client, _ in
            let none = try await client.execute(uri: "/v1.0/users", method: .get) { $0 }
            #expect(none.status == .unauthorized && none.headers[.wwwAuthenticate]?.hasPrefix("Bearer ") == true)
            // alice has the scope through the CLI's grant but is no administrator.
            let alice = try await Self.delegated(client, "alice", scope: "User.ReadWrite.All")
            let (forbidden, error) = try await alice.call(.get, "/v1.0/users")
            #expect(forbidden == .forbidden)
            #expect(error?.objectValue?["error"]?.objectValue?["code"]?.stringValue == "Authorization_RequestDenied")
            // bob is Global Administrator: the same delegated scope works.
            let bob = try await Self.delegated(client, "bob", scope: "User.ReadWrite.All")
            #expect(try await bob.call(.get, "/v1.0/users?$top=1").0 == .ok)
            // A read scope does not allow writing policies.
            let reader = try await Self.delegated(client, "bob", scope: "Policy.Read.All")
            #expect(try await reader.call(.get, "/v1.0/identity/conditionalAccess/policies").0 == .ok)
            #expect(
                try await reader.call(
                    .patch, "/v1.0/identity/conditionalAccess/policies/0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01", #"{"state":"disabled"}"#
                ).0
                    == .forbidden)
        }
    }

    @Test(
        "A lesser administrator or an app cannot disable, reset, delete or revoke an administrator, nor change a role group's members; a Global Administrator can"
    )
    func administratorsAreProtected() async throws {
        let alice = DemoTenant.user("alice")
        let bob = DemoTenant.user("bob")
        let eve = DemoTenant.user("eve")
        let approvers = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
        let authority = try await DemoAuthority.make { file in
            // alice administers users; the Expense Approvers group holds Helpdesk Administrator.
            file.tenants[0].directoryRoleAssignments += [
                DirectoryRoleAssignment(principalId: alice.id, roleTemplateId: "fe930be7-5e62-47db-91af-98c3a49a38b1"),
                DirectoryRoleAssignment(principalId: approvers, roleTemplateId: "729827e3-9c14-49f7-bb1b-9608f156bbb8"),
            ]
        }
        try await DemoAuthority.test(authority) { client in
            let app = try await Self.admin(client)
            let userAdmin = try await Self.delegated(client, "alice", scope: "User.ReadWrite.All Group.ReadWrite.All")
            let global = try await Self.delegated(client, "bob", scope: "User.ReadWrite.All Group.ReadWrite.All")
            let reset = #"{"passwordProfile":{"forceChangePasswordNextSignIn":false,"password":"Taken-Over-123"}}"#
            let member = #"{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/\#(eve.id)"}"#
            for caller in [app, userAdmin] {
                // bob is a Global Administrator: his password, account, sessions and existence are out of reach.
                #expect(try await caller.call(.patch, "/v1.0/users/\(bob.id)", reset).0 == .forbidden)
                #expect(try await caller.call(.patch, "/v1.0/users/\(bob.id)", #"{"accountEnabled":false}"#).0 == .forbidden)
                #expect(try await caller.call(.post, "/v1.0/users/\(bob.id)/revokeSignInSessions").0 == .forbidden)
                #expect(try await caller.call(.delete, "/v1.0/users/\(bob.id)").0 == .forbidden)
                // A member of the role group gets its role: the group's members are out of reach too.
                let (added, error) = try await caller.call(.post, "/v1.0/groups/\(approvers)/members/$ref", member)
                #expect(added == .forbidden && error?.objectValue?["error"]?.objectValue?["code"] == "Authorization_RequestDenied")
                #expect(try await caller.call(.delete, "/v1.0/groups/\(approvers)/members/\(bob.id)/$ref").0 == .forbidden)
                // The same group spelled in capitals is the same group, and deleting it would drop its role.
                #expect(try await caller.call(.post, "/v1.0/groups/\(approvers.uppercased())/members/$ref", member).0 == .forbidden)
                #expect(try await caller.call(.delete, "/v1.0/groups/\(approvers)").0 == .forbidden)
                // A new object cannot take an administrator's id, and with it his role assignments.
                let takeOver = #"{"id":"\#(bob.id.uppercased())","displayName":"Take over","securityEnabled":true,"mailEnabled":false}"#
                let (collision, why) = try await caller.call(.post, "/v1.0/groups", takeOver)
                #expect(collision == .badRequest && String(describing: why).contains("share one id space"), "\(String(describing: why))")
                #expect(try await caller.call(.patch, "/v1.0/groups/\(approvers)", #"{"members":["\#(eve.id)"]}"#).0 == .badRequest)
            }
            // Ordinary properties of an administrator, and users without a role, stay within reach.
            #expect(try await userAdmin.call(.patch, "/v1.0/users/\(bob.id)", #"{"jobTitle":"Controller"}"#).0 == .noContent)
            #expect(try await userAdmin.call(.post, "/v1.0/users/\(eve.id)/revokeSignInSessions").0 == .ok)
            // bob's password is unchanged: he still signs in with it.
            _ = try await Self.delegated(client, "bob", scope: "User.Read")
            // A Global Administrator may do both.
            #expect(try await global.call(.post, "/v1.0/groups/\(approvers)/members/$ref", member).0 == .noContent)
            #expect(try await global.call(.patch, "/v1.0/users/\(alice.id)", #"{"accountEnabled":false}"#).0 == .noContent)
        }
    }
}
