import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation

/// The one place where a token presented *to* the authority as a grant input is checked: the
/// user's token in On-Behalf-Of (the jwt-bearer `assertion`), RFC 8693's `subject_token` and
/// `actor_token`, and an agent identity's exchange tokens (T1 as its client assertion, T2 as the
/// agent-user flow's credential). Each is a JWT this authority issued for this tenant: signature by
/// the current keys, issuer of this tenant, lifetime and audience are checked by the resources'
/// validator (DeputyTokenValidation), then what the use requires. Each use maps the validator's
/// failure to the error Entra returns for it.
struct AssertionValidator: Sendable {
    let authority: Authority
    let tenant: DirectoryIndex

    init(authority: Authority, tenant: DirectoryIndex) {
        self.authority = authority
        self.tenant = tenant
    }

    init(_ context: GrantContext) { self.init(authority: context.authority, tenant: context.tenant) }

    private var configuration: AuthorityConfiguration { authority.configuration }

    /// This tenant's issuers: v2 and v1 (a v1 token is as much the tenant's as a v2 one).
    private var issuers: Set<String> {
        [configuration.issuerV2(tenantID: tenant.tenantID), configuration.issuerV1(tenantID: tenant.tenantID)]
    }

    private func verify(_ token: String, policy: ValidationPolicy) async throws -> ValidatedToken {
        try await authority.currentKeys().validator.validate(token, policy: policy)
    }

    // MARK: The user's token (On-Behalf-Of, token exchange)

    /// Checks a user's access token presented by `caller`, as Entra checks an OBO assertion
    /// (Microsoft Learn, "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow"): signature
    /// by this authority's keys and issuer of this tenant (v1 or v2) — AADSTS50013; lifetime —
    /// AADSTS500133; audience = the caller's appId or an identifier URI, exactly — AADSTS500131; a
    /// user token — AADSTS7000114 for app-only; not an ID token — AADSTS240002.
    func userAssertion(_ assertion: String, caller: Application) async throws -> ValidatedToken {
        let policy = ValidationPolicy(issuers: issuers, audiences: Set(tenant.audiences(of: caller)))
        let token: ValidatedToken
        do {
            token = try await verify(assertion, policy: policy)
        } catch let error as TokenValidationError {
            switch error {
            case .expired(let now, let expiry): throw OAuthError.assertionOutsideLifetime(now: now, expiry: expiry)
            case .notYetValid(let now, _): throw OAuthError.assertionOutsideLifetime(now: now, expiry: nil)
            case .wrongAudience(let aud) where aud == DirectoryIndex.tokenExchangeAppID:
                // T1 or T2 where the user's token belongs.
                throw OAuthError.agentTokenMisused(
                    "An agent identity's credential is not a user's token; the OBO assertion is the user's token for the blueprint.",
                    asClientCredential: false)
            case .wrongAudience(let aud):
                throw OAuthError.assertionAudienceMismatch(audience: aud, clientID: caller.appId, clientName: caller.displayName)
            default: throw OAuthError.invalidAssertion(error.description)
            }
        }
        if let tid = token.tenantID, tid.lowercased() != tenant.tenantID.lowercased() {
            throw OAuthError.invalidAssertion("The assertion's tid '\(tid)' is not this tenant.")
        }
        switch token.kind {
        case .userAccessToken: return token
        case .appOnlyAccessToken: throw OAuthError.appOnlyAssertion(appID: caller.appId)
        case .idToken: throw OAuthError.idTokenAssertion()
        }
    }

    /// RFC 8693's `actor_token`: a token of this tenant for any of its applications (it identifies
    /// the actor), which must be the caller's own (RFC 8693 §1.1: the actor is the party acting; a
    /// client presenting another client's token would act under its name) — unless the subject
    /// token's `may_act` names the actor token's party as allowed to act (§4.4).
    func actorToken(_ token: String, caller: Application, subject: ValidatedToken) async throws -> ValidatedToken {
        let policy = ValidationPolicy(issuers: issuers, audiences: Set(tenant.directory.applications.flatMap(tenant.audiences(of:))))
        let validated: ValidatedToken
        do { validated = try await verify(token, policy: policy) } catch let error as TokenValidationError {
            throw OAuthError.tokenExchange(.invalidGrant, "The actor_token is not valid here: \(error.description)")
        }
        let own = validated.clientID?.lowercased() == caller.appId.lowercased()
        let named = subject.claims["may_act"]?.objectValue.map {
            Self.mayAct($0, names: validated.subject.map { [$0] } ?? [], clientID: validated.clientID)
        }
        guard own || named == true else {
            throw OAuthError.tokenExchange(
                .invalidGrant,
                "The actor_token was issued to '\(validated.clientID ?? "(no client)")', not to the calling client '\(caller.appId)'.")
        }
        return validated
    }

    /// Whether a `may_act` claim (RFC 8693 §4.4) names this party: each identifying member it has
    /// (`sub`, `client_id`) must equal the party's, and it must have at least one. One rule for
    /// both uses: accepting another party's actor token, and refusing an actor it does not name.
    /// - Parameter subs: the party's subject identifiers (a client acting as itself is named by
    ///   its appId or by its service principal's object id, the `sub` of its app-only tokens).
    static func mayAct(_ mayAct: [String: JSONValue], names subs: [String], clientID: String?) -> Bool {
        let wantedSub = mayAct["sub"]?.stringValue
        let wantedClient = mayAct["client_id"]?.stringValue
        guard wantedSub != nil || wantedClient != nil else { return false }
        if let wantedSub, !subs.contains(wantedSub) { return false }
        if let wantedClient, wantedClient.lowercased() != clientID?.lowercased() { return false }
        return true
    }

    /// How the user authenticated, carried from a validated user token: `amr`, `acrs`, and the
    /// authentication time Deputy keeps in `aio` (the token's `iat` when it is not Deputy's), so a
    /// token obtained from it is evaluated against the user's real sign-in, not the exchange.
    static func authentication(of token: ValidatedToken, userID: String) -> Authentication {
        let aio = token.string("aio").flatMap(TokenMinter.readAIO)
        let methods = token.authenticationMethods.isEmpty ? (aio?.methods ?? []) : token.authenticationMethods
        let authTime = aio?.authTime ?? token.claims["auth_time"]?.numberValue.map { Date(timeIntervalSince1970: $0) } ?? token.issuedAt
        return Authentication(
            userID: userID, authTime: authTime ?? Date(timeIntervalSince1970: 0),
            methods: methods.isEmpty ? ["pwd"] : methods, acrs: token.authenticationContexts,
            mfaTime: aio?.mfaTime ?? (methods.contains("mfa") ? aio?.authTime ?? token.issuedAt : nil),
            ipAddress: aio?.ipAddress ?? token.string("ipaddr"))
    }

    // MARK: Agent identities' exchange tokens

    /// Where an exchange token is presented: as the agent identity's client assertion (T1), or as
    /// the user_fic grant's credential (T2). Failures of a client assertion are `invalid_client`
    /// (HTTP 401); failures of a grant's input are `invalid_grant` (HTTP 400).
    enum AgentCredentialUse { case clientAssertion, userCredential }

    /// Validates an exchange token (T1 or T2, ``AgentCredential``) this authority signed for this
    /// tenant. The caller checks whose it is (`sub`, `azp`).
    func agentCredential(_ token: String, use: AgentCredentialUse) async throws -> ValidatedToken {
        do {
            return try await cachedAgentCredential(token, use: use)
        } catch var error as OAuthError where use == .userCredential && error.error == .invalidClient {
            error.error = .invalidGrant
            error.status = 400
            throw error
        }
    }

    private func cachedAgentCredential(_ token: String, use: AgentCredentialUse) async throws -> ValidatedToken {
        // T1 is reused until it expires (MSAL.NET and Identity.Web cache it): a token verified once
        // is not verified again while it lives and the signing keys are the same (the cache key
        // holds the store generation, which moves when keys rotate).
        let generation = try await authority.store.generation()
        var bytes = token
        let key = "\(generation)|\(tenant.tenantID)|" + bytes.withUTF8 { Base64URL.encode(SHA256.hash(data: $0)) }
        let now = authority.time.now()
        if let cached = authority.verifiedAgentCredentials.value(for: key, now: now) { return cached }
        let validated = try await verifyAgentCredential(token, use: use)
        if let exp = validated.expiresAt { authority.verifiedAgentCredentials.set(validated, for: key, expiresAt: exp) }
        return validated
    }

    private func verifyAgentCredential(_ token: String, use: AgentCredentialUse) async throws -> ValidatedToken {
        let policy = ValidationPolicy(
            issuers: [configuration.issuerV2(tenantID: tenant.tenantID)],
            audiences: [DirectoryIndex.tokenExchangeAppID, "api://AzureADTokenExchange"], clockSkew: configuration.clockSkew)
        let expected =
            use == .clientAssertion
            ? "an agent identity's credential is a token for api://AzureADTokenExchange that its blueprint got for it"
            : "the user federated identity credential is the agent identity's own token for api://AzureADTokenExchange"
        let validated: ValidatedToken
        do {
            validated = try await verify(token, policy: policy)
        } catch let error as TokenValidationError {
            switch error {
            case .expired(let now, let expiry): throw OAuthError.clientAssertionOutsideLifetime(now: now, notBefore: nil, expiry: expiry)
            case .notYetValid(let now, let nbf): throw OAuthError.clientAssertionOutsideLifetime(now: now, notBefore: nbf, expiry: nil)
            case .wrongAudience(let aud):
                // The caller's own certificate assertion (aud = the token endpoint) or a user token.
                throw OAuthError.agentTokenMisused("The token's audience is '\(aud)'; \(expected).")
            case .wrongIssuer(let iss):
                throw OAuthError.invalidClientAssertion(
                    "The issuer '\(iss)' is not this tenant's; \(expected), from this tenant's token endpoint.")
            default: throw OAuthError.invalidClientAssertion(error.description)
            }
        }
        guard validated.kind == .appOnlyAccessToken else {
            throw OAuthError.agentTokenMisused("A user token is not usable here; \(expected).")
        }
        return validated
    }
}
