public import AsyncHTTPClient
public import DeputyCore
import Foundation

/// The credential of a Microsoft Entra Agent ID agent identity, which has none of its own
/// (Microsoft Learn, "Microsoft Entra Agent ID", "Agent OBO flow", "Autonomous agent flow"). Its
/// blueprint authenticates with the blueprint's own credential (secret, certificate or federated
/// assertion) and gets a token for the agent identity — client credentials with
/// `scope=api://AzureADTokenExchange/.default` and `fmi_path=<agent identity>` — which the agent
/// identity presents as its `client_assertion` for On-Behalf-Of, its own app-only tokens and its
/// agent user's tokens. These are the requests Microsoft.Identity.Web's `WithAgentIdentity` sends,
/// so the same code works against Microsoft Entra ID.
///
/// The blueprint's token (T1) is cached by the blueprint's ``ConfidentialClient`` (bounded;
/// renewed after half its lifetime, or Entra's `refresh_in`, and never used in its last five
/// minutes); concurrent uses share one request.
///
/// ```swift
/// let agent = AgentIdentityCredential(authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com",
///                                     blueprintClientID: blueprintID, blueprintCredential: .secret(secret),
///                                     agentIdentityID: agentID)
/// let client = ConfidentialClient(agentIdentity: agent)
/// let token = try await client.acquireTokenOnBehalfOf(assertion: usersTokenForTheBlueprint, scopes: ["api://tools/.default"])
/// ```
public final class AgentIdentityCredential: Sendable {
    /// The token exchange's scope ("AAD Token Exchange Endpoint: Public").
    public static let tokenExchangeScope = "api://AzureADTokenExchange/.default"

    /// The agent identity's client id (its `fmi_path`).
    public let agentIdentityID: String
    /// The blueprint's client, which gets and caches the agent identity's credential.
    public let blueprint: ConfidentialClient
    let authority: String

    /// - Parameters:
    ///   - authority: the tenant's authority, e.g. `https://login.microsoftonline.com/{tenant}` (agent identities are single-tenant).
    ///   - blueprintClientID: the agent identity blueprint's application (client) id.
    ///   - blueprintCredential: how the blueprint proves who it is.
    ///   - agentIdentityID: the agent identity's client id.
    ///   - httpClient: the HTTP client (the shared one by default).
    ///   - time: the clock (tests move it).
    public init(
        authority: String, blueprintClientID: String, blueprintCredential: ClientCredential, agentIdentityID: String,
        httpClient: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    ) {
        self.authority = authority
        self.agentIdentityID = agentIdentityID
        blueprint = ConfidentialClient(
            authority: authority, clientID: blueprintClientID, credential: blueprintCredential, cacheSize: 64,
            httpClient: httpClient, time: time)
    }

    /// The agent identity's client assertion (T1): cached until shortly before it expires.
    public func clientAssertion() async throws(AcquisitionError) -> String {
        try await blueprint.acquireTokenForClient(scopes: [Self.tokenExchangeScope], fmiPath: agentIdentityID).token
    }
}

extension ClientCredential {
    /// An agent identity's credential: the token its blueprint gets for it.
    public static func agentIdentity(_ credential: AgentIdentityCredential) -> ClientCredential {
        .assertion { try await credential.clientAssertion() }
    }
}

extension ConfidentialClient {
    /// A confidential client acting as an agent identity: client id = the agent identity,
    /// client assertion = the token its blueprint got for it.
    public convenience init(
        agentIdentity: AgentIdentityCredential, clientCapabilities: [String] = [], cacheSize: Int = 10_000,
        httpClient: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    ) {
        self.init(
            authority: agentIdentity.authority, clientID: agentIdentity.agentIdentityID, credential: .agentIdentity(agentIdentity),
            clientCapabilities: clientCapabilities, cacheSize: cacheSize, httpClient: httpClient, time: time)
    }
}
