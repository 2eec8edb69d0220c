import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation

/// The tokens of Agent ID's exchange step (Microsoft Learn, "Agent OBO flow", "Autonomous agent
/// flow", "Agent user flow"), both for the "AAD Token Exchange Endpoint: Public" resource
/// (`fb60f99c-7a34-4190-8149-302f77469936`, scope `api://AzureADTokenExchange/.default`):
///
/// - **T1**: a blueprint's client credentials with `fmi_path` = one of its agent identities.
///   `azp` is the blueprint and `sub`/`oid` the agent identity (MSAL.NET's `WithFmiPath` "modifies
///   the subject of the token"). The agent identity presents it as its `client_assertion`.
/// - **T2**: the agent identity's own client credentials for the same scope (authenticated by T1);
///   `azp` = `sub` = the agent identity. It is the `user_federated_identity_credential` of the
///   agent-user flow.
///
/// Conditional Access does not apply to either (Microsoft Learn, "Conditional Access for agent
/// identities": the intermediate exchange at the token exchange endpoint is out of scope).
enum AgentCredential {
    enum Kind { case t1, t2 }

    /// Mints T1 (`kind: .t1`, issued to the blueprint) or T2 (issued to the agent identity itself).
    static func mint(_ kind: Kind, agent: ServicePrincipal, blueprint: Application, context: GrantContext) async throws -> TokenResponse {
        let now = context.now
        let iat = now.timeIntervalSince1970.rounded(.down)
        let lifetime = Int(context.configuration.accessTokenLifetime.lowerBound)
        let tid = context.tenant.tenantID
        let uti = TokenMinter.randomID()
        let issuedTo = kind == .t1 ? blueprint.appId : agent.appId
        let claims: [String: JSONValue] = [
            "aud": .string(DirectoryIndex.tokenExchangeAppID), "iss": .string(context.configuration.issuerV2(tenantID: tid)),
            "iat": .number(iat), "nbf": .number(iat), "exp": .number(iat + Double(lifetime)),
            "azp": .string(issuedTo), "azpacr": .string(String(context.client.credential.authenticationLevel)),
            "sub": .string(agent.appId), "oid": .string(agent.id), "tid": .string(tid), "idtyp": .string("app"),
            "ver": .string("2.0"), "uti": .string(uti), "rh": .string("0.\(TokenMinter.randomID(bytes: 12))"),
            "xms_par_app_azp": .string(blueprint.appId),
        ]
        let keys = try await context.authority.currentKeys()
        let token = try keys.current.sign(claims: claims)
        let draft = context.draft
        draft.resource(appID: DirectoryIndex.tokenExchangeAppID, displayName: "AAD Token Exchange Endpoint: Public")
        draft.record.signInEventTypes = ["servicePrincipal"]
        draft.record.uniqueTokenIdentifier = uti
        draft.record.scopes = [DirectoryIndex.tokenExchangeScope]
        draft.record.conditionalAccessStatus = "notApplied"
        draft.record.note =
            kind == .t1
            ? "Agent identity credential (T1) for \(agent.displayName ?? agent.appId): Conditional Access does not apply to the token exchange step."
            : "User federated identity credential (T2) of \(agent.displayName ?? agent.appId): Conditional Access does not apply to the token exchange step."
        return TokenResponse(expiresIn: lifetime, extExpiresIn: lifetime, accessToken: token)
    }

    /// Where an exchange token is presented: as the agent identity's client assertion (T1), or as
    /// the user_fic grant's credential (T2). Failures of a client assertion are `invalid_client`
    /// (HTTP 401); failures of a grant's input are `invalid_grant` (HTTP 400).
    enum Use { case clientAssertion, userCredential }

    /// Validates an exchange token (T1 or T2) this authority signed for this tenant. The caller
    /// checks whose it is (`sub`, `azp`).
    static func validate(_ token: String, use: Use, authority: Authority, tenant: DirectoryIndex) async throws -> ValidatedToken {
        do {
            return try await validateToken(token, use: use, authority: authority, tenant: tenant)
        } catch var error as OAuthError where use == .userCredential && error.error == .invalidClient {
            error.error = .invalidGrant
            error.status = 400
            throw error
        }
    }

    private static func validateToken(
        _ token: String, use: Use, authority: Authority, tenant: DirectoryIndex
    ) async throws -> ValidatedToken {
        // T1 is reused until it expires (MSAL.NET and Identity.Web cache it): a token verified once
        // is not verified again while it lives and the signing keys are the same (the cache key
        // holds the store generation, which moves when keys rotate).
        let generation = try await authority.store.generation()
        var bytes = token
        let key = "\(generation)|\(tenant.tenantID)|" + bytes.withUTF8 { Base64URL.encode(SHA256.hash(data: $0)) }
        let now = authority.time.now()
        if let cached = authority.verifiedAgentCredentials.value(for: key, now: now) { return cached }
        let validated = try await verify(token, use: use, authority: authority, tenant: tenant)
        if let exp = validated.expiresAt { authority.verifiedAgentCredentials.set(validated, for: key, expiresAt: exp) }
        return validated
    }

    private static func verify(_ token: String, use: Use, authority: Authority, tenant: DirectoryIndex) async throws -> ValidatedToken {
        let config = authority.configuration
        let policy = ValidationPolicy(
            issuers: [config.issuerV2(tenantID: tenant.tenantID)],
            audiences: [DirectoryIndex.tokenExchangeAppID, "api://AzureADTokenExchange"], clockSkew: config.clockSkew)
        let expected =
            use == .clientAssertion
            ? "an agent identity's credential is a token for api://AzureADTokenExchange that its blueprint got for it"
            : "the user federated identity credential is the agent identity's own token for api://AzureADTokenExchange"
        let validated: ValidatedToken
        do {
            validated = try await authority.currentKeys().validator.validate(token, policy: policy)
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
