import Crypto
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyTokenValidation
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// An Entra-shaped issuer on a loopback port: multi-tenant discovery (issuer template
/// `…/{tenantid}/v2.0`, as login.microsoftonline.com/common publishes it) and a JWKS it can
/// rotate, counting fetches.
final class EntraShapedIssuer: Sendable {
    static let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    let keys = LockedBox<[SigningKey]>([])
    let discoveryFetches = LockedBox(0)
    let jwksFetches = LockedBox(0)
    /// Where the issuer is: Entra's host by default; the loopback server's once it is listening
    /// (an authority's metadata names its own host as issuer).
    let base = LockedBox("https://login.microsoftonline.com")

    init() throws { keys.withLock { $0 = [try! SigningKey.load(try! SigningKey.generate(now: Date()))] } }

    var current: SigningKey { keys.withLock { $0.last! } }

    func router(port: @escaping @Sendable () -> Int) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/common/v2.0/.well-known/openid-configuration") { _, _ -> Response in
            self.discoveryFetches.withLock { $0 += 1 }
            let doc: JSONValue = .object([
                "issuer": .string(self.base.withLock { $0 } + "/{tenantid}/v2.0"),
                "jwks_uri": .string("http://127.0.0.1:\(port())/common/discovery/v2.0/keys"),
                "authorization_endpoint": .string("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
            ])
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=86400, private"],
                body: .init(byteBuffer: ByteBuffer(bytes: doc.serialized)))
        }
        router.get("/common/discovery/v2.0/keys") { _, _ -> Response in
            self.jwksFetches.withLock { $0 += 1 }
            let jwks = try self.keys.withLock {
                try $0.map { JSONValue.object(try $0.jwk(issuer: self.base.withLock { $0 } + "/{tenantid}/v2.0")) }
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "max-age=86400, private"],
                body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["keys": .array(jwks)]).serialized)))
        }
        return router
    }

    /// An Entra v2.0 access token for the API, signed with `key` (the current one by default).
    func token(key: SigningKey? = nil, now: Date = Date(), _ edit: (inout [String: JSONValue]) -> Void = { _ in }) throws -> String {
        let t = now.timeIntervalSince1970
        var claims: [String: JSONValue] = [
            "aud": .string("api://contoso-api"), "iss": .string(base.withLock { $0 } + "/\(Self.tenant)/v2.0"),
            "iat": .number(t), "nbf": .number(t), "exp": .number(t + 3600), "tid": .string(Self.tenant), "oid": .string("user-1"),
            "sub": .string("pairwise"), "azp": .string("client-app"), "scp": .string("Data.Read"), "ver": .string("2.0"),
            "preferred_username": .string("alice@contoso.com"), "name": .string("Alice"), "amr": .array([.string("pwd")]),
        ]
        edit(&claims)
        return try (key ?? current).sign(claims: claims)
    }
}

@Suite("resource validator")
struct ResourceValidatorTests {
    static func withIssuer(
        _ configure: @escaping @Sendable (inout ResourceConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (EntraShapedIssuer, ResourceValidator) async throws -> Void
    ) async throws {
        let issuer = try EntraShapedIssuer()
        let port = LockedBox(0)
        let app = Application(
            router: issuer.router { port.withLock { $0 } }, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            port.withLock { $0 = client.port! }
            issuer.base.withLock { $0 = "http://127.0.0.1:\(client.port!)" }
            var config = ResourceConfiguration(authority: "http://127.0.0.1:\(client.port!)/common/v2.0", audiences: ["api://contoso-api"])
            config.allowAnyTenant = true
            configure(&config)
            try await body(issuer, try ResourceValidator(config))
        }
    }

    @Test(
        "An Entra-shaped token validates through discovery: the {tenantid} issuer template is filled from tid, and the principal reads its claims"
    )
    func discovery() async throws {
        try await Self.withIssuer { issuer, validator in
            let p = try await validator.validate(authorizationHeader: "Bearer " + (try issuer.token()))
            #expect(p.kind == .user && p.objectID == "user-1" && p.tenantID == EntraShapedIssuer.tenant)
            #expect(p.username == "alice@contoso.com" && p.name == "Alice" && p.clientID == "client-app" && p.scopes == ["Data.Read"])
            _ = try await validator.validate(try issuer.token())
            #expect(issuer.discoveryFetches.withLock { $0 } == 1 && issuer.jwksFetches.withLock { $0 } == 1, "metadata and keys are cached")
        }
    }

    @Test("A rolled-over key is fetched once on its unknown kid; a flood of made-up kids costs no more fetches")
    func rollover() async throws {
        try await Self.withIssuer { issuer, validator in
            _ = try await validator.validate(try issuer.token())
            let next = try SigningKey.load(try SigningKey.generate(now: Date()))
            issuer.keys.withLock { $0.append(next) }
            _ = try await validator.validate(try issuer.token(key: next))
            #expect(issuer.jwksFetches.withLock { $0 } == 2)
            for _ in 0..<20 {
                let stranger = try SigningKey.load(try SigningKey.generate(now: Date()))
                await #expect(throws: ResourceValidationError.self) { try await validator.validate(try issuer.token(key: stranger)) }
            }
            #expect(issuer.jwksFetches.withLock { $0 } == 2, "unknown kids refresh at most once per interval")
        }
    }

    @Test("An agent identity's token exposes its facets: the actor is an agent, its blueprint, an agent user subject")
    func agentFacets() async throws {
        try await Self.withIssuer { issuer, validator in
            let p = try await validator.validate(
                try issuer.token { c in
                    c["xms_act_fct"] = .string("11 3")
                    c["xms_sub_fct"] = .string("13")
                    c["xms_par_app_azp"] = .string("blueprint-app")
                    c["xms_idrel"] = .string("1")
                })
            let agent = try #require(p.agent)
            #expect(
                agent.actorIsAgent && agent.subjectIsAgentUser && agent.blueprintAppID == "blueprint-app" && agent.identityRelation == 1)
            #expect(agent.kind == .agentUser && agent.agentIdentityID == p.clientID)
            #expect(try await validator.validate(try issuer.token()).agent == nil)
            // Acting for a user: the actor facet only.
            let forUser = try await validator.validate(
                try issuer.token { c in
                    c["xms_act_fct"] = .string("11")
                    c["xms_par_app_azp"] = .string("blueprint-app")
                    c["azp"] = .string("agent-identity")
                })
            #expect(forUser.agent?.kind == .actingForUser && forUser.agent?.agentIdentityID == "agent-identity")
            // A blueprint named without the agent facet is not an agent acting.
            let notAgent = try await validator.validate(try issuer.token { c in c["xms_par_app_azp"] = .string("blueprint-app") })
            #expect(notAgent.agent?.kind == nil && notAgent.agent?.agentIdentityID == nil)
        }
    }

    @Test("Only the configured tenants are accepted from a multi-tenant authority")
    func allowedTenants() async throws {
        try await Self.withIssuer({ $0.allowedTenants = ["11111111-1111-1111-1111-111111111111"] }) { issuer, validator in
            await #expect(throws: ResourceValidationError.invalidToken("The tenant '\(EntraShapedIssuer.tenant)' is not accepted.")) {
                try await validator.validate(try issuer.token())
            }
        }
    }

    /// Each attack and the reason it is refused.
    static let attacks: [(String, @Sendable (EntraShapedIssuer) throws -> String)] = [
        (
            "alg none",
            { i in
                let h = Base64URL.encode(JSONValue.object(["alg": .string("none"), "typ": .string("JWT")]).serialized)
                let p = try UnverifiedJWT(try i.token()).claims
                return "\(h).\(Base64URL.encode(JSONValue.object(p).serialized))."
            }
        ),
        (
            "HS256 keyed with the RSA public key",
            { i in
                let h = Base64URL.encode(
                    JSONValue.object(["alg": .string("HS256"), "typ": .string("JWT"), "kid": .string(i.current.kid)]).serialized)
                let p = Base64URL.encode(JSONValue.object(try UnverifiedJWT(try i.token()).claims).serialized)
                let publicKey = Data(try i.current.jwk(issuer: "x").description.utf8)
                let mac = HMAC<SHA256>.authenticationCode(for: Data("\(h).\(p)".utf8), using: SymmetricKey(data: publicKey))
                return "\(h).\(p).\(Base64URL.encode(Data(mac)))"
            }
        ),
        ("wrong issuer", { i in try i.token { $0["iss"] = .string("https://login.microsoftonline.com/evil/v2.0") } }),
        (
            "issuer of another tenant than tid",
            { i in try i.token { $0["iss"] = .string("https://login.microsoftonline.com/22222222-2222-2222-2222-222222222222/v2.0") } }
        ),
        ("wrong audience", { i in try i.token { $0["aud"] = .string("api://another-api") } }),
        ("token for another resource (Graph)", { i in try i.token { $0["aud"] = .string("00000003-0000-0000-c000-000000000000") } }),
        ("expired", { i in try i.token(now: Date() - 7200) }),
        ("nbf in the future", { i in try i.token { $0["nbf"] = .number(Date().timeIntervalSince1970 + 3600) } }),
        (
            "ID token",
            { i in
                try i.token {
                    $0["scp"] = nil
                    $0["aud"] = .string("api://contoso-api")
                    $0["nonce"] = .string("n")
                }
            }
        ),
        (
            "tampered payload",
            { i in
                let parts = try i.token().split(separator: ".").map(String.init)
                var claims = try UnverifiedJWT(try i.token()).claims
                claims["oid"] = .string("admin")
                return "\(parts[0]).\(Base64URL.encode(JSONValue.object(claims).serialized)).\(parts[2])"
            }
        ),
        (
            "oversize header",
            { i in
                let h = Base64URL.encode(
                    JSONValue.object(["alg": .string("RS256"), "typ": .string("JWT"), "x": .string(String(repeating: "a", count: 20_000))])
                        .serialized)
                return h + "." + (try i.token()).split(separator: ".").dropFirst().joined(separator: ".")
            }
        ),
        ("not a JWT", { _ in "not-a-jwt" }),
        (
            "typ of an ID token JWT (id+jwt)",
            { i in
                let parts = try i.token().split(separator: ".").map(String.init)
                let h = Base64URL.encode(
                    JSONValue.object(["alg": .string("RS256"), "typ": .string("id+jwt"), "kid": .string(i.current.kid)]).serialized)
                return "\(h).\(parts[1]).\(parts[2])"
            }
        ),
    ]

    @Test("Every attack is refused with invalid_token (never a 500, never accepted)", arguments: attacks.indices)
    func attack(_ index: Int) async throws {
        let (name, make) = Self.attacks[index]
        try await Self.withIssuer { issuer, validator in
            let token = try make(issuer)
            do {
                _ = try await validator.validate(token)
                Issue.record("\(name): accepted")
            } catch let error as ResourceValidationError {
                guard case .invalidToken = error else {
                    Issue.record("\(name): \(error)")
                    return
                }
                #expect(error.status == 401)
                #expect(error.challenge() == #"Bearer error="invalid_token""#)
            }
        }
    }

    @Test("Scopes, roles, token kinds and authentication contexts are required as configured, each with its challenge")
    func requirements() async throws {
        try await Self.withIssuer({ c in
            c.requiredScopes = ["Data.Write"]
            c.requiredAuthenticationContext = "c1"
        }) { issuer, validator in
            await #expect(throws: ResourceValidationError.insufficientScope(required: ["Data.Write"])) {
                try await validator.validate(try issuer.token())
            }
            let e = ResourceValidationError.insufficientScope(required: ["Data.Write"])
            #expect(e.status == 403)
            #expect(
                e.challenge(resourceMetadata: "https://api.example/.well-known/oauth-protected-resource")
                    == #"Bearer error="insufficient_scope", scope="Data.Write", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
            )
            let claims = #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
            await #expect(throws: ResourceValidationError.insufficientClaims(claims: claims)) {
                try await validator.validate(try issuer.token { $0["scp"] = .string("Data.Write") })
            }
            _ = try await validator.validate(
                try issuer.token {
                    $0["scp"] = .string("Data.Write")
                    $0["acrs"] = .array([.string("c1")])
                })
            let challenge = ResourceValidationError.insufficientClaims(claims: claims).challenge(
                authorizationURI: validator.authorizationEndpoint)
            #expect(
                challenge
                    == "Bearer realm=\"\", authorization_uri=\"\(validator.authorizationEndpoint)\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19\""
            )
        }
        try await Self.withIssuer({ $0.acceptedKinds = [.delegated] }) { issuer, validator in
            await #expect(throws: ResourceValidationError.invalidToken("App-only tokens are not accepted here.")) {
                try await validator.validate(
                    try issuer.token {
                        $0["scp"] = nil
                        $0["roles"] = .array([.string("Data.Read.All")])
                        $0["idtyp"] = .string("app")
                    })
            }
        }
    }

    @Test("A missing token gets a bare Bearer challenge (RFC 6750 §3.1), with resource_metadata when configured")
    func missing() async throws {
        try await Self.withIssuer { _, validator in
            await #expect(throws: ResourceValidationError.missingToken) { try await validator.validate(authorizationHeader: nil) }
            await #expect(throws: ResourceValidationError.missingToken) { try await validator.validate(authorizationHeader: "Basic abc") }
            #expect(ResourceValidationError.missingToken.challenge() == "Bearer")
            #expect(
                ResourceValidationError.missingToken.challenge(resourceMetadata: "https://m") == #"Bearer resource_metadata="https://m""#)
        }
    }

    @Test("A single-tenant Entra authority accepts v1 tokens of its own tenant only, whatever tid says")
    func v1Issuer() async throws {
        let issuer = try EntraShapedIssuer()
        let tenant = EntraShapedIssuer.tenant
        let jwks = String(
            decoding: JSONValue.object(["keys": .array([.object(try issuer.current.jwk(issuer: "x"))])]).serialized, as: UTF8.self)
        var config = ResourceConfiguration(authority: "https://login.microsoftonline.com/\(tenant)/v2.0", audiences: ["api://contoso-api"])
        config.keys = .jwks(json: jwks, issuer: "https://login.microsoftonline.com/\(tenant)/v2.0")
        let validator = try ResourceValidator(config)
        _ = try await validator.validate(
            try issuer.token {
                $0["iss"] = .string("https://sts.windows.net/\(tenant)/")
                $0["ver"] = .string("1.0")
            })
        let other = "22222222-2222-2222-2222-222222222222"
        await #expect(throws: ResourceValidationError.self) {
            try await validator.validate(
                try issuer.token {
                    $0["iss"] = .string("https://sts.windows.net/\(other)/")
                    $0["tid"] = .string(other)
                })
        }
    }

    @Test("Keys that cannot be fetched are a 503 (keysUnavailable), not the caller's invalid token")
    func keysUnavailable() async throws {
        let port = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in c.resume(returning: 9) }  // discard port: nothing listens
        var config = ResourceConfiguration(authority: "http://127.0.0.1:\(port)/common/v2.0", audiences: ["api://contoso-api"])
        config.keys = .discovery
        config.allowAnyTenant = true
        config.fetchTimeout = 1
        let validator = try ResourceValidator(config)
        let issuer = try EntraShapedIssuer()
        do {
            _ = try await validator.validate(try issuer.token())
            Issue.record("accepted without keys")
        } catch let error as ResourceValidationError {
            guard case .keysUnavailable = error else {
                Issue.record("\(error)")
                return
            }
            #expect(error.status == 503 && error.challenge() == nil)
        }
    }

    @Test(
        "Tokens minted by Deputy's authority validate with its JWKS offline, v2 and v1 issuers alike, and the cache forgets a token at its expiry"
    )
    func deputyTokens() async throws {
        var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        file.tenants[0].conditionalAccessPolicies = []
        var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
        configuration.passwordHashCost = 4
        let time = ManualTimeSource(Date())
        let (authority, _) = try await Authority.open(
            configuration: configuration, store: RecordStore.inMemory(), tenantFile: file, time: time)
        let reports = DemoTenant.app("reports")
        let response = try await authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                    ("scope", "https://database.windows.net//.default"),
                ]), correlationID: "c")
        ).get()
        let jwks = String(
            decoding: JSONValue.object(try await authority.jwks(tenantID: DemoTenant.tenantID, v2: true)).serialized, as: UTF8.self)
        var config = ResourceConfiguration(
            authority: "http://127.0.0.1:7400/\(DemoTenant.tenantID)/v2.0",
            audiences: [DemoTenant.app("dataApi").appId, "https://database.windows.net/"])
        config.keys = .jwks(json: jwks, issuer: configuration.issuerV2(tenantID: DemoTenant.tenantID))
        config.requiredRoles = ["Expenses.Read.All"]
        let validator = try ResourceValidator(config, time: time)
        let p = try await validator.validate(response.accessToken)
        #expect(p.kind == .application && p.roles == ["Expenses.Read.All"] && p.clientID == reports.appId)
        _ = try await validator.validate(response.accessToken)  // from the cache
        time.advance(by: TimeInterval(response.expiresIn) + 301)
        await #expect(throws: ResourceValidationError.self) { try await validator.validate(response.accessToken) }
    }
}
