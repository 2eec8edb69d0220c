import Foundation

/// What a configured authority allows as its issuer.
///
/// The OpenID configuration is fetched over the network; its `issuer` is trusted only when it is
/// the configured authority's own (OpenID Connect Discovery 1.0 §4.3: "The issuer value returned
/// MUST be identical to the Issuer URL that was used as the prefix to `/.well-known/openid-configuration`").
/// Entra names a tenant by domain or by id in the authority but always by id in `iss`, and
/// templates `{tenantid}` for the multi-tenant endpoints (Microsoft Learn, "Access tokens in the
/// Microsoft identity platform", validating the issuer), so the rule is:
/// - same scheme, host and port as the authority (Entra's v1.0 metadata names `sts.windows.net`);
/// - for `common` and `organizations`: the tenant segment is the literal `{tenantid}`;
/// - otherwise: a tenant id (a GUID), equal to the authority's when the authority names one.
struct IssuerRules: Sendable {
    /// The multi-tenant endpoints whose issuer is templated with `{tenantid}`.
    static let multiTenantSegments: Set<String> = ["common", "organizations"]

    let scheme: String
    let host: String
    let port: Int?
    /// The authority's first path segment (`contoso.com`, a GUID, `common`).
    let tenant: String

    init?(authority: String) {
        guard let url = URLComponents(string: authority), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
            let first = url.path.split(separator: "/").first
        else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = url.port
        self.tenant = String(first).lowercased()
    }

    /// `common` or `organizations`: tokens of many tenants, told apart by `tid`.
    var isMultiTenant: Bool { Self.multiTenantSegments.contains(tenant) }

    /// Why `issuer` (from the authority's metadata) is not this authority's, or nil when it is.
    func problem(withDiscoveredIssuer issuer: String) -> String? {
        guard let url = URLComponents(string: issuer), let s = url.scheme?.lowercased(), let h = url.host?.lowercased(),
            let segment = url.path.split(separator: "/").first.map(String.init)
        else { return "the metadata's issuer '\(issuer)' is not a URL with a tenant segment" }
        let entraV1 = host == "login.microsoftonline.com" && h == "sts.windows.net"
        guard s == scheme, h == host && url.port == port || entraV1 else {
            return "the metadata's issuer '\(issuer)' is not on the configured authority's host \(scheme)://\(host)"
        }
        if isMultiTenant {
            guard segment == "{tenantid}" else {
                return "the metadata's issuer '\(issuer)' should be templated with {tenantid} for the '\(tenant)' endpoint"
            }
            return nil
        }
        guard Self.isGUID(segment) else { return "the metadata's issuer '\(issuer)' does not name a tenant id" }
        if Self.isGUID(tenant), segment.lowercased() != tenant {
            return "the metadata's issuer '\(issuer)' names another tenant than the configured authority's '\(tenant)'"
        }
        return nil
    }

    /// Whether an issuer names `tid` as its tenant, or names no tenant id at all (an issuer
    /// without a GUID path segment, such as a custom authority's).
    static func issuer(_ issuer: String, namesTenant tid: String) -> Bool {
        guard let url = URLComponents(string: issuer) else { return false }
        let ids = url.path.split(separator: "/").filter { isGUID($0) }
        return ids.isEmpty || ids.contains { $0.lowercased() == tid.lowercased() }
    }

    /// A tenant id: 8-4-4-4-12 hexadecimal digits.
    static func isGUID(_ s: some StringProtocol) -> Bool { UUID(uuidString: String(s)) != nil }
}
