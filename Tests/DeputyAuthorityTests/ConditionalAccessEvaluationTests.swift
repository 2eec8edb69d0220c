import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

/// One sign-in against a set of policies, and what Entra would decide.
struct PolicyCase: Sendable, CustomTestStringConvertible {
    var name: String
    var policies: [String]
    /// Demo user key, or nil for an app-only sign-in by `client`.
    var user: String? = "alice"
    var client = "webApi"
    var resource = "dataApi"
    var methods = ["pwd"]
    var authAge: TimeInterval = 60
    var mfaAge: TimeInterval?
    var acrs: [String] = []
    var requiredPolicyIDs: [String] = []
    var ip: String? = "127.0.0.1"
    var platform: String?
    var appType = "mobileAppsAndDesktopClients"
    var signInRisk: String?
    var userRisk: String?
    var device: DeviceState?
    var decision: ConditionalAccessOutcome.Decision
    /// Each policy's sign-in-log result, in order.
    var results: [String]
    var requirements: [ConditionalAccessRequirement] = []
    var satisfiedContexts: [String]? = nil

    var testDescription: String { name }
}

/// Builds policy JSON tersely: id `…00NN`, users, applications, grant and session controls.
func policy(
    _ n: Int, state: String = "enabled", users: String = #"{"includeUsers":["All"]}"#, apps: String = #"{"includeApplications":["All"]}"#,
    grant: String? = #"{"operator":"OR","builtInControls":["mfa"]}"#, conditions: String = "", session: String? = nil
) -> String {
    let extra = conditions.isEmpty ? "" : ", " + conditions
    return """
        {"id":"\(policyID(n))","displayName":"Policy \(n)","state":"\(state)",
         "conditions":{"users":\(users),"applications":\(apps),"clientAppTypes":["all"]\(extra)},
         "grantControls":\(grant ?? "null"),"sessionControls":\(session ?? "null")}
        """
}

func policyID(_ n: Int) -> String { String(format: "00000000-0000-4000-8000-%012d", n) }

let alice = DemoTenant.user("alice").id
let bob = DemoTenant.user("bob").id
let approvers = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
let globalAdmin = "62e90394-69f5-4237-9190-012177145e10"
let dataApi = DemoTenant.app("dataApi").appId
let hq = "4e0b5a3c-1d2e-4f3a-8b4c-5d6e7f8a9b01"
let branch = "4e0b5a3c-1d2e-4f3a-8b4c-5d6e7f8a9b02"
let unknownCountries = "4e0b5a3c-1d2e-4f3a-8b4c-5d6e7f8a9b03"
let mfa = #"{"operator":"OR","builtInControls":["mfa"]}"#
let block = #"{"operator":"OR","builtInControls":["block"]}"#

let policyCases: [PolicyCase] = [
    // Users: include, exclude, groups, roles, guests, None.
    .init(
        name: "All users, MFA required, password only: interrupt", policies: [policy(1)], decision: .interrupt, results: ["failure"],
        requirements: [.mfa]),
    .init(
        name: "All users, MFA required, MFA done: granted", policies: [policy(1)], methods: ["pwd", "mfa", "otp"], decision: .grant,
        results: ["success"]),
    .init(
        name: "An excluded user is not targeted", policies: [policy(1, users: #"{"includeUsers":["All"],"excludeUsers":["\#(alice)"]}"#)],
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "An excluded group excludes its member",
        policies: [policy(1, users: #"{"includeUsers":["All"],"excludeGroups":["\#(approvers)"]}"#)], user: "bob", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "An excluded group does not exclude a non-member",
        policies: [policy(1, users: #"{"includeUsers":["All"],"excludeGroups":["\#(approvers)"]}"#)], decision: .interrupt,
        results: ["failure"], requirements: [.mfa]),
    .init(
        name: "An included group does not target a non-member", policies: [policy(1, users: #"{"includeGroups":["\#(approvers)"]}"#)],
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "An included group targets its member", policies: [policy(1, users: #"{"includeGroups":["\#(approvers)"]}"#)], user: "bob",
        decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "An included directory role targets its holder", policies: [policy(1, users: #"{"includeRoles":["\#(globalAdmin)"]}"#)],
        user: "bob", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "An included directory role does not target others", policies: [policy(1, users: #"{"includeRoles":["\#(globalAdmin)"]}"#)],
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "Exclusion beats inclusion (user included and excluded by role)",
        policies: [policy(1, users: #"{"includeUsers":["\#(bob)"],"excludeRoles":["\#(globalAdmin)"]}"#)], user: "bob", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "GuestsOrExternalUsers targets a guest", policies: [policy(1, users: #"{"includeUsers":["GuestsOrExternalUsers"]}"#)],
        user: "eve", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "GuestsOrExternalUsers does not target a member",
        policies: [policy(1, users: #"{"includeUsers":["GuestsOrExternalUsers"]}"#)], decision: .grant, results: ["notApplied"]),
    .init(
        name: "includeGuestsOrExternalUsers targets a guest",
        policies: [
            policy(
                1,
                users:
                    #"{"includeGuestsOrExternalUsers":{"guestOrExternalUserTypes":"b2bCollaborationGuest","externalTenants":{"membershipKind":"all"}}}"#
            )
        ], user: "eve", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "includeUsers None targets nobody", policies: [policy(1, users: #"{"includeUsers":["None"]}"#)], decision: .grant,
        results: ["notApplied"]),
    // Target resources.
    .init(
        name: "A policy for the Data API does not apply to the Web API",
        policies: [policy(1, apps: #"{"includeApplications":["\#(dataApi)"]}"#)], resource: "webApi", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "A policy for the Data API applies to the Data API", policies: [policy(1, apps: #"{"includeApplications":["\#(dataApi)"]}"#)],
        decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "An excluded application is not targeted",
        policies: [policy(1, apps: #"{"includeApplications":["All"],"excludeApplications":["\#(dataApi)"]}"#)], decision: .grant,
        results: ["notApplied"]),
    // Combination: block wins, report-only, disabled.
    .init(name: "Block blocks", policies: [policy(1, grant: block)], decision: .block, results: ["failure"]),
    .init(
        name: "Block wins over a satisfied policy", policies: [policy(1, grant: block), policy(2)], methods: ["pwd", "mfa"],
        decision: .block, results: ["failure", "success"]),
    .init(
        name: "Every applicable policy must be satisfied (two unmet policies are both named)",
        policies: [policy(1), policy(2, apps: #"{"includeApplications":["\#(dataApi)"]}"#)], decision: .interrupt,
        results: ["failure", "failure"], requirements: [.mfa]),
    .init(
        name: "Report-only MFA is logged as interrupted and not enforced",
        policies: [policy(1, state: "enabledForReportingButNotEnforced")], decision: .grant, results: ["reportOnlyInterrupted"]),
    .init(
        name: "Report-only MFA with MFA done is reportOnlySuccess", policies: [policy(1, state: "enabledForReportingButNotEnforced")],
        methods: ["pwd", "mfa"], decision: .grant, results: ["reportOnlySuccess"]),
    .init(
        name: "Report-only block is reportOnlyFailure and not enforced",
        policies: [policy(1, state: "enabledForReportingButNotEnforced", grant: block)], decision: .grant, results: ["reportOnlyFailure"]),
    .init(
        name: "Report-only policy that does not apply is reportOnlyNotApplied",
        policies: [policy(1, state: "enabledForReportingButNotEnforced", users: #"{"includeUsers":["None"]}"#)], decision: .grant,
        results: ["reportOnlyNotApplied"]),
    .init(
        name: "A disabled policy is notEnabled", policies: [policy(1, state: "disabled", grant: block)], decision: .grant,
        results: ["notEnabled"]),
    // Grant controls: AND / OR, devices, authentication strength, password change.
    .init(
        name: "AND of MFA and a compliant device needs the device too",
        policies: [policy(1, grant: #"{"operator":"AND","builtInControls":["mfa","compliantDevice"]}"#)], methods: ["pwd", "mfa"],
        decision: .interrupt, results: ["failure"], requirements: [.compliantDevice]),
    .init(
        name: "OR of MFA and a compliant device is met by the device",
        policies: [policy(1, grant: #"{"operator":"OR","builtInControls":["mfa","compliantDevice"]}"#)],
        device: DeviceState(isCompliant: true), decision: .grant, results: ["success"]),
    .init(
        name: "AND of MFA and a compliant device met by both",
        policies: [policy(1, grant: #"{"operator":"AND","builtInControls":["mfa","compliantDevice"]}"#)], methods: ["pwd", "mfa"],
        device: DeviceState(isCompliant: true), decision: .grant, results: ["success"]),
    .init(
        name: "A hybrid-joined device meets domainJoinedDevice",
        policies: [policy(1, grant: #"{"operator":"OR","builtInControls":["domainJoinedDevice"]}"#)],
        device: DeviceState(trustType: "ServerAD"), decision: .grant, results: ["success"]),
    .init(
        name: "An Entra-joined device does not meet domainJoinedDevice",
        policies: [policy(1, grant: #"{"operator":"OR","builtInControls":["domainJoinedDevice"]}"#)],
        device: DeviceState(trustType: "AzureAD"), decision: .interrupt, results: ["failure"], requirements: [.domainJoinedDevice]),
    .init(
        name: "The built-in MFA authentication strength needs MFA",
        policies: [
            policy(
                1, grant: #"{"operator":"OR","builtInControls":[],"authenticationStrength":{"id":"00000000-0000-0000-0000-000000000002"}}"#)
        ], decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "High user risk with MFA and password change asks for the password change",
        policies: [
            policy(1, grant: #"{"operator":"AND","builtInControls":["mfa","passwordChange"]}"#, conditions: #""userRiskLevels":["high"]"#)
        ], methods: ["pwd", "mfa"], userRisk: "high", decision: .interrupt, results: ["failure"], requirements: [.passwordChange]),
    .init(
        name: "A user-risk policy does not apply without the risk",
        policies: [
            policy(1, grant: #"{"operator":"AND","builtInControls":["mfa","passwordChange"]}"#, conditions: #""userRiskLevels":["high"]"#)
        ], decision: .grant, results: ["notApplied"]),
    .init(
        name: "A sign-in-risk policy applies at that risk", policies: [policy(1, conditions: #""signInRiskLevels":["medium","high"]"#)],
        signInRisk: "high", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "A sign-in-risk policy does not apply at no risk",
        policies: [policy(1, conditions: #""signInRiskLevels":["medium","high"]"#)], decision: .grant, results: ["notApplied"]),
    // Authentication contexts.
    .init(
        name: "An authentication-context policy does not apply when the context is not asked for",
        policies: [policy(1, apps: #"{"includeAuthenticationContextClassReferences":["c1"]}"#)], decision: .grant, results: ["notApplied"]),
    .init(
        name: "An authentication-context policy applies when the context is asked for",
        policies: [policy(1, apps: #"{"includeAuthenticationContextClassReferences":["c1"]}"#)], acrs: ["c1"], decision: .interrupt,
        results: ["failure"], requirements: [.mfa], satisfiedContexts: []),
    .init(
        name: "A satisfied authentication context is granted and reported",
        policies: [policy(1, apps: #"{"includeAuthenticationContextClassReferences":["c1"]}"#)], methods: ["pwd", "mfa"], acrs: ["c1"],
        decision: .grant, results: ["success"], satisfiedContexts: ["c1"]),
    .init(
        name: "A context no policy targets is satisfied as asked", policies: [], acrs: ["c2"], decision: .grant, results: [],
        satisfiedContexts: ["c2"]),
    // Locations.
    .init(
        name: "All locations except trusted ones: a trusted address is excluded",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}"#)], decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "All locations except trusted ones: an untrusted address is targeted",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}"#)],
        ip: "192.168.1.5", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "A named location targets an address in its range",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["\#(branch)"]}"#)], ip: "192.168.1.5", decision: .interrupt,
        results: ["failure"], requirements: [.mfa]),
    .init(
        name: "A named location does not target an address outside its ranges",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["\#(branch)"]}"#)], ip: "8.8.8.8", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "A country location with unknown countries includes loopback",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["\#(unknownCountries)"]}"#)], decision: .interrupt,
        results: ["failure"], requirements: [.mfa]),
    .init(
        name: "An IPv6 loopback address is in a trusted ::1/128 range",
        policies: [policy(1, conditions: #""locations":{"includeLocations":["All"],"excludeLocations":["\#(hq)"]}"#)], ip: "::1",
        decision: .grant, results: ["notApplied"]),
    // Platforms and client app types.
    .init(
        name: "An Android-only policy does not apply on Linux",
        policies: [policy(1, conditions: #""platforms":{"includePlatforms":["android"]}"#)], platform: "linux", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "All platforms except iOS does not apply on iOS",
        policies: [policy(1, conditions: #""platforms":{"includePlatforms":["all"],"excludePlatforms":["iOS"]}"#)], platform: "iOS",
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "All platforms applies when the platform is unknown",
        policies: [policy(1, conditions: #""platforms":{"includePlatforms":["all"],"excludePlatforms":["iOS"]}"#)], decision: .interrupt,
        results: ["failure"], requirements: [.mfa]),
    .init(
        name: "A browser-only policy does not apply to a token grant",
        policies: [policy(1).replacingOccurrences(of: #""clientAppTypes":["all"]"#, with: #""clientAppTypes":["browser"]"#)],
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "A browser-only policy applies to a browser sign-in",
        policies: [policy(1).replacingOccurrences(of: #""clientAppTypes":["all"]"#, with: #""clientAppTypes":["browser"]"#)],
        appType: "browser", decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "Device states: a policy excluding compliant devices does not apply to one",
        policies: [policy(1, conditions: #""devices":{"includeDeviceStates":["All"],"excludeDeviceStates":["Compliant"]}"#)],
        device: DeviceState(isCompliant: true), decision: .grant, results: ["notApplied"]),
    // Sign-in frequency.
    .init(
        name: "Sign-in frequency of one hour: a two-hour-old sign-in must sign in again",
        policies: [policy(1, grant: nil, session: #"{"signInFrequency":{"value":1,"type":"hours","isEnabled":true}}"#)], authAge: 7200,
        decision: .interrupt, results: ["failure"], requirements: [.reauthentication]),
    .init(
        name: "Sign-in frequency of one hour: a half-hour-old sign-in passes",
        policies: [policy(1, grant: nil, session: #"{"signInFrequency":{"value":1,"type":"hours","isEnabled":true}}"#)], authAge: 1800,
        decision: .grant, results: ["success"]),
    .init(
        name: "Sign-in frequency every time: a ten-minute-old sign-in must sign in again",
        policies: [
            policy(
                1, grant: nil,
                session:
                    #"{"signInFrequency":{"isEnabled":true,"frequencyInterval":"everyTime","authenticationType":"primaryAndSecondaryAuthentication"}}"#
            )
        ], authAge: 600, decision: .interrupt, results: ["failure"], requirements: [.reauthentication]),
    .init(
        name: "Sign-in frequency for the second factor counts from the last MFA",
        policies: [
            policy(
                1,
                session: #"{"signInFrequency":{"value":1,"type":"hours","isEnabled":true,"authenticationType":"secondaryAuthentication"}}"#)
        ], methods: ["pwd", "mfa"], authAge: 60, mfaAge: 7200, decision: .interrupt, results: ["failure"], requirements: [.mfa]),
    .init(
        name: "Sign-in frequency with MFA required: an old sign-in signs in again first, then does MFA",
        policies: [policy(1, session: #"{"signInFrequency":{"value":1,"type":"hours","isEnabled":true}}"#)], authAge: 7200,
        decision: .interrupt, results: ["failure"], requirements: [.reauthentication, .mfa]),
    // Workload identities and the middle tier.
    .init(
        name: "A workload-identity block stops an app-only token",
        policies: [
            policy(
                1, users: #"{"includeUsers":["None"]}"#, grant: block,
                conditions: #""clientApplications":{"includeServicePrincipals":["ServicePrincipalsInMyTenant"]}"#)
        ], user: nil, client: "reports", decision: .block, results: ["failure"]),
    .init(
        name: "A workload-identity policy spares an excluded service principal",
        policies: [
            policy(
                1, users: #"{"includeUsers":["None"]}"#, grant: block,
                conditions:
                    #""clientApplications":{"includeServicePrincipals":["ServicePrincipalsInMyTenant"],"excludeServicePrincipals":["REPORTS_SP"]}"#
            )
        ], user: nil, client: "reports", decision: .grant, results: ["notApplied"]),
    .init(
        name: "A user policy never applies to an app-only token", policies: [policy(1, grant: block)], user: nil, client: "reports",
        decision: .grant, results: ["notApplied"]),
    .init(
        name: "The middle tier is not the subject: excluding the user spares OBO even though the client is included",
        policies: [policy(1, users: #"{"includeUsers":["All"],"excludeUsers":["\#(alice)"]}"#)], client: "webApi", decision: .grant,
        results: ["notApplied"]),
    .init(
        name: "A policy named in a claims challenge does not apply to a user it excludes",
        policies: [
            policy(1, users: #"{"includeUsers":["All"],"excludeUsers":["\#(alice)"]}"#, apps: #"{"includeApplications":["\#(dataApi)"]}"#)
        ], resource: "webApi", requiredPolicyIDs: [policyID(1)], decision: .grant, results: ["notApplied"]),
    .init(
        name: "A block policy named in a claims challenge is not forced",
        policies: [policy(1, apps: #"{"includeApplications":["\#(dataApi)"]}"#, grant: block)], resource: "webApi",
        requiredPolicyIDs: [policyID(1)], decision: .grant, results: ["notApplied"]),
    .init(
        name: "A policy named in a claims challenge is enforced even for another resource",
        policies: [policy(1, apps: #"{"includeApplications":["\#(dataApi)"]}"#)], resource: "webApi", requiredPolicyIDs: [policyID(1)],
        decision: .interrupt, results: ["failure"], requirements: [.mfa]),
]

@Suite("Conditional Access evaluation")
struct ConditionalAccessEvaluationTests {
    static func tenant(policies: [String]) throws -> DirectoryIndex {
        var d = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml").tenants[0]
        let reportsSP = d.servicePrincipals.first { $0.appId == DemoTenant.app("reports").appId }!.id
        d.conditionalAccessPolicies = try policies.map {
            try JSONDecoder().decode(JSONValue.self, from: Data($0.replacingOccurrences(of: "REPORTS_SP", with: reportsSP).utf8))
        }
        d.namedLocations = try [
            ##"{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"\##(hq)","displayName":"HQ","isTrusted":true,"ipRanges":[{"@odata.type":"#microsoft.graph.iPv4CidrRange","cidrAddress":"127.0.0.0/8"},{"@odata.type":"#microsoft.graph.iPv6CidrRange","cidrAddress":"::1/128"}]}"##,
            ##"{"@odata.type":"#microsoft.graph.ipNamedLocation","id":"\##(branch)","displayName":"Branch","isTrusted":false,"ipRanges":[{"cidrAddress":"192.168.0.0/16"}]}"##,
            ##"{"@odata.type":"#microsoft.graph.countryNamedLocation","id":"\##(unknownCountries)","displayName":"Unknown countries","countriesAndRegions":["US"],"includeUnknownCountriesAndRegions":true}"##,
        ].map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        let index = DirectoryIndex(d)
        try #require(index.policies.count == policies.count, "every policy of the case parses")
        return index
    }

    static func context(_ c: PolicyCase, tenant: DirectoryIndex, now: Date) -> SignInContext {
        let user = c.user.flatMap { tenant.user(id: DemoTenant.user($0).id) }
        var ctx = SignInContext(
            tenant: tenant, user: user, client: tenant.application(appID: DemoTenant.app(c.client).appId)!,
            resource: tenant.application(appID: DemoTenant.app(c.resource).appId), isInteractive: c.appType == "browser",
            authentication: user.map {
                Authentication(
                    userID: $0.id, authTime: now - c.authAge, methods: c.methods,
                    mfaTime: c.mfaAge.map { now - $0 } ?? (c.methods.contains("mfa") ? now - c.authAge : nil))
            },
            requestedAuthenticationContexts: c.acrs, ipAddress: c.ip, authenticationProtocol: "test")
        ctx.requiredPolicyIDs = c.requiredPolicyIDs
        ctx.devicePlatform = c.platform
        ctx.clientAppType = c.appType
        ctx.signInRiskLevel = c.signInRisk
        ctx.userRiskLevel = c.userRisk
        ctx.device = c.device
        return ctx
    }

    @Test("The policy table has at least 40 cases") func tableSize() { #expect(policyCases.count >= 40) }

    @Test("Each sign-in gets Entra's decision and each policy its logged result", arguments: policyCases)
    func evaluate(_ c: PolicyCase) throws {
        let time = ManualTimeSource()
        let tenant = try Self.tenant(policies: c.policies)
        let outcome = ConditionalAccessEngine(time: time).evaluate(Self.context(c, tenant: tenant, now: time.now()))
        #expect(outcome.decision == c.decision)
        #expect(outcome.evaluations.map(\.result) == c.results)
        #expect(outcome.requirements == c.requirements)
        if let contexts = c.satisfiedContexts { #expect(outcome.satisfiedContexts == contexts) }
        // The challenge names exactly the enforced policies that failed.
        let failed = zip(outcome.evaluations, c.results).filter { $0.0.policy.state == .enabled && $0.1 == "failure" }.map(\.0.policy.id)
        #expect(outcome.failedPolicyIDs == failed)
        #expect(outcome.status == (c.decision != .grant ? "failure" : c.results.contains("success") ? "success" : "notApplied"))
    }

    @Test(
        "What-If answers as live issuance does for the same sign-in",
        arguments: policyCases.filter { $0.user != nil && $0.methods == ["pwd"] && $0.mfaAge == nil })
    func whatIfMatchesLive(_ c: PolicyCase) throws {
        let time = ManualTimeSource()
        let tenant = try Self.tenant(policies: c.policies)
        var q = WhatIf.Question()
        q.userID = DemoTenant.user(c.user!).id
        q.resourceAppID = DemoTenant.app(c.resource).appId
        q.clientAppID = DemoTenant.app(c.client).appId
        q.authenticationContext = c.acrs.first
        q.ipAddress = c.ip
        q.devicePlatform = c.platform
        q.clientAppType = c.appType
        q.signInRiskLevel = c.signInRisk
        q.userRiskLevel = c.userRisk
        q.device = c.device
        let whatIf = WhatIf(time: time)
        var live = Self.context(c, tenant: tenant, now: time.now())
        live.authentication?.authTime = time.now()
        live.requiredPolicyIDs = []
        let (outcome, answers) = try whatIf.evaluate(q, tenant: tenant)
        let expected = ConditionalAccessEngine(time: time).evaluate(live)
        #expect(outcome.decision == expected.decision)
        #expect(answers.map(\.evaluation.applies) == expected.evaluations.map(\.applies))
        #expect(answers.map(\.evaluation.reasons) == expected.evaluations.map(\.reasons))
    }

    @Test("The challenge error has Entra's real shape by default and the documented shape on request")
    func challengeShapes() throws {
        let time = ManualTimeSource()
        let tenant = try Self.tenant(policies: [policy(1), policy(2, grant: block, conditions: #""signInRiskLevels":["high"]"#)])
        var c = policyCases[0]
        c.policies = []
        let outcome = ConditionalAccessEngine(time: time).evaluate(Self.context(c, tenant: tenant, now: time.now()))
        let entra = try #require(outcome.error(resource: tenant.application(appID: dataApi), style: nil))
        #expect(entra.error == .invalidGrant)
        #expect(entra.aadsts == 50076)
        #expect(entra.suberror == "basic_action")
        #expect(entra.claims == #"{"access_token":{"capolids":{"essential":true,"values":["\#(policyID(1))"]}}}"#)
        let documented = try #require(outcome.error(resource: nil, style: "documented"))
        #expect(documented.error == .interactionRequired)
        #expect(documented.claims == #"{"access_token":{"polids":{"essential":true,"values":["\#(policyID(1))"]}}}"#)

        c.signInRisk = "high"
        let blocked = ConditionalAccessEngine(time: time).evaluate(Self.context(c, tenant: tenant, now: time.now()))
        let e = try #require(blocked.error(resource: nil, style: nil))
        #expect(e.aadsts == 53003)
        #expect(e.suberror == "message_only")
        #expect(e.claims == #"{"access_token":{"capolids":{"essential":true,"values":["\#(policyID(2))"]}}}"#)
    }
}
