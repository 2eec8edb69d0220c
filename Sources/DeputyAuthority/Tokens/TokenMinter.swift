import Crypto
import DeputyCore
import Foundation
import Tracing

/// Who a token is about.
public enum TokenSubject: Sendable {
    /// A signed-in user, and how they authenticated.
    case user(User, Authentication)
    /// An application acting as itself (client credentials).
    case application(ServicePrincipal)
}

/// Builds Entra-shaped claims (Microsoft Learn, "Access token claims reference", "ID token claims reference") and signs them.
struct TokenMinter: Sendable {
    let configuration: AuthorityConfiguration

    /// Random bytes from the system generator, eight at a time (one system call per eight bytes).
    static func randomID(bytes: Int = 16) -> String {
        var rng = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(bytes + 8)
        while out.count < bytes { withUnsafeBytes(of: rng.next()) { out += $0 } }
        return Base64URL.encode(out.prefix(bytes))
    }

    /// Entra's `sub` is pairwise: stable for one user and one application, different across
    /// applications (43 characters, base64url of a hash).
    static func pairwiseSubject(tenantID: String, objectID: String, appID: String, kind: String) -> String {
        Base64URL.encode(SHA256.hash(data: Data("\(kind)|\(tenantID)|\(objectID)|\(appID.lowercased())".utf8)))
    }

    /// `aio` is opaque in Entra; Deputy's carries the authentication time and methods so later
    /// grants (OBO) can tell how and when the user signed in.
    static func aio(authentication: Authentication?, issuedAt: Date, ipAddress: String? = nil) -> String {
        var o: [String: JSONValue] = ["v": .number(1), "iat": .number(issuedAt.timeIntervalSince1970.rounded())]
        if let a = authentication {
            o["at"] = .number(a.authTime.timeIntervalSince1970.rounded())
            o["amr"] = .array(a.methods.map(JSONValue.string))
            // Where the user signed in (the first sign-in's address, kept through OBO).
            if let ip = a.ipAddress ?? ipAddress { o["ip"] = .string(ip) }
            // When the second factor was done, for sign-in frequency on the second factor at OBO.
            if let mfa = a.mfaTime { o["mt"] = .number(mfa.timeIntervalSince1970.rounded()) }
        }
        return "E2" + Base64URL.encode(JSONValue.object(o).serialized)
    }

    /// Reads the authentication time, methods and MFA time back from an `aio` value Deputy issued.
    static func readAIO(_ aio: String) -> (authTime: Date?, methods: [String], mfaTime: Date?, ipAddress: String?)? {
        guard aio.hasPrefix("E2"), let data = Base64URL.decode(aio.dropFirst(2)),
            case .object(let o)? = try? JSONParser.parse(data)
        else { return nil }
        return (
            o["at"]?.numberValue.map { Date(timeIntervalSince1970: $0) }, o["amr"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            o["mt"]?.numberValue.map { Date(timeIntervalSince1970: $0) }, o["ip"]?.stringValue
        )
    }

    struct AccessTokenRequest {
        var tenant: DirectoryIndex
        var subject: TokenSubject
        var client: Application
        /// 0 public, 1 secret, 2 certificate.
        var clientAuthenticationLevel: Int
        var resource: Application
        /// The identifier the client used to name the resource (v1 `aud` echoes it).
        var resourceIdentifier: String
        var scopes: [String]
        var roles: [String]
        var acrs: [String]
        /// An RFC 8707 indicator the audience is bound to (MCP spec mode), replacing Entra's `aud`.
        var audience: String? = nil
        var clientCapabilities: [String]
        var ipAddress: String?
        /// Set when the client is an agent identity: the token carries the Agent ID facets.
        var agent: AgentClient? = nil

        /// A continuous access evaluation token (Microsoft Learn, "Continuous access evaluation"):
        /// a user's token for a client that declared `cp1`, for a resource that takes on the duty
        /// to check critical events, which it says by asking for the `xms_cc` optional claim.
        /// Such tokens live 20–28 hours instead of about one.
        var isContinuousAccessEvaluation: Bool {
            guard case .user = subject else { return false }
            return clientCapabilities.contains("cp1") && resource.wantsOptionalAccessTokenClaim("xms_cc")
        }
    }

    struct Minted {
        var token: String
        var expiresIn: Int
        var uti: String
    }

    func accessToken(_ r: AccessTokenRequest, key: SigningKey, now: Date) throws -> Minted {
        let lifetime = Int.random(
            in: r.isContinuousAccessEvaluation ? configuration.caeAccessTokenLifetime : configuration.accessTokenLifetime)
        let iat = now.timeIntervalSince1970.rounded(.down)
        let uti = TokenMinter.randomID()
        let tid = r.tenant.tenantID
        let v2 = r.resource.accessTokenVersion == 2
        var c: [String: JSONValue] = [
            "iat": .number(iat), "nbf": .number(iat), "exp": .number(iat + Double(lifetime)),
            "tid": .string(tid), "uti": .string(uti), "rh": .string("0.\(TokenMinter.randomID(bytes: 12))"),
            "ver": .string(v2 ? "2.0" : "1.0"),
        ]
        if v2 {
            c["iss"] = .string(configuration.issuerV2(tenantID: tid))
            c["aud"] = .string(r.audience ?? r.resource.appId)
            c["azp"] = .string(r.client.appId)
            c["azpacr"] = .string(String(r.clientAuthenticationLevel))
        } else {
            c["iss"] = .string(configuration.issuerV1(tenantID: tid))
            c["aud"] = .string(r.audience ?? r.resourceIdentifier)
            c["appid"] = .string(r.client.appId)
            c["appidacr"] = .string(String(r.clientAuthenticationLevel))
            c["app_displayname"] = .string(r.client.displayName)
        }
        if !r.roles.isEmpty { c["roles"] = .array(r.roles.map(JSONValue.string)) }
        switch r.subject {
        case .user(let user, let auth):
            c["aio"] = .string(TokenMinter.aio(authentication: auth, issuedAt: now, ipAddress: r.ipAddress))
            c["oid"] = .string(user.id)
            c["sub"] = .string(TokenMinter.pairwiseSubject(tenantID: tid, objectID: user.id, appID: r.resource.appId, kind: "at"))
            c["name"] = .string(user.displayName)
            c["scp"] = .string(Scopes.format(r.scopes))
            c["idtyp"] = .string("user")
            // `amr` in v2 is Deputy's documented extension (Entra keeps it inside `aio`).
            c["amr"] = .array(auth.methods.map(JSONValue.string))
            if !r.acrs.isEmpty { c["acrs"] = .array(r.acrs.map(JSONValue.string)) }
            if v2 {
                c["preferred_username"] = .string(user.userPrincipalName)
            } else {
                c["upn"] = .string(user.userPrincipalName)
                c["unique_name"] = .string(user.userPrincipalName)
                c["acr"] = .string(auth.methods.contains("mfa") ? "2" : "1")
                if let g = user.givenName { c["given_name"] = .string(g) }
                if let f = user.surname { c["family_name"] = .string(f) }
                if let ip = r.ipAddress { c["ipaddr"] = .string(ip) }
            }
        case .application(let sp):
            c["aio"] = .string(TokenMinter.aio(authentication: nil, issuedAt: now))
            c["oid"] = .string(sp.id)
            c["sub"] = .string(sp.id)
            c["idtyp"] = .string("app")
        }
        if let agent = r.agent {
            TokenMinter.addAgentFacets(&c, agent: agent, subject: r.subject)
        } else if case .user(let user, _) = r.subject, user.isAgentUser {
            // The subject facet describes the subject, whoever acts: an agent user stays one
            // through a middle tier's OBO (the Data API sees the MCP server's token for it).
            c["xms_sub_fct"] = .string("13")
        }
        if r.resource.wantsOptionalAccessTokenClaim("xms_cc"), !r.clientCapabilities.isEmpty {
            c["xms_cc"] = .array(r.clientCapabilities.map(JSONValue.string))
        }
        let token = try withSpan("sign token") { _ in try key.sign(claims: c, includeX5t: !v2) }
        return Minted(token: token, expiresIn: lifetime, uti: uti)
    }

    /// The RFC 9068 profile, for token exchange (RFC 8693): what a standards resource expects.
    struct JWTProfileRequest {
        var tenant: DirectoryIndex
        var user: User
        /// The subject token's `sub` (kept, so the subject is the same party across the exchange).
        var subject: String
        var client: Application
        var audience: Application
        var scopes: [String]
        var roles: [String]
        var acrs: [String]
        /// RFC 8693 §4.1 `act`, with the subject token's own `act` nested.
        var act: [String: JSONValue]
        var authentication: Authentication
        var ipAddress: String?
    }

    /// An RFC 9068 JWT access token (`typ: at+jwt`): §2.2's claims (`iss`, `exp`, `aud`, `sub`,
    /// `client_id`, `iat`, `jti`, `scope`), `tid` and `oid`, `act`, and §2.2.1's authentication facts
    /// (`auth_time`, `amr`, `acrs`) carried from the subject token, so the next exchange (or OBO)
    /// evaluates sign-in frequency and authentication contexts against the user's real sign-in.
    func jwtProfileAccessToken(_ r: JWTProfileRequest, key: SigningKey, now: Date) throws -> Minted {
        let lifetime = Int.random(in: configuration.accessTokenLifetime)
        let iat = now.timeIntervalSince1970.rounded(.down)
        let jti = TokenMinter.randomID()
        var c: [String: JSONValue] = [
            "iss": .string(configuration.issuerV2(tenantID: r.tenant.tenantID)), "aud": .string(r.audience.appId),
            "sub": .string(r.subject), "client_id": .string(r.client.appId), "iat": .number(iat), "nbf": .number(iat),
            "exp": .number(iat + Double(lifetime)), "jti": .string(jti), "scope": .string(Scopes.format(r.scopes)),
            "tid": .string(r.tenant.tenantID), "oid": .string(r.user.id), "act": .object(r.act),
            "auth_time": .number(r.authentication.authTime.timeIntervalSince1970.rounded(.down)),
            "amr": .array(r.authentication.methods.map(JSONValue.string)),
            "aio": .string(TokenMinter.aio(authentication: r.authentication, issuedAt: now, ipAddress: r.ipAddress)),
        ]
        if !r.acrs.isEmpty { c["acrs"] = .array(r.acrs.map(JSONValue.string)) }
        if !r.roles.isEmpty { c["roles"] = .array(r.roles.map(JSONValue.string)) }
        return Minted(token: try key.sign(claims: c, type: "at+jwt"), expiresIn: lifetime, uti: jti)
    }

    /// The Agent ID claims (Microsoft Learn, "Agent token claims"): facets are space-separated odd
    /// integers — `xms_act_fct` 11 (the actor is an agent identity); `xms_sub_fct` 11 for an
    /// autonomous agent, 13 for an agent user; `xms_idrel` how the subject relates to the tenant
    /// (1 member, 5 guest, 7 service principal); `xms_par_app_azp` the blueprint, for logs and
    /// display only (authorization decides on `azp`/`appid`).
    static func addAgentFacets(_ c: inout [String: JSONValue], agent: AgentClient, subject: TokenSubject) {
        c["xms_act_fct"] = .string("11")
        c["xms_par_app_azp"] = .string(agent.blueprint.appId)
        switch subject {
        case .user(let user, _) where user.isAgentUser:
            c["xms_sub_fct"] = .string("13")
            c["xms_idrel"] = .string("1")
        case .user(let user, _):
            c["xms_idrel"] = .string(user.isGuest ? "5" : "1")
        case .application:
            c["xms_sub_fct"] = .string("11")
            c["xms_idrel"] = .string("7")
        }
    }

    func idToken(
        tenant: DirectoryIndex, user: User, authentication: Authentication, client: Application, nonce: String?,
        code: String? = nil, key: SigningKey, now: Date
    ) throws -> String {
        let iat = now.timeIntervalSince1970.rounded(.down)
        let tid = tenant.tenantID
        var c: [String: JSONValue] = [
            "aud": .string(client.appId), "iss": .string(configuration.issuerV2(tenantID: tid)),
            "iat": .number(iat), "nbf": .number(iat), "exp": .number(iat + Double(configuration.idTokenLifetime)),
            "name": .string(user.displayName), "oid": .string(user.id), "preferred_username": .string(user.userPrincipalName),
            "sub": .string(TokenMinter.pairwiseSubject(tenantID: tid, objectID: user.id, appID: client.appId, kind: "id")),
            "tid": .string(tid), "ver": .string("2.0"), "uti": .string(TokenMinter.randomID()),
            "aio": .string(TokenMinter.aio(authentication: authentication, issuedAt: now)),
            "rh": .string("0.\(TokenMinter.randomID(bytes: 12))"),
            "auth_time": .number(authentication.authTime.timeIntervalSince1970.rounded(.down)),
            "amr": .array(authentication.methods.map(JSONValue.string)),
        ]
        if let nonce { c["nonce"] = .string(nonce) }
        // OIDC Core §3.3.2.11: in the hybrid flow the ID token carries c_hash, the base64url of
        // the left half of SHA-256 of the code.
        if let code { c["c_hash"] = .string(Base64URL.encode(SHA256.hash(data: Data(code.utf8)).prefix(16))) }
        return try key.sign(claims: c)
    }

    /// `client_info`: base64url of `{"uid":"<oid>","utid":"<tid>"}` (MSAL builds account ids from it).
    static func clientInfo(userID: String, tenantID: String) -> String {
        Base64URL.encode(Data("{\"uid\":\"\(userID)\",\"utid\":\"\(tenantID)\"}".utf8))
    }
}
