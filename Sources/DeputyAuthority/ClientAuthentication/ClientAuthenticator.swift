import Crypto
import CryptoExtras
import DeputyCore
import DeputyTokenValidation
import Foundation

/// A client identified (and, when it sent a credential, authenticated) at the token endpoint.
public struct AuthenticatedClient: Sendable {
    /// The client's registration; for an agent identity, its client view (no credentials).
    public var application: Application
    public var servicePrincipal: ServicePrincipal?
    public var credential: ClientCredentialKind
    /// Set when the client is an agent identity, authenticated by a token its blueprint got for it.
    public var agent: AgentClient?

    /// Whether the client proved its identity with a secret or certificate.
    public var isConfidential: Bool { credential != .none }

    public init(application: Application, servicePrincipal: ServicePrincipal?, credential: ClientCredentialKind, agent: AgentClient? = nil)
    {
        self.application = application
        self.servicePrincipal = servicePrincipal
        self.credential = credential
        self.agent = agent
    }
}

/// An agent identity at the token endpoint and the blueprint it belongs to.
public struct AgentClient: Sendable {
    public var identity: ServicePrincipal
    public var blueprint: Application
}

/// Client authentication at the token endpoint (RFC 6749 §2.3; RFC 7523 §2.2 for
/// private_key_jwt): client_secret_post, client_secret_basic, private_key_jwt with RS256 + `x5t`
/// or PS256 + `x5t#S256`, and public clients with nothing.
struct ClientAuthenticator {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    let authority: Authority

    func authenticate(_ request: TokenRequest, tenant: DirectoryIndex, draft: SignInDraft? = nil) async throws -> AuthenticatedClient {
        let form = request.form
        var basic: (id: String, secret: String)?
        if let header = request.authorizationHeader, header.lowercased().hasPrefix("basic ") {
            guard let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"),
                let id = FormParameters.decode(text[..<colon]), let secret = FormParameters.decode(text[text.index(after: colon)...])
            else { throw OAuthError.malformedRequest("The Authorization header is not valid HTTP Basic credentials.") }
            basic = (id, secret)
        }
        let assertion = form["client_assertion"]
        // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
        let methods = [basic != nil, form["client_secret"] != nil, assertion != nil].filter { $0 }.count
        if methods > 1 { throw OAuthError.malformedRequest("More than one client authentication method was used.") }

        var clientID = form["client_id"] ?? basic?.id
        if clientID == nil, let assertion, let jwt = try? UnverifiedJWT(assertion) { clientID = jwt.string("sub") ?? jwt.string("iss") }
        guard let clientID else { throw OAuthError.missingParameter("client_id") }
        if let basicID = basic?.id, let formID = form["client_id"], basicID != formID {
            throw OAuthError.malformedRequest("client_id in the body differs from the Basic credentials.")
        }
        if let agent = tenant.agentIdentity(appID: clientID) {
            return try await authenticateAgent(agent, request: request, basicSecret: basic?.secret, tenant: tenant, draft: draft)
        }
        guard let app = tenant.application(appID: clientID) else { throw OAuthError.unknownClient(clientID, tenant: request.tenantSegment) }
        let sp = tenant.servicePrincipal(appID: app.appId)
        draft?.client(app, credential: .none)
        if let secret = form["client_secret"] ?? basic?.secret {
            try checkSecret(secret, app: app)
            return AuthenticatedClient(application: app, servicePrincipal: sp, credential: .secret)
        }
        if let assertion {
            guard form["client_assertion_type"] == ClientAuthenticator.assertionType else {
                throw OAuthError.invalidParameter("client_assertion_type", "Expected '\(ClientAuthenticator.assertionType)'.")
            }
            // A federated credential: a token of another issuer (a certificate assertion has iss = the
            // client id), for the exchange audience or an issuer the app trusts.
            if let jwt = try? UnverifiedJWT(assertion), jwt.string("iss") != app.appId,
                ClientAuthenticator.audiences(of: jwt).contains(where: ClientAuthenticator.federatedAudiences.contains)
                    || (app.federatedIdentityCredentials ?? []).contains(where: { $0.issuer == jwt.string("iss") })
            {
                try await checkFederated(jwt, assertion: assertion, app: app, tenant: tenant)
                draft?.client(app, credential: .federated)
                return AuthenticatedClient(application: app, servicePrincipal: sp, credential: .federated)
            }
            try await checkAssertion(assertion, app: app, request: request, tenant: tenant)
            return AuthenticatedClient(application: app, servicePrincipal: sp, credential: .certificate)
        }
        return AuthenticatedClient(application: app, servicePrincipal: sp, credential: .none)
    }

    /// An agent identity authenticates with one thing only (Microsoft Learn, "Agent OBO flow",
    /// "Autonomous agent flow"): `client_assertion` = T1, the token its blueprint got for it with
    /// `fmi_path`. T1 is signed by this authority, for the token-exchange audience, with `sub` =
    /// this agent identity and `azp` = its blueprint. T1 is reusable until it expires (MSAL.NET
    /// and Microsoft.Identity.Web cache it), so replay means use outside that purpose.
    func authenticateAgent(
        _ agent: ServicePrincipal, request: TokenRequest, basicSecret: String?, tenant: DirectoryIndex,
        draft: SignInDraft?
    ) async throws -> AuthenticatedClient {
        guard let view = tenant.clientView(ofAgent: agent) else {
            throw OAuthError.unknownClient(agent.appId, tenant: request.tenantSegment)
        }
        guard let blueprint = tenant.blueprint(of: agent) else {
            throw OAuthError.unknownClient(agent.appId, tenant: request.tenantSegment)
        }
        draft?.client(view, credential: .none)
        // What the agent is doing, as far as the request says before the grant runs (a refusal
        // during authentication is logged with it).
        let form = request.form
        let action: SignInDraft.AgentAction
        switch form["grant_type"] {
        case "client_credentials":
            action = DirectoryIndex.isTokenExchangeScope(form["scope"]) ? .ownCredential : .autonomous
        case "user_fic": action = .asAgentUser
        default: action = form["username"] != nil || form["user_id"] != nil ? .asAgentUser : .forUser
        }
        draft?.agent(action, identity: agent, blueprint: blueprint)
        if request.form["client_secret"] != nil || basicSecret != nil {
            draft?.client(view, credential: .secret)
            throw OAuthError.agentIdentityHasNoCredentials(appID: agent.appId)
        }
        guard let assertion = request.form["client_assertion"] else { throw OAuthError.missingClientCredential() }
        guard request.form["client_assertion_type"] == ClientAuthenticator.assertionType else {
            throw OAuthError.invalidParameter("client_assertion_type", "Expected '\(ClientAuthenticator.assertionType)'.")
        }
        guard agent.isEnabled, tenant.servicePrincipal(appID: blueprint.appId)?.isEnabled ?? true else {
            throw OAuthError.agentIdentityDisabled(appID: agent.appId)
        }
        let token: ValidatedToken
        do {
            token = try await AssertionValidator(authority: authority, tenant: tenant).agentCredential(assertion, use: .clientAssertion)
        } catch let error as OAuthError {
            // The agent's own certificate assertion (iss = sub = its id) or a federated token of another issuer.
            if let jwt = try? UnverifiedJWT(assertion), jwt.string("iss") != authority.configuration.issuerV2(tenantID: tenant.tenantID) {
                throw OAuthError.agentIdentityHasNoCredentials(appID: agent.appId)
            }
            throw error
        }
        let subject = token.string("sub") ?? ""
        let issuedTo = token.clientID ?? ""
        // A T2 (the agent identity's own exchange token, for user_fic) is not a client credential.
        if issuedTo.lowercased() == agent.appId.lowercased() {
            throw OAuthError.agentTokenMisused(
                "A user federated identity credential (a token the agent identity got for itself) is not a client credential; use the token its blueprint got for it with fmi_path."
            )
        }
        guard subject.lowercased() == agent.appId.lowercased() else {
            throw OAuthError.agentCredentialForOtherAgent(subject: subject, expected: agent.appId)
        }
        guard issuedTo.lowercased() == blueprint.appId.lowercased() else {
            throw OAuthError.agentCredentialFromOtherBlueprint(issuedTo: issuedTo, expected: blueprint.appId)
        }
        draft?.client(view, credential: .federated)
        return AuthenticatedClient(
            application: view, servicePrincipal: agent, credential: .federated,
            agent: AgentClient(identity: agent, blueprint: blueprint))
    }

    /// The client id a request names (body, Basic credentials or assertion), before any check:
    /// used to find the tenant behind `common`.
    static func clientIDHint(_ request: TokenRequest) -> String? {
        if let id = request.form["client_id"] { return id }
        if let header = request.authorizationHeader, header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        {
            return FormParameters.decode(text[..<colon])
        }
        return request.form["client_assertion"].flatMap { try? UnverifiedJWT($0).string("sub") }
    }

    /// Audiences that mark a client assertion as a federated credential rather than a certificate assertion.
    static let federatedAudiences: Set<String> = ["api://AzureADTokenExchange"]

    static func audiences(of jwt: UnverifiedJWT) -> [String] {
        jwt.string("aud").map { [$0] } ?? jwt.claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Workload identity federation (Graph "federatedIdentityCredential resource type"): the assertion is a
    /// token of a trusted issuer
    /// whose `iss`, `sub` and `aud` match one of the app's federatedIdentityCredentials
    /// (AADSTS70021 otherwise), signed by that issuer's keys (inline `jwks`), or — for this
    /// authority's own issuer — by this authority, and then app-only (AADSTS700229).
    func checkFederated(_ jwt: UnverifiedJWT, assertion: String, app: Application, tenant: DirectoryIndex) async throws {
        let iss = jwt.string("iss") ?? ""
        let sub = jwt.string("sub") ?? ""
        let audiences = ClientAuthenticator.audiences(of: jwt)
        guard
            let fic = (app.federatedIdentityCredentials ?? []).first(where: { fic in
                fic.issuer == iss && fic.subject == sub && audiences.contains(where: fic.acceptedAudiences.contains)
            })
        else {
            throw OAuthError.noMatchingFederatedCredential(issuer: iss, subject: sub)
        }
        let policy = ValidationPolicy(
            issuers: [fic.issuer], audiences: Set(fic.acceptedAudiences), algorithms: ["RS256", "PS256", "ES256"],
            clockSkew: authority.configuration.clockSkew)
        let ownIssuers = [
            authority.configuration.issuerV2(tenantID: tenant.tenantID), authority.configuration.issuerV1(tenantID: tenant.tenantID),
        ]
        let token: ValidatedToken
        do {
            if let jwks = fic.jwks {
                let keys: KeySet
                do { keys = try await TokenValidator.keys(jwksJSON: String(decoding: jwks.serialized, as: UTF8.self)) } catch {
                    throw OAuthError.invalidClientAssertion(
                        "The federated credential '\(fic.name)' has keys that cannot be imported: \(error)")
                }
                token = try await TokenValidator(keys: keys, time: authority.time).validate(assertion, policy: policy)
            } else if let uri = fic.jwksUri {
                token = try await authority.remoteKeySets.keySet(for: uri, time: authority.time).validate(assertion, policy: policy)
            } else if ownIssuers.contains(fic.issuer) {
                token = try await authority.currentKeys().validator.validate(assertion, policy: policy)
            } else {
                throw OAuthError.invalidClientAssertion(
                    "The federated credential '\(fic.name)' has no keys for issuer '\(fic.issuer)' (give jwks or jwksUri).")
            }
        } catch let error as TokenValidationError {
            switch error {
            case .expired(let now, let expiry): throw OAuthError.clientAssertionOutsideLifetime(now: now, notBefore: nil, expiry: expiry)
            case .notYetValid(let now, let nbf): throw OAuthError.clientAssertionOutsideLifetime(now: now, notBefore: nbf, expiry: nil)
            default: throw OAuthError.invalidClientAssertion(error.description)
            }
        } catch let error as RemoteKeySet.FetchError {
            throw OAuthError.invalidClientAssertion("The issuer's keys could not be fetched: \(error.description)")
        }
        if ownIssuers.contains(fic.issuer), token.kind != .appOnlyAccessToken { throw OAuthError.forbiddenFederatedTokenType() }
    }

    func checkSecret(_ secret: String, app: Application) throws(OAuthError) {
        let now = authority.time.now()
        var matchedExpired = false
        for cred in app.passwordCredentials ?? [] {
            guard let hash = cred.hashedSecret, ClientSecret.matches(secret, hash: hash) else { continue }
            if let end = cred.endDateTime, end < now {
                matchedExpired = true
                continue
            }
            return
        }
        if matchedExpired { throw .expiredClientSecret(appID: app.appId) }
        throw .invalidClientSecret(appID: app.appId)
    }

    /// private_key_jwt (RFC 7523; Microsoft Learn, "Microsoft identity platform application authentication
    /// certificate credentials"): header `alg` RS256 with `x5t` (SHA-1) or
    /// PS256 with `x5t#S256`; `iss` = `sub` = client id; `aud` = this tenant's token endpoint;
    /// lifetime checked with skew; `jti` single use. MSAL Python sends float `iat`/`exp` and
    /// padded base64url thumbprints; both are accepted.
    func checkAssertion(_ assertion: String, app: Application, request: TokenRequest, tenant: DirectoryIndex) async throws {
        // The same bound as for every other token the authority reads, before any parsing.
        guard assertion.utf8.count <= TokenValidator.maximumTokenSize else {
            throw OAuthError.invalidClientAssertion("The assertion is larger than \(TokenValidator.maximumTokenSize) bytes.")
        }
        let jwt: UnverifiedJWT
        do { jwt = try UnverifiedJWT(assertion) } catch { throw OAuthError.invalidClientAssertion(error.description) }
        let config = authority.configuration
        let now = authority.time.now()
        guard jwt.string("iss") == app.appId, jwt.string("sub") == app.appId else {
            throw OAuthError.invalidClientAssertion("The assertion's iss and sub must both be the client id '\(app.appId)'.")
        }
        let audiences: [String] = jwt.string("aud").map { [$0] } ?? jwt.claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let accepted = Set([request.tenantSegment, tenant.tenantID] + tenant.tenant.verifiedDomains).map {
            config.tokenEndpoint(tenant: $0).lowercased()
        }
        guard audiences.contains(where: { accepted.contains($0.lowercased()) }) else {
            throw OAuthError.clientAssertionAudience(
                expected: config.tokenEndpoint(tenant: tenant.tenantID), got: audiences.joined(separator: " "))
        }
        let exp = jwt.date("exp")
        let nbf = jwt.date("nbf")
        guard let exp, exp + config.clockSkew > now, (nbf ?? .distantPast) - config.clockSkew <= now else {
            throw OAuthError.clientAssertionOutsideLifetime(now: now, notBefore: nbf, expiry: exp)
        }
        if let iat = jwt.date("iat"), iat - config.clockSkew > now {
            throw OAuthError.invalidClientAssertion("The assertion was issued in the future (iat \(iat)).")
        }
        guard let alg = jwt.header["alg"]?.stringValue, alg == "RS256" || alg == "PS256" else {
            throw OAuthError.invalidClientAssertion("The algorithm must be RS256 or PS256.")
        }
        // RFC 7515 §4.1.11: extensions named in `crit` must be understood; Deputy understands none.
        if jwt.header["crit"] != nil {
            throw OAuthError.invalidClientAssertion("The header's crit names extensions this service does not understand.")
        }
        // Read leniently (padding, standard base64): a thumbprint only selects the certificate, and
        // MSAL Python pads `x5t#S256`.
        let sha1 = jwt.header["x5t"]?.stringValue.flatMap(Base64URL.decodeLenient)
        let sha256 = jwt.header["x5t#S256"]?.stringValue.flatMap(Base64URL.decodeLenient)
        guard sha1 != nil || sha256 != nil else { throw OAuthError.invalidClientAssertion("The header must carry x5t or x5t#S256.") }
        let certs = (app.keyCredentials ?? []).compactMap { k -> ClientCertificate? in
            if let end = k.endDateTime, end < now { return nil }
            return try? ClientCertificate(encoded: k.key)
        }
        guard
            let cert = certs.first(where: { ($0.sha1Thumbprint == sha1 && sha1 != nil) || ($0.sha256Thumbprint == sha256 && sha256 != nil) }
            ),
            let key = cert.rsaPublicKey
        else {
            throw OAuthError.invalidClientAssertion(
                "The key was not found. No certificate with thumbprint '\(jwt.header["x5t"]?.stringValue ?? jwt.header["x5t#S256"]?.stringValue ?? "")' is registered for app '\(app.appId)'."
            )
        }
        let padding: _RSA.Signing.Padding = alg == "PS256" ? .PSS : .insecurePKCS1v1_5
        guard key.isValidSignature(.init(rawRepresentation: jwt.signature), for: Data(jwt.signingInput.utf8), padding: padding) else {
            throw OAuthError.invalidClientAssertion("The provided signature value did not match the expected signature value.")
        }
        guard let jti = jwt.string("jti"), !jti.isEmpty else { throw OAuthError.invalidClientAssertion("The assertion has no 'jti'.") }
        guard try await authority.store.useOnce("\(app.appId)|\(jti)", until: exp + config.clockSkew, now: now) else {
            throw OAuthError.replayedClientAssertion()
        }
    }
}

/// One cached ``RemoteKeySet`` per JWKS URL, shared by all requests.
final class RemoteKeySetRegistry: Sendable {
    private let sets = LockedBox<[String: RemoteKeySet]>([:])

    func keySet(for url: String, time: any TimeSource) -> RemoteKeySet {
        sets.withLock { all in
            if let existing = all[url] { return existing }
            let created = RemoteKeySet(url: url, time: time)
            all[url] = created
            return created
        }
    }
}
