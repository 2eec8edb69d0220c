import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

/// Graph's `guestOrExternalUserTypes` and `externalTenants` matched one by one (Microsoft Learn,
/// "Assigning Conditional Access policies to external user types").
@Suite("Conditional Access: guest and external user types")
struct GuestTypesTests {
    static let fabrikam = DemoTenant.fabrikamTenantID
    static let litware = "7a3c5e1f-9b2d-4c6e-8a0f-1b3d5f7a9c24"

    /// One user per kind: key, userType, externalTenantId, explicit type.
    static let people: [(String, String, String?, String?)] = [
        ("member", "Member", nil, nil),
        ("internalGuest", "Guest", nil, nil),
        ("b2bGuestFabrikam", "Guest", fabrikam, nil),
        ("b2bGuestLitware", "Guest", litware, nil),
        ("b2bMember", "Member", fabrikam, nil),
        ("directConnect", "Member", fabrikam, "b2bDirectConnectUser"),
        ("serviceProvider", "Guest", litware, "serviceProvider"),
        ("otherExternal", "Guest", nil, "otherExternalUser"),
    ]

    static func id(_ n: Int) -> String { String(format: "00000000-0000-4000-9000-%012d", n) }

    static func tenant(users: String) throws -> DirectoryIndex {
        var d = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml").tenants[0]
        for (n, p) in people.enumerated() {
            var u = d.users[0]
            u.id = id(n)
            u.userPrincipalName = "\(p.0)@contoso.com"
            u.userType = p.1
            u.externalTenantId = p.2
            u.guestOrExternalUserType = p.3
            d.users.append(u)
        }
        let policy = """
            {"id":"00000000-0000-4000-8000-000000000001","displayName":"Block","state":"enabled",
             "conditions":{"users":\(users),"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]},
             "grantControls":{"operator":"OR","builtInControls":["block"]}}
            """
        d.conditionalAccessPolicies = [try JSONDecoder().decode(JSONValue.self, from: Data(policy.utf8))]
        let index = DirectoryIndex(d)
        try #require(index.policies.count == 1, "the policy parses")
        return index
    }

    /// The users (by key) the policy blocks.
    static func blocked(users: String) throws -> Set<String> {
        let tenant = try tenant(users: users)
        var out = Set<String>()
        let time = ManualTimeSource()
        let now = time.now()
        for (n, p) in people.enumerated() {
            let user = try #require(tenant.user(id: id(n)))
            let ctx = SignInContext(
                tenant: tenant, user: user, client: tenant.application(appID: DemoTenant.app("webApi").appId)!,
                resource: tenant.application(appID: DemoTenant.app("dataApi").appId), isInteractive: false,
                authentication: Authentication(userID: user.id, authTime: now, methods: ["pwd"]), requestedAuthenticationContexts: [],
                ipAddress: "127.0.0.1", authenticationProtocol: "test")
            if ConditionalAccessEngine(time: time).evaluate(ctx).decision == .block { out.insert(p.0) }
        }
        return out
    }

    @Test("Excluding one guest type no longer exempts every guest")
    func excludingOneTypeKeepsTheOthers() throws {
        let blocked = try Self.blocked(
            users: #"""
                {"includeUsers":["All"],"excludeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"b2bCollaborationGuest","externalTenants":{"membershipKind":"all"}}}
                """#)
        #expect(blocked == ["member", "internalGuest", "b2bMember", "directConnect", "serviceProvider", "otherExternal"])
    }

    @Test("Each guest or external user type is matched on its own", arguments: ExternalUserType.allCases)
    func eachTypeOnItsOwn(_ type: ExternalUserType) throws {
        let blocked = try Self.blocked(users: #"{"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"\#(type.rawValue)"}}"#)
        let expected: [ExternalUserType: Set<String>] = [
            .internalGuest: ["internalGuest"], .b2bCollaborationGuest: ["b2bGuestFabrikam", "b2bGuestLitware"],
            .b2bCollaborationMember: ["b2bMember"], .b2bDirectConnectUser: ["directConnect"], .serviceProvider: ["serviceProvider"],
            .otherExternalUser: ["otherExternal"],
        ]
        #expect(blocked == expected[type])
    }

    @Test("Enumerated external tenants match only users from those tenants")
    func enumeratedTenants() throws {
        let blocked = try Self.blocked(
            users: #"""
                {"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"b2bCollaborationGuest,b2bCollaborationMember,internalGuest",
                 "externalTenants":{"@odata.type":"#microsoft.graph.conditionalAccessEnumeratedExternalTenants","membershipKind":"enumerated","members":["\#(Self.fabrikam)"]}}}
                """#)
        #expect(blocked == ["b2bGuestFabrikam", "b2bMember"])
    }

    @Test("GuestsOrExternalUsers in includeUsers still means every guest or external user")
    func legacyValue() throws {
        let blocked = try Self.blocked(users: #"{"includeUsers":["GuestsOrExternalUsers"]}"#)
        #expect(blocked == Set(Self.people.map(\.0)).subtracting(["member"]))
    }

    @Test("An unknown guest type or a bad tenant id is refused naming the field")
    func badValuesRefused() throws {
        for (users, field) in [
            (#"{"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"b2bGuest"}}"#, "guestOrExternalUserTypes"),
            (
                #"{"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"internalGuest","externalTenants":{"membershipKind":"enumerated","members":["fabrikam.com"]}}}"#,
                "externalTenants.members[0]"
            ),
            (#"{"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"none"}}"#, "guestOrExternalUserTypes"),
        ] {
            let json = """
                {"id":"00000000-0000-4000-8000-000000000001","displayName":"P","state":"enabled",
                 "conditions":{"users":\(users),"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]},
                 "grantControls":{"operator":"OR","builtInControls":["block"]}}
                """
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
            let error = #expect(throws: PolicyError.self) { try ConditionalAccessPolicy.parse(value) }
            #expect(error?.description.contains(field) == true, "\(error?.description ?? "")")
        }
    }
}
