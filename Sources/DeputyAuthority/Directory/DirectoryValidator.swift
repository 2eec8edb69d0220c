import DeputyCore
import Foundation
import X509

/// The semantic checks of a tenant file: ids are GUIDs and unique, references resolve, URIs parse,
/// scopes and roles exist. Each problem carries the line of the offending value.
struct DirectoryValidator {
    let marks: [String: Int]
    var problems: [TenantFileError.Problem] = []

    init(marks: [String: Int]) { self.marks = marks }

    mutating func problem(_ path: String, _ message: String) {
        problems.append(.init(line: TenantFileLoader.line(for: path, marks: marks), path: path, message: message))
    }

    static func isGUID(_ s: String) -> Bool { UUID(uuidString: s) != nil && s.count == 36 }

    mutating func guid(_ value: String, _ path: String) {
        if !Self.isGUID(value) { problem(path, "expected a GUID such as 00000000-0000-0000-0000-000000000000, found '\(value)'") }
    }

    mutating func unique<T>(_ items: [T], key: (T) -> String?, path: String, field: String, caseInsensitive: Bool = false) {
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            guard var k = key(item) else { continue }
            if caseInsensitive { k = k.lowercased() }
            if let first = seen[k] {
                problem("\(path)[\(i)].\(field)", "duplicate \(field) '\(k)' (also at \(path)[\(first)])")
            } else {
                seen[k] = i
            }
        }
    }

    mutating func validate(_ d: TenantDirectory, path base: String) {
        let p = { (s: String) in base.isEmpty ? s : "\(base).\(s)" }
        guid(d.tenant.id, p("tenant.id"))
        if d.tenant.verifiedDomains.isEmpty { problem(p("tenant.verifiedDomains"), "expected at least one verified domain") }
        if let style = d.tenant.claimsChallengeStyle, !["entra", "documented"].contains(style) {
            problem(
                p("tenant.claimsChallengeStyle"),
                "expected entra (what the service sends) or documented (interaction_required with polids), found '\(style)'")
        }
        let domains = Set(d.tenant.verifiedDomains.map { $0.lowercased() })

        let userIDs = Set((d.users + d.agentUsers).map(\.id))
        let groupIDs = Set(d.groups.map(\.id))
        let users =
            d.users.enumerated().map { (p("users[\($0.offset)]"), $0.element, $0.element.isAgentUser) }
            + d.agentUsers.enumerated().map { (p("agentUsers[\($0.offset)]"), $0.element, true) }
        var userPaths: [String: String] = [:]
        var upnPaths: [String: String] = [:]
        for (up, u, isAgentUser) in users {
            if let first = userPaths[u.id] { problem("\(up).id", "duplicate id '\(u.id)' (also at \(first))") }
            if let first = upnPaths[u.userPrincipalName.lowercased()] {
                problem("\(up).userPrincipalName", "duplicate userPrincipalName '\(u.userPrincipalName.lowercased())' (also at \(first))")
            }
            userPaths[u.id] = up
            upnPaths[u.userPrincipalName.lowercased()] = up
            guid(u.id, "\(up).id")
            if let t = u.odataType, t != AgentODataType.agentUser {
                problem("\(up).@odata.type", "expected \(AgentODataType.agentUser) (or no @odata.type), found '\(t)'")
            }
            let parts = u.userPrincipalName.split(separator: "@")
            if parts.count != 2 {
                problem("\(up).userPrincipalName", "expected name@domain, found '\(u.userPrincipalName)'")
            } else if !domains.contains(parts[1].lowercased()) {
                problem(
                    "\(up).userPrincipalName",
                    "the domain '\(parts[1])' is not one of the tenant's verifiedDomains (\(d.tenant.verifiedDomains.joined(separator: ", ")))"
                )
            }
            if isAgentUser {
                if u.password != nil || u.passwordHash != nil {
                    problem("\(up).password", "an agent user has no password: it gets tokens only through its agent identity (user_fic)")
                }
            } else if u.password == nil && u.passwordHash == nil {
                problem(up, "expected 'password' (demo tenants) or 'passwordHash' (bcrypt)")
            }
            let risks: Set<String> = ["none", "low", "medium", "high", "hidden"]
            for (field, value) in [("userRiskLevel", u.userRiskLevel), ("signInRiskLevel", u.signInRiskLevel)] {
                if let v = value, !risks.contains(v) {
                    problem("\(up).\(field)", "expected none, low, medium, high or hidden, found '\(v)'")
                }
            }
            if let t = u.device?.trustType, !["AzureAD", "ServerAD", "Workplace"].contains(t) {
                problem(
                    "\(up).device.trustType",
                    "expected AzureAD (Entra joined), ServerAD (hybrid joined) or Workplace (registered), found '\(t)'")
            }
            if let h = u.passwordHash, !(h.hasPrefix("$2a$") || h.hasPrefix("$2b$") || h.hasPrefix("$2y$")) {
                problem("\(up).passwordHash", "expected a bcrypt hash starting with $2b$")
            }
            if let s = u.totpSecret, (TOTP.secretBytes(s)?.count ?? 0) < 10 {
                problem("\(up).totpSecret", "expected an RFC 4648 base32 secret of at least 80 bits (16 characters), as in otpauth:// URIs")
            }
            if let t = u.userType, !["Member", "Guest"].contains(t) {
                problem("\(up).userType", "expected Member or Guest, found '\(t)'")
            }
            if let t = u.guestOrExternalUserType, ExternalUserType(rawValue: t) == nil {
                problem(
                    "\(up).guestOrExternalUserType",
                    "expected one of \(ExternalUserType.allCases.map(\.rawValue).joined(separator: ", ")), found '\(t)'")
            }
            if let t = u.externalTenantId, UUID(uuidString: t) == nil {
                problem("\(up).externalTenantId", "expected a tenant id (a GUID), found '\(t)'")
            }
            if let m = u.manager, !userIDs.contains(m) {
                problem("\(up).manager", "no user with id '\(m)' in this tenant")
            }
        }
        unique(d.groups, key: \.id, path: p("groups"), field: "id")
        for (i, g) in d.groups.enumerated() {
            guid(g.id, p("groups[\(i)].id"))
            for (j, m) in (g.members ?? []).enumerated() where !userIDs.contains(m) && !groupIDs.contains(m) {
                problem(p("groups[\(i)].members[\(j)]"), "no user or group with id '\(m)'")
            }
        }
        for (i, r) in d.directoryRoleAssignments.enumerated() {
            if !userIDs.contains(r.principalId) && !groupIDs.contains(r.principalId) {
                problem(p("directoryRoleAssignments[\(i)].principalId"), "no user or group with id '\(r.principalId)'")
            }
            guid(r.roleTemplateId, p("directoryRoleAssignments[\(i)].roleTemplateId"))
        }

        // Blueprints are applications: listed apart in the file, or inline with their @odata.type.
        let applications =
            d.applications.enumerated().map { (p("applications[\($0.offset)]"), $0.element) }
            + d.agentIdentityBlueprints.enumerated().map { (p("agentIdentityBlueprints[\($0.offset)]"), $0.element) }
        var appPaths: [String: String] = [:]
        var uriOwners: [String: String] = [:]
        for (ap, a) in applications {
            if let first = appPaths[a.appId.lowercased()] {
                problem("\(ap).appId", "duplicate appId '\(a.appId)' (also at \(first))")
            } else {
                appPaths[a.appId.lowercased()] = ap
            }
            validateApplication(a, path: ap, uriOwners: &uriOwners)
        }
        var blueprints = d.agentIdentityBlueprints
        for (i, a) in d.applications.enumerated() where a.odataType != nil {
            if a.isAgentIdentityBlueprint {
                blueprints.append(a)
            } else {
                problem(
                    p("applications[\(i)].@odata.type"), "expected \(AgentODataType.blueprint) (or no @odata.type), found '\(a.odataType!)'"
                )
            }
        }
        for (ap, a) in applications where a.isAgentIdentityBlueprint || d.agentIdentityBlueprints.contains(a) {
            validateBlueprint(a, path: ap, tenant: d)
        }

        let allApps = applications.map(\.1)
        let appIDs = Set(allApps.map(\.appId))
        let servicePrincipals =
            d.servicePrincipals.enumerated().map { (p("servicePrincipals[\($0.offset)]"), $0.element) }
            + d.agentIdentities.enumerated().map { (p("agentIdentities[\($0.offset)]"), $0.element.servicePrincipal) }
        var spPaths: [String: String] = [:]
        var spAppPaths: [String: String] = [:]
        for (sp, principal) in servicePrincipals {
            if let first = spPaths[principal.id] { problem("\(sp).id", "duplicate id '\(principal.id)' (also at \(first))") }
            if let first = spAppPaths[principal.appId.lowercased()] {
                problem("\(sp).appId", "duplicate appId '\(principal.appId)' (also at \(first))")
            }
            spPaths[principal.id] = sp
            spAppPaths[principal.appId.lowercased()] = sp
            guid(principal.id, "\(sp).id")
            if principal.isAgentIdentity {
                if appIDs.contains(principal.appId) {
                    problem(
                        "\(sp).appId", "an agent identity has no application of its own; '\(principal.appId)' is an application's appId")
                }
            } else if let t = principal.odataType {
                problem("\(sp).@odata.type", "expected \(AgentODataType.agentIdentity) (or no @odata.type), found '\(t)'")
            } else if !appIDs.contains(principal.appId) {
                problem("\(sp).appId", "no application with appId '\(principal.appId)'")
            }
        }
        validateAgents(d, path: p, blueprints: blueprints, servicePrincipals: servicePrincipals)
        // Directory objects share one id space (Graph's directoryObject): a user, a group, a
        // service principal and an application never have the same id, in any case. Otherwise a
        // new group could take an administrator's id and so the administrator's role assignments.
        var objects: [(kind: String, path: String, id: String)] = users.map { ("user", $0.0, $0.1.id) }
        objects += d.groups.enumerated().map { ("group", p("groups[\($0.offset)]"), $0.element.id) }
        objects += servicePrincipals.map { ("servicePrincipal", $0.0, $0.1.id) }
        objects += applications.compactMap { a in a.1.id.map { ("application", a.0, $0) } }
        var objectPaths: [String: (kind: String, path: String)] = [:]
        for (kind, path, id) in objects {
            let key = id.lowercased()
            if let first = objectPaths[key] {
                // Duplicates within one collection are reported above.
                if first.kind != kind {
                    problem("\(path).id", "id '\(id)' is already the id of \(first.path): directory objects share one id space")
                }
            } else {
                objectPaths[key] = (kind, path)
            }
        }
        // A reference to a service principal may use its object id or its application's appId;
        // an agent identity is its own client (its client view has no credentials).
        let spIDs = Set(servicePrincipals.map(\.1.id))
        func appFor(_ ref: String) -> Application? {
            if let sp = servicePrincipals.first(where: { $0.1.id == ref })?.1 { return allApps.first { $0.appId == sp.appId } }
            return allApps.first { $0.appId == ref }
        }
        for (i, g) in d.oauth2PermissionGrants.enumerated() {
            let gp = p("oauth2PermissionGrants[\(i)]")
            if appFor(g.clientId) == nil && !spIDs.contains(g.clientId) {
                problem("\(gp).clientId", "no service principal (or appId) '\(g.clientId)'")
            }
            guard let resource = appFor(g.resourceId) else {
                problem("\(gp).resourceId", "no service principal (or appId) '\(g.resourceId)'")
                continue
            }
            if g.consentType != "AllPrincipals" && g.consentType != "Principal" {
                problem("\(gp).consentType", "expected AllPrincipals or Principal, found '\(g.consentType)'")
            }
            if g.consentType == "Principal" {
                if let pid = g.principalId {
                    if !userIDs.contains(pid) { problem("\(gp).principalId", "no user with id '\(pid)'") }
                } else {
                    problem(gp, "consentType Principal needs 'principalId'")
                }
            }
            let known = Set(resource.scopes.map(\.value))
            for value in g.scopeValues where !known.contains(value) && !Scopes.openIDScopes.contains(value) {
                problem(
                    "\(gp).scope",
                    "the scope '\(value)' is not defined by \(resource.displayName) (defined: \(known.sorted().joined(separator: ", ")))")
            }
        }
        for (i, a) in d.appRoleAssignments.enumerated() {
            let ap = p("appRoleAssignments[\(i)]")
            if !userIDs.contains(a.principalId) && !groupIDs.contains(a.principalId) && appFor(a.principalId) == nil
                && !spIDs.contains(a.principalId)
            {
                problem("\(ap).principalId", "no user, group or service principal '\(a.principalId)'")
            }
            guard let resource = appFor(a.resourceId) else {
                problem("\(ap).resourceId", "no service principal (or appId) '\(a.resourceId)'")
                continue
            }
            if !(resource.appRoles ?? []).contains(where: { $0.id == a.appRoleId }) {
                problem("\(ap).appRoleId", "\(resource.displayName) has no app role with id '\(a.appRoleId)'")
            }
        }
        for (i, json) in d.namedLocations.enumerated() {
            do { _ = try NamedLocation.parse(json) } catch {
                problem(p("namedLocations[\(i)]" + (error.field.isEmpty ? "" : ".\(error.field)")), error.description)
            }
        }
        var policyIDs: [String: Int] = [:]
        for (i, json) in d.conditionalAccessPolicies.enumerated() {
            let pp = p("conditionalAccessPolicies[\(i)]")
            let policy: ConditionalAccessPolicy
            do { policy = try ConditionalAccessPolicy.parse(json, position: "#\(i + 1)") } catch {
                problem(pp + (error.field.isEmpty ? "" : ".\(error.field)"), error.description)
                continue
            }
            if let first = policyIDs[policy.id] {
                problem("\(pp).id", "duplicate policy id '\(policy.id)' (also at conditionalAccessPolicies[\(first)])")
            }
            policyIDs[policy.id] = i
            // Ids of users, groups and locations that are not in the tenant are kept, as Entra
            // keeps the ids of deleted objects in policies; they simply match nothing.
        }
    }

    /// A blueprint (Microsoft Learn, "Agent identity blueprints"): a confidential client that
    /// exposes an API and gets tokens for its agent identities; it has no redirect URIs and no
    /// public-client flows, so nobody signs in to it interactively.
    mutating func validateBlueprint(_ a: Application, path ap: String, tenant d: TenantDirectory) {
        for (kind, uris) in [("web", a.webRedirectURIs), ("spa", a.spaRedirectURIs), ("publicClient", a.publicClientRedirectURIs)]
        where !uris.isEmpty {
            problem("\(ap).\(kind).redirectUris", "an agent identity blueprint has no redirect URIs (it never signs users in)")
        }
        if a.isFallbackPublicClient == true {
            problem(
                "\(ap).isFallbackPublicClient", "an agent identity blueprint is a confidential client; public-client flows are not allowed")
        }
        for (j, p) in (a.inheritablePermissions ?? []).enumerated() {
            guid(p.resourceAppId, "\(ap).inheritablePermissions[\(j)].resourceAppId")
            let kind = p.inheritableScopes.kind
            if !["allAllowed", "enumerated", "noScopes"].contains(kind) {
                problem(
                    "\(ap).inheritablePermissions[\(j)].inheritableScopes.kind",
                    "expected allAllowed, enumerated or noScopes, found '\(kind)'")
            }
            if kind == "enumerated" && (p.inheritableScopes.scopes ?? []).isEmpty {
                problem("\(ap).inheritablePermissions[\(j)].inheritableScopes.scopes", "enumerated inheritance needs the scope values")
            }
        }
    }

    /// Agent identities and agent users: every link resolves and nothing carries a credential of its own.
    mutating func validateAgents(
        _ d: TenantDirectory, path p: (String) -> String, blueprints: [Application],
        servicePrincipals: [(String, ServicePrincipal)]
    ) {
        let blueprintIDs = Set(blueprints.map { $0.appId.lowercased() })
        let plainApps = Set(
            (d.applications + d.agentIdentityBlueprints).filter { !blueprintIDs.contains($0.appId.lowercased()) }.map {
                $0.appId.lowercased()
            })
        for (i, agent) in d.agentIdentities.enumerated() {
            let ap = p("agentIdentities[\(i)]")
            if let appId = agent.appId { guid(appId, "\(ap).appId") }
            let parent = agent.agentIdentityBlueprintId.lowercased()
            if plainApps.contains(parent) {
                problem(
                    "\(ap).agentIdentityBlueprintId",
                    "'\(agent.agentIdentityBlueprintId)' is an application, not an agent identity blueprint (list it under agentIdentityBlueprints)"
                )
            } else if !blueprintIDs.contains(parent) {
                problem(
                    "\(ap).agentIdentityBlueprintId",
                    "no agent identity blueprint with appId '\(agent.agentIdentityBlueprintId)' in this tenant")
            }
            for (field, present) in [
                ("passwordCredentials", !(agent.passwordCredentials ?? []).isEmpty),
                ("keyCredentials", !(agent.keyCredentials ?? []).isEmpty),
                ("federatedIdentityCredentials", !(agent.federatedIdentityCredentials ?? []).isEmpty),
            ] where present {
                problem(
                    "\(ap).\(field)",
                    "an agent identity has no credentials of its own: its blueprint authenticates and gets a token for it (fmi_path); put the credential on the blueprint"
                )
            }
            if let t = agent.odataType, t != AgentODataType.agentIdentity {
                problem("\(ap).@odata.type", "expected \(AgentODataType.agentIdentity) (or no @odata.type), found '\(t)'")
            }
        }
        for (sp, principal) in servicePrincipals where principal.isAgentIdentity {
            if !sp.contains("agentIdentities["), !blueprintIDs.contains((principal.agentIdentityBlueprintId ?? "").lowercased()) {
                problem(
                    "\(sp).agentIdentityBlueprintId",
                    "no agent identity blueprint with appId '\(principal.agentIdentityBlueprintId ?? "")' in this tenant")
            }
            if let r = principal.agentRiskLevel, !["none", "low", "medium", "high"].contains(r) {
                problem("\(sp).agentRiskLevel", "expected none, low, medium or high, found '\(r)'")
            }
        }
        for (i, b) in d.agentIdentityBlueprints.enumerated() {
            if let t = b.odataType, t != AgentODataType.blueprint {
                problem(
                    p("agentIdentityBlueprints[\(i)].@odata.type"), "expected \(AgentODataType.blueprint) (or no @odata.type), found '\(t)'"
                )
            }
        }
        let agentIDs = Set(servicePrincipals.filter { $0.1.isAgentIdentity }.map(\.1.id))
        let agentUsers =
            d.users.enumerated().filter { $0.element.isAgentUser }.map { (p("users[\($0.offset)]"), $0.element) }
            + d.agentUsers.enumerated().map { (p("agentUsers[\($0.offset)]"), $0.element) }
        var parents: [String: String] = [:]
        for (up, user) in agentUsers {
            guard let parent = user.identityParentId else {
                problem(up, "an agent user needs 'identityParentId', the object id of its agent identity")
                continue
            }
            if !agentIDs.contains(parent) {
                problem("\(up).identityParentId", "no agent identity with id '\(parent)' in this tenant")
            } else if let other = parents[parent] {
                problem(
                    "\(up).identityParentId", "the agent identity '\(parent)' already has an agent user (\(other)); the link is one to one")
            }
            parents[parent] = up
            if user.totpSecret != nil { problem("\(up).totpSecret", "an agent user has no authentication methods of its own") }
        }
        for (i, user) in d.users.enumerated() where !user.isAgentUser && user.identityParentId != nil {
            problem(
                p("users[\(i)].identityParentId"),
                "only an agent user (agentUsers, or @odata.type \(AgentODataType.agentUser)) has an identityParentId")
        }
    }

    /// One application's own fields (registrations and blueprints alike).
    mutating func validateApplication(_ a: Application, path ap: String, uriOwners: inout [String: String]) {
        guid(a.appId, "\(ap).appId")
        if let id = a.id { guid(id, "\(ap).id") }
        for (j, uri) in (a.identifierUris ?? []).enumerated() {
            if URL(string: uri)?.scheme == nil {
                problem("\(ap).identifierUris[\(j)]", "expected an absolute URI such as api://name, found '\(uri)'")
            }
            if let other = uriOwners[uri.lowercased()], other != ap {
                problem("\(ap).identifierUris[\(j)]", "the identifier URI '\(uri)' is also used by \(other)")
            }
            uriOwners[uri.lowercased()] = ap
        }
        if let v = a.api?.requestedAccessTokenVersion, v != 1 && v != 2 {
            problem("\(ap).api.requestedAccessTokenVersion", "expected 1, 2 or null, found \(v)")
        }
        let scopes = a.api?.oauth2PermissionScopes ?? []
        unique(scopes, key: \.id, path: "\(ap).api.oauth2PermissionScopes", field: "id")
        unique(scopes, key: \.value, path: "\(ap).api.oauth2PermissionScopes", field: "value")
        for (j, s) in scopes.enumerated() {
            guid(s.id, "\(ap).api.oauth2PermissionScopes[\(j)].id")
            if s.value.contains(" ") || s.value.isEmpty {
                problem("\(ap).api.oauth2PermissionScopes[\(j)].value", "a scope value is one word without spaces")
            }
        }
        unique(a.appRoles ?? [], key: \.id, path: "\(ap).appRoles", field: "id")
        for (j, r) in (a.appRoles ?? []).enumerated() {
            guid(r.id, "\(ap).appRoles[\(j)].id")
            for (k, t) in (r.allowedMemberTypes ?? []).enumerated() where t != "User" && t != "Application" {
                problem("\(ap).appRoles[\(j)].allowedMemberTypes[\(k)]", "expected User or Application, found '\(t)'")
            }
        }
        for (kind, uris) in [("web", a.webRedirectURIs), ("spa", a.spaRedirectURIs), ("publicClient", a.publicClientRedirectURIs)] {
            for (j, uri) in uris.enumerated() {
                guard let u = URL(string: uri), let scheme = u.scheme else {
                    problem("\(ap).\(kind).redirectUris[\(j)]", "expected an absolute URL, found '\(uri)'")
                    continue
                }
                if kind != "publicClient" && scheme != "https" && scheme != "http" {
                    problem("\(ap).\(kind).redirectUris[\(j)]", "\(kind) redirect URIs must be http(s) URLs")
                }
                if uri.contains("#") { problem("\(ap).\(kind).redirectUris[\(j)]", "a redirect URI cannot contain a fragment") }
            }
        }
        for (j, c) in (a.passwordCredentials ?? []).enumerated() {
            if c.secretText == nil && c.hashedSecret == nil {
                problem("\(ap).passwordCredentials[\(j)]", "expected 'secretText'")
            } else if let s = c.secretText, s.count < 16 {
                problem("\(ap).passwordCredentials[\(j)].secretText", "a client secret needs at least 16 characters")
            }
        }
        for (j, k) in (a.keyCredentials ?? []).enumerated() {
            if (try? ClientCertificate(encoded: k.key)) == nil {
                problem("\(ap).keyCredentials[\(j)].key", "expected an X.509 certificate (PEM or base64 DER)")
            }
        }
        for (j, known) in (a.api?.knownClientApplications ?? []).enumerated() { guid(known, "\(ap).api.knownClientApplications[\(j)]") }
        unique(a.federatedIdentityCredentials ?? [], key: \.name, path: "\(ap).federatedIdentityCredentials", field: "name")
        for (j, fic) in (a.federatedIdentityCredentials ?? []).enumerated() {
            let fp = "\(ap).federatedIdentityCredentials[\(j)]"
            if URL(string: fic.issuer)?.scheme == nil { problem("\(fp).issuer", "expected the issuer's URL, found '\(fic.issuer)'") }
            if fic.subject.isEmpty { problem("\(fp).subject", "expected the subject the external token carries in 'sub'") }
            if let uri = fic.jwksUri, !(uri.hasPrefix("https://") || uri.hasPrefix("http://")) {
                problem("\(fp).jwksUri", "expected an http(s) URL of the issuer's JWKS, found '\(uri)'")
            }
            if let jwks = fic.jwks, jwks.objectValue?["keys"]?.arrayValue == nil {
                problem("\(fp).jwks", "expected a JWKS object: {keys: [{kty: RSA, kid: …, n: …, e: …}]}")
            }
        }
        for (j, pre) in (a.api?.preAuthorizedApplications ?? []).enumerated() {
            guid(pre.appId, "\(ap).api.preAuthorizedApplications[\(j)].appId")
            for (k, sid) in pre.scopeIds.enumerated() where !scopes.contains(where: { $0.id == sid }) {
                problem(
                    "\(ap).api.preAuthorizedApplications[\(j)].delegatedPermissionIds[\(k)]",
                    "no scope with id '\(sid)' in this application's api.oauth2PermissionScopes")
            }
        }
        for (j, rra) in (a.requiredResourceAccess ?? []).enumerated() {
            guid(rra.resourceAppId, "\(ap).requiredResourceAccess[\(j)].resourceAppId")
            for (k, ra) in rra.resourceAccess.enumerated() where ra.type != "Scope" && ra.type != "Role" {
                problem("\(ap).requiredResourceAccess[\(j)].resourceAccess[\(k)].type", "expected Scope or Role, found '\(ra.type)'")
            }
        }
    }

    mutating func validateAcrossTenants(_ docs: [TenantDirectory], prefix: String?) {
        guard let prefix else { return }
        unique(docs, key: \.tenant.id, path: prefix, field: "tenant.id")
        var owners: [String: Int] = [:]
        for (i, d) in docs.enumerated() {
            for (j, dom) in d.tenant.verifiedDomains.enumerated() {
                if let o = owners[dom.lowercased()], o != i {
                    problem("\(prefix)[\(i)].tenant.verifiedDomains[\(j)]", "the domain '\(dom)' is also verified by \(prefix)[\(o)]")
                }
                owners[dom.lowercased()] = i
            }
        }
    }
}
