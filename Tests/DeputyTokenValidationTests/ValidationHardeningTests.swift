import DeputyAuthority
import DeputyCore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DeputyTokenValidation

/// The validation library's answers to a security review: token kinds decided as Entra's guidance
/// says, `crit` and future `iat` refused, the discovered issuer held to the configured authority,
/// and a multi-tenant validator that must say which tenants it trusts.
@Suite("Validation hardening")
struct ValidationHardeningTests {
    /// Token shapes from Microsoft Learn's access-token claims reference, by what each is.
    static let shapes: [(String, [String: JSONValue], ValidatedToken.Kind)] = [
        ("v2 delegated token with scp", ["scp": "User.Read", "oid": "user-oid", "sub": "pairwise", "azp": "client"], .userAccessToken),
        (
            "v2 user token carrying user-assigned roles and no scp",
            ["roles": ["Approver"], "oid": "user-oid", "sub": "pairwise", "azp": "client"], .userAccessToken
        ),
        (
            "v1 user token carrying roles and no scp",
            ["roles": ["Approver"], "oid": "user-oid", "sub": "pairwise", "appid": "client", "ver": "1.0"], .userAccessToken
        ),
        (
            "v2 app-only token without idtyp (oid == sub, roles)",
            ["roles": ["Data.Read.All"], "oid": "sp-oid", "sub": "sp-oid", "azp": "client"],
            .appOnlyAccessToken
        ),
        ("v2 app-only token without roles (oid == sub)", ["oid": "sp-oid", "sub": "sp-oid", "azp": "client"], .appOnlyAccessToken),
        ("idtyp app", ["idtyp": "app", "roles": ["R"], "oid": "sp-oid", "sub": "sp-oid", "azp": "client"], .appOnlyAccessToken),
        (
            "idtyp user without scp (roles only)",
            ["idtyp": "user", "roles": ["R"], "oid": "user-oid", "sub": "pairwise", "azp": "client"],
            .userAccessToken
        ),
        ("idtyp user wins over oid == sub", ["idtyp": "user", "oid": "x", "sub": "x", "azp": "client"], .userAccessToken),
        ("scp wins over idtyp app", ["idtyp": "app", "scp": "User.Read", "oid": "x", "sub": "y", "azp": "client"], .userAccessToken),
        ("ID token (no client claim, no scp)", ["oid": "user-oid", "sub": "pairwise", "nonce": "n", "aud": "client"], .idToken),
        (
            "ID token carrying roles (no client claim)", ["roles": ["Approver"], "oid": "user-oid", "sub": "pairwise", "aud": "client"],
            .idToken
        ),
    ]

    @Test(
        "Token kinds follow Entra's rule: scp, then idtyp, then oid == sub for app-only; roles alone never make an application",
        arguments: shapes.indices)
    func kinds(_ i: Int) {
        let (name, claims, expected) = Self.shapes[i]
        let token = ValidatedToken(raw: "", header: ["typ": "JWT"], claims: claims)
        #expect(token.kind == expected, "\(name)")
    }

    @Test("A user token with roles and no scp does not pass as an application principal at a resource")
    func rolesWithoutScopeAreNotAnApplication() async throws {
        try await ResourceValidatorTests.withIssuer({ $0.acceptedKinds = [.appOnly] }) { issuer, validator in
            let token = try issuer.token {
                $0["scp"] = nil
                $0["roles"] = .array([.string("Data.Read.All")])
            }
            await #expect(throws: ResourceValidationError.invalidToken("Delegated (user) tokens are not accepted here.")) {
                try await validator.validate(token)
            }
        }
        try await ResourceValidatorTests.withIssuer { issuer, validator in
            let token = try issuer.token {
                $0["scp"] = nil
                $0["roles"] = .array([.string("Data.Read.All")])
            }
            #expect(try await validator.validate(token).kind == .user)
        }
    }

    @Test("A crit header naming an extension is refused (RFC 7515 §4.1.11), whatever the extension")
    func critRefused() async throws {
        let f = try await TokenValidatorTests.Fixture()
        let claims = try UnverifiedJWT(try f.token()).claims
        for crit: JSONValue in [["exp"], ["b64"], ["x-deputy"], []] {
            let token = try f.key.sign(claims: claims, extraHeader: ["crit": crit, "b64": false])
            await #expect(throws: TokenValidationError.criticalHeaderNotUnderstood(crit.arrayValue!.compactMap(\.stringValue))) {
                try await f.validator.validate(token, policy: f.policy)
            }
        }
    }

    @Test("A token issued in the future beyond the skew is refused; within the skew it passes")
    func iatInTheFuture() async throws {
        let f = try await TokenValidatorTests.Fixture()
        let now = f.time.now().timeIntervalSince1970
        _ = try await f.validator.validate(try f.token { $0["iat"] = .number(now + 299) }, policy: f.policy)
        let future = try f.token { $0["iat"] = .number(now + 3600) }
        do {
            _ = try await f.validator.validate(future, policy: f.policy)
            Issue.record("a token issued an hour ahead was accepted")
        } catch {
            guard case .issuedInFuture = error else {
                Issue.record("expected issuedInFuture, got \(error)")
                return
            }
        }
    }

    @Test("The discovered issuer must be the configured authority's: same host, the tenant it names, {tenantid} only for common")
    func issuerRules() throws {
        let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
        let other = "22222222-2222-2222-2222-222222222222"
        let single = try #require(IssuerRules(authority: "https://login.microsoftonline.com/\(guid)/v2.0"))
        #expect(single.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/\(guid)/v2.0") == nil)
        #expect(single.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/\(guid.uppercased())/v2.0") == nil)
        #expect(single.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/\(other)/v2.0") != nil, "another tenant")
        #expect(
            single.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/{tenantid}/v2.0") != nil, "a template for one tenant")
        #expect(single.problem(withDiscoveredIssuer: "https://evil.example/\(guid)/v2.0") != nil, "another host")
        #expect(single.problem(withDiscoveredIssuer: "http://login.microsoftonline.com/\(guid)/v2.0") != nil, "another scheme")
        #expect(single.problem(withDiscoveredIssuer: "https://sts.windows.net/\(guid)/") == nil, "Entra's v1.0 metadata")
        let byDomain = try #require(IssuerRules(authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"))
        #expect(byDomain.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/\(guid)/v2.0") == nil)
        #expect(
            byDomain.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0") != nil, "not an id")
        let common = try #require(IssuerRules(authority: "https://login.microsoftonline.com/common/v2.0"))
        #expect(common.isMultiTenant)
        #expect(common.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/{tenantid}/v2.0") == nil)
        #expect(common.problem(withDiscoveredIssuer: "https://login.microsoftonline.com/\(guid)/v2.0") != nil, "one tenant for common")
        let deputy = try #require(IssuerRules(authority: "http://127.0.0.1:7400/contoso.com/v2.0"))
        #expect(deputy.problem(withDiscoveredIssuer: "http://127.0.0.1:7400/\(guid)/v2.0") == nil)
        #expect(deputy.problem(withDiscoveredIssuer: "http://127.0.0.1:7401/\(guid)/v2.0") != nil, "another port")
    }

    @Test("Metadata naming another issuer is refused: the API answers 503 and accepts none of its tokens")
    func discoveredIssuerMismatch() async throws {
        let issuer = try EntraShapedIssuer()
        let port = LockedBox(0)
        let app = Application(
            router: issuer.router { port.withLock { $0 } }, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            port.withLock { $0 = client.port! }
            // The metadata (and the tokens) name Entra's host, not the authority's.
            var config = ResourceConfiguration(authority: "http://127.0.0.1:\(client.port!)/common/v2.0", audiences: ["api://contoso-api"])
            config.allowAnyTenant = true
            let validator = try ResourceValidator(config)
            do {
                _ = try await validator.validate(try issuer.token())
                Issue.record("a token was accepted on a foreign issuer's metadata")
            } catch let error as ResourceValidationError {
                guard case .keysUnavailable(let reason) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(reason.contains("not on the configured authority's host"))
            }
        }
    }

    @Test("A template issuer is filled only with a tenant id: a tid that is not a GUID is refused")
    func tidMustBeAGUID() async throws {
        try await ResourceValidatorTests.withIssuer { issuer, validator in
            let token = try issuer.token { c in
                c["tid"] = .string("common/../evil")
                c["iss"] = .string(issuer.base.withLock { $0 } + "/common/../evil/v2.0")
            }
            await #expect(throws: ResourceValidationError.self) { try await validator.validate(token) }
        }
    }

    @Test("A multi-tenant validator refuses to start without allowedTenants or an explicit allowAnyTenant")
    func multiTenantNeedsAChoice() throws {
        for authority in ["https://login.microsoftonline.com/common/v2.0", "https://login.microsoftonline.com/organizations/v2.0"] {
            let config = ResourceConfiguration(authority: authority, audiences: ["api://a"])
            #expect(throws: ResourceConfigurationError.self) { try ResourceValidator(config) }
            var listed = config
            listed.allowedTenants = ["72f988bf-86f1-41af-91ab-2d7cd011db47"]
            _ = try ResourceValidator(listed)
            var any = config
            any.allowAnyTenant = true
            _ = try ResourceValidator(any)
        }
        var templated = ResourceConfiguration(authority: "https://login.microsoftonline.com/common/v2.0", audiences: ["api://a"])
        templated.keys = .jwks(json: #"{"keys":[]}"#, issuer: "https://login.microsoftonline.com/{tenantid}/v2.0")
        #expect(throws: ResourceConfigurationError.self) { try ResourceValidator(templated) }
        _ = try ResourceValidator(
            ResourceConfiguration(authority: "https://login.microsoftonline.com/contoso.com/v2.0", audiences: ["api://a"]))
        #expect(throws: ResourceConfigurationError.self) {
            try ResourceValidator(ResourceConfiguration(authority: "not a url", audiences: ["api://a"]))
        }
        #expect(throws: ResourceConfigurationError.self) {
            try ResourceValidator(ResourceConfiguration(authority: "https://login.microsoftonline.com/contoso.com/v2.0", audiences: []))
        }
    }
}
