public import DeputyCore
import Foundation

/// The embedded demo tenant, Contoso (DESIGN.md "The demo tenant and `deputy up`"), as tenant-file
/// YAML whose redirect URIs and service URLs follow the chosen ports. Its secrets and passwords
/// are demo values, printed by `deputy up` and written to the manifest.
public struct DemoTenant: Sendable {
    /// Fixed offsets from `--port-base` for every service of the chain.
    public enum Role: String, CaseIterable, Sendable {
        case authority, spa, webApi, agent, mcpServer, dataApi
        /// A second middle tier without a grant to the Data API (consent required, relayed).
        case reportsApi
        public var portOffset: Int {
            switch self {
            case .authority: 0
            case .spa: 1
            case .webApi: 2
            case .agent: 3
            case .mcpServer: 4
            case .dataApi: 5
            case .reportsApi: 6
            }
        }
    }

    public static let defaultPortBase = 7400
    public static let tenantID = "3f9a2c4e-7b1d-4e8a-9c6f-0d5e8b2a1c47"
    public static let domain = "contoso.onmicrosoft.com"

    public struct DemoUser: Sendable {
        public var key: String, id: String, upn: String, displayName: String, password: String, totpSecret: String?
    }
    public struct DemoApp: Sendable {
        public var key: String, appId: String, displayName: String, identifierUri: String?, secret: String?
        /// For an agent identity: the key of its blueprint (it has no credential of its own).
        public var blueprint: String? = nil
    }

    public static let users: [DemoUser] = [
        .init(
            key: "alice", id: "6b1f0a52-3c8e-4d7a-b9e2-1f4c7a8d2e01", upn: "alice@contoso.com", displayName: "Alice Adams",
            password: "Alice!Deputy1", totpSecret: "JBSWY3DPEHPK3PXPJBSWY3DP"),
        .init(
            key: "bob", id: "8d3e2c14-5a7b-4f9e-a1c6-2b8d9e0f3a12", upn: "bob@contoso.com", displayName: "Bob Brown",
            password: "Bob!Deputy1", totpSecret: "KRSXG5CTMVRXEZLUKRSXG5CT"),
        .init(
            key: "eve", id: "9e4f3d25-6b8c-4a0f-b2d7-3c9e0f1a4b23", upn: "eve_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            displayName: "Eve Evans (Fabrikam)", password: "Eve!Deputy1", totpSecret: nil),
    ]

    public static let apps: [DemoApp] = [
        .init(
            key: "spa", appId: "5c7e9a1b-2d4f-4e6a-8b0c-1d3e5f7a9b01", displayName: "Contoso Expenses (SPA)", identifierUri: nil,
            secret: nil),
        .init(
            key: "webApi", appId: "7e9a1b3c-4d5e-4f6a-9b0c-2d4e6f8a0b12", displayName: "Contoso Expenses Web API",
            identifierUri: "api://contoso-expenses-api", secret: "webapi-demo-secret-7c2f91e4b8d3"),
        .init(
            key: "dataApi", appId: "9a1b3c5d-6e7f-4a8b-9c1d-3e5f7a9b1c23", displayName: "Contoso SQL",
            identifierUri: "https://database.windows.net/", secret: "dataapi-demo-secret-1e8a5c7b90f2"),
        .init(
            key: "mcpServer", appId: "b1c3d5e7-8f9a-4b0c-9d2e-4f6a8b0c2d34", displayName: "Contoso Expenses MCP Server",
            identifierUri: "api://contoso-expenses-mcp", secret: "mcp-demo-secret-4b9d2e7f1a6c"),
        // The assistive agent is a Microsoft Entra Agent ID agent identity: the blueprint holds the
        // credential and exposes the API the SPA signs users in for; the agent identity has none.
        .init(
            key: "agentBlueprint", appId: "c3d5e7f9-0a1b-4c2d-8e4f-5a7b9c1d3e45", displayName: "Contoso Expense Agent Blueprint",
            identifierUri: "api://contoso-expense-agent", secret: "agent-demo-secret-8f3c6a1d9e2b"),
        .init(
            key: "agent", appId: "4a6c8e0f-1b3d-4f5a-9c7e-2d4f6a8c0e57", displayName: "Contoso Expense Agent",
            identifierUri: nil, secret: nil, blueprint: "agentBlueprint"),
        .init(
            key: "cli", appId: "d5e7f9a1-2b3c-4d4e-9f6a-6b8c0d2e4f56", displayName: "Contoso Expenses CLI", identifierUri: nil, secret: nil),
        // A pre-registered MCP client (what an IDE or a desktop assistant registers in Entra):
        // public, loopback redirect URIs, consented to the MCP server.
        .init(
            key: "mcpClient", appId: "f1a3c5e7-9b2d-4f6a-8c0e-3d5f7a9b1c68", displayName: "Contoso MCP Client", identifierUri: nil,
            secret: nil),
        .init(
            key: "reports", appId: "e7f9a1b3-4c5d-4e6f-8a8b-7c9d1e3f5a67", displayName: "Contoso Nightly Reports",
            identifierUri: nil, secret: "reports-demo-secret-2d7e9b4c6a1f"),
        .init(
            key: "admin", appId: "f9a1b3c5-6d7e-4f8a-9b0c-8d0e2f4a6b78", displayName: "Contoso Directory Admin",
            identifierUri: nil, secret: "admin-demo-secret-5c8e1a3f7b2d"),
        .init(
            key: "reportsApi", appId: "a3c5e7f9-1b2d-4e3f-8a5b-9c7d1e3f5b89", displayName: "Contoso Reports API",
            identifierUri: "api://contoso-reports-api", secret: "reportsapi-demo-secret-6e2b8d4f1a7c"),
        // The registration for a middle tier `deputy audit` checks (anyone's, in any language):
        // it exposes an API users sign in for and may call the Data API on their behalf.
        .init(
            key: "auditTarget", appId: "ad17a2b3-c4d5-4e6f-8a9b-0c1d2e3f4a5b", displayName: "Audited Middle Tier",
            identifierUri: "api://deputy-audit-target", secret: "audit-target-demo-secret-3e8c1f5a9d2b"),
    ]

    /// The agent's user account (Graph `agentUser`), linked to the agent identity: it files
    /// expenses in its own name.
    public static let agentUser = (
        id: "5b7d9f1a-2c4e-4a6b-8d0f-3e5a7c9b1d68", upn: "expense-agent@contoso.com",
        displayName: "Contoso Expense Agent (agent user)"
    )
    /// The disabled policy that blocks the agent when it acts on its own (`deputy policy enable` turns it on).
    public static let agentBlockPolicyID = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e05"

    /// Microsoft Graph's well-known appId: its sign-in log and What-If APIs are served by the authority.
    public static let graphAppID = WellKnownApplications.microsoftGraph

    public var portBase: Int
    public var scheme: String
    public var host = "127.0.0.1"
    /// Adds `strict: true` to the tenant (RFC 9700 where it is stricter than Entra).
    public var strict = false
    /// Adds `mcpSpec: true` to the tenant (the MCP authorization specification where it asks
    /// more of an authorization server than Entra does).
    public var mcpSpec = false

    public init(portBase: Int = DemoTenant.defaultPortBase, https: Bool) {
        self.portBase = portBase
        self.scheme = https ? "https" : "http"
    }

    public func url(_ role: Role) -> String { "\(scheme)://\(host):\(portBase + role.portOffset)" }
    public static func app(_ key: String) -> DemoApp { apps.first { $0.key == key }! }
    /// Fabrikam, the home tenant of the guest Eve (a B2B collaboration guest).
    public static let fabrikamTenantID = "5c1e7a9b-3d2f-4b6a-8e0c-9f1d3b5a7c29"

    public static func user(_ key: String) -> DemoUser { users.first { $0.key == key }! }

    /// Redirect URIs by app key.
    public func redirectURIs(_ key: String) -> [String] {
        switch key {
        case "spa": ["\(url(.spa))/", "\(url(.spa))/callback"]
        case "webApi": ["\(url(.webApi))/signin-oidc"]
        case "cli": ["http://localhost", "https://login.microsoftonline.com/common/oauth2/nativeclient"]
        // Loopback: any port (RFC 8252 §7.3), as an MCP client's local callback listens on.
        case "mcpClient": ["http://localhost/callback", "http://127.0.0.1/callback"]
        default: []
        }
    }

    /// The tenant file.
    public var yaml: String {
        let a = { (k: String) in DemoTenant.app(k).appId }
        let u = { (k: String) in DemoTenant.user(k) }
        func user(_ x: DemoUser, type: String, manager: String? = nil, mail: String, extra: String = "") -> String {
            """
                  - id: \(x.id)
                    userPrincipalName: "\(x.upn)"
                    displayName: \(x.displayName)
                    mail: \(mail)
                    password: "\(x.password)"
                    totpSecret: \(x.totpSecret.map { "\"\($0)\"" } ?? "null")
                    userType: \(type)
                    accountEnabled: true
                    manager: \(manager ?? "null")
            \(extra)
            """
        }
        func secret(_ k: String) -> String {
            """
                    passwordCredentials:
                      - displayName: demo secret
                        secretText: "\(DemoTenant.app(k).secret!)"

            """
        }
        func redirects(_ k: String) -> String { redirectURIs(k).map { "\"\($0)\"" }.joined(separator: ", ") }
        return """
            # The Contoso demo tenant embedded in `deputy up` (docs/tenant-file.md explains every field).
            tenants:
              - tenant:
                  id: \(DemoTenant.tenantID)
                  displayName: Contoso
                  strict: \(strict)
                  mcpSpec: \(mcpSpec)
                  verifiedDomains: [\(DemoTenant.domain), contoso.com]
                users:
            \(user(u("alice"), type: "Member", manager: u("bob").id, mail: "alice@contoso.com"))\
            \(user(u("bob"), type: "Member", mail: "bob@contoso.com"))\
            \(user(u("eve"), type: "Guest", mail: "eve@fabrikam.com",
                   extra: "        # A B2B collaboration guest: her account is Fabrikam's (Deputy's field, for externalTenants).\n        externalTenantId: \(DemoTenant.fabrikamTenantID)\n"))\
                directoryRoleAssignments:
                  - {principalId: \(u("bob").id), roleTemplateId: 62e90394-69f5-4237-9190-012177145e10, displayName: Global Administrator}
                groups:
                  - id: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
                    displayName: Expense Approvers
                    members: [\(u("bob").id)]
                applications:
                  - appId: \(a("spa"))
                    displayName: \(DemoTenant.app("spa").displayName)
                    spa:
                      redirectUris: [\(redirects("spa"))]
                    requiredResourceAccess:
                      - resourceAppId: \(a("webApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000001, type: Scope}]
                      - resourceAppId: \(a("agentBlueprint"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000005, type: Scope}]
                  - appId: \(a("webApi"))
                    displayName: \(DemoTenant.app("webApi").displayName)
                    identifierUris: ["api://contoso-expenses-api"]
                    web:
                      redirectUris: [\(redirects("webApi"))]
                    api:
                      requestedAccessTokenVersion: 2
                      knownClientApplications: [\(a("spa"))]
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000001, value: access_as_user, adminConsentRequired: false, userConsentDisplayName: "Use Contoso Expenses as you"}
                    requiredResourceAccess:
                      - resourceAppId: \(a("dataApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000002, type: Scope}, {id: 11111111-aaaa-4bbb-8ccc-000000000003, type: Scope}]
            \(secret("webApi"))\
                  - appId: \(a("dataApi"))
                    displayName: Contoso SQL
                    identifierUris: ["https://database.windows.net/"]
                    api:
                      requestedAccessTokenVersion: 2
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000002, value: Data.Read, adminConsentRequired: false, userConsentDisplayName: "Read your expenses"}
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000003, value: Data.Write, adminConsentRequired: true, userConsentDisplayName: "Change your expenses"}
                    appRoles:
                      - {id: 11111111-aaaa-4bbb-8ccc-000000000006, value: Expenses.Read.All, displayName: Read all expenses, allowedMemberTypes: [Application]}
                      - {id: 11111111-aaaa-4bbb-8ccc-000000000007, value: Expenses.Approver, displayName: Approve expenses, allowedMemberTypes: [User]}
                    optionalClaims:
                      accessToken: [{name: xms_cc}, {name: acrs}]
            \(secret("dataApi"))\
                  - appId: \(a("mcpServer"))
                    displayName: \(DemoTenant.app("mcpServer").displayName)
                    identifierUris: ["api://contoso-expenses-mcp", "\(url(.mcpServer))/mcp"]
                    api:
                      requestedAccessTokenVersion: 2
                      knownClientApplications: [\(a("spa"))]
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000004, value: Expenses.ReadWrite, adminConsentRequired: false, userConsentDisplayName: "Use the expense tools as you"}
                        # Asked for only when a tool needs it (the MCP server's 403 insufficient_scope step-up).
                        - {id: 11111111-aaaa-4bbb-8ccc-00000000000a, value: Expenses.Approve, adminConsentRequired: false, userConsentDisplayName: "Approve expenses as you"}
                    optionalClaims:
                      accessToken: [{name: xms_cc}, {name: acrs}]
                    requiredResourceAccess:
                      - resourceAppId: \(a("dataApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000002, type: Scope}, {id: 11111111-aaaa-4bbb-8ccc-000000000003, type: Scope}]
            \(secret("mcpServer"))\
                  - appId: \(a("cli"))
                    displayName: \(DemoTenant.app("cli").displayName)
                    isFallbackPublicClient: true
                    publicClient:
                      redirectUris: [\(redirects("cli"))]
                    requiredResourceAccess:
                      - resourceAppId: \(a("webApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000001, type: Scope}]
                      - resourceAppId: \(a("agentBlueprint"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000005, type: Scope}]
                  - appId: \(a("mcpClient"))
                    displayName: \(DemoTenant.app("mcpClient").displayName)
                    isFallbackPublicClient: true
                    publicClient:
                      redirectUris: [\(redirects("mcpClient"))]
                    requiredResourceAccess:
                      - resourceAppId: \(a("mcpServer"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000004, type: Scope}, {id: 11111111-aaaa-4bbb-8ccc-00000000000a, type: Scope}]
                  - appId: \(a("reports"))
                    displayName: \(DemoTenant.app("reports").displayName)
            \(secret("reports"))\
                  # A second middle tier, deliberately without a grant to the Data API (consent required).
                  - appId: \(a("reportsApi"))
                    displayName: \(DemoTenant.app("reportsApi").displayName)
                    identifierUris: ["api://contoso-reports-api"]
                    api:
                      requestedAccessTokenVersion: 2
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000008, value: access_as_user, adminConsentRequired: false, userConsentDisplayName: "Use Contoso Reports as you"}
                    requiredResourceAccess:
                      - resourceAppId: \(a("dataApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000002, type: Scope}]
            \(secret("reportsApi"))\
                  # The middle tier under audit (`deputy audit`): its API, and delegated access to the Data API.
                  - appId: \(a("auditTarget"))
                    displayName: \(DemoTenant.app("auditTarget").displayName)
                    identifierUris: ["api://deputy-audit-target"]
                    api:
                      requestedAccessTokenVersion: 2
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-00000000000b, value: access_as_user, adminConsentRequired: false, userConsentDisplayName: "Use the audited middle tier as you"}
                    requiredResourceAccess:
                      - resourceAppId: \(a("dataApi"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000002, type: Scope}]
            \(secret("auditTarget"))\
                  # Microsoft Graph, as far as Deputy serves it: the directory, policies, the sign-in
                  # log and What-If (well-known ids of Graph's permissions).
                  - appId: \(DemoTenant.graphAppID)
                    displayName: Microsoft Graph
                    identifierUris: ["https://graph.microsoft.com"]
                    api:
                      requestedAccessTokenVersion: 1
                      oauth2PermissionScopes:
                        - {id: e1fe6dd8-ba31-4d61-89e7-88639da4683d, value: User.Read, adminConsentRequired: false, userConsentDisplayName: "Sign you in and read your profile"}
                        - {id: e4c9e354-4dc5-45b8-9e7c-e1393b0b1a20, value: AuditLog.Read.All, adminConsentRequired: true, adminConsentDisplayName: "Read audit log data"}
                        - {id: 572fea84-0151-49b2-9301-11cb16974376, value: Policy.Read.All, adminConsentRequired: true, adminConsentDisplayName: "Read your organization's policies"}
                        - {id: 204e0828-b5ca-4ad8-b9f3-f32a958e7cc4, value: User.ReadWrite.All, adminConsentRequired: true, adminConsentDisplayName: "Read and write all users' full profiles"}
                        - {id: c79f8feb-a9db-4090-85f9-90d820caa0eb, value: Application.Read.All, adminConsentRequired: true, adminConsentDisplayName: "Read applications"}
                        - {id: 4e46008b-f24c-477d-8fff-7bb4ec7aafe0, value: Group.ReadWrite.All, adminConsentRequired: true, adminConsentDisplayName: "Read and write all groups"}
                        - {id: bdfbf15f-ee85-4955-8675-146e8e5296b5, value: Application.ReadWrite.All, adminConsentRequired: true, adminConsentDisplayName: "Read and write all applications"}
                        - {id: 41ce6ca6-6826-4807-84f1-1c82854f7ee5, value: DelegatedPermissionGrant.ReadWrite.All, adminConsentRequired: true, adminConsentDisplayName: "Manage all delegated permission grants"}
                        - {id: ad902697-1014-4ef5-81ef-2b4301988e8c, value: Policy.ReadWrite.ConditionalAccess, adminConsentRequired: true, adminConsentDisplayName: "Read and write your organization's conditional access policies"}
                    appRoles:
                      - {id: b0afded3-3588-46d8-8b3d-9842eff778da, value: AuditLog.Read.All, displayName: Read all audit log data, allowedMemberTypes: [Application]}
                      - {id: 246dd0d5-5bd0-4def-940b-0421030a5b68, value: Policy.Read.All, displayName: Read your organization's policies, allowedMemberTypes: [Application]}
                      - {id: 741f803b-c850-494e-b5df-cde7c675a1ca, value: User.ReadWrite.All, displayName: Read and write all users' full profiles, allowedMemberTypes: [Application]}
                      - {id: 77f3a031-c388-4f99-b373-dc68676a979e, value: User.RevokeSessions.All, displayName: Revoke all sign in sessions for a user, allowedMemberTypes: [Application]}
                      - {id: 62a82d76-70ea-41e2-9197-370581804d09, value: Group.ReadWrite.All, displayName: Read and write all groups, allowedMemberTypes: [Application]}
                      - {id: 1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9, value: Application.ReadWrite.All, displayName: Read and write all applications, allowedMemberTypes: [Application]}
                      - {id: 8e8e4742-1d95-4f68-9d56-6ee75648c72a, value: DelegatedPermissionGrant.ReadWrite.All, displayName: Manage all delegated permission grants, allowedMemberTypes: [Application]}
                      - {id: 01c0a623-fc9b-48e9-b794-0756f8e8f067, value: Policy.ReadWrite.ConditionalAccess, displayName: Read and write your organization's conditional access policies, allowedMemberTypes: [Application]}
                  - appId: \(a("admin"))
                    displayName: \(DemoTenant.app("admin").displayName)
                    requiredResourceAccess:
                      - resourceAppId: \(DemoTenant.graphAppID)
                        resourceAccess: [{id: b0afded3-3588-46d8-8b3d-9842eff778da, type: Role}, {id: 246dd0d5-5bd0-4def-940b-0421030a5b68, type: Role}]
            \(secret("admin"))\
                # The assistive agent (Microsoft Entra Agent ID): the blueprint holds the credential and
                # exposes the API users sign in for; the agent identity acts, with grants of its own.
                agentIdentityBlueprints:
                  - appId: \(a("agentBlueprint"))
                    displayName: \(DemoTenant.app("agentBlueprint").displayName)
                    identifierUris: ["api://contoso-expense-agent"]
                    api:
                      requestedAccessTokenVersion: 2
                      knownClientApplications: [\(a("spa"))]
                      oauth2PermissionScopes:
                        - {id: 11111111-aaaa-4bbb-8ccc-000000000005, value: access_as_user, adminConsentRequired: false, userConsentDisplayName: "Let the expense agent act as you"}
                    # Who may ask the agent for the monthly report it makes on its own.
                    appRoles:
                      - {id: 11111111-aaaa-4bbb-8ccc-000000000009, value: Reports.Run, displayName: Run the monthly expense report, allowedMemberTypes: [User]}
                    requiredResourceAccess:
                      - resourceAppId: \(a("mcpServer"))
                        resourceAccess: [{id: 11111111-aaaa-4bbb-8ccc-000000000004, type: Scope}, {id: 11111111-aaaa-4bbb-8ccc-00000000000a, type: Scope}]
                    # What the blueprint is granted on the MCP server, its agent identities inherit.
                    inheritablePermissions:
                      - resourceAppId: \(a("mcpServer"))
                        inheritableScopes: {kind: enumerated, scopes: [Expenses.ReadWrite, Expenses.Approve]}
            \(secret("agentBlueprint"))\
                agentIdentities:
                  - id: \(a("agent"))
                    displayName: \(DemoTenant.app("agent").displayName)
                    agentIdentityBlueprintId: \(a("agentBlueprint"))
                agentUsers:
                  - id: \(DemoTenant.agentUser.id)
                    userPrincipalName: "\(DemoTenant.agentUser.upn)"
                    displayName: \(DemoTenant.agentUser.displayName)
                    mail: \(DemoTenant.agentUser.upn)
                    identityParentId: \(a("agent"))
                oauth2PermissionGrants:
                  - {clientId: \(a("spa")), resourceId: \(a("webApi")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("spa")), resourceId: \(a("agentBlueprint")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("spa")), resourceId: \(a("mcpServer")), consentType: AllPrincipals, scope: "Expenses.ReadWrite Expenses.Approve"}
                  - {clientId: \(a("mcpClient")), resourceId: \(a("mcpServer")), consentType: AllPrincipals, scope: "Expenses.ReadWrite Expenses.Approve"}
                  - {clientId: \(a("cli")), resourceId: \(a("webApi")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("cli")), resourceId: \(a("reportsApi")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("cli")), resourceId: \(a("agentBlueprint")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("spa")), resourceId: \(a("reportsApi")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("webApi")), resourceId: \(a("dataApi")), consentType: AllPrincipals, scope: "Data.Read Data.Write"}
                  - {clientId: \(a("mcpServer")), resourceId: \(a("dataApi")), consentType: AllPrincipals, scope: "Data.Read Data.Write"}
                  - {clientId: \(a("agent")), resourceId: \(a("mcpServer")), consentType: AllPrincipals, scope: "Expenses.ReadWrite Expenses.Approve"}
                  - {clientId: \(a("cli")), resourceId: \(DemoTenant.graphAppID), consentType: AllPrincipals, scope: "User.Read AuditLog.Read.All Policy.Read.All User.ReadWrite.All Group.ReadWrite.All Application.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ConditionalAccess"}
                  # The SPA's admin page: what an administrator (bob) manages from the browser.
                  - {clientId: \(a("spa")), resourceId: \(DemoTenant.graphAppID), consentType: AllPrincipals, scope: "User.Read AuditLog.Read.All Policy.Read.All User.ReadWrite.All Application.Read.All DelegatedPermissionGrant.ReadWrite.All Policy.ReadWrite.ConditionalAccess"}
                  - {clientId: \(a("cli")), resourceId: \(a("auditTarget")), consentType: AllPrincipals, scope: access_as_user}
                  - {clientId: \(a("auditTarget")), resourceId: \(a("dataApi")), consentType: AllPrincipals, scope: Data.Read}
                appRoleAssignments:
                  - {principalId: \(a("reports")), resourceId: \(a("dataApi")), appRoleId: 11111111-aaaa-4bbb-8ccc-000000000006}
                  # Expense Approvers (bob) may ask the agent for the monthly report.
                  - {principalId: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d, resourceId: \(a("agentBlueprint")), appRoleId: 11111111-aaaa-4bbb-8ccc-000000000009}
                  # The agent acting on its own (the monthly report) reads every expense.
                  - {principalId: \(a("agent")), resourceId: \(a("dataApi")), appRoleId: 11111111-aaaa-4bbb-8ccc-000000000006}
                  - {principalId: 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d, resourceId: \(a("dataApi")), appRoleId: 11111111-aaaa-4bbb-8ccc-000000000007}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: b0afded3-3588-46d8-8b3d-9842eff778da}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 246dd0d5-5bd0-4def-940b-0421030a5b68}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 741f803b-c850-494e-b5df-cde7c675a1ca}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 77f3a031-c388-4f99-b373-dc68676a979e}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 62a82d76-70ea-41e2-9197-370581804d09}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 8e8e4742-1d95-4f68-9d56-6ee75648c72a}
                  - {principalId: \(a("admin")), resourceId: \(DemoTenant.graphAppID), appRoleId: 01c0a623-fc9b-48e9-b794-0756f8e8f067}
                # Conditional Access, enforced at every issuance (docs/conditional-access.md).
                conditionalAccessPolicies:
                  - id: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01
                    displayName: Require MFA for Contoso SQL
                    state: enabled
                    conditions:
                      users: {includeUsers: [All]}
                      applications: {includeApplications: [\(a("dataApi"))]}
                      clientAppTypes: [all]
                    grantControls: {operator: OR, builtInControls: [mfa]}
                  - id: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02
                    displayName: Approving expenses needs step-up (c1)
                    state: enabled
                    conditions:
                      users: {includeUsers: [All]}
                      applications: {includeAuthenticationContextClassReferences: [c1]}
                      clientAppTypes: [all]
                    grantControls: {operator: OR, builtInControls: [mfa]}
                  - id: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e03
                    displayName: Block guests from Contoso SQL and the MCP server
                    state: enabled
                    conditions:
                      users: {includeUsers: [GuestsOrExternalUsers]}
                      applications: {includeApplications: [\(a("dataApi")), \(a("mcpServer"))]}
                      clientAppTypes: [all]
                    grantControls: {operator: OR, builtInControls: [block]}
                  - id: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e04
                    displayName: "Report-only: MFA for every app"
                    state: enabledForReportingButNotEnforced
                    conditions:
                      users: {includeUsers: [All]}
                      applications: {includeApplications: [All]}
                      clientAppTypes: [all]
                    grantControls: {operator: OR, builtInControls: [mfa]}
                  - id: \(DemoTenant.agentBlockPolicyID)
                    displayName: Block the expense agent acting on its own
                    state: disabled
                    conditions:
                      clientApplications: {includeAgentIdServicePrincipals: [\(a("agent"))]}
                      applications: {includeApplications: [All]}
                    grantControls: {operator: OR, builtInControls: [block]}

            """
    }

    /// The manifest `deputy up` writes for scripts and tests.
    public func manifest(caCertificate: String?, services: [Role]) -> [String: JSONValue] {
        let s = { (v: String) in JSONValue.string(v) }
        var apps: [String: JSONValue] = [:]
        for app in DemoTenant.apps {
            var o: [String: JSONValue] = [
                "appId": s(app.appId), "displayName": s(app.displayName),
                "identifierUri": app.identifierUri.map(s) ?? .null,
                "redirectUris": .array(redirectURIs(app.key).map(s)),
                "clientSecret": app.secret.map(s) ?? .null,
            ]
            let scopes: [String] =
                switch app.key {
                case "webApi", "agentBlueprint", "reportsApi", "auditTarget": ["\(app.identifierUri!)/access_as_user"]
                case "dataApi": ["https://database.windows.net//Data.Read", "https://database.windows.net//Data.Write"]
                case "mcpServer": ["\(app.identifierUri!)/Expenses.ReadWrite", "\(app.identifierUri!)/Expenses.Approve"]
                default: []
                }
            o["scopes"] = .array(scopes.map(s))
            if app.blueprint != nil {
                o["agentIdentityId"] = s(app.appId)
                o["blueprintAppId"] = s(DemoTenant.app(app.blueprint!).appId)
                o["agentUser"] = .object(["objectId": s(DemoTenant.agentUser.id), "userPrincipalName": s(DemoTenant.agentUser.upn)])
            }
            apps[app.key] = .object(o)
        }
        var users: [String: JSONValue] = [:]
        for u in DemoTenant.users {
            users[u.key] = .object([
                "objectId": s(u.id), "userPrincipalName": s(u.upn), "displayName": s(u.displayName),
                "password": s(u.password), "totpSecret": u.totpSecret.map(s) ?? .null,
            ])
        }
        return [
            "tenantId": s(DemoTenant.tenantID), "tenantDomain": s(DemoTenant.domain),
            "authority": s("\(url(.authority))/\(DemoTenant.tenantID)"),
            "issuer": s("\(url(.authority))/\(DemoTenant.tenantID)/v2.0"),
            "issuerV1": s("\(url(.authority))/\(DemoTenant.tenantID)/"),
            // Microsoft Graph's sign-in log and What-If are served on the authority's origin.
            "graphBaseUrl": s(url(.authority)),
            "signInLogPage": s("\(url(.authority))/\(DemoTenant.tenantID)/signins"),
            "caCertificate": caCertificate.map(s) ?? .null,
            "portBase": .number(Double(portBase)),
            "applications": .object(apps), "users": .object(users),
            "services": .object(Dictionary(uniqueKeysWithValues: services.map { ($0.rawValue, s(url($0))) })),
        ]
    }
}
