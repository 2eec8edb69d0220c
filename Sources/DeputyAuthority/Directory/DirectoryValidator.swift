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
            problem(p("tenant.claimsChallengeStyle"), "expected entra (what the service sends) or documented (interaction_required with polids), found '\(style)'")
        }
        let domains = Set(d.tenant.verifiedDomains.map { $0.lowercased() })

        let userIDs = Set(d.users.map(\.id))
        let groupIDs = Set(d.groups.map(\.id))
        unique(d.users, key: \.id, path: p("users"), field: "id")
        unique(d.users, key: \.userPrincipalName, path: p("users"), field: "userPrincipalName", caseInsensitive: true)
        for (i, u) in d.users.enumerated() {
            let up = p("users[\(i)]")
            guid(u.id, "\(up).id")
            let parts = u.userPrincipalName.split(separator: "@")
            if parts.count != 2 {
                problem("\(up).userPrincipalName", "expected name@domain, found '\(u.userPrincipalName)'")
            } else if !domains.contains(parts[1].lowercased()) {
                problem("\(up).userPrincipalName", "the domain '\(parts[1])' is not one of the tenant's verifiedDomains (\(d.tenant.verifiedDomains.joined(separator: ", ")))")
            }
            if u.password == nil && u.passwordHash == nil {
                problem(up, "expected 'password' (demo tenants) or 'passwordHash' (bcrypt)")
            }
            let risks: Set<String> = ["none", "low", "medium", "high", "hidden"]
            for (field, value) in [("userRiskLevel", u.userRiskLevel), ("signInRiskLevel", u.signInRiskLevel)] {
                if let v = value, !risks.contains(v) { problem("\(up).\(field)", "expected none, low, medium, high or hidden, found '\(v)'") }
            }
            if let t = u.device?.trustType, !["AzureAD", "ServerAD", "Workplace"].contains(t) {
                problem("\(up).device.trustType", "expected AzureAD (Entra joined), ServerAD (hybrid joined) or Workplace (registered), found '\(t)'")
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

        unique(d.applications, key: \.appId, path: p("applications"), field: "appId")
        var uriOwners: [String: Int] = [:]
        for (i, a) in d.applications.enumerated() {
            let ap = p("applications[\(i)]")
            guid(a.appId, "\(ap).appId")
            if let id = a.id { guid(id, "\(ap).id") }
            for (j, uri) in (a.identifierUris ?? []).enumerated() {
                if URL(string: uri)?.scheme == nil { problem("\(ap).identifierUris[\(j)]", "expected an absolute URI such as api://name, found '\(uri)'") }
                if let other = uriOwners[uri.lowercased()], other != i {
                    problem("\(ap).identifierUris[\(j)]", "the identifier URI '\(uri)' is also used by applications[\(other)]")
                }
                uriOwners[uri.lowercased()] = i
            }
            if let v = a.api?.requestedAccessTokenVersion, v != 1 && v != 2 {
                problem("\(ap).api.requestedAccessTokenVersion", "expected 1, 2 or null, found \(v)")
            }
            let scopes = a.api?.oauth2PermissionScopes ?? []
            unique(scopes, key: \.id, path: "\(ap).api.oauth2PermissionScopes", field: "id")
            unique(scopes, key: \.value, path: "\(ap).api.oauth2PermissionScopes", field: "value")
            for (j, s) in scopes.enumerated() {
                guid(s.id, "\(ap).api.oauth2PermissionScopes[\(j)].id")
                if s.value.contains(" ") || s.value.isEmpty { problem("\(ap).api.oauth2PermissionScopes[\(j)].value", "a scope value is one word without spaces") }
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
                    problem("\(ap).api.preAuthorizedApplications[\(j)].delegatedPermissionIds[\(k)]", "no scope with id '\(sid)' in this application's api.oauth2PermissionScopes")
                }
            }
            for (j, rra) in (a.requiredResourceAccess ?? []).enumerated() {
                guid(rra.resourceAppId, "\(ap).requiredResourceAccess[\(j)].resourceAppId")
                for (k, ra) in rra.resourceAccess.enumerated() where ra.type != "Scope" && ra.type != "Role" {
                    problem("\(ap).requiredResourceAccess[\(j)].resourceAccess[\(k)].type", "expected Scope or Role, found '\(ra.type)'")
                }
            }
        }

        let appIDs = Set(d.applications.map(\.appId))
        unique(d.servicePrincipals, key: \.id, path: p("servicePrincipals"), field: "id")
        unique(d.servicePrincipals, key: \.appId, path: p("servicePrincipals"), field: "appId")
        for (i, sp) in d.servicePrincipals.enumerated() {
            guid(sp.id, p("servicePrincipals[\(i)].id"))
            if !appIDs.contains(sp.appId) { problem(p("servicePrincipals[\(i)].appId"), "no application with appId '\(sp.appId)'") }
        }
        // A reference to a service principal may use its object id or its application's appId.
        let spIDs = Set(d.servicePrincipals.map(\.id))
        func appFor(_ ref: String) -> Application? {
            if let sp = d.servicePrincipals.first(where: { $0.id == ref }) { return d.applications.first { $0.appId == sp.appId } }
            return d.applications.first { $0.appId == ref }
        }
        for (i, g) in d.oauth2PermissionGrants.enumerated() {
            let gp = p("oauth2PermissionGrants[\(i)]")
            if appFor(g.clientId) == nil && !spIDs.contains(g.clientId) { problem("\(gp).clientId", "no service principal (or appId) '\(g.clientId)'") }
            guard let resource = appFor(g.resourceId) else {
                problem("\(gp).resourceId", "no service principal (or appId) '\(g.resourceId)'")
                continue
            }
            if g.consentType != "AllPrincipals" && g.consentType != "Principal" {
                problem("\(gp).consentType", "expected AllPrincipals or Principal, found '\(g.consentType)'")
            }
            if g.consentType == "Principal" {
                if let pid = g.principalId { if !userIDs.contains(pid) { problem("\(gp).principalId", "no user with id '\(pid)'") } }
                else { problem(gp, "consentType Principal needs 'principalId'") }
            }
            let known = Set(resource.scopes.map(\.value))
            for value in g.scopeValues where !known.contains(value) && !Scopes.openIDScopes.contains(value) {
                problem("\(gp).scope", "the scope '\(value)' is not defined by \(resource.displayName) (defined: \(known.sorted().joined(separator: ", ")))")
            }
        }
        for (i, a) in d.appRoleAssignments.enumerated() {
            let ap = p("appRoleAssignments[\(i)]")
            if !userIDs.contains(a.principalId) && !groupIDs.contains(a.principalId) && appFor(a.principalId) == nil && !spIDs.contains(a.principalId) {
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
            if let first = policyIDs[policy.id] { problem("\(pp).id", "duplicate policy id '\(policy.id)' (also at conditionalAccessPolicies[\(first)])") }
            policyIDs[policy.id] = i
            // Ids of users, groups and locations that are not in the tenant are kept, as Entra
            // keeps the ids of deleted objects in policies; they simply match nothing.
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
