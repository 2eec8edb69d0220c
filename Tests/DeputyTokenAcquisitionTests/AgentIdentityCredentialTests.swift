import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority
@testable import DeputyTokenAcquisition

/// ``AgentIdentityCredential`` against the authority over HTTP: the same requests Microsoft.Identity.Web
/// sends for `WithAgentIdentity` and MSAL.NET for `AcquireTokenByUserFederatedIdentityCredential`.
@Suite("agent identity credential")
struct AgentIdentityCredentialTests {
    let blueprint = DemoTenant.app("agentBlueprint")
    let agent = DemoTenant.app("agent")
    static let mcp = ["api://contoso-expenses-mcp/.default"]

    func credential(_ live: LiveAuthority, secret: String? = nil) -> AgentIdentityCredential {
        AgentIdentityCredential(
            authority: live.tenantAuthority, blueprintClientID: blueprint.appId,
            blueprintCredential: .secret(secret ?? blueprint.secret!), agentIdentityID: agent.appId)
    }

    @Test("Agent OBO, autonomous tokens and the agent user's token all authenticate with one cached T1")
    func flows() async throws {
        try await LiveAuthority.run { live in
            let client = ConfidentialClient(agentIdentity: credential(live))
            #expect(client.clientID == agent.appId)
            let user = try await live.userToken("alice", scope: "api://contoso-expense-agent/access_as_user")
            let obo = try UnverifiedJWT(try await client.acquireTokenOnBehalfOf(assertion: user, scopes: Self.mcp).token)
            #expect(
                obo.string("azp") == agent.appId && obo.string("xms_par_app_azp") == blueprint.appId
                    && obo.string("oid") == DemoTenant.user("alice").id)
            let app = try UnverifiedJWT(try await client.acquireTokenForClient(scopes: ["https://database.windows.net//.default"]).token)
            #expect(app.string("idtyp") == "app" && app.string("xms_sub_fct") == "11")
            let agentUser = try UnverifiedJWT(
                try await client.acquireTokenForAgentUser(username: DemoTenant.agentUser.upn, scopes: Self.mcp).token)
            #expect(agentUser.string("oid") == DemoTenant.agentUser.id && agentUser.string("xms_sub_fct") == "13")
            let byID = try UnverifiedJWT(try await client.acquireTokenForAgentUser(userID: DemoTenant.agentUser.id, scopes: Self.mcp).token)
            #expect(byID.string("oid") == DemoTenant.agentUser.id)
            // One T1 for all of them: the blueprint asked once.
            #expect(try await live.tokenRequests(client: blueprint.appId) == 1)
            let log = try await live.authority.store.recentSignIns(limit: 50)
            #expect(log.filter { $0.appId == agent.appId }.count == 5)  // OBO, autonomous, T2, two user_fic
        }
    }

    @Test("The blueprint's wrong secret surfaces as a credential error; a user that is not the agent's is the service's refusal")
    func failures() async throws {
        try await LiveAuthority.run { live in
            let wrong = ConfidentialClient(agentIdentity: credential(live, secret: "not-the-blueprint-secret-123"))
            await #expect(throws: AcquisitionError.self) {
                try await wrong.acquireTokenForClient(scopes: ["https://database.windows.net//.default"])
            }
            do {
                _ = try await wrong.acquireTokenForClient(scopes: ["https://database.windows.net//.default"])
            } catch let error as AcquisitionError {
                guard case .credential(let reason) = error else {
                    Issue.record("expected a credential error, got \(error)")
                    return
                }
                #expect(reason.contains("7000215"))
            }
            let client = ConfidentialClient(agentIdentity: credential(live))
            do {
                _ = try await client.acquireTokenForAgentUser(username: DemoTenant.user("alice").upn, scopes: Self.mcp)
                Issue.record("alice is not the agent's user")
            } catch {
                #expect("\(error)".contains("700238"))
            }
            await #expect(throws: AcquisitionError.self) { try await client.acquireTokenForAgentUser(scopes: Self.mcp) }
        }
    }

    @Test("The blueprint may prove itself with a certificate or a federated credential; the agent's token is the same")
    func blueprintCredentials() async throws {
        let certificate = try SigningKey.generate(now: Date())
        let external = try SigningKey.load(try SigningKey.generate(now: Date()))
        let issuer = "https://token.actions.githubusercontent.com"
        let subject = "repo:contoso/agent:ref:refs/heads/main"
        let jwk = try external.jwk(issuer: issuer)
        let blueprintID = blueprint.appId
        try await LiveAuthority.run(edit: { d in
            let i = d.applications.firstIndex { $0.appId == blueprintID }!
            d.applications[i].passwordCredentials = []
            d.applications[i].keyCredentials = [
                .init(
                    keyId: nil, displayName: "cert", type: "AsymmetricX509Cert", usage: "Verify",
                    key: certificate.certificateDER, endDateTime: nil)
            ]
            d.applications[i].federatedIdentityCredentials = [
                .init(
                    name: "ci", issuer: issuer, subject: subject,
                    jwks: .object(["keys": .array([.object(jwk)])]))
            ]
        }) { live in
            let cert = try ClientCertificate(
                privateKeyPEM: certificate.privateKeyPEM, certificateDER: Array(Data(base64Encoded: certificate.certificateDER)!))
            let federated: ClientCredential = .assertion {
                let now = Date().timeIntervalSince1970
                return try external.sign(claims: [
                    "iss": .string(issuer), "sub": .string(subject), "aud": .string("api://AzureADTokenExchange"),
                    "iat": .number(now), "exp": .number(now + 600),
                ])
            }
            for credential in [ClientCredential.certificate(cert), federated] {
                let agentCredential = AgentIdentityCredential(
                    authority: live.tenantAuthority, blueprintClientID: blueprintID,
                    blueprintCredential: credential, agentIdentityID: agent.appId)
                let t1 = try UnverifiedJWT(try await agentCredential.clientAssertion())
                #expect(t1.string("sub") == agent.appId && t1.string("azp") == blueprintID && t1.string("azpacr") == "2")
                let app = try await ConfidentialClient(agentIdentity: agentCredential).acquireTokenForClient(scopes: [
                    "https://database.windows.net//.default"
                ])
                #expect(try UnverifiedJWT(app.token).string("xms_par_app_azp") == blueprintID)
            }
            let log = try await live.authority.store.recentSignIns(limit: 20).filter { $0.appId == blueprintID }.map(\.clientCredentialType)
            #expect(Set(log) == ["certificate", "federatedIdentityCredential"])
        }
    }
}
