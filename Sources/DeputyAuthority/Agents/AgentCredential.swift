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
    enum Kind: Sendable { case t1, t2 }

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
}
