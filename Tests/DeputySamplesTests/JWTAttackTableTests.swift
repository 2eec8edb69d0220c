import AsyncHTTPClient
import Crypto
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyMCP
import DeputySamples
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Testing

@testable import DeputyAuthority

/// The JWT attack table: every forged, altered or misplaced token an attacker might present, run
/// against the authority's assertion checks (OBO), the validation library, and each service of
/// the chain over HTTP. Each must be refused — 400 with an Entra error at the authority, 401
/// `Bearer error="invalid_token"` at a resource — while the same token without the attack is
/// accepted (the control), so no row passes for the wrong reason.
@Suite("JWT attack table")
struct JWTAttackTableTests {
    /// What the attacker can put in a token, for one target.
    struct Forge {
        let key: SigningKey
        let attacker: SigningKey
        let issuer: String
        let audience: String
        /// A delegated target wants a user's token; an app-only target an application's.
        let appOnly: Bool
        let scope: String
        let now: Date
        /// A genuine token the authority issued for another resource (for the passthrough row).
        let otherResourceToken: String
        /// Where a `jku`/`x5u` header points: a server that counts what it is asked.
        let trap: String

        var claims: [String: JSONValue] {
            let t = now.timeIntervalSince1970
            var c: [String: JSONValue] = [
                "iss": .string(issuer), "aud": .string(audience), "tid": .string(DemoTenant.tenantID), "ver": "2.0",
                "iat": .number(t), "nbf": .number(t), "exp": .number(t + 3600), "azp": .string(DemoTenant.app("spa").appId),
                "uti": .string(UUID().uuidString),
            ]
            if appOnly {
                let sp = "5b7d9f1a-2c3e-4a5b-8c7d-9e0f1a2b3c4d"
                c["oid"] = .string(sp)
                c["sub"] = .string(sp)
                c["idtyp"] = "app"
                c["roles"] = .array([.string(scope)])
            } else {
                c["oid"] = .string(DemoTenant.user("bob").id)
                c["sub"] = "pairwise-subject-of-bob"
                c["idtyp"] = "user"
                c["scp"] = .string(scope)
                c["amr"] = ["pwd", "mfa"]
                c["preferred_username"] = "bob@contoso.com"
            }
            return c
        }

        func sign(_ edit: (inout [String: JSONValue]) -> Void = { _ in }, header: [String: JSONValue] = [:]) throws -> String {
            var c = claims
            edit(&c)
            return try key.sign(claims: c, extraHeader: header)
        }
    }

    typealias Attack = (name: String, applies: @Sendable (Forge) -> Bool, make: @Sendable (Forge) throws -> String)

    static func always(_ f: Forge) -> Bool { true }

    static let attacks: [Attack] = [
        (
            "alg none", always,
            { f in
                let t = try f.sign().split(separator: ".")
                return Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + t[1] + "."
            }
        ),
        (
            "alg none with the real kid", always,
            { f in
                let t = try f.sign().split(separator: ".")
                return Base64URL.encode(Array(#"{"alg":"none","typ":"JWT","kid":"\#(f.key.kid)"}"#.utf8)) + "." + t[1] + "."
            }
        ),
        (
            "algorithm confusion: HS256 keyed with the RSA public key", always,
            { f in
                let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT","kid":"\#(f.key.kid)"}"#.utf8))
                let payload = Base64URL.encode(JSONValue.object(f.claims).serialized)
                let publicKey = JSONValue.object(try f.key.jwk(issuer: f.issuer)).serialized
                let mac = HMAC<SHA256>.authenticationCode(for: Array("\(header).\(payload)".utf8), using: SymmetricKey(data: publicKey))
                return "\(header).\(payload).\(Base64URL.encode(Data(mac)))"
            }
        ),
        ("unknown kid (the attacker's key)", always, { f in try f.attacker.sign(claims: f.claims) }),
        (
            "kid with path characters", always,
            { f in try f.attacker.sign(claims: f.claims, extraHeader: ["kid": "../../../../../dev/null"]) }
        ),
        ("kid with SQL characters", always, { f in try f.attacker.sign(claims: f.claims, extraHeader: ["kid": "x' OR '1'='1' --"]) }),
        (
            "jku naming the attacker's key set", always,
            { f in
                try f.attacker.sign(claims: f.claims, extraHeader: ["jku": .string(f.trap + "/jwks")])
            }
        ),
        (
            "x5u naming the attacker's certificate", always,
            { f in
                try f.attacker.sign(claims: f.claims, extraHeader: ["x5u": .string(f.trap + "/cert.pem")])
            }
        ),
        (
            "jwk embedding the attacker's key", always,
            { f in
                try f.attacker.sign(claims: f.claims, extraHeader: ["jwk": .object(try f.attacker.jwk(issuer: f.issuer))])
            }
        ),
        ("crit naming an extension", always, { f in try f.sign(header: ["crit": ["exp"], "exp": .number(0)]) }),
        (
            "tampered payload", always,
            { f in
                let t = try f.sign().split(separator: ".")
                var c = f.claims
                c[f.appOnly ? "roles" : "scp"] = f.appOnly ? ["Everything.All"] : "Everything.All"
                return t[0] + "." + Base64URL.encode(JSONValue.object(c).serialized) + "." + t[2]
            }
        ),
        (
            "tampered signature", always,
            { f in
                // A character in the middle: the last one may hold only padding bits (RFC 4648 §3.5).
                var t = Array(try f.sign())
                let i = t.count - 20
                t[i] = t[i] == "A" ? "B" : "A"
                return String(t)
            }
        ),
        ("expired", always, { f in try f.sign { $0["exp"] = .number(f.now.timeIntervalSince1970 - 3600) } }),
        ("nbf in the future", always, { f in try f.sign { $0["nbf"] = .number(f.now.timeIntervalSince1970 + 3600) } }),
        ("iat in the future", always, { f in try f.sign { $0["iat"] = .number(f.now.timeIntervalSince1970 + 3600) } }),
        (
            "wrong iss", always,
            { f in try f.sign { $0["iss"] = "https://login.microsoftonline.com/22222222-2222-4222-8222-222222222222/v2.0" } }
        ),
        ("wrong tid", always, { f in try f.sign { $0["tid"] = "22222222-2222-4222-8222-222222222222" } }),
        ("wrong aud", always, { f in try f.sign { $0["aud"] = "api://someone-else" } }),
        ("a token for another resource (passthrough)", always, { f in f.otherResourceToken }),
        (
            "an ID token as an access token", always,
            { f in
                // As Entra's ID tokens are: no scp, roles or client claim, a pairwise sub, a nonce.
                try f.sign { c in
                    for name in ["scp", "roles", "idtyp", "azp"] { c[name] = nil }
                    c["oid"] = .string(DemoTenant.user("bob").id)
                    c["sub"] = "pairwise-id-token-subject"
                    c["nonce"] = "n"
                }
            }
        ),
        (
            "an app-only token on a delegated route", { !$0.appOnly },
            { f in
                try f.sign { c in
                    c["scp"] = nil
                    c["oid"] = "5b7d9f1a-2c3e-4a5b-8c7d-9e0f1a2b3c4d"
                    c["sub"] = "5b7d9f1a-2c3e-4a5b-8c7d-9e0f1a2b3c4d"
                    c["idtyp"] = "app"
                    c["roles"] = [.string(f.scope)]
                }
            }
        ),
        (
            "a user's token on an app-only route", { $0.appOnly },
            { f in
                try f.sign { c in
                    c["roles"] = nil
                    c["oid"] = .string(DemoTenant.user("bob").id)
                    c["sub"] = "pairwise"
                    c["idtyp"] = "user"
                    c["scp"] = "Data.Read"
                }
            }
        ),
        (
            "a user's token with roles and no scp on an app-only route", { $0.appOnly },
            { f in
                try f.sign { c in
                    c["idtyp"] = nil
                    c["oid"] = .string(DemoTenant.user("bob").id)
                    c["sub"] = "pairwise"
                }
            }
        ),
        ("oversize (20 KB)", always, { f in try f.sign { $0["padding"] = .string(String(repeating: "A", count: 20_000)) } }),
        ("malformed base64", always, { _ in "eyJ!!!.#$%^.&*()" }),
        (
            "malformed JSON", always,
            { f in
                Base64URL.encode(Array(#"{"alg":"RS256","kid":"\#(f.key.kid)""#.utf8)) + "." + Base64URL.encode(Array("{not json".utf8))
                    + ".AAAA"
            }
        ),
        ("two parts only", always, { f in String(try f.sign().split(separator: ".").prefix(2).joined(separator: ".")) }),
        (
            "duplicate claims (aud twice, the last one right)", always,
            { f in
                // The right audience comes last, where a parser that keeps the last value reads it: only
                // the refusal of repeated names stops this token.
                let json = String(decoding: JSONValue.object(f.claims).serialized, as: UTF8.self)
                let duplicated = "{\"aud\":\"api://someone-else\"," + json.dropFirst()
                return try f.key.sign(rawHeader: #"{"typ":"JWT","alg":"RS256","kid":"\#(f.key.kid)"}"#, rawPayload: duplicated)
            }
        ),
        (
            "nested JWS (the payload is a signed token)", always,
            { f in
                try f.key.sign(rawHeader: #"{"typ":"JWT","cty":"JWT","alg":"RS256","kid":"\#(f.key.kid)"}"#, rawPayload: try f.sign())
            }
        ),
    ]

    /// One place attacks are sent, and how it refuses.
    struct Target: Sendable {
        let name: String
        let audience: String
        let appOnly: Bool
        let scope: String
        /// nil when refused as it should be; otherwise what happened.
        let refusal: @Sendable (String) async throws -> String?
        /// Whether the control token (no attack) got through the token checks.
        let accepts: @Sendable (String) async throws -> Bool
    }

    @Test("Every attack is refused by the authority, the validation library and each chain service, and the control is accepted")
    func attackTable() async throws {
        try await AgentChainTests.withChain { chain in
            let live = chain.live
            let keys = try await live.authority.currentKeys()
            let issuer = live.authority.configuration.issuerV2(tenantID: DemoTenant.tenantID)
            let trapFetches = LockedBox(0)
            let trap = Router()
            trap.get("/jwks") { _, _ -> Response in
                trapFetches.withLock { $0 += 1 }
                return Response(status: .ok)
            }
            trap.get("/cert.pem") { _, _ -> Response in
                trapFetches.withLock { $0 += 1 }
                return Response(status: .ok)
            }
            let trapPort = try freeLoopbackPort()
            let webPort = try freeLoopbackPort()
            let webApi = DemoTenant.app("webApi")
            let dataApi = DemoTenant.app("dataApi")
            let mcpApp = DemoTenant.app("mcpServer")
            let blueprint = DemoTenant.app("agentBlueprint")
            let webRouter = DemoChain.serviceRouter(role: "webApi", name: webApi.displayName, browserOrigin: nil, demoMode: false)
            WebAPI(
                validator: try ResourceValidator(
                    WebAPI.configuration(
                        authority: live.tenantAuthority + "/v2.0", appID: webApi.appId,
                        appIDURI: webApi.identifierUri!)),
                obo: ConfidentialClient(authority: live.tenantAuthority, clientID: webApi.appId, credential: .secret(webApi.secret!)),
                dataAPI: chain.data
            ).addRoutes(to: webRouter)
            let reportsPort = try freeLoopbackPort()
            let reportsApi = DemoTenant.app("reportsApi")
            let reportsRouter = DemoChain.serviceRouter(
                role: "reportsApi", name: reportsApi.displayName, browserOrigin: nil, demoMode: false)
            WebAPI(
                validator: try ResourceValidator(
                    WebAPI.configuration(
                        authority: live.tenantAuthority + "/v2.0", appID: reportsApi.appId, appIDURI: reportsApi.identifierUri!)),
                obo: ConfidentialClient(
                    authority: live.tenantAuthority, clientID: reportsApi.appId, credential: .secret(reportsApi.secret!)),
                dataAPI: chain.data
            ).addRoutes(to: reportsRouter)
            let jwks = String(
                decoding: JSONValue.object(try await live.authority.jwks(tenantID: DemoTenant.tenantID, v2: true)).serialized, as: UTF8.self
            )
            var libraryConfig = DataAPI.configuration(
                authority: live.tenantAuthority + "/v2.0", appID: dataApi.appId, appIDURI: dataApi.identifierUri!)
            libraryConfig.keys = .jwks(json: jwks, issuer: issuer)
            let library = try ResourceValidator(libraryConfig)
            // The library guarding an app-only route: only application tokens.
            var appOnlyConfig = libraryConfig
            appOnlyConfig.acceptedKinds = [.appOnly]
            let appOnlyLibrary = try ResourceValidator(appOnlyConfig)
            // A genuine token of bob's for Microsoft Graph: right issuer and signature, another audience.
            let otherResource = try await live.userToken("bob", scope: "https://graph.microsoft.com/User.Read")

            func http(_ url: String, method: HTTPMethod, body: String?) -> @Sendable (String) async throws -> (Int, String?) {
                { token in
                    let a = try await AgentChainTests.send(
                        url, method: method, token: token, body: body, correlation: "attack",
                        headers: [("Accept", "application/json, text/event-stream")])
                    return (a.status, a.headers["www-authenticate"])
                }
            }
            /// - Parameter naming: a parameter the challenge must carry as well (an MCP server's `resource_metadata`).
            func refusedAt(
                _ call: @escaping @Sendable (String) async throws -> (Int, String?), naming: String? = nil
            ) -> @Sendable (String) async throws -> String? {
                { token in
                    let (status, challenge) = try await call(token)
                    if status == 401, challenge?.hasPrefix("Bearer") == true, challenge?.contains(#"error="invalid_token""#) == true,
                        naming.map { challenge?.contains($0 + "=") == true } ?? true
                    {
                        return nil
                    }
                    return "HTTP \(status), WWW-Authenticate: \(challenge ?? "(none)")"
                }
            }
            func acceptedAt(_ call: @escaping @Sendable (String) async throws -> (Int, String?)) -> @Sendable (String) async throws -> Bool
            {
                { token in
                    let (status, challenge) = try await call(token)
                    return !(status == 401 && challenge?.contains("invalid_token") == true) && status < 500
                }
            }
            let initialize =
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
            let dataList = http(chain.data + "/expenses", method: .GET, body: nil)
            let dataReport = http(chain.data + "/reports/monthly", method: .GET, body: nil)
            let web = http("http://127.0.0.1:\(webPort)/api/expenses", method: .GET, body: nil)
            let mcp = http(chain.mcp, method: .POST, body: initialize)
            let agent = http(chain.agent + "/chat", method: .POST, body: #"{"message":"list my expenses"}"#)
            let obo: @Sendable (String) async -> Result<TokenResponse, OAuthError> = { token in
                await live.authority.token(
                    TokenRequest(
                        tenantSegment: "contoso.com",
                        form: FormParameters([
                            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
                            ("client_secret", webApi.secret!),
                            ("assertion", token), ("scope", "https://database.windows.net//Data.Read"),
                            ("requested_token_use", "on_behalf_of"),
                        ]), correlationID: "attack", ipAddress: "127.0.0.1"))
            }
            let exchange: @Sendable (String) async -> Result<TokenResponse, OAuthError> = { token in
                await live.authority.token(
                    TokenRequest(
                        tenantSegment: "contoso.com",
                        form: FormParameters([
                            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("client_id", webApi.appId),
                            ("client_secret", webApi.secret!), ("subject_token", token),
                            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                            ("audience", "https://database.windows.net/"),
                        ]), correlationID: "attack", ipAddress: "127.0.0.1"))
            }
            func refusedBy(_ validator: ResourceValidator) -> @Sendable (String) async throws -> String? {
                { token in
                    do {
                        _ = try await validator.validate(token)
                        return "accepted"
                    } catch let error as ResourceValidationError {
                        if case .invalidToken = error { return nil }
                        return "\(error)"
                    }
                }
            }
            let reports = http("http://127.0.0.1:\(reportsPort)/api/expenses", method: .GET, body: nil)
            let targets: [Target] = [
                Target(
                    name: "authority: token exchange subject_token", audience: webApi.appId, appOnly: false, scope: "access_as_user",
                    refusal: { token in
                        switch await exchange(token) {
                        case .success: return "a token was issued"
                        case .failure(let e):
                            // Refused for the token itself, not by Conditional Access after accepting it.
                            return e.status == 400 && e.message.hasPrefix("The subject_token is not valid here") ? nil : "\(e.status) \(e)"
                        }
                    },
                    accepts: { token in
                        if case .failure(let e) = await exchange(token) { return e.aadsts == 50076 || e.claims != nil } else { return true }
                    }),
                Target(
                    name: "library: ResourceValidator (app-only)", audience: dataApi.appId, appOnly: true, scope: "Expenses.Read.All",
                    refusal: refusedBy(appOnlyLibrary), accepts: { token in (try? await appOnlyLibrary.validate(token)) != nil }),
                Target(
                    name: "Reports API over HTTP", audience: reportsApi.appId, appOnly: false, scope: "access_as_user",
                    refusal: refusedAt(reports), accepts: acceptedAt(reports)),
                Target(
                    name: "authority: OBO assertion", audience: webApi.appId, appOnly: false, scope: "access_as_user",
                    refusal: { token in
                        switch await obo(token) {
                        case .success: return "a token was issued"
                        case .failure(let e):
                            // Entra's refusals: invalid_grant (AADSTS50013, 500133, 500131, 240002 …) or, for an
                            // app-only assertion, unauthorized_client AADSTS7000114.
                            // Not Conditional Access's answer to an accepted token (a claims challenge, a block).
                            let conditionalAccess = e.claims != nil || (53_000..<54_000).contains(e.aadsts ?? 0)
                            return e.status == 400 && [.invalidGrant, .invalidRequest, .unauthorizedClient].contains(e.error)
                                && !conditionalAccess ? nil : "\(e.status) \(e)"
                        }
                    },
                    accepts: { token in
                        if case .failure(let e) = await obo(token) { return e.aadsts == 50076 || e.claims != nil } else { return true }
                    }),
                Target(
                    name: "library: ResourceValidator", audience: dataApi.appId, appOnly: false, scope: "Data.Read",
                    refusal: refusedBy(library), accepts: { token in (try? await library.validate(token)) != nil }),
                Target(
                    name: "Data API over HTTP (delegated)", audience: dataApi.appId, appOnly: false, scope: "Data.Read",
                    refusal: refusedAt(dataList), accepts: acceptedAt(dataList)),
                Target(
                    name: "Data API over HTTP (app-only report)", audience: dataApi.appId, appOnly: true, scope: "Expenses.Read.All",
                    refusal: refusedAt(dataReport), accepts: acceptedAt(dataReport)),
                Target(
                    name: "Web API over HTTP", audience: webApi.appId, appOnly: false, scope: "access_as_user",
                    refusal: refusedAt(web), accepts: acceptedAt(web)),
                Target(
                    name: "MCP server over HTTP", audience: mcpApp.appId, appOnly: false, scope: "Expenses.ReadWrite",
                    refusal: refusedAt(mcp, naming: "resource_metadata"), accepts: acceptedAt(mcp)),
                Target(
                    name: "agent over HTTP", audience: blueprint.appId, appOnly: false, scope: "access_as_user",
                    refusal: refusedAt(agent), accepts: acceptedAt(agent)),
            ]
            try await serving(trap, port: trapPort) {
                try await serving(webRouter, port: webPort) {
                    try await serving(reportsRouter, port: reportsPort) {
                        let attacker = try SigningKey.load(try SigningKey.generate(now: Date()))
                        for target in targets {
                            let forge = Forge(
                                key: keys.current, attacker: attacker, issuer: issuer, audience: target.audience, appOnly: target.appOnly,
                                scope: target.scope, now: live.authority.time.now(),
                                otherResourceToken: otherResource,
                                trap: "http://127.0.0.1:\(trapPort)")
                            #expect(
                                try await target.accepts(try forge.sign()),
                                "\(target.name): the control token is refused, so the table proves nothing")
                            var ran = 0
                            for attack in Self.attacks where attack.applies(forge) {
                                let token = try attack.make(forge)
                                if let wrong = try await target.refusal(token) { Issue.record("\(target.name) — \(attack.name): \(wrong)") }
                                ran += 1
                            }
                            print("attack table: \(ran) cases against \(target.name)")
                            // Every row runs, but the one or two meant only for the other kind of route.
                            #expect(ran == Self.attacks.count - (target.appOnly ? 1 : 2), "\(target.name)")
                        }
                    }
                }
            }
            #expect(trapFetches.withLock { $0 } == 0, "jku/x5u were fetched")
        }
    }
}
