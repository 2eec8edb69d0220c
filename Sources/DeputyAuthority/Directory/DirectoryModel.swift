public import DeputyCore
public import Foundation

// The tenant directory, in Microsoft Graph's shapes and names (users, groups, applications,
// servicePrincipals, oauth2PermissionGrants, appRoleAssignments). The same types describe the
// tenant file (YAML) and the store's copy; fields that exist only in the file (`password`,
// `secretText`) are replaced by their hashes when the file is loaded. docs/tenant-file.md
// documents every field; later issues extend this one schema.

/// One tenant and everything in it.
public struct TenantDirectory: Codable, Sendable, Equatable {
    public var tenant: TenantInfo
    public var users: [User] = []
    public var groups: [Group] = []
    public var directoryRoleAssignments: [DirectoryRoleAssignment] = []
    public var applications: [Application] = []
    public var servicePrincipals: [ServicePrincipal] = []
    public var oauth2PermissionGrants: [OAuth2PermissionGrant] = []
    public var appRoleAssignments: [AppRoleAssignment] = []
    /// Conditional Access policies (Graph `conditionalAccessPolicy` JSON), kept verbatim; the
    /// index reads them into ``ConditionalAccessPolicy``.
    public var conditionalAccessPolicies: [JSONValue] = []
    /// Named locations (Graph `ipNamedLocation` / `countryNamedLocation` JSON), kept verbatim.
    public var namedLocations: [JSONValue] = []
    /// Microsoft Entra Agent ID blueprints (Graph `agentIdentityBlueprint`, a kind of application),
    /// as the tenant file lists them. Loading moves them into ``applications`` with their
    /// `@odata.type`, as Graph returns them.
    public var agentIdentityBlueprints: [Application] = []
    /// Agent identities (Graph `agentIdentity`, a kind of service principal), as the tenant file
    /// lists them; loading moves them into ``servicePrincipals``.
    public var agentIdentities: [AgentIdentity] = []
    /// Agent users (Graph `agentUser`, a kind of user), as the tenant file lists them; loading
    /// moves them into ``users``.
    public var agentUsers: [User] = []

    public init(tenant: TenantInfo) { self.tenant = tenant }

    enum CodingKeys: String, CodingKey {
        case tenant, users, groups, directoryRoleAssignments, applications, servicePrincipals
        case oauth2PermissionGrants, appRoleAssignments, conditionalAccessPolicies, namedLocations
        case agentIdentityBlueprints, agentIdentities, agentUsers
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try c.decode(TenantInfo.self, forKey: .tenant)
        users = try c.decodeIfPresent([User].self, forKey: .users) ?? []
        groups = try c.decodeIfPresent([Group].self, forKey: .groups) ?? []
        directoryRoleAssignments = try c.decodeIfPresent([DirectoryRoleAssignment].self, forKey: .directoryRoleAssignments) ?? []
        applications = try c.decodeIfPresent([Application].self, forKey: .applications) ?? []
        servicePrincipals = try c.decodeIfPresent([ServicePrincipal].self, forKey: .servicePrincipals) ?? []
        oauth2PermissionGrants = try c.decodeIfPresent([OAuth2PermissionGrant].self, forKey: .oauth2PermissionGrants) ?? []
        appRoleAssignments = try c.decodeIfPresent([AppRoleAssignment].self, forKey: .appRoleAssignments) ?? []
        conditionalAccessPolicies = try c.decodeIfPresent([JSONValue].self, forKey: .conditionalAccessPolicies) ?? []
        namedLocations = try c.decodeIfPresent([JSONValue].self, forKey: .namedLocations) ?? []
        agentIdentityBlueprints = try c.decodeIfPresent([Application].self, forKey: .agentIdentityBlueprints) ?? []
        agentIdentities = try c.decodeIfPresent([AgentIdentity].self, forKey: .agentIdentities) ?? []
        agentUsers = try c.decodeIfPresent([User].self, forKey: .agentUsers) ?? []
    }
}

/// Microsoft Graph's `@odata.type` values for the Agent ID kinds of applications, service
/// principals and users (Microsoft Learn: "Microsoft Entra Agent ID", Graph `agentIdentityBlueprint`,
/// `agentIdentity`, `agentUser`).
public enum AgentODataType {
    public static let blueprint = "#microsoft.graph.agentIdentityBlueprint"
    public static let agentIdentity = "#microsoft.graph.agentIdentity"
    public static let agentUser = "#microsoft.graph.agentUser"
}

/// An agent identity as the tenant file lists it (Graph `agentIdentity`): a service principal
/// created from exactly one blueprint, with no credentials of its own. Loading turns it into a
/// ``ServicePrincipal`` whose `@odata.type` is `#microsoft.graph.agentIdentity`.
public struct AgentIdentity: Codable, Sendable, Equatable {
    /// The object id; also the agent's client id (`appId`) unless `appId` says otherwise.
    public var id: String
    public var appId: String?
    public var displayName: String
    /// The blueprint's appId (Graph `agentIdentityBlueprintId`).
    public var agentIdentityBlueprintId: String
    public var accountEnabled: Bool?
    /// Identity Protection's risk for this agent (`none`, `low`, `medium`, `high`), for
    /// `conditions.agentIdRiskLevels`; a test control (`deputy agent risk`).
    public var agentRiskLevel: String?
    /// Never allowed: an agent identity authenticates only with a token its blueprint got for it.
    /// Read so that validation can name the mistake.
    public var passwordCredentials: [Application.PasswordCredential]?
    public var keyCredentials: [Application.KeyCredential]?
    public var federatedIdentityCredentials: [Application.FederatedIdentityCredential]?
    /// `#microsoft.graph.agentIdentity` when given (Graph's shape); nothing else is accepted.
    public var odataType: String?

    enum CodingKeys: String, CodingKey {
        case id, appId, displayName, agentIdentityBlueprintId, accountEnabled, agentRiskLevel
        case passwordCredentials, keyCredentials, federatedIdentityCredentials
        case odataType = "@odata.type"
    }

    public init(id: String, displayName: String, agentIdentityBlueprintId: String) {
        self.id = id
        self.displayName = displayName
        self.agentIdentityBlueprintId = agentIdentityBlueprintId
    }

    /// The service principal the directory keeps for it.
    var servicePrincipal: ServicePrincipal {
        var sp = ServicePrincipal(
            id: id, appId: appId ?? id, displayName: displayName, accountEnabled: accountEnabled ?? true,
            appRoleAssignmentRequired: false)
        sp.odataType = AgentODataType.agentIdentity
        sp.agentIdentityBlueprintId = agentIdentityBlueprintId
        sp.agentRiskLevel = agentRiskLevel
        return sp
    }
}

/// The tenant object and its settings.
public struct TenantInfo: Codable, Sendable, Equatable {
    /// The tenant id (a GUID), the `tid` claim.
    public var id: String
    public var displayName: String
    /// Verified domains; the first is the default (`contoso.onmicrosoft.com`).
    public var verifiedDomains: [String]
    /// Apply RFC 9700 where it is stricter than Entra: PKCE S256 for every client, refresh-token
    /// reuse revokes the family.
    public var strict: Bool?
    /// Authorize as the MCP authorization specification (2026-07-28) asks of an authorization
    /// server, beyond what Entra does: RFC 8707 `resource` binds the token's audience, PKCE S256
    /// on every code request, RFC 9207 `iss` in every authorization response, and Client ID
    /// Metadata Documents. The default (`false`) behaves as Entra does.
    public var mcpSpec: Bool?
    /// Token lifetimes; Entra's defaults when absent.
    public var tokenLifetimes: TokenLifetimes?
    /// The shape of Conditional Access errors at the token endpoint: `entra` (default — what
    /// the service really sends: `invalid_grant`, AADSTS50076/53003, `capolids`) or `documented`
    /// (the documentation's `interaction_required` with `polids`).
    public var claimsChallengeStyle: String?

    public init(id: String, displayName: String, verifiedDomains: [String]) {
        self.id = id
        self.displayName = displayName
        self.verifiedDomains = verifiedDomains
    }
}

/// Token lifetimes in seconds. Access tokens default to a random 60–90 minutes, as in Entra.
public struct TokenLifetimes: Codable, Sendable, Equatable {
    public var accessTokenMinSeconds: Int?
    public var accessTokenMaxSeconds: Int?
    public var idTokenSeconds: Int?
    /// Continuous access evaluation tokens (client capability `cp1`): a random lifetime between
    /// these (Entra: 20–28 hours).
    public var caeAccessTokenMinSeconds: Int?
    public var caeAccessTokenMaxSeconds: Int?
    public var refreshTokenInactivitySeconds: Int?
    public var spaRefreshTokenSeconds: Int?
    public var authorizationCodeSeconds: Int?
    public var deviceCodeSeconds: Int?
    public var deviceCodeIntervalSeconds: Int?
    public var sessionSeconds: Int?
    public init() {}
}

/// A user (Graph `user`).
public struct User: Codable, Sendable, Equatable {
    public var id: String
    public var userPrincipalName: String
    public var displayName: String
    public var givenName: String?
    public var surname: String?
    public var mail: String?
    /// Plain-text password (demo tenants only). Never stored: replaced by ``passwordHash``.
    public var password: String?
    /// bcrypt hash (`$2b$…`).
    public var passwordHash: String?
    /// TOTP secret, RFC 4648 base32 (as in otpauth:// URIs).
    public var totpSecret: String?
    /// `Member` or `Guest`.
    public var userType: String?
    public var accountEnabled: Bool?
    /// The manager's user id.
    public var manager: String?
    public var jobTitle: String?
    /// Identity Protection's user risk (`none`, `low`, `medium`, `high`), for `userRiskLevels`.
    public var userRiskLevel: String?
    /// The risk of this user's sign-ins (`none`, `low`, `medium`, `high`), for `signInRiskLevels`.
    public var signInRiskLevel: String?
    /// The state of the device this user signs in from, for `compliantDevice` and `domainJoinedDevice`.
    public var device: DeviceState?
    /// Graph's `@odata.type`: `#microsoft.graph.agentUser` for an agent's user account.
    public var odataType: String?
    /// For an agent user: the object id of its agent identity (Graph `identityParentId`).
    public var identityParentId: String?
    /// Deputy's field: the tenant id of the user's home organization when the user signs in with
    /// an account of another Microsoft Entra tenant (B2B collaboration), for `externalTenants`.
    public var externalTenantId: String?
    /// Deputy's field: the kind of guest or external user, when it cannot be told from
    /// ``userType`` and ``externalTenantId`` (`b2bDirectConnectUser`, `otherExternalUser`,
    /// `serviceProvider`); see ``externalUserType``.
    public var guestOrExternalUserType: String?
    /// Graph's `signInSessionsValidFromDateTime` (ISO 8601): sessions, refresh tokens and grants
    /// from sign-ins before it are refused; `revokeSignInSessions` and a password change set it to
    /// now (Microsoft Graph, "user: revokeSignInSessions").
    public var signInSessionsValidFromDateTime: String?
    /// Deputy's test control: the network address this user's sign-ins are evaluated from by
    /// Conditional Access (named locations), in place of the request's (`deputy user location`).
    public var signInIPAddress: String?

    /// A user with the required properties; set the others as needed.
    public init(id: String, userPrincipalName: String, displayName: String) {
        self.id = id
        self.userPrincipalName = userPrincipalName
        self.displayName = displayName
    }

    public var isEnabled: Bool { accountEnabled ?? true }
    /// ``signInSessionsValidFromDateTime`` as a date.
    public var signInSessionsValidFrom: Date? {
        get { signInSessionsValidFromDateTime.flatMap { try? Date($0, strategy: .iso8601) } }
        set { signInSessionsValidFromDateTime = newValue.map { $0.formatted(.iso8601) } }
    }
    /// Whether a sign-in at `authTime` still counts: it happened at or after
    /// ``signInSessionsValidFrom`` (compared in whole seconds, as tokens carry times).
    public func signInIsCurrent(_ authTime: Date) -> Bool {
        guard let from = signInSessionsValidFrom else { return true }
        return authTime.timeIntervalSince1970.rounded(.down) >= from.timeIntervalSince1970.rounded(.down)
    }
    /// The kind of guest or external user Conditional Access sees (Microsoft Learn, "Assigning
    /// Conditional Access policies to external user types"): ``guestOrExternalUserType`` when set;
    /// otherwise a Guest is a B2B collaboration guest with an ``externalTenantId`` and a local
    /// (internal) guest without one, a Member with an ``externalTenantId`` is a B2B collaboration
    /// member, and any other Member is not external (nil). Agent users are never external.
    public var externalUserType: ExternalUserType? {
        if isAgentUser { return nil }
        if let explicit = guestOrExternalUserType.flatMap(ExternalUserType.init(rawValue:)) { return explicit }
        if isGuest { return externalTenantId == nil ? .internalGuest : .b2bCollaborationGuest }
        return externalTenantId == nil ? nil : .b2bCollaborationMember
    }
    public var isGuest: Bool { (userType ?? "Member").caseInsensitiveCompare("Guest") == .orderedSame }
    /// An agent's user account (Graph `agentUser`), linked one to one to an agent identity.
    public var isAgentUser: Bool { odataType == AgentODataType.agentUser }

    enum CodingKeys: String, CodingKey {
        case id, userPrincipalName, displayName, givenName, surname, mail, password, passwordHash, totpSecret, userType
        case accountEnabled, manager, jobTitle, userRiskLevel, signInRiskLevel, device, identityParentId
        case externalTenantId, guestOrExternalUserType, signInSessionsValidFromDateTime, signInIPAddress
        case odataType = "@odata.type"
    }
}

/// Graph's `conditionalAccessGuestOrExternalUserTypes` values, one by one.
public enum ExternalUserType: String, Sendable, CaseIterable, Codable {
    /// A Guest whose account lives in this tenant (local guest).
    case internalGuest
    /// A Guest signing in with an account of another organization (B2B collaboration).
    case b2bCollaborationGuest
    /// A Member signing in with an account of another organization (B2B collaboration).
    case b2bCollaborationMember
    /// A user of another organization reaching shared resources through B2B direct connect.
    case b2bDirectConnectUser
    /// Any other external user.
    case otherExternalUser
    /// A service provider's user (e.g. a Cloud Solution Provider's administrator).
    case serviceProvider
}

/// A device's state as Conditional Access sees it (Graph `device.isCompliant`, `device.trustType`).
public struct DeviceState: Codable, Sendable, Equatable {
    /// Marked compliant by device management (Intune).
    public var isCompliant: Bool?
    /// `AzureAD` (Entra joined), `ServerAD` (hybrid joined — what `domainJoinedDevice` needs) or `Workplace` (registered).
    public var trustType: String?

    public init(isCompliant: Bool? = nil, trustType: String? = nil) {
        self.isCompliant = isCompliant
        self.trustType = trustType
    }
}

/// A security group (Graph `group`); `members` are user or group ids.
public struct Group: Codable, Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var members: [String]?
    public var description: String?
    public var mailEnabled: Bool?
    public var mailNickname: String?
    public var securityEnabled: Bool?
    /// `Unified` for a Microsoft 365 group, `DynamicMembership`; empty for a security group.
    public var groupTypes: [String]?
}

/// A directory role held by a user (e.g. Global Administrator, by role template id).
public struct DirectoryRoleAssignment: Codable, Sendable, Equatable {
    public var principalId: String
    public var roleTemplateId: String
    public var displayName: String?

    /// A role assignment: the principal (a user or group id) holds the role (its template id).
    public init(principalId: String, roleTemplateId: String, displayName: String? = nil) {
        self.principalId = principalId
        self.roleTemplateId = roleTemplateId
        self.displayName = displayName
    }
}

/// An app registration (Graph `application`).
public struct Application: Codable, Sendable, Equatable {
    public var appId: String
    /// The application object id (defaults to a value derived from appId).
    public var id: String?
    public var displayName: String
    public var identifierUris: [String]?
    public var api: API?
    public var appRoles: [AppRole]?
    public var web: RedirectPlatform?
    public var spa: RedirectPlatform?
    public var publicClient: RedirectPlatform?
    /// Allows ROPC and device code as a public client.
    public var isFallbackPublicClient: Bool?
    public var passwordCredentials: [PasswordCredential]?
    public var keyCredentials: [KeyCredential]?
    /// Workload identity federation (Graph `federatedIdentityCredential`, kept on the application).
    public var federatedIdentityCredentials: [FederatedIdentityCredential]?
    public var optionalClaims: OptionalClaims?
    public var requiredResourceAccess: [RequiredResourceAccess]?
    /// Graph's `@odata.type`: `#microsoft.graph.agentIdentityBlueprint` for an Agent ID blueprint.
    public var odataType: String?
    /// A blueprint's delegated permissions its agent identities inherit (Graph `inheritablePermission`).
    public var inheritablePermissions: [InheritablePermission]?

    enum CodingKeys: String, CodingKey {
        case appId, id, displayName, identifierUris, api, appRoles, web, spa, publicClient, isFallbackPublicClient
        case passwordCredentials, keyCredentials, federatedIdentityCredentials, optionalClaims, requiredResourceAccess
        case inheritablePermissions
        case odataType = "@odata.type"
    }

    /// An Agent ID blueprint (Microsoft Learn, "Agent identity blueprints"): it holds the
    /// credentials and gets tokens for its agent identities; it has no sign-in of its own.
    public var isAgentIdentityBlueprint: Bool { odataType == AgentODataType.blueprint }

    /// Graph `inheritablePermission`: which of a resource's delegated scopes the blueprint's agent
    /// identities inherit (Microsoft Learn, "Configure inheritable permissions for agent identity blueprints").
    public struct InheritablePermission: Codable, Sendable, Equatable {
        /// The resource application's appId.
        public var resourceAppId: String
        public var inheritableScopes: InheritableScopes

        public struct InheritableScopes: Codable, Sendable, Equatable {
            /// `allAllowed`, `enumerated` or `noScopes`.
            public var kind: String
            /// The scope values, for `enumerated`.
            public var scopes: [String]?
        }

        /// Whether the scope value is inherited.
        public func inherits(_ scope: String) -> Bool {
            switch inheritableScopes.kind {
            case "allAllowed": true
            case "enumerated": (inheritableScopes.scopes ?? []).contains(scope)
            default: false
            }
        }
    }

    /// Graph `apiApplication`.
    public struct API: Codable, Sendable, Equatable {
        public var oauth2PermissionScopes: [PermissionScope]?
        /// null or 1: v1 access tokens; 2: v2 (as in Entra).
        public var requestedAccessTokenVersion: Int?
        public var knownClientApplications: [String]?
        public var preAuthorizedApplications: [PreAuthorizedApplication]?
    }

    public struct PermissionScope: Codable, Sendable, Equatable {
        public var id: String
        public var value: String
        public var adminConsentRequired: Bool?
        public var adminConsentDisplayName: String?
        public var adminConsentDescription: String?
        public var userConsentDisplayName: String?
        public var userConsentDescription: String?
        public var isEnabled: Bool?
        /// Graph's `type` (`User` or `Admin`); `adminConsentRequired` is Deputy's shorthand for `Admin`.
        public var type: String?

        public var requiresAdmin: Bool {
            adminConsentRequired ?? (type.map { $0.caseInsensitiveCompare("Admin") == .orderedSame } ?? false)
        }
    }

    public struct PreAuthorizedApplication: Codable, Sendable, Equatable {
        public var appId: String
        /// Ids of the scopes the client is pre-authorized for (Graph `delegatedPermissionIds`).
        public var delegatedPermissionIds: [String]?
        /// The v1 name of the same list.
        public var permissionIds: [String]?
        public var scopeIds: [String] { (delegatedPermissionIds ?? []) + (permissionIds ?? []) }
    }

    public struct RedirectPlatform: Codable, Sendable, Equatable {
        public var redirectUris: [String]?
        public var logoutUrl: String?
    }

    public struct PasswordCredential: Codable, Sendable, Equatable {
        public var keyId: String?
        public var displayName: String?
        /// The secret, in the tenant file only; replaced by ``hashedSecret`` on load.
        public var secretText: String?
        /// SHA-256 of the secret, base64url (client secrets are high-entropy; see DESIGN.md).
        public var hashedSecret: String?
        public var hint: String?
        public var endDateTime: Date?
    }

    public struct KeyCredential: Codable, Sendable, Equatable {
        public var keyId: String?
        public var displayName: String?
        /// `AsymmetricX509Cert`.
        public var type: String?
        /// `Verify`.
        public var usage: String?
        /// The certificate, PEM or base64 DER.
        public var key: String
        public var endDateTime: Date?
    }

    /// A trusted external token: its `iss` and `sub` must equal `issuer` and `subject`, its `aud`
    /// one of `audiences` (default `api://AzureADTokenExchange`).
    public struct FederatedIdentityCredential: Codable, Sendable, Equatable {
        public var name: String
        public var issuer: String
        public var subject: String
        public var audiences: [String]?
        public var description: String?
        /// Deputy: the issuer's signing keys, inline (a JWKS object). Without it the issuer must be
        /// this authority (an app-only token of the same tenant), whose own keys are used.
        public var jwks: JSONValue?
        /// Deputy: where to fetch the issuer's signing keys (a JWKS URL), cached and refreshed on an unknown kid.
        public var jwksUri: String?

        public var acceptedAudiences: [String] { audiences ?? ["api://AzureADTokenExchange"] }

        public init(
            name: String, issuer: String, subject: String, audiences: [String]? = nil, description: String? = nil,
            jwks: JSONValue? = nil, jwksUri: String? = nil
        ) {
            self.name = name
            self.issuer = issuer
            self.subject = subject
            self.audiences = audiences
            self.description = description
            self.jwks = jwks
            self.jwksUri = jwksUri
        }
    }

    public struct OptionalClaims: Codable, Sendable, Equatable {
        public var accessToken: [OptionalClaim]?
        public var idToken: [OptionalClaim]?
    }

    public struct OptionalClaim: Codable, Sendable, Equatable {
        public var name: String
        public var essential: Bool?
        public var source: String?
    }

    public struct RequiredResourceAccess: Codable, Sendable, Equatable {
        public var resourceAppId: String
        public var resourceAccess: [ResourceAccess]
    }

    public struct ResourceAccess: Codable, Sendable, Equatable {
        public var id: String
        /// `Scope` (delegated) or `Role` (application).
        public var type: String
    }

    /// The access-token version this resource asks for (null means 1, as in Entra).
    public var accessTokenVersion: Int { api?.requestedAccessTokenVersion ?? 1 }
    public var scopes: [PermissionScope] { (api?.oauth2PermissionScopes ?? []).filter { $0.isEnabled ?? true } }
    public var webRedirectURIs: [String] { web?.redirectUris ?? [] }
    public var spaRedirectURIs: [String] { spa?.redirectUris ?? [] }
    public var publicClientRedirectURIs: [String] { publicClient?.redirectUris ?? [] }
    public var hasCredentials: Bool { !(passwordCredentials ?? []).isEmpty || !(keyCredentials ?? []).isEmpty }
    public func wantsOptionalAccessTokenClaim(_ name: String) -> Bool {
        optionalClaims?.accessToken?.contains { $0.name == name } ?? false
    }
}

/// An app role (Graph `appRole`).
public struct AppRole: Codable, Sendable, Equatable {
    public var id: String
    public var value: String?
    public var displayName: String?
    public var description: String?
    /// `User`, `Application`, or both.
    public var allowedMemberTypes: [String]?
    public var isEnabled: Bool?
}

/// The instance of an application in this tenant (Graph `servicePrincipal`).
public struct ServicePrincipal: Codable, Sendable, Equatable {
    public var id: String
    public var appId: String
    public var displayName: String?
    public var accountEnabled: Bool?
    public var appRoleAssignmentRequired: Bool?
    /// Graph's `@odata.type`: `#microsoft.graph.agentIdentity` for an agent identity.
    public var odataType: String?
    /// For an agent identity: the appId of the blueprint it was created from.
    public var agentIdentityBlueprintId: String?
    /// For an agent identity: its risk (`none`, `low`, `medium`, `high`), a test control.
    public var agentRiskLevel: String?

    public init(id: String, appId: String, displayName: String?, accountEnabled: Bool?, appRoleAssignmentRequired: Bool?) {
        self.id = id
        self.appId = appId
        self.displayName = displayName
        self.accountEnabled = accountEnabled
        self.appRoleAssignmentRequired = appRoleAssignmentRequired
    }

    /// An Agent ID agent identity (Microsoft Learn, "Agent identities").
    public var isAgentIdentity: Bool { odataType == AgentODataType.agentIdentity }
    public var isEnabled: Bool { accountEnabled ?? true }

    enum CodingKeys: String, CodingKey {
        case id, appId, displayName, accountEnabled, appRoleAssignmentRequired, agentIdentityBlueprintId, agentRiskLevel
        case odataType = "@odata.type"
    }
}

/// A delegated permission grant (Graph `oAuth2PermissionGrant`): `clientId` and `resourceId` are
/// service-principal object ids (an appId is accepted in the tenant file and resolved on load).
public struct OAuth2PermissionGrant: Codable, Sendable, Equatable {
    public var id: String?
    public var clientId: String
    public var resourceId: String
    /// `AllPrincipals` (admin consent) or `Principal` (one user).
    public var consentType: String
    public var principalId: String?
    /// Space-separated scope values.
    public var scope: String

    public var isAllPrincipals: Bool { consentType == "AllPrincipals" }
    public var scopeValues: [String] { Scopes.parse(scope) }
}

/// An app role granted to a user, group or service principal (Graph `appRoleAssignment`).
public struct AppRoleAssignment: Codable, Sendable, Equatable {
    public var id: String?
    public var principalId: String
    /// `User`, `Group` or `ServicePrincipal`.
    public var principalType: String?
    /// The resource service principal id (an appId is accepted in the tenant file).
    public var resourceId: String
    public var appRoleId: String
}
