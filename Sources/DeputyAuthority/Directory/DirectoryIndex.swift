import DeputyCore
import Foundation

/// An immutable, indexed view of one tenant's directory for the request path: O(1) lookups of
/// apps, users and resources. Rebuilt when the store's generation changes.
public final class DirectoryIndex: Sendable {
    public let directory: TenantDirectory
    let appsByAppID: [String: Application]
    let spsByID: [String: ServicePrincipal]
    let spsByAppID: [String: ServicePrincipal]
    let usersByID: [String: User]
    let usersByLogin: [String: User]
    let resourcesByIdentifier: [String: Application]
    /// Agent identities by appId (lowercased), and each one's client view (an application without credentials).
    let agentsByAppID: [String: ServicePrincipal]
    let agentClientViews: [String: Application]
    /// Agent users by the object id of their agent identity.
    let agentUsersByParent: [String: User]
    /// The Conditional Access policies, read once per directory generation (the tenant file and
    /// `deputy policy apply` check them before they reach the store).
    public let policies: [ConditionalAccessPolicy]
    public let namedLocations: [NamedLocation]
    /// Stored policies or locations that no longer read (a store written by another Deputy):
    /// the authority refuses to start with them, and if one appears at run time every sign-in of
    /// the tenant is blocked (AADSTS53003) until it is fixed — never skipped.
    public let policyProblems: [PolicyError]

    public init(_ directory: TenantDirectory) {
        self.directory = directory
        appsByAppID = Dictionary(directory.applications.map { ($0.appId.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        spsByID = Dictionary(directory.servicePrincipals.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        spsByAppID = Dictionary(directory.servicePrincipals.map { ($0.appId.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        usersByID = Dictionary(directory.users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var logins: [String: User] = [:]
        for u in directory.users {
            logins[u.userPrincipalName.lowercased()] = u
            if let m = u.mail { logins[m.lowercased()] = logins[m.lowercased()] ?? u }
        }
        usersByLogin = logins
        var resources: [String: Application] = [:]
        for app in directory.applications {
            resources[app.appId.lowercased()] = app
            for uri in app.identifierUris ?? [] { resources[DirectoryIndex.normalize(uri)] = app }
        }
        resourcesByIdentifier = resources
        var agents: [String: ServicePrincipal] = [:]
        var views: [String: Application] = [:]
        for sp in directory.servicePrincipals where sp.isAgentIdentity {
            agents[sp.appId.lowercased()] = sp
            views[sp.appId.lowercased()] = Application(appId: sp.appId, id: sp.id, displayName: sp.displayName ?? sp.appId)
        }
        agentsByAppID = agents
        agentClientViews = views
        agentUsersByParent = Dictionary(
            directory.users.filter(\.isAgentUser).compactMap { u in u.identityParentId.map { ($0, u) } },
            uniquingKeysWith: { a, _ in a })
        var problems: [PolicyError] = []
        var read: [ConditionalAccessPolicy] = []
        for (i, json) in directory.conditionalAccessPolicies.enumerated() {
            do { read.append(try ConditionalAccessPolicy.parse(json, position: "#\(i + 1)")) } catch { problems.append(error) }
        }
        var locations: [NamedLocation] = []
        for json in directory.namedLocations {
            do { locations.append(try NamedLocation.parse(json)) } catch { problems.append(error) }
        }
        policies = read
        namedLocations = locations
        policyProblems = problems
    }

    /// Identifier URIs match case-insensitively and with or without one trailing slash
    /// (`https://database.windows.net/` and `https://database.windows.net`).
    static func normalize(_ uri: String) -> String {
        var s = uri.lowercased()
        if s.hasSuffix("/") { s.removeLast() }
        return s
    }

    public var tenantID: String { directory.tenant.id }
    public var tenant: TenantInfo { directory.tenant }
    public var isStrict: Bool { directory.tenant.strict ?? false }
    /// The tenant follows the MCP authorization specification where it asks more than Entra does.
    public var isMCPSpec: Bool { directory.tenant.mcpSpec ?? false }

    public func application(appID: String) -> Application? { appsByAppID[appID.lowercased()] }
    public func servicePrincipal(appID: String) -> ServicePrincipal? { spsByAppID[appID.lowercased()] }
    public func servicePrincipal(id: String) -> ServicePrincipal? { spsByID[id] }
    public func user(id: String) -> User? { usersByID[id] }

    // MARK: - Agent ID (Microsoft Learn, "Microsoft Entra Agent ID")

    /// The app id of the "AAD Token Exchange Endpoint: Public" resource, the audience of the
    /// tokens a blueprint gets for its agent identities (`scope=api://AzureADTokenExchange/.default`).
    public static let tokenExchangeAppID = "fb60f99c-7a34-4190-8149-302f77469936"
    /// The scope naming it.
    public static let tokenExchangeScope = "api://AzureADTokenExchange/.default"

    /// Whether a `scope` parameter asks for the token exchange (and nothing else).
    public static func isTokenExchangeScope(_ scope: String?) -> Bool {
        Scopes.parse(scope).map { $0.lowercased() } == [tokenExchangeScope.lowercased()]
    }

    /// An agent identity by its client id (appId).
    public func agentIdentity(appID: String) -> ServicePrincipal? { agentsByAppID[appID.lowercased()] }
    /// An agent identity as a client: its appId and name, no credentials, no redirect URIs.
    public func clientView(ofAgent agent: ServicePrincipal) -> Application? { agentClientViews[agent.appId.lowercased()] }
    /// The blueprint an agent identity was created from.
    public func blueprint(of agent: ServicePrincipal) -> Application? {
        agent.agentIdentityBlueprintId.flatMap(application(appID:)).flatMap { $0.isAgentIdentityBlueprint ? $0 : nil }
    }
    /// The agent user linked to an agent identity.
    public func agentUser(of agent: ServicePrincipal) -> User? { agentUsersByParent[agent.id] }
    /// A blueprint's agent identities.
    public func agentIdentities(ofBlueprint appID: String) -> [ServicePrincipal] {
        agentsByAppID.values.filter { $0.agentIdentityBlueprintId?.lowercased() == appID.lowercased() }.sorted { $0.id < $1.id }
    }
    /// A client by id: an application, or an agent identity's client view.
    public func client(appID: String) -> Application? { application(appID: appID) ?? agentClientViews[appID.lowercased()] }
    /// A user by UPN (or mail), case-insensitively.
    public func user(login: String) -> User? { usersByLogin[login.lowercased()] }

    /// The application a scope or audience names: an appId, `api://{appId}`, or an identifier URI.
    public func resource(named identifier: String) -> Application? {
        if let app = resourcesByIdentifier[DirectoryIndex.normalize(identifier)] { return app }
        if identifier.lowercased().hasPrefix("api://") {
            return appsByAppID[String(identifier.dropFirst(6)).lowercased()]
        }
        return nil
    }

    /// The Global Administrator role's template id (Microsoft Learn, "Microsoft Entra built-in roles").
    public static let globalAdministratorRole = "62e90394-69f5-4237-9190-012177145e10"

    /// Directory roles that may grant tenant-wide consent: Global Administrator, Application
    /// Administrator, Cloud Application Administrator (role template ids).
    public static let consentAdminRoles: Set<String> = [
        "62e90394-69f5-4237-9190-012177145e10", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "158c047a-c907-4556-b7ef-446551a6b5f7",
    ]

    /// Whether the user holds a role that may grant admin consent (directly or through a group).
    public func isConsentAdministrator(_ userID: String) -> Bool {
        let principals = groups(of: userID).union([userID])
        return directory.directoryRoleAssignments.contains {
            principals.contains($0.principalId) && Self.consentAdminRoles.contains($0.roleTemplateId)
        }
    }

    /// Directory roles that may read the sign-in log and Conditional Access policies: Global
    /// Administrator, Global Reader, Security Administrator, Security Reader, Reports Reader,
    /// Conditional Access Administrator (role template ids).
    public static let auditReaderRoles: Set<String> = [
        "62e90394-69f5-4237-9190-012177145e10", "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "5d6b6bb7-de71-4623-b4af-96380a352509", "4a5d8f65-41da-4de4-8968-e035b65339cf", "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    ]

    /// Whether the user holds a role that may read the sign-in log and policies.
    public func isAuditReader(_ userID: String) -> Bool { holdsRole(userID, in: Self.auditReaderRoles) }

    /// Roles that may manage users (revoke sessions, disable, reset passwords): Global
    /// Administrator, User Administrator, Privileged Authentication Administrator (Microsoft
    /// Learn, "Microsoft Entra built-in roles").
    public static let userAdministratorRoles: Set<String> = [
        "62e90394-69f5-4237-9190-012177145e10", "fe930be7-5e62-47db-91af-98c3a49a38b1", "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ]

    /// Whether the user holds one of the directory roles (template ids), directly or through a group.
    public func holdsRole(_ userID: String, in roles: Set<String>) -> Bool {
        let principals = groups(of: userID).union([userID])
        return directory.directoryRoleAssignments.contains { principals.contains($0.principalId) && roles.contains($0.roleTemplateId) }
    }

    /// Whether the principal (a user or a group) holds any directory role, directly or through a group.
    public func holdsAnyRole(_ principalID: String) -> Bool {
        let principals = groups(of: principalID).union([principalID])
        return directory.directoryRoleAssignments.contains { principals.contains($0.principalId) }
    }

    /// The groups a user belongs to, transitively.
    public func groups(of userID: String) -> Set<String> {
        var result = Set<String>()
        var frontier: Set<String> = [userID]
        while !frontier.isEmpty {
            var next = Set<String>()
            for g in directory.groups where !result.contains(g.id) && !(Set(g.members ?? []).isDisjoint(with: frontier)) {
                result.insert(g.id)
                next.insert(g.id)
            }
            frontier = next
        }
        return result
    }

    /// App-role values assigned to a principal (directly, or to one of its groups) on a resource.
    public func appRoles(principalID: String, resource: Application, includeGroups: Bool) -> [String] {
        guard let resourceSP = servicePrincipal(appID: resource.appId) else { return [] }
        let principals = includeGroups ? groups(of: principalID).union([principalID]) : [principalID]
        let roleIDs = directory.appRoleAssignments
            .filter { $0.resourceId == resourceSP.id && principals.contains($0.principalId) }
            .map(\.appRoleId)
        var seen = Set<String>()
        // A role reaches a token only for the member type it allows (User or Application).
        let memberType = includeGroups ? "User" : "Application"
        return (resource.appRoles ?? [])
            .filter { roleIDs.contains($0.id) && ($0.isEnabled ?? true) && ($0.allowedMemberTypes ?? [memberType]).contains(memberType) }
            .compactMap(\.value).filter { seen.insert($0).inserted }
    }

    /// Delegated scopes the tenant's directory grants `client` on `resource` for `userID`
    /// (admin grants, the user's own grants, and pre-authorization by the resource).
    public func grantedScopes(client: Application, resource: Application, userID: String?) -> Set<String> {
        var scopes = Set<String>()
        if let clientSP = servicePrincipal(appID: client.appId), let resourceSP = servicePrincipal(appID: resource.appId) {
            for g in directory.oauth2PermissionGrants where g.clientId == clientSP.id && g.resourceId == resourceSP.id {
                if g.isAllPrincipals || (userID != nil && g.principalId == userID) { scopes.formUnion(g.scopeValues) }
            }
        }
        for pre in resource.api?.preAuthorizedApplications ?? [] where pre.appId.lowercased() == client.appId.lowercased() {
            for id in pre.scopeIds { if let s = resource.scopes.first(where: { $0.id == id }) { scopes.insert(s.value) } }
        }
        // An agent identity inherits what its blueprint was granted on the resource, as far as the
        // blueprint's inheritablePermissions allow (Microsoft Learn, "Inheritable permissions and
        // required resource access"); the blueprint is in the same tenant by construction.
        if let agent = agentIdentity(appID: client.appId), let blueprint = blueprint(of: agent),
            let inheritable = blueprint.inheritablePermissions?.first(where: {
                $0.resourceAppId.lowercased() == resource.appId.lowercased()
            })
        {
            scopes.formUnion(grantedScopes(client: blueprint, resource: resource, userID: userID).filter(inheritable.inherits))
        }
        return scopes
    }

    /// The delegated scopes `client` lists for `resource` in its requiredResourceAccess.
    public func requiredScopes(of client: Application, on resource: Application) -> [String] {
        let ids = (client.requiredResourceAccess ?? []).filter { $0.resourceAppId.lowercased() == resource.appId.lowercased() }
            .flatMap(\.resourceAccess).filter { $0.type == "Scope" }.map(\.id)
        return resource.scopes.filter { ids.contains($0.id) }.map(\.value)
    }

    /// The app's own `identifierUris` and appId: what an access token for it may carry as `aud`.
    public func audiences(of app: Application) -> [String] { [app.appId] + (app.identifierUris ?? []) }
}
