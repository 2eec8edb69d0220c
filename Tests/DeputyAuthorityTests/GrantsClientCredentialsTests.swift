import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("client_credentials")
struct GrantsClientCredentialsTests {
    let reports = GrantsFixture.app("reports")
    let dataApi = GrantsFixture.app("dataApi")

    func params(
        _ extra: [(String, String)] = [], secret: String? = nil, scope: String? = "https://database.windows.net//.default"
    ) -> [(String, String)] {
        var p: [(String, String)] = [
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", secret ?? reports.secret!),
        ]
        if let scope { p.append(("scope", scope)) }
        return p + extra
    }

    @Test("An app token carries the app's roles on the resource and idtyp app, signed so jwt-kit verifies it")
    func issuesAppToken() async throws {
        let f = try await GrantsFixture.make()
        let response = try await f.success(params())
        #expect(response.tokenType == "Bearer")
        #expect((3600...5400).contains(response.expiresIn))
        #expect(response.refreshToken == nil && response.idToken == nil)
        let c = try await f.verifiedClaims(response.accessToken)
        #expect(c["aud"]?.string == dataApi.appId)
        #expect(c["iss"]?.string == "http://127.0.0.1:7400/\(DemoTenant.tenantID)/v2.0")
        #expect(c["idtyp"]?.string == "app")
        #expect(c["roles"]?.strings == ["Expenses.Read.All"])
        #expect(c["azp"]?.string == reports.appId)
        #expect(c["azpacr"]?.string == "1")
        #expect(c["tid"]?.string == DemoTenant.tenantID)
        #expect(c["ver"]?.string == "2.0")
        #expect(c["scp"] == nil)
        #expect(c["oid"]?.string == c["sub"]?.string)
    }

    @Test("Client secret sent with HTTP Basic authenticates the same way")
    func basicAuthentication() async throws {
        let f = try await GrantsFixture.make()
        let basic = "Basic " + Data("\(reports.appId):\(reports.secret!)".utf8).base64EncodedString()
        let response = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "https://database.windows.net/.default")], authorization: basic)
        #expect(try UnverifiedJWT(response.accessToken).string("azp") == reports.appId)
    }

    /// (case, parameters, AADSTS code, error)
    static func failureCase(_ name: String, _ base: [(String, String)]) -> ([(String, String)], Int, String) {
        func replacing(_ key: String, _ value: String) -> [(String, String)] { base.filter { $0.0 != key } + [(key, value)] }
        switch name {
        case "wrong secret": return (replacing("client_secret", "wrong-secret-value-000"), 7_000_215, "invalid_client")
        case "scope without /.default": return (replacing("scope", "https://database.windows.net//Data.Read"), 1_002_012, "invalid_scope")
        case "unknown resource": return (replacing("scope", "api://nothing-here/.default"), 500011, "invalid_resource")
        case "duplicate scope": return (base + [("scope", "https://database.windows.net//.default")], 9_002_313, "invalid_request")
        case "RFC 8707 resource naming another resource":
            return (base + [("resource", "api://contoso-expenses-api")], 9_010_010, "invalid_target")
        case "two authentication methods": return (base + [("client_assertion", "a.b.c")], 9_002_313, "invalid_request")
        case "missing scope": return (base.filter { $0.0 != "scope" }, 900144, "invalid_request")
        default: fatalError("unknown case \(name)")
        }
    }

    @Test(
        "Each documented client_credentials failure answers with Entra's code and status",
        arguments: [
            "wrong secret", "scope without /.default", "unknown resource", "duplicate scope",
            "RFC 8707 resource naming another resource", "two authentication methods", "missing scope",
        ])
    func failures(_ name: String) async throws {
        let (p, code, error) = Self.failureCase(name, params())
        let f = try await GrantsFixture.make()
        let e = try #require(await f.failure(p))
        #expect(e.aadsts == code)
        #expect(e.error.rawValue == error)
        #expect(e.status == (error == "invalid_client" ? 401 : 400))
    }

    @Test("A public client, an unknown client and a missing grant_type are refused")
    func refusesWrongClients() async throws {
        let f = try await GrantsFixture.make()
        let pub = try #require(
            await f.failure([
                ("grant_type", "client_credentials"), ("client_id", GrantsFixture.app("cli").appId),
                ("scope", "https://database.windows.net//.default"),
            ]))
        #expect(pub.aadsts == 7_000_218)
        let unknown = try #require(
            await f.failure([
                ("grant_type", "client_credentials"), ("client_id", "00000000-0000-0000-0000-000000000000"), ("client_secret", "x"),
                ("scope", "a/.default"),
            ]))
        #expect(unknown.aadsts == 700016)
        let noGrant = try #require(await f.failure([("client_id", reports.appId)]))
        #expect(noGrant.aadsts == 900144)
        let unsupported = try #require(await f.failure([("grant_type", "magic"), ("client_id", reports.appId)]))
        #expect(unsupported.aadsts == 70003 && unsupported.error == .unsupportedGrantType)
        let tenant = await f.token(params(), tenant: "fabrikam.com")
        #expect(throws: OAuthError.tenantNotFound("fabrikam.com")) { try tenant.get() }
    }

    @Test("Every attempt, successful or not, leaves one sign-in record")
    func signInLog() async throws {
        let f = try await GrantsFixture.make()
        _ = try await f.success(params())
        _ = await f.failure(params(secret: "wrong-secret-value-000"))
        let records = try await f.store.recentSignIns(limit: 10)
        #expect(records.count == 2)
        let failed = try #require(records.first { $0.status.errorCode == 7_000_215 })
        #expect(failed.appId == reports.appId && failed.correlationId == "corr-1")
        let ok = try #require(records.first { $0.status.errorCode == 0 })
        #expect(ok.resourceId == dataApi.appId && ok.signInEventTypes == ["servicePrincipal"] && ok.uniqueTokenIdentifier != nil)
        #expect(ok.clientCredentialType == "clientSecret" && ok.conditionalAccessStatus == "notApplied")
    }

    @Test("The common tenant resolves to the tenant where the client is registered")
    func commonTenant() async throws {
        let f = try await GrantsFixture.make()
        let r = await f.token(params(), tenant: "common")
        let token = try r.get().accessToken
        #expect(try UnverifiedJWT(token).string("tid") == DemoTenant.tenantID)
    }

    @Test("A resource without requestedAccessTokenVersion gets a v1 token, as in Entra")
    func v1Tokens() async throws {
        let f = try await GrantsFixture.make { d in
            let i = d.applications.firstIndex { $0.appId == DemoTenant.app("dataApi").appId }!
            d.applications[i].api?.requestedAccessTokenVersion = nil
        }
        let token = try await f.success(params()).accessToken
        let jwt = try UnverifiedJWT(token)
        #expect(jwt.string("ver") == "1.0")
        #expect(jwt.string("iss") == "http://127.0.0.1:7400/\(DemoTenant.tenantID)/")
        #expect(jwt.string("aud") == "https://database.windows.net/")
        #expect(jwt.string("appid") == reports.appId && jwt.string("appidacr") == "1")
        #expect(jwt.header["x5t"]?.stringValue == jwt.header["kid"]?.stringValue)
    }

    @Test("After a key rotation tokens use the new key and the JWKS still publishes the old one")
    func keyRotation() async throws {
        let f = try await GrantsFixture.make()
        let before = try UnverifiedJWT(try await f.success(params()).accessToken).header["kid"]?.stringValue
        let rotated = try await SigningKeyManager(store: f.store, time: f.time).rotate()
        let after = try UnverifiedJWT(try await f.success(params()).accessToken).header["kid"]?.stringValue
        #expect(after == rotated.kid && before != after)
        let kids = try await f.authority.jwks(tenantID: DemoTenant.tenantID, v2: true)["keys"]?.arrayValue?.compactMap {
            $0.objectValue?["kid"]?.stringValue
        }
        #expect(Set(kids ?? []) == Set([before!, after!]))
        f.time.advance(by: 86_400 + 60)
        let later = try await f.authority.keys.snapshot(generation: -2)
        #expect(later.published.map(\.kid) == [after!])
    }
}
