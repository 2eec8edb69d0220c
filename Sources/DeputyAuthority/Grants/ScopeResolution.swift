import DeputyCore
import Foundation

/// A `scope` parameter read against the directory: the one resource it names, the scope values
/// asked of it, and the OpenID scopes (Microsoft Learn, "Scopes and permissions in the Microsoft identity platform").
struct ResolvedScopes: Sendable {
    var resource: Application?
    /// How the request named the resource (v1 tokens echo it in `aud`).
    var resourceIdentifier: String?
    var isDefault: Bool
    /// Scope values on the resource (not qualified).
    var values: [String]
    var openID: Set<String>
    /// The RFC 8707 resource indicator the token's `aud` is bound to (MCP spec mode only).
    var audience: String? = nil

    var wantsRefreshToken: Bool { openID.contains("offline_access") }
    var wantsIDToken: Bool { openID.contains("openid") }

    /// Reads scopes. Rules: one resource only (AADSTS28000); `.default` cannot be mixed with named
    /// scopes (AADSTS70011); a resource not in the tenant is AADSTS500011; a value the resource
    /// does not define is AADSTS70011.
    static func resolve(_ tokens: [String], tenant: DirectoryIndex, tenantName: String) throws(OAuthError) -> ResolvedScopes {
        var result = ResolvedScopes(resource: nil, resourceIdentifier: nil, isDefault: false, values: [], openID: [])
        var sawNamed = false
        for token in tokens {
            let scope = RequestedScope(token)
            switch scope {
            case .openID(let s):
                result.openID.insert(s)
            case .resourceDefault(let identifier), .resource(let identifier, _):
                guard let app = tenant.resource(named: identifier) else { throw .resourceNotFound(identifier, tenant: tenantName) }
                if let existing = result.resource, existing.appId != app.appId { throw .multipleResources(Scopes.format(tokens)) }
                if result.resource == nil { result.resourceIdentifier = identifier }
                result.resource = app
                if case .resource(_, let requested) = scope {
                    // Entra matches permission values case-insensitively (`user.read` is `User.Read`);
                    // the resource's own spelling is what tokens carry.
                    guard let defined = app.scopes.first(where: { $0.value.caseInsensitiveCompare(requested) == .orderedSame }) else {
                        throw .invalidScope(token, "The application '\(app.displayName)' does not expose the scope '\(requested)'.")
                    }
                    let value = defined.value
                    if !result.values.contains(value) { result.values.append(value) }
                    sawNamed = true
                } else {
                    result.isDefault = true
                }
            }
        }
        if result.isDefault && sawNamed {
            throw .invalidScope(Scopes.format(tokens), "The .default scope can't be combined with resource-specific scopes.")
        }
        return result
    }

    /// The full scope strings for a response's `scope` field (resource-qualified, as Entra returns them).
    func qualified(_ values: [String]) -> [String] {
        guard let resource else { return [] }
        let base =
            resourceIdentifier.flatMap { $0.lowercased() == resource.appId.lowercased() ? nil : $0 }
            ?? resource.identifierUris?.first ?? resource.appId
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return values.map { prefix + $0 }
    }
}

/// Decides which delegated scopes a client gets on a resource for a user.
enum Consent {
    /// What an interactive request still needs the user to consent to (empty: nothing).
    ///
    /// Named scopes not yet granted; for `.default` without any grant, the client's statically
    /// required permissions (AADSTS650057 when it has none for that resource); with
    /// `prompt=consent`, everything asked. Combined consent: when the resource is a middle tier
    /// that lists the client in `knownClientApplications` and the client asks for its `.default`,
    /// the middle tier's own required downstream permissions join the same prompt. Scopes marked
    /// adminConsentRequired cannot be granted by a user (AADSTS90094).
    static func pending(
        client: Application, resolved: ResolvedScopes, userID: String, tenant: DirectoryIndex,
        forcePrompt: Bool
    ) throws(OAuthError) -> [ConsentItem] {
        guard let resource = resolved.resource else { return [] }
        var items: [ConsentItem] = []
        func ask(_ c: Application, _ r: Application, wanted: [String]) {
            let granted = tenant.grantedScopes(client: c, resource: r, userID: userID)
            let missing = forcePrompt ? wanted : wanted.filter { !granted.contains($0) }
            if !missing.isEmpty { items.append(ConsentItem(clientAppID: c.appId, resourceAppID: r.appId, scopes: missing)) }
        }
        if resolved.isDefault {
            let granted = tenant.grantedScopes(client: client, resource: resource, userID: userID)
            if granted.isEmpty || forcePrompt {
                let required = tenant.requiredScopes(of: client, on: resource)
                if required.isEmpty && granted.isEmpty {
                    throw .resourceNotInRequiredAccess(clientAppID: client.appId, resource: resolved.resourceIdentifier ?? resource.appId)
                }
                ask(client, resource, wanted: required.isEmpty ? Array(granted) : required)
            }
            if (resource.api?.knownClientApplications ?? []).contains(where: { $0.lowercased() == client.appId.lowercased() }) {
                for access in resource.requiredResourceAccess ?? [] {
                    guard let downstream = tenant.application(appID: access.resourceAppId) else { continue }
                    ask(resource, downstream, wanted: tenant.requiredScopes(of: resource, on: downstream))
                }
            }
        } else {
            ask(client, resource, wanted: resolved.values)
        }
        // Admin-only scopes block the prompt unless an administrator already granted them.
        var adminOnly: [String] = []
        for item in items {
            guard let r = tenant.application(appID: item.resourceAppID), let c = tenant.application(appID: item.clientAppID) else {
                continue
            }
            let granted = tenant.grantedScopes(client: c, resource: r, userID: userID)
            adminOnly += r.scopes.filter { item.scopes.contains($0.value) && $0.requiresAdmin && !granted.contains($0.value) }.map(\.value)
        }
        if !adminOnly.isEmpty { throw .adminConsentNeeded(clientAppID: client.appId, scopes: adminOnly) }
        return items
    }

    /// Records a user's consent as `Principal` grants (merged into an existing one per client and resource).
    static func record(_ items: [ConsentItem], userID: String?, in directory: inout TenantDirectory) {
        let sps = directory.servicePrincipals
        func sp(_ appID: String) -> String? { sps.first { $0.appId.lowercased() == appID.lowercased() }?.id }
        for item in items {
            guard let clientSP = sp(item.clientAppID), let resourceSP = sp(item.resourceAppID) else { continue }
            let type = userID == nil ? "AllPrincipals" : "Principal"
            if let i = directory.oauth2PermissionGrants.firstIndex(where: {
                $0.clientId == clientSP && $0.resourceId == resourceSP && $0.consentType == type && $0.principalId == userID
            }) {
                let merged = Scopes.parse(directory.oauth2PermissionGrants[i].scope + " " + item.scopes.joined(separator: " "))
                directory.oauth2PermissionGrants[i].scope = Scopes.format(merged)
            } else {
                directory.oauth2PermissionGrants.append(
                    OAuth2PermissionGrant(
                        id: TenantFileLoader.derivedID("grant", clientSP, resourceSP, userID ?? "all"), clientId: clientSP,
                        resourceId: resourceSP,
                        consentType: type, principalId: userID, scope: Scopes.format(item.scopes)))
            }
        }
    }

    /// The granted subset: named scopes must all be granted; `.default` means all granted.
    /// - Throws: AADSTS65001 (`consent_required`) when something asked for is not granted.
    static func grantedScopes(
        client: Application, resolved: ResolvedScopes, userID: String, tenant: DirectoryIndex,
        draft: SignInDraft?
    ) throws(OAuthError) -> [String] {
        guard let resource = resolved.resource else { return [] }
        let granted = tenant.grantedScopes(client: client, resource: resource, userID: userID)
        if resolved.isDefault {
            guard !granted.isEmpty else {
                draft?.record.note =
                    "No oauth2PermissionGrant lets \(client.displayName) (\(client.appId)) call \(resource.displayName) for this user."
                throw .consentRequired(clientAppID: client.appId, clientName: client.displayName)
            }
            return resource.scopes.map(\.value).filter(granted.contains)
        }
        let missing = resolved.values.filter { !granted.contains($0) }
        if !missing.isEmpty {
            draft?.record.note =
                "Missing delegated grant for \(missing.joined(separator: " ")) from \(client.displayName) (\(client.appId)) to \(resource.displayName)."
            throw .consentRequired(clientAppID: client.appId, clientName: client.displayName)
        }
        return resolved.values
    }
}
