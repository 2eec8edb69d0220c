import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

struct TenantFileLoaderTests {
    // MARK: - The embedded demo tenant

    static let demo = DemoTenant(portBase: 7400, https: false)

    static func loadDemo() throws -> TenantDirectory {
        let loaded = try TenantFileLoader.load(yaml: demo.yaml, fileName: "demo.yaml")
        #expect(loaded.tenants.count == 1)
        return try #require(loaded.tenants.first)
    }

    @Test("The demo tenant loads with its users and applications")
    func demoLoads() throws {
        let tenant = try Self.loadDemo()
        #expect(tenant.tenant.id == DemoTenant.tenantID)
        #expect(tenant.tenant.verifiedDomains == [DemoTenant.domain, "contoso.com"])
        // The people, then the agent's user account (Graph agentUser), kept inline with its @odata.type.
        #expect(tenant.users.map(\.id) == DemoTenant.users.map(\.id) + [DemoTenant.agentUser.id])
        #expect(tenant.users.filter(\.isAgentUser).map(\.identityParentId) == [DemoTenant.app("agent").appId])
        // The demo apps, plus Microsoft Graph (whose sign-in log and What-If the authority serves);
        // the agent identity is a service principal without an application.
        let registered = DemoTenant.apps.filter { $0.blueprint == nil }.map(\.appId)
        #expect(Set(tenant.applications.map(\.appId)) == Set(registered + [DemoTenant.graphAppID]))
        #expect(tenant.applications.count == 12)
        #expect(tenant.applications.filter(\.isAgentIdentityBlueprint).map(\.appId) == [DemoTenant.app("agentBlueprint").appId])
        #expect(
            tenant.servicePrincipals.filter(\.isAgentIdentity).map(\.agentIdentityBlueprintId) == [DemoTenant.app("agentBlueprint").appId])
        #expect(tenant.agentIdentityBlueprints.isEmpty && tenant.agentIdentities.isEmpty && tenant.agentUsers.isEmpty)
        #expect(tenant.groups.count == 1)
        #expect(tenant.conditionalAccessPolicies.count == 5)
        #expect(tenant.users.first { $0.id == DemoTenant.user("alice").id }?.manager == DemoTenant.user("bob").id)
    }

    @Test("Every application gets a service principal with a GUID id")
    func demoServicePrincipals() throws {
        let tenant = try Self.loadDemo()
        // One per application, plus the agent identity.
        #expect(tenant.servicePrincipals.count == tenant.applications.count + 1)
        for app in tenant.applications {
            let sp = try #require(tenant.servicePrincipals.first { $0.appId == app.appId }, "no service principal for \(app.displayName)")
            #expect(DirectoryValidator.isGUID(sp.id))
            #expect(sp.id != app.appId)
            #expect(sp.displayName == app.displayName)
            #expect(sp.accountEnabled == true)
            #expect(app.id.map(DirectoryValidator.isGUID) == true, "application object id is derived")
        }
        #expect(Set(tenant.servicePrincipals.map(\.id)).count == tenant.servicePrincipals.count)
    }

    @Test("Client secrets are replaced by their SHA-256 hash")
    func demoSecretsAreHashed() throws {
        let tenant = try Self.loadDemo()
        let appsWithSecrets = DemoTenant.apps.filter { $0.secret != nil }
        #expect(appsWithSecrets.count == 8)
        for demoApp in appsWithSecrets {
            let secret = try #require(demoApp.secret)
            let app = try #require(tenant.applications.first { $0.appId == demoApp.appId })
            let credential = try #require(app.passwordCredentials?.first)
            #expect(credential.secretText == nil)
            let hash = try #require(credential.hashedSecret)
            #expect(hash != secret)
            #expect(ClientSecret.matches(secret, hash: hash))
            #expect(!ClientSecret.matches(secret + "x", hash: hash))
            #expect(credential.hint == String(secret.prefix(3)))
            #expect(credential.keyId != nil)
        }
        // Nothing in the loaded directory contains a plain secret.
        let json = String(decoding: try JSONEncoder().encode(tenant), as: UTF8.self)
        for demoApp in appsWithSecrets { #expect(!json.contains(demoApp.secret!)) }
    }

    @Test("Plain passwords are moved out of the directory")
    func demoPasswordsAreMoved() throws {
        let loaded = try TenantFileLoader.load(yaml: Self.demo.yaml, fileName: "demo.yaml")
        let tenant = try #require(loaded.tenants.first)
        #expect(tenant.users.allSatisfy { $0.password == nil })
        #expect(loaded.plainPasswords.count == 3)
        for user in DemoTenant.users {
            let key = LoadedTenantFile.PasswordKey(tenantID: DemoTenant.tenantID, userID: user.id)
            #expect(loaded.plainPasswords[key] == user.password)
        }
        let json = String(decoding: try JSONEncoder().encode(tenant), as: UTF8.self)
        for user in DemoTenant.users { #expect(!json.contains(user.password)) }
    }

    @Test("Grants and app-role assignments that name an appId are resolved to service-principal ids")
    func demoReferencesAreResolved() throws {
        let tenant = try Self.loadDemo()
        let spIDs = Set(tenant.servicePrincipals.map(\.id))
        func sp(_ key: String) -> String? { tenant.servicePrincipals.first { $0.appId == DemoTenant.app(key).appId }?.id }

        #expect(tenant.oauth2PermissionGrants.count == 15)
        for grant in tenant.oauth2PermissionGrants {
            #expect(spIDs.contains(grant.clientId), "clientId \(grant.clientId)")
            #expect(spIDs.contains(grant.resourceId), "resourceId \(grant.resourceId)")
            #expect(grant.id != nil)
        }
        let first = try #require(tenant.oauth2PermissionGrants.first)
        #expect(first.clientId == sp("spa"))
        #expect(first.resourceId == sp("webApi"))
        #expect(first.scopeValues == ["access_as_user"])

        let reports = try #require(tenant.appRoleAssignments.first)
        #expect(reports.principalId == sp("reports"))
        #expect(reports.resourceId == sp("dataApi"))
        #expect(reports.principalType == "ServicePrincipal")
        let group = try #require(tenant.appRoleAssignments.first { $0.principalType == "Group" })
        #expect(group.principalId == "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
        #expect(group.principalType == "Group")
    }

    @Test("The fingerprint identifies the file's text")
    func fingerprint() throws {
        let a = try TenantFileLoader.load(yaml: Self.demo.yaml, fileName: "a.yaml")
        let b = try TenantFileLoader.load(yaml: Self.demo.yaml, fileName: "b.yaml")
        let c = try TenantFileLoader.load(yaml: DemoTenant(portBase: 8400, https: false).yaml, fileName: "a.yaml")
        #expect(a.fingerprint == b.fingerprint)
        #expect(a.fingerprint != c.fingerprint)
    }

    // MARK: - Small files

    /// A valid single-tenant file: an API with a scope and an app role, and a client granted both.
    static let minimal = """
        tenant:
          id: 11111111-1111-4111-8111-111111111111
          displayName: Test
          verifiedDomains: [test.example]
        users:
          - id: 22222222-2222-4222-8222-222222222221
            userPrincipalName: ann@test.example
            displayName: Ann
            password: "Ann!pass1"
        applications:
          - appId: 33333333-3333-4333-8333-333333333331
            displayName: Test API
            identifierUris: ["api://test-api"]
            api:
              oauth2PermissionScopes:
                - {id: 44444444-4444-4444-8444-444444444441, value: read}
            appRoles:
              - {id: 55555555-5555-4555-8555-555555555551, value: Reader, allowedMemberTypes: [Application]}
            passwordCredentials:
              - secretText: "a-test-secret-of-enough-length"
          - appId: 33333333-3333-4333-8333-333333333332
            displayName: Test Client
        oauth2PermissionGrants:
          - clientId: 33333333-3333-4333-8333-333333333332
            resourceId: 33333333-3333-4333-8333-333333333331
            consentType: AllPrincipals
            scope: read
        appRoleAssignments:
          - principalId: 33333333-3333-4333-8333-333333333332
            resourceId: 33333333-3333-4333-8333-333333333331
            appRoleId: 55555555-5555-4555-8555-555555555551

        """

    @Test("A minimal single-tenant file loads")
    func minimalLoads() throws {
        let loaded = try TenantFileLoader.load(yaml: Self.minimal, fileName: "file.yaml")
        let tenant = try #require(loaded.tenants.first)
        #expect(loaded.tenants.count == 1)
        #expect(tenant.users.count == 1)
        #expect(tenant.servicePrincipals.count == 2)
        #expect(loaded.plainPasswords.values.sorted() == ["Ann!pass1"])
        let clientSP = tenant.servicePrincipals.first { $0.appId == "33333333-3333-4333-8333-333333333332" }?.id
        #expect(tenant.oauth2PermissionGrants.first?.clientId == clientSP)
    }

    @Test("The same tenant in the 'tenants:' list form loads the same directory")
    func listFormLoads() throws {
        let single = try TenantFileLoader.load(yaml: Self.minimal, fileName: "file.yaml")
        let list = try TenantFileLoader.load(yaml: Self.listForm(Self.minimal), fileName: "file.yaml")
        #expect(list.tenants == single.tenants)
        #expect(list.plainPasswords == single.plainPasswords)
    }

    // MARK: - Problems

    @Test("A misspelt optional field is reported as unknown, with its line")
    func unknownField() throws {
        let yaml = Self.minimal.edited("    displayName: Ann\n", "    displayName: Ann\n    jobTitel: Engineer\n")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "jobTitel", in: yaml))
        #expect(problem.message.contains("unknown field 'jobTitel'"))
        #expect(problem.message.contains("jobTitle") || problem.message.contains("displayName"), "lists the fields in use")
        #expect(problem.path == "users[0]")
    }

    @Test("An unknown field nested in an application is reported with its line, in the list form too")
    func unknownNestedField() throws {
        let yaml = Self.listForm(
            Self.minimal.edited(
                "      oauth2PermissionScopes:\n", "      requestedAccessTokenVersoin: 2\n      oauth2PermissionScopes:\n"))
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "requestedAccessTokenVersoin", in: yaml))
        #expect(problem.message.contains("unknown field 'requestedAccessTokenVersoin'"))
        #expect(problem.path == "tenants[0].applications[0].api")
    }

    @Test("A misspelt required field (userPrincipleName) is reported at the misspelling, with a hint")
    func misspeltRequiredField() throws {
        let yaml = Self.minimal.edited("userPrincipalName:", "userPrincipleName:")
        let error = try Self.problems(yaml)
        #expect(error.problems.count == 2, "\(error)")
        let missing = try #require(error.problems.first { $0.message == "the required field 'userPrincipalName' is missing" })
        #expect(missing.line == Self.line(of: "- id: 22222222-2222-4222-8222-222222222221", in: yaml))
        let typo = try #require(error.problems.first { $0.message.contains("'userPrincipleName'") }, "\(error)")
        #expect(typo.line == Self.line(of: "userPrincipleName", in: yaml))
        #expect(typo.path == "users[0]")
        #expect(typo.message == "unknown field 'userPrincipleName' (did you mean 'userPrincipalName'?)")
    }

    @Test("A missing required field does not call a known field next to it unknown")
    func missingFieldHintSkipsKnownFields() throws {
        // 'mail' is within edit distance 3 of 'id', but it is a field of User, not a misspelling.
        let yaml = Self.minimal.edited(
            "  - id: 22222222-2222-4222-8222-222222222221\n    userPrincipalName: ann@test.example\n",
            "  - userPrincipalName: ann@test.example\n    mail: ann@test.example\n")
        let error = try Self.problems(yaml)
        #expect(error.problems.contains { $0.message == "the required field 'id' is missing" }, "\(error)")
        #expect(!error.problems.contains { $0.message.contains("'mail'") }, "\(error)")
    }

    @Test("A missing required field is named, at the line of the object that lacks it")
    func missingRequiredField() throws {
        let yaml = Self.minimal.edited("    displayName: Test Client\n", "")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.message == "the required field 'displayName' is missing")
        #expect(problem.path == "applications[1]")
        #expect(problem.line == Self.line(of: "- appId: 33333333-3333-4333-8333-333333333332", in: yaml))
    }

    @Test("A scalar of the wrong type is reported with its line and the type expected")
    func wrongScalarType() throws {
        let yaml = Self.minimal.edited("    displayName: Ann\n", "    displayName: Ann\n    accountEnabled: maybe\n")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "accountEnabled: maybe", in: yaml))
        #expect(problem.path == "users[0].accountEnabled")
        #expect(problem.message.hasPrefix("expected true or false"))
    }

    @Test("A scalar where a list belongs is reported with its line as 'expected a list'")
    func scalarForList() throws {
        let yaml = Self.minimal.edited("verifiedDomains: [test.example]", "verifiedDomains: test.example")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "verifiedDomains", in: yaml))
        #expect(problem.path == "tenant.verifiedDomains")
        #expect(problem.message.hasPrefix("expected a list"), "\(problem.message)")
    }

    @Test("An id that is not a GUID is reported with its line")
    func badGUID() throws {
        let yaml = Self.minimal.edited("- id: 22222222-2222-4222-8222-222222222221", "- id: ann")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "- id: ann", in: yaml))
        #expect(problem.path == "users[0].id")
        #expect(problem.message.contains("expected a GUID"))
        #expect(problem.message.contains("'ann'"))
    }

    @Test("A manager who is not a user of the tenant is reported")
    func unknownManager() throws {
        let yaml = Self.minimal.edited(
            "    displayName: Ann\n", "    displayName: Ann\n    manager: 22222222-2222-4222-8222-999999999999\n")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "manager:", in: yaml))
        #expect(problem.path == "users[0].manager")
        #expect(problem.message == "no user with id '22222222-2222-4222-8222-999999999999' in this tenant")
    }

    @Test("A duplicate appId is reported at the second application, naming the first")
    func duplicateAppID() throws {
        let yaml = Self.minimal
            .edited("- appId: 33333333-3333-4333-8333-333333333332", "- appId: 33333333-3333-4333-8333-333333333331")
            .edited("clientId: 33333333-3333-4333-8333-333333333332", "clientId: 33333333-3333-4333-8333-333333333331")
            .edited("principalId: 33333333-3333-4333-8333-333333333332", "principalId: 33333333-3333-4333-8333-333333333331")
        let error = try Self.problems(yaml)
        let duplicate = try #require(error.problems.first { $0.message.contains("duplicate appId") })
        #expect(duplicate.path == "applications[1].appId")
        #expect(duplicate.line == Self.line(of: "displayName: Test Client", in: yaml) - 1)
        #expect(duplicate.message.contains("also at applications[0]"))
    }

    @Test("A grant of a scope the resource does not define is reported with the scopes it does define")
    func undefinedScope() throws {
        let yaml = Self.minimal.edited("scope: read\n", "scope: \"read write\"\n")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "scope: \"read write\"", in: yaml))
        #expect(problem.path == "oauth2PermissionGrants[0].scope")
        #expect(problem.message == "the scope 'write' is not defined by Test API (defined: read)")
    }

    @Test("An app-role assignment of a role the resource does not have is reported")
    func unknownAppRole() throws {
        let yaml = Self.minimal.edited("appRoleId: 55555555-5555-4555-8555-555555555551", "appRoleId: 55555555-5555-4555-8555-555555555559")
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.line == Self.line(of: "appRoleId: 55555555-5555-4555-8555-555555555559", in: yaml))
        #expect(problem.path == "appRoleAssignments[0].appRoleId")
        #expect(problem.message == "Test API has no app role with id '55555555-5555-4555-8555-555555555559'")
    }

    @Test("Invalid YAML is reported with the line of the syntax error")
    func invalidYAML() throws {
        let yaml = "tenant:\n  id: 11111111-1111-4111-8111-111111111111\n\tdisplayName: Test\n"
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.message.hasPrefix("not valid YAML"))
        #expect(problem.line == 3)
    }

    @Test("An empty file is reported")
    func emptyFile() throws {
        let error = try Self.problems("# nothing here\n")
        #expect(error.problems.only?.message.contains("empty") == true)
    }

    @Test("Every problem of a file is reported in one error, by line")
    func severalProblems() throws {
        let yaml = Self.minimal
            .edited("- id: 22222222-2222-4222-8222-222222222221", "- id: ann")
            .edited("    displayName: Ann\n", "    displayName: Ann\n    jobTitel: Engineer\n")
            .edited("scope: read\n", "scope: write\n")
            .edited("appRoleId: 55555555-5555-4555-8555-555555555551", "appRoleId: 55555555-5555-4555-8555-555555555559")
        let error = try Self.problems(yaml)
        #expect(error.problems.count == 4)
        #expect(
            error.problems.map(\.line) == [
                Self.line(of: "- id: ann", in: yaml), Self.line(of: "jobTitel", in: yaml),
                Self.line(of: "scope: write", in: yaml), Self.line(of: "appRoleId: 5555", in: yaml),
            ])
        #expect(error.description.hasPrefix("The tenant file file.yaml has 4 problems:\n"))
    }

    /// The minimal tenant plus an agent identity blueprint, its agent identity and agent user.
    static let withAgents =
        minimal + """
            agentIdentityBlueprints:
              - appId: 33333333-3333-4333-8333-333333333339
                displayName: Test Agent Blueprint
                identifierUris: ["api://test-agent"]
                api:
                  oauth2PermissionScopes:
                    - {id: 44444444-4444-4444-8444-444444444449, value: access_as_user}
                passwordCredentials:
                  - secretText: "a-blueprint-secret-of-length"
            agentIdentities:
              - id: 88888888-8888-4888-8888-888888888881
                displayName: Test Agent
                agentIdentityBlueprintId: 33333333-3333-4333-8333-333333333339
            agentUsers:
              - id: 22222222-2222-4222-8222-222222222229
                userPrincipalName: agent@test.example
                displayName: Test Agent User
                identityParentId: 88888888-8888-4888-8888-888888888881

            """

    @Test("Agent ID objects load inline, as Graph returns them: the blueprint among applications, the agent among service principals")
    func agentsLoad() throws {
        let tenant = try #require(try TenantFileLoader.load(yaml: Self.withAgents, fileName: "file.yaml").tenants.first)
        let blueprint = try #require(tenant.applications.first { $0.appId == "33333333-3333-4333-8333-333333333339" })
        #expect(blueprint.isAgentIdentityBlueprint && blueprint.passwordCredentials?.first?.secretText == nil)
        let agent = try #require(tenant.servicePrincipals.first { $0.id == "88888888-8888-4888-8888-888888888881" })
        #expect(agent.isAgentIdentity && agent.appId == agent.id && agent.agentIdentityBlueprintId == blueprint.appId)
        let user = try #require(tenant.users.first { $0.id == "22222222-2222-4222-8222-222222222229" })
        #expect(user.isAgentUser && user.identityParentId == agent.id && user.passwordHash == nil)
        let json = String(decoding: try JSONEncoder().encode(tenant), as: UTF8.self)
        #expect(json.contains(##""@odata.type":"#microsoft.graph.agentIdentity""##))
    }

    @Test(
        "Every broken agent link is named with its line: a missing blueprint, a credential on an agent, an orphan agent user, a blueprint with redirect URIs"
    )
    func agentProblems() throws {
        let yaml = Self.withAgents
            .edited(
                "    agentIdentityBlueprintId: 33333333-3333-4333-8333-333333333339",
                "    agentIdentityBlueprintId: 33333333-3333-4333-8333-333333333338\n    passwordCredentials:\n      - secretText: \"an-agent-secret-of-length\""
            )
            .edited(
                "    identityParentId: 88888888-8888-4888-8888-888888888881",
                "    identityParentId: 88888888-8888-4888-8888-888888888882\n    password: \"Agent!pass1\""
            )
            .edited(
                "    identifierUris: [\"api://test-agent\"]",
                "    identifierUris: [\"api://test-agent\"]\n    web: {redirectUris: [\"https://agent.example/cb\"]}")
        let error = try Self.problems(yaml)
        let byPath = Dictionary(error.problems.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["agentIdentities[0].agentIdentityBlueprintId"]?.line == Self.line(of: "agentIdentityBlueprintId: 3333", in: yaml))
        #expect(byPath["agentIdentities[0].agentIdentityBlueprintId"]?.message.contains("no agent identity blueprint") == true)
        #expect(byPath["agentIdentities[0].passwordCredentials"]?.message.contains("no credentials of its own") == true)
        #expect(byPath["agentIdentities[0].passwordCredentials"]?.line == Self.line(of: "an-agent-secret", in: yaml))
        #expect(byPath["agentUsers[0].identityParentId"]?.line == Self.line(of: "identityParentId: 8888", in: yaml))
        #expect(byPath["agentUsers[0].password"]?.message.contains("has no password") == true)
        #expect(byPath["agentIdentityBlueprints[0].web.redirectUris"]?.message.contains("no redirect URIs") == true)
        #expect(error.problems.count == 5, "\(error)")
    }

    @Test("An agent identity whose parent is a plain application is told so")
    func agentOfPlainApplication() throws {
        let yaml = Self.withAgents.edited(
            "    agentIdentityBlueprintId: 33333333-3333-4333-8333-333333333339",
            "    agentIdentityBlueprintId: 33333333-3333-4333-8333-333333333331")
        let problem = try #require(try Self.problems(yaml).problems.only)
        #expect(problem.message.contains("is an application, not an agent identity blueprint"))
    }

    @Test("Problems in the second tenant of a list carry its path and line")
    func problemInSecondTenant() throws {
        let second = """
              - tenant:
                  id: 66666666-6666-4666-8666-666666666666
                  displayName: Other
                  verifiedDomains: [other.example]
                users:
                  - id: 77777777-7777-4777-8777-777777777771
                    userPrincipalName: bo@nowhere.example
                    displayName: Bo
                    password: "pw"

            """
        let yaml = Self.listForm(Self.minimal) + second
        let error = try Self.problems(yaml)
        let problem = try #require(error.problems.only, "\(error)")
        #expect(problem.path == "tenants[1].users[0].userPrincipalName")
        #expect(problem.line == Self.line(of: "bo@nowhere.example", in: yaml))
        #expect(problem.message.contains("not one of the tenant's verifiedDomains"))
    }

    @Test("The description names file.yaml:<line> for each problem")
    func descriptionNamesFileAndLine() throws {
        let yaml = Self.minimal.edited("- id: 22222222-2222-4222-8222-222222222221", "- id: ann")
        let error = try Self.problems(yaml)
        let line = Self.line(of: "- id: ann", in: yaml)
        #expect(error.description.contains("file.yaml:\(line): users[0].id: expected a GUID"))
        #expect(error.description.hasPrefix("The tenant file file.yaml has 1 problem:\n"))
    }

    @Test("A file that cannot be read is reported")
    func missingFile() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("deputy-missing-\(UUID()).yaml").path
        let error = #expect(throws: TenantFileError.self) { try TenantFileLoader.load(path: path) }
        #expect(error?.file == path)
        #expect(error?.problems.only?.message.contains("cannot read") == true)
    }

    // MARK: - Helpers

    /// Loads `yaml`, expecting it to fail, and returns the error.
    static func problems(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TenantFileError {
        let error = #expect(throws: TenantFileError.self, sourceLocation: sourceLocation) {
            try TenantFileLoader.load(yaml: yaml, fileName: "file.yaml")
        }
        let unwrapped = try #require(error, sourceLocation: sourceLocation)
        #expect(unwrapped.file == "file.yaml", sourceLocation: sourceLocation)
        return unwrapped
    }

    /// Wraps a single-tenant document in the `tenants:` list form.
    static func listForm(_ single: String) -> String {
        let lines = single.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { i, line in
            line.isEmpty ? "" : (i == 0 ? "  - " : "    ") + line
        }
        return "tenants:\n" + lines.joined(separator: "\n")
    }

    /// The 1-based number of the only line of `yaml` that contains `text`.
    static func line(of text: String, in yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let matches = yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated().filter { $0.element.contains(text) }
        #expect(matches.count == 1, "'\(text)' is on \(matches.count) lines", sourceLocation: sourceLocation)
        return (matches.first?.offset ?? -1) + 1
    }
}

extension String {
    /// The text with `old` replaced by `new`; records an issue when `old` is not in the text, so a
    /// test never passes on an edit that did not happen.
    fileprivate func edited(_ old: String, _ new: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(contains(old), "the edit target '\(old)' is not in the file", sourceLocation: sourceLocation)
        return replacingOccurrences(of: old, with: new)
    }
}

extension Array {
    /// The element of a one-element array; nil otherwise (so a test sees extra problems).
    fileprivate var only: Element? { count == 1 ? first : nil }
}
