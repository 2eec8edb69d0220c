import Crypto
public import DeputyCore
public import Foundation

/// Fetches a Client ID Metadata Document over HTTP. The server adapter implements it (the engine
/// does no networking of its own); the engine decides which URLs may be fetched and validates
/// what comes back.
public protocol ClientMetadataFetching: Sendable {
    /// GETs `url` without following redirects: the body (an error beyond `limit` bytes) and the
    /// `Cache-Control: max-age`, if any. Throws when the answer is not 200 or takes longer than `timeout`.
    func fetch(_ url: String, limit: Int, timeout: TimeInterval) async throws -> (body: [UInt8], maxAge: TimeInterval?)
}

/// Client ID Metadata Documents (the MCP authorization specification 2026-07-28, "Client ID
/// Metadata Documents"; the OAuth Client ID Metadata Document draft): in a tenant in MCP spec mode
/// a client id that is an HTTPS URL names a JSON document the client publishes. The authority
/// fetches it (at most 64 KiB, 5 seconds, no redirects), checks it (its `client_id` is its own
/// URL, it names `client_name` and `redirect_uris`, it is a public client), caches it for its
/// `max-age` (5 minutes by default, at most a day), and registers it in the tenant as a public
/// client application whose redirect URIs bind every authorization request. Plain `http` is
/// accepted for loopback URLs only, and only when the authority itself runs on loopback.
extension Authority {
    static let clientMetadataLimit = 64 * 1024
    static let clientMetadataTimeout: TimeInterval = 5

    /// Whether `clientID` names a metadata document this authority would fetch.
    func isClientMetadataURL(_ clientID: String) -> Bool {
        guard let url = URLComponents(string: clientID), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
            url.fragment == nil, !url.path.isEmpty, url.path != "/", url.user == nil, url.password == nil
        else { return false }
        if scheme == "https" { return true }
        let loopback: Set<String> = ["127.0.0.1", "localhost", "::1", "[::1]"]
        let localAuthority = URLComponents(string: configuration.baseURL)?.host.map { loopback.contains($0.lowercased()) } ?? false
        return scheme == "http" && loopback.contains(host) && localAuthority
    }

    /// The tenant with the client of `clientID` registered from its metadata document, fetched
    /// when the cached copy is stale. `tenant` unchanged when `clientID` is not a document URL.
    public func registerClientMetadataDocument(_ clientID: String, in tenant: DirectoryIndex) async throws -> DirectoryIndex {
        guard tenant.isMCPSpec, isClientMetadataURL(clientID) else { return tenant }
        let now = time.now()
        if clientMetadataDocuments.value(for: clientID, now: now) != nil, tenant.application(appID: clientID) != nil { return tenant }
        guard let fetcher = configuration.clientMetadataFetcher else {
            throw OAuthError.invalidClientMetadataDocument(clientID, reason: "this authority cannot fetch documents")
        }
        let fetched: (body: [UInt8], maxAge: TimeInterval?)
        do {
            fetched = try await fetcher.fetch(clientID, limit: Self.clientMetadataLimit, timeout: Self.clientMetadataTimeout)
        } catch {
            throw OAuthError.invalidClientMetadataDocument(clientID, reason: "fetching it failed (\(error))")
        }
        let app = try Self.application(fromMetadata: fetched.body, url: clientID)
        let spID = Self.servicePrincipalID(for: clientID)
        try await store.updateDirectory(tenantID: tenant.tenantID) { dir in
            dir.applications.removeAll { $0.appId == clientID }
            dir.applications.append(app)
            if !dir.servicePrincipals.contains(where: { $0.appId == clientID }) {
                dir.servicePrincipals.append(
                    ServicePrincipal(
                        id: spID, appId: clientID, displayName: app.displayName, accountEnabled: true, appRoleAssignmentRequired: false))
            }
        }
        clientMetadataDocuments.set(true, for: clientID, expiresAt: now + min(max(fetched.maxAge ?? 300, 0), 86_400))
        return try await self.tenant(tenant.tenantID) ?? tenant
    }

    /// Checks a document and makes the application it describes.
    static func application(fromMetadata body: [UInt8], url: String) throws(OAuthError) -> Application {
        guard case .object(let doc)? = try? JSONParser.parse(body, rejectingDuplicateMembers: true) else {
            throw .invalidClientMetadataDocument(url, reason: "it is not a JSON object")
        }
        guard doc["client_id"]?.stringValue == url else {
            throw .invalidClientMetadataDocument(url, reason: "its client_id must be exactly the document's URL")
        }
        guard let name = doc["client_name"]?.stringValue, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .invalidClientMetadataDocument(url, reason: "it names no client_name")
        }
        guard let uris = doc["redirect_uris"]?.arrayValue?.compactMap(\.stringValue), !uris.isEmpty,
            uris.count == doc["redirect_uris"]?.arrayValue?.count
        else { throw .invalidClientMetadataDocument(url, reason: "redirect_uris must be a non-empty array of strings") }
        for uri in uris {
            guard let u = URLComponents(string: uri), let scheme = u.scheme?.lowercased(), u.fragment == nil,
                scheme == "https" || (scheme == "http" && ["127.0.0.1", "localhost", "[::1]", "::1"].contains(u.host ?? ""))
                    || !["http", "https", "javascript", "data", "file"].contains(scheme)
            else {
                throw .invalidClientMetadataDocument(url, reason: "the redirect URI '\(uri)' is not https, loopback http or an app scheme")
            }
        }
        let method = doc["token_endpoint_auth_method"]?.stringValue ?? "none"
        guard method == "none" else {
            throw .invalidClientMetadataDocument(
                url, reason: "token_endpoint_auth_method '\(method)': Deputy accepts documents of public clients ('none') only")
        }
        // Secrets have no place in a public document.
        if doc["client_secret"] != nil { throw .invalidClientMetadataDocument(url, reason: "it carries a client_secret") }
        var app = Application(appId: url, id: servicePrincipalID(for: url), displayName: name)
        app.publicClient = .init(redirectUris: uris, logoutUrl: nil)
        app.isFallbackPublicClient = true
        return app
    }

    /// A stable object id for a document client (a name-based UUID of its URL).
    static func servicePrincipalID(for url: String) -> String {
        var bytes = Array(SHA256.hash(data: Data("client-metadata-document|\(url)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        ).uuidString.lowercased()
    }
}
