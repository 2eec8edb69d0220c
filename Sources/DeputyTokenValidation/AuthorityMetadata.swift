import AsyncHTTPClient
import DeputyCore
import Foundation
import NIOCore
import NIOHTTP1

/// The issuer string and signing keys of a resource's authority: from its OpenID configuration
/// (fetched once and cached per `Cache-Control`, default a day) and `jwks_uri` (a
/// ``RemoteKeySet``), or from a JWKS given in full.
actor AuthorityMetadataSource {
    struct FetchError: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    let configuration: ResourceConfiguration
    let client: HTTPClient
    let time: any TimeSource
    private var discovered: (issuer: String, keys: RemoteKeySet, fetchedAt: Date, maxAge: TimeInterval)?
    private var inFlight: Task<(String, String, TimeInterval), any Error>?
    private var staticKeys: KeySet?

    init(configuration: ResourceConfiguration, client: HTTPClient, time: any TimeSource) {
        self.configuration = configuration
        self.client = client
        self.time = time
    }

    /// The issuer values a token of tenant `tid` may carry: the v2.0 issuer (the `{tenantid}`
    /// template filled in) and, when accepted, the same tenant's v1.0 issuer.
    func issuers(tenantID tid: String?) async throws -> Set<String> {
        let template = try await issuerTemplate()
        var v2 = template
        if template.contains("{tenantid}") {
            // Only a tenant id may fill the template: a `tid` such as `x/../other` or a domain
            // name would build an issuer string the configuration never meant to accept.
            guard let tid, IssuerRules.isGUID(tid) else { return [] }
            v2 = template.replacingOccurrences(of: "{tenantid}", with: tid)
        }
        var out: Set<String> = [v2]
        guard configuration.acceptV1Tokens else { return out }
        if let url = URLComponents(string: v2), url.host == "login.microsoftonline.com" {
            // Entra's v1.0 tokens are issued by sts.windows.net (Microsoft Learn, "Access token claims reference"), for the tenant of
            // the configured issuer — the token's own `tid` only when the authority is multi-tenant.
            let tenant = template.contains("{tenantid}") ? tid : url.path.split(separator: "/").first.map(String.init)
            if let tenant { out.insert("https://sts.windows.net/\(tenant)/") }
        } else if v2.hasSuffix("/v2.0") {
            // Deputy's v1.0 issuer is the v2.0 one without `v2.0`.
            out.insert(String(v2.dropLast(4)))
        }
        return out
    }

    func issuerTemplate() async throws -> String {
        switch configuration.keys {
        case .jwks(_, let issuer): return issuer
        case .discovery: return try await discover().issuer
        }
    }

    /// Verifies a token with the authority's keys (refreshing once on an unknown `kid`).
    func validate(_ token: String, parsed jwt: UnverifiedJWT, policy: ValidationPolicy) async throws -> ValidatedToken {
        switch configuration.keys {
        case .jwks(let json, _):
            if staticKeys == nil { staticKeys = try await TokenValidator.keys(jwksJSON: json) }
            return try await TokenValidator(keys: staticKeys!, time: time).validate(token, parsed: jwt, policy: policy)
        case .discovery:
            return try await discover().keys.validate(token, parsed: jwt, policy: policy)
        }
    }

    private func discover() async throws -> (issuer: String, keys: RemoteKeySet) {
        let now = time.now()
        if let d = discovered, now.timeIntervalSince(d.fetchedAt) < d.maxAge { return (d.issuer, d.keys) }
        let task: Task<(String, String, TimeInterval), any Error>
        if let running = inFlight {
            task = running
        } else {
            let url = configuration.authority + "/.well-known/openid-configuration"
            task = Task { [client, configuration] in
                try await AuthorityMetadataSource.fetchConfiguration(url: url, client: client, timeout: configuration.fetchTimeout)
            }
            inFlight = task
            if discovered != nil {
                // Expired but held: refresh in the background and answer with the last good
                // document now, so a slow or unreachable authority never stalls validation.
                Task { _ = try? await self.discover(awaiting: task) }
            }
        }
        if let d = discovered { return (d.issuer, d.keys) }
        return try await discover(awaiting: task)
    }

    private func discover(
        awaiting task: Task<(String, String, TimeInterval), any Error>
    ) async throws -> (issuer: String, keys: RemoteKeySet) {
        do {
            let (issuer, jwksURI, maxAge) = try await task.value
            inFlight = nil
            if let rules = IssuerRules(authority: configuration.authority), let problem = rules.problem(withDiscoveredIssuer: issuer) {
                throw FetchError(description: "\(configuration.authority): \(problem)")
            }
            // Keep the key set (and its cache) when the document still names the same JWKS.
            let keys =
                discovered.flatMap { $0.keys.url == jwksURI ? $0.keys : nil }
                ?? RemoteKeySet(url: jwksURI, client: client, time: time, timeout: configuration.fetchTimeout)
            discovered = (issuer, keys, time.now(), maxAge)
            return (issuer, keys)
        } catch {
            inFlight = nil
            if let d = discovered {
                // Keep serving the last good document, and ask again in a minute rather than on
                // every request while the authority is down.
                discovered = (d.issuer, d.keys, time.now() - d.maxAge + 60, d.maxAge)
                return (d.issuer, d.keys)
            }
            throw error
        }
    }

    static func fetchConfiguration(url: String, client: HTTPClient, timeout: TimeInterval) async throws -> (String, String, TimeInterval) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        do { response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000))) } catch {
            throw FetchError(description: "GET \(url) failed: \(error)")
        }
        guard response.status == .ok else { throw FetchError(description: "GET \(url) answered \(response.status.code)") }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard case .object(let o)? = try? JSONParser.parse(Data(String(buffer: body).utf8)),
            let issuer = o["issuer"]?.stringValue, let jwks = o["jwks_uri"]?.stringValue
        else { throw FetchError(description: "\(url) is not an OpenID configuration with issuer and jwks_uri") }
        return (issuer, jwks, RemoteKeySet.maxAge(response.headers.first(name: "Cache-Control"), default: 86_400))
    }
}
