import DeputyAuthority
import DeputyCore
import DeputyHummingbird
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite("Hummingbird glue")
struct DeputyHummingbirdTests {
    static let issuer = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    static let metadata = ProtectedResourceMetadata(
        resource: "https://api.example/mcp", authorizationServers: [issuer],
        scopesSupported: ["api://contoso-api/Data.Read"], resourceName: "Contoso API")
    static let capolids = #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]}}}"#

    struct Fixture {
        let key: SigningKey
        let validator: ResourceValidator

        init(_ edit: (inout ResourceConfiguration) -> Void = { _ in }) async throws {
            key = try SigningKey.load(try SigningKey.generate(now: Date()))
            let jwks = String(
                decoding: JSONValue.object(["keys": .array([.object(try key.jwk(issuer: DeputyHummingbirdTests.issuer))])]).serialized,
                as: UTF8.self)
            var config = ResourceConfiguration(
                authority: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                audiences: ["api://contoso-api"])
            config.keys = .jwks(json: jwks, issuer: DeputyHummingbirdTests.issuer)
            edit(&config)
            validator = try ResourceValidator(config)
        }

        func token(_ edit: (inout [String: JSONValue]) -> Void = { _ in }) throws -> String {
            let now = Date().timeIntervalSince1970
            var claims: [String: JSONValue] = [
                "iss": .string(DeputyHummingbirdTests.issuer), "aud": .string("api://contoso-api"), "iat": .number(now),
                "exp": .number(now + 3600), "tid": .string("72f988bf-86f1-41af-91ab-2d7cd011db47"),
                "oid": .string("user-1"), "scp": .string("Data.Read"), "azp": .string("spa"),
            ]
            edit(&claims)
            return try key.sign(claims: claims)
        }

        func app() -> some ApplicationProtocol {
            let router = Router(context: BearerRequestContext.self)
            router.addProtectedResourceMetadata(DeputyHummingbirdTests.metadata)
            router.group("api").add(
                middleware: BearerTokenMiddleware(validator: validator, resourceMetadata: DeputyHummingbirdTests.metadata.wellKnownURL)
            )
            .get("me") { _, context in context.principal?.objectID ?? "nobody" }
            router.get("relay/:case") { _, context -> String in
                let mfa = ServiceError(
                    status: 400, error: "invalid_grant", errorDescription: "AADSTS50076: MFA", errorCodes: [50076],
                    suberror: "basic_action", claims: DeputyHummingbirdTests.capolids)
                let block = ServiceError(
                    status: 400, error: "invalid_grant", errorDescription: "AADSTS53003: Blocked", errorCodes: [53003],
                    suberror: "message_only", claims: DeputyHummingbirdTests.capolids)
                let consent = ServiceError(
                    status: 400, error: "invalid_grant", errorDescription: "AADSTS65001: no consent", errorCodes: [65001],
                    suberror: "consent_required")
                let error: AcquisitionError =
                    switch context.parameters.get("case") {
                    case "mfa": .interactionRequired(mfa)
                    case "block": .interactionRequired(block)
                    case "consent": .consentRequired(consent)
                    default: .throttled(retryAfter: 7)
                    }
                throw ChallengeRelay(
                    error, authorizationURI: "https://login.example/t/oauth2/v2.0/authorize", scopes: ["api://contoso-api/.default"])
            }
            return Application(router: router)
        }
    }

    @Test("The middleware answers RFC 6750's challenges byte for byte, and lets a good token through with its principal")
    func middleware() async throws {
        let f = try await Fixture { c in c.requiredScopes = ["Data.Read"] }
        let md = Self.metadata.wellKnownURL
        try await f.app().test(.router) { client in
            let none = try await client.execute(uri: "/api/me", method: .get) { $0 }
            #expect(none.status == .unauthorized)
            #expect(none.headers[.wwwAuthenticate] == "Bearer resource_metadata=\"\(md)\"")
            let bad = try await client.execute(uri: "/api/me", method: .get, headers: [.authorization: "Bearer abc.def.ghi"]) { $0 }
            #expect(bad.status == .unauthorized)
            #expect(bad.headers[.wwwAuthenticate] == "Bearer error=\"invalid_token\", resource_metadata=\"\(md)\"")
            let scope = try await client.execute(
                uri: "/api/me", method: .get, headers: [.authorization: "Bearer " + (try f.token { $0["scp"] = .string("Other") })]
            ) { $0 }
            #expect(scope.status == .forbidden)
            #expect(
                scope.headers[.wwwAuthenticate] == "Bearer error=\"insufficient_scope\", scope=\"Data.Read\", resource_metadata=\"\(md)\"")
            let ok = try await client.execute(uri: "/api/me", method: .get, headers: [.authorization: "Bearer " + (try f.token())]) { $0 }
            #expect(ok.status == .ok && String(buffer: ok.body) == "user-1")
        }
    }

    @Test("A missing authentication context is a 401 claims challenge with base64 claims and the authorize endpoint")
    func authenticationContext() async throws {
        let f = try await Fixture { c in c.requiredAuthenticationContext = "c1" }
        try await f.app().test(.router) { client in
            let r = try await client.execute(uri: "/api/me", method: .get, headers: [.authorization: "Bearer " + (try f.token())]) { $0 }
            #expect(r.status == .unauthorized)
            #expect(
                r.headers[.wwwAuthenticate]
                    == "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19\", resource_metadata=\"\(Self.metadata.wellKnownURL)\""
            )
            let parsed = try #require(ClaimsChallenge(wwwAuthenticate: r.headers[.wwwAuthenticate]!))
            #expect(parsed.claims == #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        }
    }

    @Test(
        "OBO failures are relayed: MFA as a 401 claims challenge, consent as Identity.Web's 403, a block as a 403 without a challenge, throttling as 503"
    )
    func relay() async throws {
        let f = try await Fixture()
        try await f.app().test(.router) { client in
            let mfa = try await client.execute(uri: "/relay/mfa", method: .get) { $0 }
            #expect(mfa.status == .unauthorized)
            let b64 = Data(Self.capolids.utf8).base64EncodedString()
            #expect(
                mfa.headers[.wwwAuthenticate]
                    == "Bearer realm=\"\", authorization_uri=\"https://login.example/t/oauth2/v2.0/authorize\", error=\"insufficient_claims\", claims=\"\(b64)\""
            )
            #expect(ClaimsChallenge(wwwAuthenticate: mfa.headers[.wwwAuthenticate]!)?.claims == Self.capolids)

            let consent = try await client.execute(uri: "/relay/consent", method: .get) { $0 }
            #expect(consent.status == .forbidden)
            #expect(
                consent.headers[.wwwAuthenticate]
                    == "Bearer consentUri=\"https://login.example/t/oauth2/v2.0/authorize\", claims=\"\", scopes=\"api://contoso-api/.default\", proposedAction=\"consent\""
            )
            #expect(ConsentChallenge(wwwAuthenticate: consent.headers[.wwwAuthenticate]!)?.scopes == ["api://contoso-api/.default"])

            let block = try await client.execute(uri: "/relay/block", method: .get) { $0 }
            #expect(block.status == .forbidden)
            #expect(block.headers[.wwwAuthenticate] == nil)
            #expect(String(buffer: block.body).contains("53003"))

            let busy = try await client.execute(uri: "/relay/throttled", method: .get) { $0 }
            #expect(busy.status == .serviceUnavailable && busy.headers[.retryAfter] == "7" && busy.headers[.wwwAuthenticate] == nil)
        }
    }

    @Test("A challenge from a downstream resource is relayed unchanged, so it survives any number of hops")
    func downstreamRelay() throws {
        let downstream = ClaimsChallenge(claims: Self.capolids, authorizationURI: "https://login.example/t/oauth2/v2.0/authorize")
            .headerValue()
        var header = downstream
        for _ in 0..<3 {
            let relay = try #require(ChallengeRelay(downstreamStatus: 401, wwwAuthenticate: header))
            header = try #require(relay.challenge)
        }
        #expect(header == downstream)
        #expect(ChallengeRelay(downstreamStatus: 401, wwwAuthenticate: #"Bearer error="invalid_token""#) == nil)
    }

    @Test("A block relayed by another middle tier (403 access_blocked, no challenge) is relayed as the same block; other 403s are not")
    func downstreamBlock() throws {
        let body = Array(#"{"error":"access_blocked","error_codes":[53003],"error_description":"AADSTS53003: blocked"}"#.utf8)
        let relay = try #require(ChallengeRelay(downstreamStatus: 403, wwwAuthenticate: nil, body: body))
        #expect(relay.outcome == .blocked(errorCodes: [53003], message: "AADSTS53003: blocked"))
        #expect(relay.challenge == nil && relay.status == .forbidden)
        #expect(ChallengeRelay(downstreamStatus: 403, wwwAuthenticate: nil, body: Array(#"{"error":"forbidden"}"#.utf8)) == nil)
        #expect(ChallengeRelay(downstreamStatus: 401, wwwAuthenticate: nil, body: body) == nil)
        #expect(ChallengeRelay(downstreamStatus: 403, wwwAuthenticate: nil, body: Array("not json".utf8)) == nil)
    }

    @Test("RFC 9728 metadata is served at the resource's well-known path")
    func metadata() async throws {
        let f = try await Fixture()
        try await f.app().test(.router) { client in
            let r = try await client.execute(uri: "/.well-known/oauth-protected-resource/mcp", method: .get) { $0 }
            #expect(r.status == .ok)
            let json = try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: r.body).utf8))
            #expect(json.objectValue?["resource"] == .string("https://api.example/mcp"))
            #expect(json.objectValue?["authorization_servers"] == .array([.string(Self.issuer)]))
        }
    }

    @Test(
        "Challenge headers as real services send them are parsed",
        arguments: [
            (
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                "client_id", "00000003-0000-0000-c000-000000000000"
            ),
            (
                "Bearer authorization_uri=\"https://login.windows.net/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=\"",
                "error", "insufficient_claims"
            ),
            (
                "Bearer claims={\"access_token\":{\"acrs\":{\"essential\":true,\"value\":\"c1\"}}}, error=insufficient_claims", "error",
                "insufficient_claims"
            ),
            ("Basic realm=\"x\", Bearer realm=\"api\", error=\"invalid_token\"", "error", "invalid_token"),
        ])
    func parse(_ header: String, _ name: String, _ value: String) throws {
        let bearer = try #require(AuthenticationChallenge.parse(header).first { $0.scheme == "Bearer" })
        #expect(bearer[name] == value)
    }

    @Test("Claims in a challenge are read as base64 when they decode to JSON, and raw otherwise")
    func claimsDecoding() throws {
        let cae = try #require(
            ClaimsChallenge(
                wwwAuthenticate:
                    "Bearer authorization_uri=\"https://login.windows.net/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=\""
            ))
        #expect(cae.claims == #"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#)
        let raw = try #require(
            ClaimsChallenge(
                wwwAuthenticate: #"Bearer claims={"access_token":{"acrs":{"essential":true,"value":"c1"}}}, error=insufficient_claims"#))
        #expect(raw.claims == #"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        #expect(AuthenticationChallenge.parse("Negotiate abc==").first?.token68 == "abc==")
    }
}
