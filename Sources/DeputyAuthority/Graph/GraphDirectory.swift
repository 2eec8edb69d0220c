public import DeputyCore
public import Foundation

/// A Microsoft Graph error (`{"error":{"code":…,"message":…,"innerError":{…}}}`), for the
/// server adapter to render.
public struct GraphError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }

    /// Graph's 404 for an object that is not there.
    public static func notFound(_ id: String) -> GraphError {
        GraphError(
            404, "Request_ResourceNotFound",
            "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")
    }
    static func badRequest(_ message: String) -> GraphError { GraphError(400, "Request_BadRequest", message) }
}

/// The directory collections Deputy serves in Microsoft Graph's v1.0 shapes, over a tenant's
/// directory: each lists its objects as Graph JSON and creates, updates and deletes them, with
/// the directory's checks (the tenant file's) applied to every change.
///
/// Secrets never leave: a user's password hash and TOTP secret, an application's hashed secrets.
public enum GraphCollection: String, CaseIterable, Sendable {
    case users, groups, applications, servicePrincipals, oauth2PermissionGrants
    case conditionalAccessPolicies, namedLocations

    /// The path after `/v1.0/`.
    public var path: String {
        switch self {
        case .conditionalAccessPolicies: "identity/conditionalAccess/policies"
        case .namedLocations: "identity/conditionalAccess/namedLocations"
        default: rawValue
        }
    }

    /// `@odata.context` of a list.
    public var context: String { "https://graph.microsoft.com/v1.0/$metadata#" + path }

    /// Application permissions (app roles) or delegated scopes that allow reading (writing
    /// allows reading too), as Graph's permissions reference lists them.
    public var readPermissions: Set<String> {
        switch self {
        case .users: Set(["User.Read.All", "Directory.Read.All"]).union(writePermissions)
        case .groups: Set(["Group.Read.All", "GroupMember.Read.All", "Directory.Read.All"]).union(writePermissions)
        case .applications, .servicePrincipals: Set(["Application.Read.All", "Directory.Read.All"]).union(writePermissions)
        case .oauth2PermissionGrants: Set(["Directory.Read.All"]).union(writePermissions)
        case .conditionalAccessPolicies, .namedLocations: Set(["Policy.Read.All"]).union(writePermissions)
        }
    }

    public var writePermissions: Set<String> {
        switch self {
        case .users: ["User.ReadWrite.All", "Directory.ReadWrite.All"]
        case .groups: ["Group.ReadWrite.All", "Directory.ReadWrite.All"]
        case .applications, .servicePrincipals: ["Application.ReadWrite.All", "Directory.ReadWrite.All"]
        case .oauth2PermissionGrants: ["DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"]
        case .conditionalAccessPolicies, .namedLocations: ["Policy.ReadWrite.ConditionalAccess"]
        }
    }

    /// Directory roles (template ids) whose holders may write with a delegated token (Microsoft
    /// Learn, "Microsoft Entra built-in roles"); reading is open to these and the reader roles.
    public var writeRoles: Set<String> {
        let global = "62e90394-69f5-4237-9190-012177145e10"
        switch self {
        case .users: return DirectoryIndex.userAdministratorRoles
        case .groups:
            return [global, "fdd7a751-b60b-444a-984c-02652fe8fa1c", "fe930be7-5e62-47db-91af-98c3a49a38b1"]
        case .applications, .servicePrincipals, .oauth2PermissionGrants:
            return [global, "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "158c047a-c907-4556-b7ef-446551a6b5f7"]
        case .conditionalAccessPolicies, .namedLocations:
            return [global, "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", "194ae4cb-b126-40b2-bd5b-6091b380977d"]
        }
    }

    public var readRoles: Set<String> { writeRoles.union(DirectoryIndex.auditReaderRoles) }

    /// Properties a client may not send (secrets, or kept by dedicated actions).
    var refusedProperties: Set<String> {
        switch self {
        case .users: ["passwordHash", "totpSecret", "password", "signInSessionsValidFromDateTime", "signInIPAddress"]
        case .applications: ["passwordCredentials", "keyCredentials"]
        default: []
        }
    }

    // MARK: Reading

    /// Every object of the collection, as Graph JSON without secrets.
    public func list(_ d: TenantDirectory) -> [JSONValue] {
        switch self {
        // A user's manager is a navigation property in Graph (`/users/{id}/manager`), not inline.
        case .users:
            return Self.json(d.users.filter { !$0.isAgentUser }).map {
                Self.without($0, ["passwordHash", "totpSecret", "password", "manager"])
            }
        // Members are read at /groups/{id}/members, not inline (as in Graph).
        case .groups: return Self.json(d.groups).map { Self.without($0, ["members"]) }
        case .applications:
            return Self.json(d.applications).map { app in
                guard case .object(var o) = app, case .array(let creds)? = o["passwordCredentials"] else { return app }
                o["passwordCredentials"] = .array(creds.map { Self.without($0, ["hashedSecret", "secretText"]) })
                return .object(o)
            }
        case .servicePrincipals: return Self.json(d.servicePrincipals)
        case .oauth2PermissionGrants: return Self.json(d.oauth2PermissionGrants)
        case .conditionalAccessPolicies: return d.conditionalAccessPolicies
        case .namedLocations: return d.namedLocations
        }
    }

    /// One object by id (users also by userPrincipalName).
    public func object(_ id: String, in d: TenantDirectory) -> JSONValue? {
        list(d).first { Self.identifies($0, id, self) }
    }

    static func identifies(_ v: JSONValue, _ id: String, _ c: GraphCollection) -> Bool {
        guard case .object(let o) = v else { return false }
        if o["id"]?.stringValue?.lowercased() == id.lowercased() { return true }
        if c == .users, o["userPrincipalName"]?.stringValue?.lowercased() == id.lowercased() { return true }
        return false
    }

    // MARK: Writing

    /// Creates an object from a POST body and returns it as Graph shows it.
    /// - Parameters:
    ///   - body: the POST body (Graph JSON).
    ///   - d: the tenant's directory, changed in place.
    ///   - newID: the id to give it when the body names none.
    ///   - now: the time for `createdDateTime`.
    ///   - passwordHash: a new user's bcrypt hash (the adapter hashes `passwordProfile.password`).
    public func create(
        _ body: [String: JSONValue], in d: inout TenantDirectory, newID: String, now: Date, passwordHash: String? = nil
    ) throws(GraphError) -> JSONValue {
        try refuseSecrets(body)
        var body = body
        if let passwordHash { body["passwordHash"] = .string(passwordHash) }
        // Policies and named locations are kept as Graph JSON, their `@odata.type` with them.
        if self != .conditionalAccessPolicies && self != .namedLocations { body.removeValue(forKey: "@odata.type") }
        // Graph generates an application's appId.
        if self == .applications, body["appId"] == nil { body["appId"] = .string(UUID().uuidString.lowercased()) }
        if body["id"] == nil { body["id"] = .string(newID) }
        guard let id = body["id"]?.stringValue, object(id, in: d) == nil else {
            throw GraphError(400, "Request_BadRequest", "Another object with the same value for property id already exists.")
        }
        let before = d
        switch self {
        case .users: d.users.append(try Self.decode(User.self, body))
        case .groups: d.groups.append(try Self.decode(Group.self, body))
        case .applications: d.applications.append(try Self.decode(Application.self, body))
        case .servicePrincipals:
            guard let appID = body["appId"]?.stringValue, d.applications.contains(where: { $0.appId == appID }) else {
                throw GraphError.badRequest("appId must name an application of this tenant.")
            }
            if d.servicePrincipals.contains(where: { $0.appId == appID }) {
                throw GraphError.badRequest("A service principal for appId '\(appID)' already exists.")
            }
            if body["displayName"] == nil {
                body["displayName"] = d.applications.first { $0.appId == appID }.map { .string($0.displayName) }
            }
            d.servicePrincipals.append(try Self.decode(ServicePrincipal.self, body))
        case .oauth2PermissionGrants: d.oauth2PermissionGrants.append(try Self.decode(OAuth2PermissionGrant.self, body))
        case .conditionalAccessPolicies:
            body["createdDateTime"] = .string(now.formatted(.iso8601))
            d.conditionalAccessPolicies.append(try Self.policy(.object(body)))
        case .namedLocations:
            body["createdDateTime"] = .string(now.formatted(.iso8601))
            d.namedLocations.append(try Self.location(.object(body)))
        }
        try Self.check(d, else: before)
        return object(id, in: d) ?? .object(body)
    }

    /// Applies a PATCH body: each property given replaces the stored one (`id` and, for
    /// applications and service principals, `appId` stay).
    public func update(_ id: String, _ patch: [String: JSONValue], in d: inout TenantDirectory, now: Date) throws(GraphError) {
        try refuseSecrets(patch)
        // An existing group's members change through members/$ref, where a group that holds a
        // directory role is guarded (a member gets the role); a new group may name its members.
        if self == .groups, patch["members"] != nil {
            throw GraphError.badRequest("Property 'members' cannot be updated; add and remove members with /groups/{id}/members/$ref.")
        }
        for fixed in ["id", "appId"] where patch[fixed] != nil && self != .oauth2PermissionGrants {
            throw GraphError.badRequest("Property '\(fixed)' is read-only.")
        }
        func merged<T: Codable>(_ item: T) throws(GraphError) -> T {
            guard case .object(var o)? = try? JSONValue.fromEncodable(item) else {
                throw GraphError(500, "InternalServerError", "unreadable object")
            }
            for (k, v) in patch where k != "@odata.type" { o[k] = v }
            return try Self.decode(T.self, o)
        }
        let before = d
        switch self {
        case .users:
            guard
                let i = d.users.firstIndex(where: {
                    Self.identifies(.object(["id": .string($0.id), "userPrincipalName": .string($0.userPrincipalName)]), id, self)
                })
            else { throw .notFound(id) }
            d.users[i] = try merged(d.users[i])
        case .groups:
            guard let i = d.groups.firstIndex(where: { $0.id.lowercased() == id.lowercased() }) else { throw .notFound(id) }
            d.groups[i] = try merged(d.groups[i])
        case .applications:
            guard let i = d.applications.firstIndex(where: { $0.id?.lowercased() == id.lowercased() }) else { throw .notFound(id) }
            d.applications[i] = try merged(d.applications[i])
        case .servicePrincipals:
            guard let i = d.servicePrincipals.firstIndex(where: { $0.id.lowercased() == id.lowercased() }) else { throw .notFound(id) }
            d.servicePrincipals[i] = try merged(d.servicePrincipals[i])
        case .oauth2PermissionGrants:
            // Graph updates a grant's scope only.
            if let other = patch.keys.first(where: { $0 != "scope" }) {
                throw GraphError.badRequest("Property '\(other)' is read-only; PATCH changes scope.")
            }
            guard let i = d.oauth2PermissionGrants.firstIndex(where: { $0.id?.lowercased() == id.lowercased() }) else {
                throw .notFound(id)
            }
            d.oauth2PermissionGrants[i] = try merged(d.oauth2PermissionGrants[i])
        case .conditionalAccessPolicies, .namedLocations:
            let items = self == .conditionalAccessPolicies ? d.conditionalAccessPolicies : d.namedLocations
            guard let i = items.firstIndex(where: { Self.identifies($0, id, self) }), case .object(var o) = items[i] else {
                throw .notFound(id)
            }
            for (k, v) in patch where k != "@odata.type" || self == .namedLocations { o[k] = v }
            o["modifiedDateTime"] = .string(now.formatted(.iso8601))
            if self == .conditionalAccessPolicies {
                d.conditionalAccessPolicies[i] = try Self.policy(.object(o))
            } else {
                d.namedLocations[i] = try Self.location(.object(o))
            }
        }
        try Self.check(d, else: before)
    }

    /// Deletes an object; what refers to it goes with it (a user's or a service principal's
    /// grants and role assignments, a group's memberships), as in Entra.
    public func delete(_ id: String, in d: inout TenantDirectory) throws(GraphError) {
        guard let found = object(id, in: d)?.objectValue?["id"]?.stringValue else { throw .notFound(id) }
        switch self {
        case .users:
            d.users.removeAll { $0.id == found }
            d.oauth2PermissionGrants.removeAll { $0.principalId == found }
            d.appRoleAssignments.removeAll { $0.principalId == found }
            d.directoryRoleAssignments.removeAll { $0.principalId == found }
            for i in d.groups.indices { d.groups[i].members?.removeAll { $0 == found } }
        case .groups:
            d.groups.removeAll { $0.id == found }
            d.appRoleAssignments.removeAll { $0.principalId == found }
            d.directoryRoleAssignments.removeAll { $0.principalId == found }
            for i in d.groups.indices { d.groups[i].members?.removeAll { $0 == found } }
        case .applications:
            guard let app = d.applications.first(where: { $0.id == found }) else { throw .notFound(id) }
            d.applications.removeAll { $0.id == found }
            if let sp = d.servicePrincipals.first(where: { $0.appId == app.appId }) { Self.removeServicePrincipal(sp.id, from: &d) }
        case .servicePrincipals: Self.removeServicePrincipal(found, from: &d)
        case .oauth2PermissionGrants: d.oauth2PermissionGrants.removeAll { $0.id == found }
        case .conditionalAccessPolicies: d.conditionalAccessPolicies.removeAll { Self.identifies($0, found, self) }
        case .namedLocations:
            // Graph refuses to delete a location a policy still uses.
            if d.conditionalAccessPolicies.contains(where: { String(decoding: $0.serialized, as: UTF8.self).contains(found) }) {
                throw GraphError.badRequest("The named location '\(found)' is used by a Conditional Access policy; remove it there first.")
            }
            d.namedLocations.removeAll { Self.identifies($0, found, self) }
        }
    }

    /// Adds a member to a group (`POST /groups/{id}/members/$ref`).
    public static func addMember(_ memberID: String, toGroup groupID: String, in d: inout TenantDirectory) throws(GraphError) {
        guard let i = d.groups.firstIndex(where: { $0.id.lowercased() == groupID.lowercased() }) else { throw .notFound(groupID) }
        guard
            d.users.contains(where: { $0.id == memberID }) || d.groups.contains(where: { $0.id == memberID })
                || d.servicePrincipals.contains(where: { $0.id == memberID })
        else { throw .notFound(memberID) }
        if d.groups[i].members?.contains(memberID) == true {
            throw GraphError.badRequest(
                "One or more added object references already exist for the following modified properties: 'members'.")
        }
        d.groups[i].members = (d.groups[i].members ?? []) + [memberID]
    }

    /// Removes a member from a group (`DELETE /groups/{id}/members/{member}/$ref`).
    public static func removeMember(_ memberID: String, fromGroup groupID: String, in d: inout TenantDirectory) throws(GraphError) {
        guard let i = d.groups.firstIndex(where: { $0.id.lowercased() == groupID.lowercased() }) else { throw .notFound(groupID) }
        guard d.groups[i].members?.contains(memberID) == true else { throw .notFound(memberID) }
        d.groups[i].members?.removeAll { $0 == memberID }
    }

    /// A group's members as directory objects (`GET /groups/{id}/members`).
    public static func members(of groupID: String, in d: TenantDirectory) throws(GraphError) -> [JSONValue] {
        guard let g = d.groups.first(where: { $0.id.lowercased() == groupID.lowercased() }) else { throw .notFound(groupID) }
        return (g.members ?? []).compactMap { id in
            if let u = GraphCollection.users.object(id, in: d), case .object(var o) = u {
                o["@odata.type"] = .string("#microsoft.graph.user")
                return .object(o)
            }
            if let sub = GraphCollection.groups.object(id, in: d), case .object(var o) = sub {
                o["@odata.type"] = .string("#microsoft.graph.group")
                return .object(o)
            }
            if let sp = GraphCollection.servicePrincipals.object(id, in: d), case .object(var o) = sp {
                o["@odata.type"] = .string("#microsoft.graph.servicePrincipal")
                return .object(o)
            }
            return nil
        }
    }

    // MARK: Helpers

    static func removeServicePrincipal(_ id: String, from d: inout TenantDirectory) {
        d.servicePrincipals.removeAll { $0.id == id }
        d.oauth2PermissionGrants.removeAll { $0.clientId == id || $0.resourceId == id }
        d.appRoleAssignments.removeAll { $0.principalId == id || $0.resourceId == id }
        for i in d.groups.indices { d.groups[i].members?.removeAll { $0 == id } }
    }

    func refuseSecrets(_ body: [String: JSONValue]) throws(GraphError) {
        if let name = body.keys.sorted().first(where: refusedProperties.contains) {
            throw GraphError.badRequest(
                name == "passwordCredentials" || name == "keyCredentials"
                    ? "Property '\(name)' cannot be set here; Deputy's tenant file holds application credentials."
                    : ["passwordHash", "password"].contains(name)
                        ? "Property '\(name)' cannot be set; use passwordProfile for a password."
                        : "Property '\(name)' is read-only.")
        }
    }

    static func json<T: Encodable>(_ items: [T]) -> [JSONValue] { items.compactMap { try? JSONValue.fromEncodable($0) } }

    static func without(_ v: JSONValue, _ keys: Set<String>) -> JSONValue {
        guard case .object(let o) = v else { return v }
        return .object(o.filter { !keys.contains($0.key) })
    }

    /// Graph's properties Deputy accepts in a body without keeping them (they change nothing here).
    static let acceptedNotKept: Set<String> = ["mailNickname", "@odata.type", "@odata.id", "@odata.context"]

    static func decode<T: Codable>(_ type: T.Type, _ body: [String: JSONValue]) throws(GraphError) -> T {
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let value = try decoder.decode(T.self, from: Data(JSONValue.object(body).serialized))
            // A property the type does not have is refused, as Graph refuses it, not dropped.
            if let kept = try? JSONValue.fromEncodable(value).objectValue,
                let unknown = body.keys.sorted().first(where: { kept[$0] == nil && body[$0] != .null && !acceptedNotKept.contains($0) })
            {
                throw GraphError.badRequest("Property '\(unknown)' does not exist on type 'microsoft.graph.\(typeName(T.self))'.")
            }
            return value
        } catch let e as GraphError {
            throw e
        } catch let DecodingError.keyNotFound(key, _) {
            throw GraphError.badRequest("Property '\(key.stringValue)' is required.")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw GraphError.badRequest("Property '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type.")
        } catch {
            throw GraphError.badRequest("The request body is not a valid object: \(error)")
        }
    }

    static func typeName<T>(_ type: T.Type) -> String {
        switch type {
        case is User.Type: "user"
        case is Group.Type: "group"
        case is Application.Type: "application"
        case is ServicePrincipal.Type: "servicePrincipal"
        case is OAuth2PermissionGrant.Type: "oAuth2PermissionGrant"
        default: String(describing: type)
        }
    }

    static func policy(_ json: JSONValue) throws(GraphError) -> JSONValue {
        do { return try ConditionalAccessPolicy.parse(json).json } catch { throw GraphError.badRequest("\(error)") }
    }

    static func location(_ json: JSONValue) throws(GraphError) -> JSONValue {
        do { _ = try NamedLocation.parse(json) } catch { throw GraphError.badRequest("\(error)") }
        return json
    }

    /// The tenant file's checks on the changed directory (ids, references, URIs, scopes).
    static func check(_ d: TenantDirectory, else before: TenantDirectory) throws(GraphError) {
        var validator = DirectoryValidator(marks: [:])
        validator.validate(d, path: "")
        // Report only problems the change introduced: the stored directory already passed.
        var old = DirectoryValidator(marks: [:])
        old.validate(before, path: "")
        let known = Set(old.problems.map(\.message))
        if let problem = validator.problems.first(where: { !known.contains($0.message) }) {
            // Graph's words for a uniqueness conflict; the tenant file's for anything else.
            if problem.message.hasPrefix("duplicate "), let property = problem.message.split(separator: " ").dropFirst().first {
                throw GraphError.badRequest("Another object with the same value for property \(property) already exists.")
            }
            throw GraphError.badRequest("\(problem.path.isEmpty ? "" : problem.path + ": ")\(problem.message)")
        }
    }
}
