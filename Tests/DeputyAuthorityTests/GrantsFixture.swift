import Crypto
import CryptoExtras
import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import JWTKit
import Testing

@testable import DeputyAuthority

/// An authority on the embedded demo tenant, in memory, with a clock the test moves.
struct GrantsFixture {
    let authority: Authority
    let time: ManualTimeSource
    let store: RecordStore
    let demo = DemoTenant(portBase: 7400, https: false)

    static func make(
        strict: Bool = false, mcpSpec: Bool = false, store: RecordStore = .inMemory(), time: ManualTimeSource? = nil,
        edit: ((inout TenantDirectory) -> Void)? = nil,
        configure: ((inout AuthorityConfiguration) -> Void)? = nil
    ) async throws -> GrantsFixture {
        var demo = DemoTenant(portBase: 7400, https: false)
        demo.strict = strict
        demo.mcpSpec = mcpSpec
        var file = try TenantFileLoader.load(yaml: demo.yaml, fileName: "demo.yaml")
        if let edit { edit(&file.tenants[0]) }
        let time = time ?? ManualTimeSource(Date())
        var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
        configuration.passwordHashCost = 4
        configure?(&configuration)
        let (authority, _) = try await Authority.open(
            configuration: configuration,
            store: store, tenantFile: file, time: time)
        await authority.passwords.waitForHashing()
        return GrantsFixture(authority: authority, time: time, store: store)
    }

    static let tenant = DemoTenant.tenantID
    static func app(_ key: String) -> DemoTenant.DemoApp { DemoTenant.app(key) }
    static func user(_ key: String) -> DemoTenant.DemoUser { DemoTenant.user(key) }

    func token(
        _ params: [(String, String)], tenant: String = "contoso.com", origin: String? = nil,
        authorization: String? = nil, correlation: String = "corr-1"
    ) async -> Result<TokenResponse, OAuthError> {
        await authority.token(
            TokenRequest(
                tenantSegment: tenant, form: FormParameters(params), authorizationHeader: authorization,
                origin: origin, correlationID: correlation, ipAddress: "127.0.0.1"))
    }

    func success(
        _ params: [(String, String)], origin: String? = nil, authorization: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TokenResponse {
        switch await token(params, origin: origin, authorization: authorization) {
        case .success(let r): return r
        case .failure(let e):
            Issue.record("expected a token, got \(e)", sourceLocation: sourceLocation)
            throw e
        }
    }

    func failure(
        _ params: [(String, String)], origin: String? = nil, authorization: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> OAuthError? {
        switch await token(params, origin: origin, authorization: authorization) {
        case .success:
            Issue.record("expected an error, got a token", sourceLocation: sourceLocation)
            return nil
        case .failure(let e): return e
        }
    }

    /// Claims of a token after verifying it with jwt-kit against the authority's JWKS.
    func verifiedClaims(_ token: String) async throws -> [String: JSONValue] {
        let jwks = try await authority.jwks(tenantID: DemoTenant.tenantID, v2: true)
        let data = try JSONEncoder().encode(JSONValue.object(jwks))
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: String(decoding: data, as: UTF8.self))
        _ = try await keys.verify(token, as: OpaquePayload.self)
        return try UnverifiedJWT(token).claims
    }

    // MARK: Interactive sign-in through the engine

    struct Browser {
        var cookies: [String: String] = [:]
        mutating func absorb(_ set: [DeputyAuthority.Cookie]) {
            for c in set { if c.maxAge == 0 { cookies[c.name] = nil } else { cookies[c.name] = c.value } }
        }
    }

    /// Runs authorize + sign-in and returns the redirect's parameters.
    /// - Parameter consent: accept the consent page if the authority shows one.
    func signIn(
        clientID: String, redirectURI: String, scope: String, user: DemoTenant.DemoUser, extra: [(String, String)] = [],
        browser: inout Browser, consent: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: String] {
        let interactive = InteractiveSignIn(authority: authority)
        var q: [(String, String)] = [
            ("client_id", clientID), ("redirect_uri", redirectURI), ("response_type", "code"), ("scope", scope),
            ("state", "s1"),
        ]
        q = q.filter { pair in !extra.contains { $0.0 == pair.0 } } + extra
        let start = await interactive.authorize(
            BrowserRequest(
                tenantSegment: "contoso.com", parameters: FormParameters(q),
                cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        var result = start
        if case .signIn(let page, let cookies) = start {
            browser.absorb(cookies)
            result = await interactive.submitSignIn(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([
                        ("flow", page.flowID), ("csrf_token", page.csrfToken), ("username", user.upn), ("password", user.password),
                    ]),
                    cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        }
        if consent, case .consent(let page, let cookies) = result {
            browser.absorb(cookies)
            result = await interactive.submitConsent(
                BrowserRequest(
                    tenantSegment: DemoTenant.tenantID,
                    parameters: FormParameters([("flow", page.flowID), ("csrf_token", page.csrfToken), ("decision", "accept")]),
                    cookies: browser.cookies, correlationID: "c", ipAddress: nil))
        }
        guard case .respond(let response, let cookies) = result else {
            Issue.record("expected a response to the client, got \(result)", sourceLocation: sourceLocation)
            throw OAuthError.signInFlowExpired()
        }
        browser.absorb(cookies)
        return Dictionary(response.parameters, uniquingKeysWith: { a, _ in a })
    }
}

extension GrantsFixture {
    /// The demo agent identity's credential (T1): its blueprint's client credentials with fmi_path.
    func agentCredential(
        agent: String = DemoTenant.app("agent").appId, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let blueprint = DemoTenant.app("agentBlueprint")
        return try await success(
            [
                ("grant_type", "client_credentials"), ("client_id", blueprint.appId), ("client_secret", blueprint.secret!),
                ("scope", "api://AzureADTokenExchange/.default"), ("fmi_path", agent),
            ], sourceLocation: sourceLocation
        ).accessToken
    }

    /// The parameters that authenticate an agent identity with its credential.
    static func agentAuthentication(_ credential: String, agent: String = DemoTenant.app("agent").appId) -> [(String, String)] {
        [
            ("client_id", agent), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", credential),
        ]
    }

    /// The id of the demo policy "Require MFA for Contoso SQL".
    static let mfaPolicyID = SignInDriver.mfaPolicyID

    /// A user's access token from the public CLI app through the interactive pages, answering the
    /// claims challenge of the demo's MFA policy (password, then the TOTP code), as a client does
    /// after a middle tier relays AADSTS50076. The token carries `amr` pwd, mfa, otp.
    func mfaUserToken(
        _ user: DemoTenant.DemoUser, scope: String = "api://contoso-expenses-api/access_as_user",
        claims: String = SignInDriver.mfaChallenge
    ) async throws -> String {
        // Each sign-in uses the next time step: a code is accepted once (RFC 6238 §5.2).
        try await SignInDriver.token(authority: authority, user: user, scope: scope, claims: claims) { time.advance(by: TOTP.period) }
    }

    func failure(_ message: String, _ location: SourceLocation) -> OAuthError {
        Issue.record(Comment(rawValue: message), sourceLocation: location)
        return OAuthError.signInFlowExpired()
    }
}

/// Any JWT payload (claims are checked through `UnverifiedJWT` after jwt-kit verified the signature).
struct OpaquePayload: JWTPayload {
    func verify(using algorithm: some JWTAlgorithm) async throws {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
}

/// PKCE helpers.
enum TestPKCE {
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXkdBjftJeZ4"
    static var challenge: String { Base64URL.encode(SHA256.hash(data: Data(verifier.utf8))) }
}

extension JSONValue {
    var string: String? { stringValue }
    var strings: [String] { arrayValue?.compactMap(\.stringValue) ?? [] }
}
