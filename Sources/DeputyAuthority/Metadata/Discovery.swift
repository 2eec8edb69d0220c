public import DeputyCore
import Foundation

/// The documents of the discovery endpoints, shaped like Entra's (Microsoft Learn, "OpenID Connect on the
/// Microsoft identity platform"; OpenID Connect Discovery 1.0).
extension Authority {
    /// `/{tenant}/v2.0/.well-known/openid-configuration` (`v2`) or `/{tenant}/.well-known/openid-configuration`.
    /// For `common` and `organizations`, `issuer` is templated with a literal `{tenantid}`, as in Entra.
    /// The same document answers RFC 8414 (`/.well-known/oauth-authorization-server/{tenant}/v2.0`).
    /// - Parameters:
    ///   - tenantSegment: the tenant as the request's path names it (`common` and `organizations` too).
    ///   - tenantID: the tenant's id, nil for `common`, `organizations` and `consumers`.
    ///   - v2: the v2.0 document (else the v1 one).
    ///   - mcpSpec: the tenant follows the MCP authorization specification (2026-07-28): the
    ///     document then also says so with RFC 9207's and the Client ID Metadata Document's fields.
    public func openIDConfiguration(tenantSegment: String, tenantID: String?, v2: Bool, mcpSpec: Bool = false) -> [String: JSONValue] {
        let base = configuration.baseURL
        let t = tenantID ?? tenantSegment
        let issuer =
            v2 ? configuration.issuerV2(tenantID: tenantID ?? "{tenantid}") : configuration.issuerV1(tenantID: tenantID ?? "{tenantid}")
        let s = { (v: String) in JSONValue.string(v) }
        let arr = { (v: [String]) in JSONValue.array(v.map(JSONValue.string)) }
        var doc: [String: JSONValue] = [
            "issuer": s(issuer),
            "authorization_endpoint": s(v2 ? "\(base)/\(t)/oauth2/v2.0/authorize" : "\(base)/\(t)/oauth2/authorize"),
            "token_endpoint": s(v2 ? "\(base)/\(t)/oauth2/v2.0/token" : "\(base)/\(t)/oauth2/token"),
            "device_authorization_endpoint": s("\(base)/\(t)/oauth2/v2.0/devicecode"),
            "end_session_endpoint": s(v2 ? "\(base)/\(t)/oauth2/v2.0/logout" : "\(base)/\(t)/oauth2/logout"),
            "jwks_uri": s(v2 ? "\(base)/\(t)/discovery/v2.0/keys" : "\(base)/\(t)/discovery/keys"),
            "token_endpoint_auth_methods_supported": arr(["client_secret_post", "private_key_jwt", "client_secret_basic"]),
            "token_endpoint_auth_signing_alg_values_supported": arr(["RS256", "PS256"]),
            "response_modes_supported": arr(["query", "fragment", "form_post"]),
            "response_types_supported": arr(["code", "id_token", "code id_token"]),
            "subject_types_supported": arr(["pairwise"]),
            "id_token_signing_alg_values_supported": arr(["RS256"]),
            "scopes_supported": arr(["openid", "profile", "email", "offline_access"]),
            "grant_types_supported": arr(grants.grantTypes),
            // Deputy extension for MCP clients (RFC 8414 §2): Entra supports S256 but does not advertise it.
            "code_challenge_methods_supported": arr(["S256"]),
            "claims_supported": arr([
                "sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "preferred_username", "name", "tid", "ver", "oid",
            ]),
            "request_uri_parameter_supported": .bool(false),
            "http_logout_supported": .bool(true),
            "tenant_region_scope": s("WW"),
            "cloud_instance_name": s("deputy.local"),
        ]
        if mcpSpec && v2 {
            // RFC 9207 §3 and the MCP authorization specification's Client ID Metadata Documents.
            doc["authorization_response_iss_parameter_supported"] = .bool(true)
            doc["client_id_metadata_document_supported"] = .bool(true)
            doc["token_endpoint_auth_methods_supported"] = arr(["client_secret_post", "private_key_jwt", "client_secret_basic", "none"])
        }
        if !v2 {
            doc["claims_supported"] = arr([
                "sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "upn", "unique_name", "name", "tid", "ver", "oid",
            ])
        }
        return doc
    }

    /// The JWKS: the current key and retired keys in their grace period, each with `issuer`.
    public func jwks(tenantID: String?, v2: Bool) async throws -> [String: JSONValue] {
        let keys = try await currentKeys()
        let issuer =
            v2 ? configuration.issuerV2(tenantID: tenantID ?? "{tenantid}") : configuration.issuerV1(tenantID: tenantID ?? "{tenantid}")
        return ["keys": .array(try keys.published.map { .object(try $0.jwk(issuer: issuer)) })]
    }

    /// `/common/discovery/instance` (what MSAL calls before anything else).
    public func instanceDiscovery(authorizationEndpoint: String?) throws(OAuthError) -> [String: JSONValue] {
        let host = URL(string: configuration.baseURL)?.host ?? "localhost"
        let hostPort =
            URLComponents(string: configuration.baseURL).map { c in c.port.map { "\(c.host ?? host):\($0)" } ?? (c.host ?? host) } ?? host
        if let ep = authorizationEndpoint, let epHost = URLComponents(string: ep)?.host, epHost != host {
            throw .unknownInstance(ep)
        }
        return [
            "tenant_discovery_endpoint": .string("\(configuration.baseURL)/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": .string("1.1"),
            "metadata": .array([
                .object([
                    "preferred_network": .string(hostPort), "preferred_cache": .string(hostPort),
                    "aliases": .array([.string(hostPort)]),
                ])
            ]),
        ]
    }

    /// `/common/userrealm/{user}` (MSAL's ROPC asks whether the account is managed or federated).
    public func userRealm(login: String) async -> [String: JSONValue] {
        let domain = login.split(separator: "@").last.map(String.init) ?? ""
        let tenant = try? await tenant(domain)
        guard let tenant else {
            return [
                "ver": .string("1.0"), "account_type": .string("Unknown"), "domain_name": .string(domain),
                "cloud_instance_name": .string("deputy.local"), "cloud_audience_urn": .string("urn:federation:deputy"),
            ]
        }
        return [
            "ver": .string("1.0"), "account_type": .string("Managed"), "domain_name": .string(domain),
            "federation_brand_name": .string(tenant.tenant.displayName), "cloud_instance_name": .string("deputy.local"),
            "cloud_audience_urn": .string("urn:federation:deputy"),
        ]
    }
}
