import DeputyCore
import DeputyDemo
import DeputyTestSupport
import Foundation
import Testing

@testable import DeputyAuthority

/// Microsoft Entra Agent ID at the token endpoint (Microsoft Learn: "Agent OBO flow", "Autonomous
/// agent flow", "Agent user flow", "Agent token claims", "Conditional Access for agent identities").
@Suite("Agent identities")
struct AgentIdentityTests {
    let blueprint = GrantsFixture.app("agentBlueprint")
    let agent = GrantsFixture.app("agent")
    let mcp = GrantsFixture.app("mcpServer")
    let dataApi = GrantsFixture.app("dataApi")
    let cli = GrantsFixture.app("cli")
    let alice = GrantsFixture.user("alice")
    static let jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// A second blueprint with an agent of its own, and a second agent of the demo blueprint.
    static let otherBlueprint = "0b2d4f6a-8c0e-4a2c-9e4a-6c8e0a2c4e61"
    static let otherBlueprintsAgent = "1c3e5a7b-9d1f-4b3d-8f5b-7d9f1b3d5f72"
    static let siblingAgent = "2d4f6b8c-0e2a-4c4e-9a6c-8e0a2c4e6a83"

    /// The demo tenant plus a second blueprint (with its own agent and secret) and a sibling agent.
    func fixture(_ edit: ((inout TenantDirectory) -> Void)? = nil) async throws -> GrantsFixture {
        try await GrantsFixture.make { d in
            var other = Application(appId: Self.otherBlueprint, displayName: "Fabrikam Travel Agent Blueprint")
            other.odataType = AgentODataType.blueprint
            other.passwordCredentials = [.init(hashedSecret: ClientSecret.hash("other-blueprint-secret-123456"))]
            d.applications.append(other)
            d.servicePrincipals.append(
                ServicePrincipal(
                    id: "3e5a7c9d-1f3b-4d5f-8b7d-9f1b3d5f7b94", appId: Self.otherBlueprint, displayName: other.displayName,
                    accountEnabled: true, appRoleAssignmentRequired: false))
            for (id, parent, name) in [
                (Self.otherBlueprintsAgent, Self.otherBlueprint, "Travel Agent"),
                (Self.siblingAgent, DemoTenant.app("agentBlueprint").appId, "Expense Agent (second instance)"),
            ] {
                var sp = AgentIdentity(id: id, displayName: name, agentIdentityBlueprintId: parent).servicePrincipal
                sp.odataType = AgentODataType.agentIdentity
                d.servicePrincipals.append(sp)
            }
            edit?(&d)
        }
    }

    func claims(_ token: String) throws -> [String: JSONValue] { try UnverifiedJWT(token).claims }

    /// Turns on the demo's disabled "Block the expense agent acting on its own".
    static func enableAgentBlock(_ d: inout TenantDirectory) {
        guard
            let i = d.conditionalAccessPolicies.firstIndex(where: { $0.objectValue?["id"]?.stringValue == DemoTenant.agentBlockPolicyID }),
            case .object(var o) = d.conditionalAccessPolicies[i]
        else { return }
        o["state"] = .string("enabled")
        d.conditionalAccessPolicies[i] = .object(o)
    }

    /// alice's token for the blueprint's API (ROPC on the CLI), from the given address.
    func userToken(_ f: GrantsFixture, ip: String = "127.0.0.1") async throws -> String {
        try await f.authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters([
                    ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn), ("password", alice.password),
                    ("scope", "api://contoso-expense-agent/access_as_user"),
                ]), correlationID: "user", ipAddress: ip)
        ).get().accessToken
    }

    func agentOBO(
        _ f: GrantsFixture, assertion: String, credential: String, scope: String = "api://contoso-expenses-mcp/.default",
        ip: String = "127.0.0.1", correlation: String = "agent-obo"
    ) async -> Result<TokenResponse, OAuthError> {
        await f.authority.token(
            TokenRequest(
                tenantSegment: "contoso.com",
                form: FormParameters(
                    [
                        ("grant_type", Self.jwtBearer), ("requested_token_use", "on_behalf_of"), ("assertion", assertion), ("scope", scope),
                    ] + GrantsFixture.agentAuthentication(credential)), correlationID: correlation, ipAddress: ip))
    }

    // MARK: - T1

    @Test("The blueprint gets T1 for its own agent identity: audience the token exchange, subject the agent, and no Conditional Access")
    func agentCredential() async throws {
        let f = try await fixture()
        let t1 = try await f.agentCredential()
        let c = try await f.verifiedClaims(t1)
        #expect(c["aud"]?.string == DirectoryIndex.tokenExchangeAppID)
        #expect(c["sub"]?.string == agent.appId && c["oid"]?.string == agent.appId)
        #expect(c["azp"]?.string == blueprint.appId && c["idtyp"]?.string == "app")
        let log = try #require(try await f.store.recentSignIns(limit: 10).first { $0.appId == blueprint.appId })
        #expect(log.status.errorCode == 0 && log.conditionalAccessStatus == "notApplied")
        #expect(log.appliedConditionalAccessPolicies.isEmpty)
        #expect(log.note?.contains("Conditional Access does not apply") == true)
        #expect(
            log.agent?.agentType == .agentIdentityBlueprintPrincipal && log.agent?.agentSubjectType == .agenticAppInstance
                && log.agent?.agentIdentityId == agent.appId)
        #expect(log.resourceId == DirectoryIndex.tokenExchangeAppID)
    }

    @Test("fmi_path is refused for another blueprint's agent, a non-agent app, a non-blueprint caller and another scope")
    func agentCredentialRefusals() async throws {
        let f = try await fixture()
        func t1(_ client: DemoTenant.DemoApp, fmi: String, scope: String = "api://AzureADTokenExchange/.default") async -> OAuthError? {
            await f.failure([
                ("grant_type", "client_credentials"), ("client_id", client.appId), ("client_secret", client.secret!), ("scope", scope),
                ("fmi_path", fmi),
            ])
        }
        #expect(await t1(blueprint, fmi: Self.otherBlueprintsAgent)?.aadsts == 700231)
        #expect(await t1(blueprint, fmi: GrantsFixture.app("webApi").appId)?.aadsts == 700231)
        #expect(await t1(blueprint, fmi: "00000000-0000-0000-0000-000000000000")?.aadsts == 700231)
        #expect(await t1(GrantsFixture.app("webApi"), fmi: agent.appId)?.aadsts == 700230)
        #expect(await t1(blueprint, fmi: agent.appId, scope: "api://contoso-expenses-mcp/.default")?.aadsts == 700232)
    }

    // MARK: - Agent OBO

    @Test(
        "Agent OBO: the user's token for the blueprint, T1 as the client assertion; the token names the agent, its blueprint and the user")
    func agentOnBehalfOf() async throws {
        let f = try await fixture()
        let user = try await userToken(f)
        #expect(try claims(user)["aud"]?.string == blueprint.appId)
        let token = try await agentOBO(f, assertion: user, credential: try await f.agentCredential()).get().accessToken
        let c = try await f.verifiedClaims(token)
        #expect(c["aud"]?.string == mcp.appId && c["azp"]?.string == agent.appId)
        #expect(c["oid"]?.string == alice.id && c["idtyp"]?.string == "user" && c["scp"]?.string == "Expenses.ReadWrite Expenses.Approve")
        #expect(c["xms_act_fct"]?.string == "11" && c["xms_sub_fct"] == nil && c["xms_idrel"]?.string == "1")
        #expect(c["xms_par_app_azp"]?.string == blueprint.appId)
        #expect(c["azpacr"]?.string == "2")
        let log = try #require(try await f.store.recentSignIns(limit: 10).first { $0.correlationId == "agent-obo" })
        #expect(log.appId == agent.appId && log.userId == alice.id && log.clientCredentialType == "federatedIdentityCredential")
        #expect(
            log.agent?.agentType == .agenticAppInstance && log.agent?.agentSubjectType == .notAgentic
                && log.agent?.parentAppId == blueprint.appId)
        #expect(log.signInEventTypes == ["nonInteractiveUser"])
    }

    @Test("Agent OBO refuses a user token for the agent identity or another app (AADSTS500131), and T1 as the user's token")
    func agentOnBehalfOfAudience() async throws {
        let f = try await fixture()
        let t1 = try await f.agentCredential()
        let user = try await userToken(f)
        var forAgent = try claims(user)
        forAgent["aud"] = .string(agent.appId)
        let forged = try await f.authority.currentKeys().current.sign(claims: forAgent)
        let e1 = await agentOBO(f, assertion: forged, credential: t1).failure
        #expect(e1?.aadsts == 500131 && e1?.message.contains(blueprint.appId) == true)
        let forWebAPI = try await f.success([
            ("grant_type", "password"), ("client_id", cli.appId), ("username", alice.upn), ("password", alice.password),
            ("scope", "api://contoso-expenses-api/access_as_user"),
        ]).accessToken
        #expect(await agentOBO(f, assertion: forWebAPI, credential: t1).failure?.aadsts == 500131)
        #expect(await agentOBO(f, assertion: t1, credential: t1).failure?.aadsts == 700235)
    }

    @Test("The user's Conditional Access applies to agent OBO at the user's location, and its challenge comes back in Entra's shape")
    func agentOnBehalfOfConditionalAccess() async throws {
        let office = "4f6a8c0e-2a4c-4e6a-8c0e-2a4c6e8a0c15"
        let f = try await fixture { d in
            d.namedLocations.append(
                try! JSONDecoder().decode(
                    JSONValue.self,
                    from: Data(
                        ##"{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"\##(office)","displayName":"Office","isTrusted":true,"ipRanges":[{"cidrAddress":"10.0.0.0/8"}]}"##
                            .utf8)))
            let block =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e77","displayName":"MCP tools from the office only","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["\#(DemoTenant.app("mcpServer").appId)"]},"locations":{"includeLocations":["All"],"excludeLocations":["\#(office)"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(block.utf8)))
        }
        let t1 = try await f.agentCredential()
        // alice signed in at the office; the agent runs elsewhere: the user's location counts.
        let atOffice = try await userToken(f, ip: "10.1.2.3")
        _ = try await agentOBO(f, assertion: atOffice, credential: t1, ip: "203.0.113.9").get()
        // alice signed in from outside; the agent runs in the office: still blocked.
        let outside = try await userToken(f, ip: "203.0.113.7")
        let e = await agentOBO(f, assertion: outside, credential: t1, ip: "10.9.9.9", correlation: "outside").failure
        #expect(e?.aadsts == 53003 && e?.claims?.contains("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e77") == true)
        let log = try #require(try await f.store.recentSignIns(limit: 20).first { $0.correlationId == "outside" })
        #expect(log.conditionalAccessStatus == "failure" && log.agent?.agentIdentityId == agent.appId)
    }

    @Test("An MFA policy on the resource interrupts agent OBO with AADSTS50076 and capolids, which the agent relays")
    func agentOnBehalfOfStepUp() async throws {
        let f = try await fixture { d in
            let mfa =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e78","displayName":"MFA for the MCP server","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["\#(DemoTenant.app("mcpServer").appId)"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(mfa.utf8)))
        }
        let e = await agentOBO(f, assertion: try await userToken(f), credential: try await f.agentCredential()).failure
        #expect(e?.aadsts == 50076 && e?.error == .invalidGrant && e?.suberror == "basic_action")
        #expect(e?.claims == #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e78"]}}}"#)
    }

    // MARK: - Client authentication of agent identities

    @Test("An agent identity has no credential of its own: a secret or a certificate assertion is refused (AADSTS700233)")
    func agentOwnCredentials() async throws {
        let f = try await fixture()
        let secret = await f.failure([
            ("grant_type", "client_credentials"), ("client_id", agent.appId), ("client_secret", blueprint.secret!),
            ("scope", "https://database.windows.net//.default"),
        ])
        #expect(secret?.aadsts == 700233 && secret?.status == 401)
        let now = Date().timeIntervalSince1970
        let selfSigned = try await f.authority.currentKeys().current.sign(claims: [
            "iss": .string(agent.appId), "sub": .string(agent.appId),
            "aud": .string("http://127.0.0.1:7400/\(DemoTenant.tenantID)/oauth2/v2.0/token"),
            "jti": .string("j1"), "iat": .number(now), "exp": .number(now + 600),
        ])
        let certificate = await f.failure(
            [("grant_type", "client_credentials"), ("scope", "https://database.windows.net//.default")]
                + GrantsFixture.agentAuthentication(selfSigned))
        #expect(certificate?.aadsts == 700233)
        let none = await f.failure([
            ("grant_type", "client_credentials"), ("client_id", agent.appId), ("scope", "https://database.windows.net//.default"),
        ])
        #expect(none?.aadsts == 7_000_218)
    }

    @Test("T1 of another agent identity (AADSTS700213), an expired T1 (AADSTS700024) and T2 in T1's place (AADSTS700235) are refused")
    func agentCredentialMisuse() async throws {
        let f = try await fixture()
        let sibling = try await f.agentCredential(agent: Self.siblingAgent)
        let scope = ("scope", "https://database.windows.net//.default")
        #expect(
            await f.failure([("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(sibling))?.aadsts == 700213)
        let t1 = try await f.agentCredential()
        let t2 = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(t1)
        ).accessToken
        let c2 = try claims(t2)
        #expect(
            c2["sub"]?.string == agent.appId && c2["azp"]?.string == agent.appId && c2["aud"]?.string == DirectoryIndex.tokenExchangeAppID)
        #expect(await f.failure([("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(t2))?.aadsts == 700235)
        // T1 is reusable while it lasts (MSAL.NET caches it), then it expires.
        _ = try await f.success([("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(t1))
        _ = try await f.success([("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(t1))
        f.time.advance(by: 3 * 3600)
        #expect(await f.failure([("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(t1))?.aadsts == 700024)
    }

    @Test("An agent identity cannot use ROPC or device code, and a blueprint cannot sign users in at /authorize")
    func agentGrantsAndAuthorize() async throws {
        let f = try await fixture()
        let e = await f.failure(
            [
                ("grant_type", "password"), ("username", alice.upn), ("password", alice.password),
                ("scope", "api://contoso-expenses-mcp/.default"),
            ] + GrantsFixture.agentAuthentication(try await f.agentCredential()))
        #expect(e?.aadsts == 700240)
        for clientID in [blueprint.appId, agent.appId] {
            let result = await InteractiveSignIn(authority: f.authority).authorize(
                BrowserRequest(
                    tenantSegment: "contoso.com",
                    parameters: FormParameters([
                        ("client_id", clientID), ("redirect_uri", "http://127.0.0.1:7401/"), ("response_type", "code"), ("scope", "openid"),
                    ]), cookies: [:], correlationID: "c", ipAddress: nil))
            guard case .error(let error) = result else {
                Issue.record("expected an error page, got \(result)")
                continue
            }
            #expect(error.aadsts == 700236)
        }
    }

    // MARK: - Autonomous

    @Test("Autonomous: the agent identity's app token carries its roles and the agent facets")
    func autonomous() async throws {
        let f = try await fixture()
        let token = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "https://database.windows.net//.default")]
                + GrantsFixture.agentAuthentication(try await f.agentCredential())
        ).accessToken
        let c = try await f.verifiedClaims(token)
        #expect(c["idtyp"]?.string == "app" && c["azp"]?.string == agent.appId && c["oid"]?.string == agent.appId)
        #expect(c["roles"]?.strings == ["Expenses.Read.All"] && c["scp"] == nil)
        #expect(c["xms_act_fct"]?.string == "11" && c["xms_sub_fct"]?.string == "11" && c["xms_idrel"]?.string == "7")
        #expect(c["xms_par_app_azp"]?.string == blueprint.appId)
    }

    @Test("The agent block policy stops the autonomous agent while the same agent acting for alice still works")
    func autonomousBlock() async throws {
        let f = try await fixture(Self.enableAgentBlock)
        let t1 = try await f.agentCredential()
        let e = await f.failure(
            [("grant_type", "client_credentials"), ("scope", "https://database.windows.net//.default")]
                + GrantsFixture.agentAuthentication(t1))
        #expect(e?.aadsts == 53003 && e?.claims?.contains(DemoTenant.agentBlockPolicyID) == true)
        // Acting for a user, the user's policies apply, not the agent's.
        _ = try await agentOBO(f, assertion: try await userToken(f), credential: t1).get()
        // T1 itself is never subject to Conditional Access.
        _ = try await f.agentCredential()
    }

    @Test("A policy may name agent identities by their blueprint; an excluded agent identity is spared")
    func agentPolicyByBlueprint() async throws {
        let f = try await fixture { d in
            let byBlueprint =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e82","displayName":"Block the blueprint's agents but one","state":"enabled","conditions":{"clientApplications":{"includeAgentIdServicePrincipals":["\#(DemoTenant.app("agentBlueprint").appId)"],"excludeAgentIdServicePrincipals":["\#(Self.siblingAgent)"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(byBlueprint.utf8)))
        }
        let scope = ("scope", "https://database.windows.net//.default")
        #expect(
            await f.failure(
                [("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(try await f.agentCredential()))?.aadsts
                == 53003)
        // The excluded sibling is not blocked (it has no Data API role, so its token has no roles).
        let sibling = try await f.agentCredential(agent: Self.siblingAgent)
        _ = try await f.success(
            [("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(sibling, agent: Self.siblingAgent))
        // Another blueprint's agent is not named at all.
        let other = try await f.success([
            ("grant_type", "client_credentials"), ("client_id", Self.otherBlueprint),
            ("client_secret", "other-blueprint-secret-123456"), ("scope", "api://AzureADTokenExchange/.default"),
            ("fmi_path", Self.otherBlueprintsAgent),
        ]).accessToken
        _ = try await f.success(
            [("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(other, agent: Self.otherBlueprintsAgent))
    }

    @Test("Agent risk: a policy on agentIdRiskLevels high blocks a risky agent and no other")
    func agentRisk() async throws {
        let f = try await fixture { d in
            let risky =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e79","displayName":"Block risky agents","state":"enabled","conditions":{"clientApplications":{"includeAgentIdServicePrincipals":["All"]},"applications":{"includeApplications":["All"]},"agentIdRiskLevels":"high"},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(risky.utf8)))
            let i = d.servicePrincipals.firstIndex { $0.id == Self.siblingAgent }!
            d.servicePrincipals[i].agentRiskLevel = "high"
        }
        let scope = ("scope", "https://database.windows.net//.default")
        let tenant = try #require(try await f.authority.tenant(DemoTenant.tenantID))
        #expect(tenant.policyProblems.isEmpty, "\(tenant.policyProblems)")
        #expect(tenant.agentIdentity(appID: Self.siblingAgent)?.agentRiskLevel == "high")
        _ = try await f.success(
            [("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(try await f.agentCredential()))
        let sibling = try await f.agentCredential(agent: Self.siblingAgent)
        let e = await f.failure(
            [("grant_type", "client_credentials"), scope] + GrantsFixture.agentAuthentication(sibling, agent: Self.siblingAgent))
        #expect(e?.aadsts == 53003)
    }

    @Test("A policy assigned to agent identities that asks for anything but block is refused when read")
    func agentPolicyBlockOnly() throws {
        let json =
            #"{"displayName":"MFA for agents","state":"enabled","conditions":{"clientApplications":{"includeAgentIdServicePrincipals":["All"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
        #expect(throws: PolicyError.self) {
            try ConditionalAccessPolicy.parse(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        }
        do {
            _ = try ConditionalAccessPolicy.parse(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        } catch {
            #expect("\(error)".contains("can only block"))
        }
    }

    // MARK: - Agent user

    @Test("Agent user: T2, then user_fic by username or user_id; the token's subject is the agent user (xms_sub_fct 13)")
    func agentUser() async throws {
        let f = try await fixture()
        let t1 = try await f.agentCredential()
        let t2 = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(t1)
        ).accessToken
        for who in [("username", DemoTenant.agentUser.upn), ("user_id", DemoTenant.agentUser.id)] {
            let r = try await f.success(
                [
                    ("grant_type", "user_fic"), ("user_federated_identity_credential", t2), who,
                    ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite openid profile offline_access"), ("client_info", "1"),
                ]
                    + GrantsFixture.agentAuthentication(t1))
            let c = try await f.verifiedClaims(r.accessToken)
            #expect(c["oid"]?.string == DemoTenant.agentUser.id && c["azp"]?.string == agent.appId && c["idtyp"]?.string == "user")
            #expect(c["xms_sub_fct"]?.string == "13" && c["xms_act_fct"]?.string == "11" && c["xms_par_app_azp"]?.string == blueprint.appId)
            #expect(c["scp"]?.string == "Expenses.ReadWrite")
            // Refresh tokens work for agent identities, with a fresh T1 as the client assertion.
            f.time.advance(by: 60)
            let refreshed = try await f.success(
                [
                    ("grant_type", "refresh_token"), ("refresh_token", try #require(r.refreshToken)),
                    ("scope", "api://contoso-expenses-mcp/Expenses.ReadWrite"),
                ]
                    + GrantsFixture.agentAuthentication(try await f.agentCredential()))
            #expect(try claims(refreshed.accessToken)["xms_sub_fct"]?.string == "13")
        }
        // The older form: jwt-bearer with assertion = T2 and the agent user's name.
        let older = try await f.success(
            [
                ("grant_type", Self.jwtBearer), ("requested_token_use", "on_behalf_of"), ("assertion", t2),
                ("username", DemoTenant.agentUser.upn), ("scope", "api://contoso-expenses-mcp/.default"),
            ]
                + GrantsFixture.agentAuthentication(t1))
        #expect(try claims(older.accessToken)["oid"]?.string == DemoTenant.agentUser.id)
        let log = try #require(try await f.store.recentSignIns(limit: 5).first { $0.authenticationProtocol == Self.jwtBearer })
        #expect(
            log.agent?.agentSubjectType == .agentIDuser && log.agent?.agentSubjectParentId == agent.appId
                && log.userId == DemoTenant.agentUser.id)
    }

    @Test("Agent user refusals: another agent's user, another agent's T2, T1 in T2's place, and a human user")
    func agentUserRefusals() async throws {
        let f = try await fixture()
        let t1 = try await f.agentCredential()
        let t2 = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(t1)
        ).accessToken
        let sibling = try await f.agentCredential(agent: Self.siblingAgent)
        let scope = ("scope", "api://contoso-expenses-mcp/.default")
        // The sibling agent uses the demo agent's user.
        let siblingsT2 = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(sibling, agent: Self.siblingAgent)
        ).accessToken
        #expect(
            await f.failure(
                [
                    ("grant_type", "user_fic"), ("user_federated_identity_credential", siblingsT2), ("username", DemoTenant.agentUser.upn),
                    scope,
                ]
                    + GrantsFixture.agentAuthentication(sibling, agent: Self.siblingAgent))?.aadsts == 700238)
        // The demo agent presents its sibling's T2.
        #expect(
            await f.failure(
                [
                    ("grant_type", "user_fic"), ("user_federated_identity_credential", siblingsT2), ("username", DemoTenant.agentUser.upn),
                    scope,
                ]
                    + GrantsFixture.agentAuthentication(t1))?.aadsts == 700237)
        let t1AsT2 = await f.failure(
            [("grant_type", "user_fic"), ("user_federated_identity_credential", t1), ("username", DemoTenant.agentUser.upn), scope]
                + GrantsFixture.agentAuthentication(t1))
        #expect(t1AsT2?.aadsts == 700235 && t1AsT2?.error == .invalidGrant && t1AsT2?.status == 400)
        // A person's token is no user federated identity credential either: the grant's input is wrong, not the client.
        let personal = await f.failure(
            [
                ("grant_type", "user_fic"), ("user_federated_identity_credential", try await userToken(f)),
                ("username", DemoTenant.agentUser.upn), scope,
            ] + GrantsFixture.agentAuthentication(t1))
        #expect(personal?.aadsts == 700235 && personal?.error == .invalidGrant && personal?.status == 400)
        #expect(
            await f.failure(
                [("grant_type", "user_fic"), ("user_federated_identity_credential", t2), ("username", alice.upn), scope]
                    + GrantsFixture.agentAuthentication(t1))?.aadsts == 700238)
        // Not an agent identity at all.
        let webApi = GrantsFixture.app("webApi")
        #expect(
            await f.failure([
                ("grant_type", "user_fic"), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
                ("user_federated_identity_credential", t2), ("username", DemoTenant.agentUser.upn), scope,
            ])?.aadsts == 700239)
    }

    @Test("All users does not include agent users; AllAgentIdUsers does")
    func agentUserConditionalAccess() async throws {
        let f = try await fixture { d in
            let mfa =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e80","displayName":"MFA for everyone on the MCP server","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["\#(DemoTenant.app("mcpServer").appId)"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(mfa.utf8)))
        }
        let t1 = try await f.agentCredential()
        let t2 = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(t1)
        ).accessToken
        let request =
            [
                ("grant_type", "user_fic"), ("user_federated_identity_credential", t2), ("username", DemoTenant.agentUser.upn),
                ("scope", "api://contoso-expenses-mcp/.default"),
            ] + GrantsFixture.agentAuthentication(t1)
        _ = try await f.success(request)
        let g = try await fixture { d in
            let block =
                #"{"id":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e81","displayName":"Block agent users","state":"enabled","conditions":{"users":{"includeUsers":["AllAgentIdUsers"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
            d.conditionalAccessPolicies.append(try! JSONDecoder().decode(JSONValue.self, from: Data(block.utf8)))
        }
        let t1g = try await g.agentCredential()
        let t2g = try await g.success(
            [("grant_type", "client_credentials"), ("scope", "api://AzureADTokenExchange/.default")]
                + GrantsFixture.agentAuthentication(t1g)
        ).accessToken
        let e = await g.failure(
            [
                ("grant_type", "user_fic"), ("user_federated_identity_credential", t2g), ("username", DemoTenant.agentUser.upn),
                ("scope", "api://contoso-expenses-mcp/.default"),
            ] + GrantsFixture.agentAuthentication(t1g))
        #expect(e?.aadsts == 53003)
        // The people are not agent users: alice's agent OBO is not blocked by it.
        _ = try await agentOBO(g, assertion: try await userToken(g), credential: t1g).get()
    }

    // MARK: - What-If and descriptions

    @Test("What-If takes an agent identity as the client: on its own only agent policies apply, for a user the user's")
    func whatIf() async throws {
        let f = try await fixture(Self.enableAgentBlock)
        let tenant = try #require(try await f.authority.tenant(DemoTenant.tenantID))
        var q = WhatIf.Question()
        q.servicePrincipalID = agent.appId
        q.resourceAppID = dataApi.appId
        let whatIf = WhatIf(time: f.time)
        let (autonomous, answers) = try whatIf.evaluate(q, tenant: tenant)
        #expect(autonomous.decision == .block && autonomous.failedPolicyIDs == [DemoTenant.agentBlockPolicyID])
        #expect(answers.first { $0.evaluation.policy.id == GrantsFixture.mfaPolicyID }?.evaluation.applies == false)
        let summary = try #require(try whatIf.summary(q, tenant: tenant))
        #expect(
            summary.contains("agent identity Contoso Expense Agent") && summary.contains("of blueprint Contoso Expense Agent Blueprint"))
        #expect(summary.contains("acting on its own"))
        q.userID = alice.upn
        let (delegated, _) = try whatIf.evaluate(q, tenant: tenant)
        #expect(delegated.decision == .interrupt && delegated.failedPolicyIDs == [GrantsFixture.mfaPolicyID])
        #expect(try whatIf.summary(q, tenant: tenant)?.contains("acting for alice@contoso.com") == true)
    }

    @Test("An agent token is described in words: which agent identity, of which blueprint, acting for whom")
    func description() async throws {
        let f = try await fixture()
        let tenant = try await f.authority.tenant(DemoTenant.tenantID)
        let obo = try await agentOBO(f, assertion: try await userToken(f), credential: try await f.agentCredential()).get().accessToken
        #expect(
            AgentDescription.describe(claims: try claims(obo), tenant: tenant)
                == "agent identity Contoso Expense Agent (\(agent.appId)) of blueprint Contoso Expense Agent Blueprint (\(blueprint.appId)), acting for alice@contoso.com"
        )
        let app = try await f.success(
            [("grant_type", "client_credentials"), ("scope", "https://database.windows.net//.default")]
                + GrantsFixture.agentAuthentication(try await f.agentCredential())
        ).accessToken
        #expect(
            AgentDescription.describe(claims: try claims(app), tenant: nil)
                == "agent identity \(agent.appId) of blueprint \(blueprint.appId), acting on its own (no user)")
        #expect(AgentDescription.describe(claims: try claims(try await userToken(f)), tenant: tenant) == nil)
    }
}
