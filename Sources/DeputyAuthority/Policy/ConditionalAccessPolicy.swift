public import DeputyCore
public import Foundation

// Microsoft Graph's `conditionalAccessPolicy` (Graph v1.0 "conditionalAccessPolicy resource type"), read from the JSON
// the tenant file and `deputy policy apply` carry. The policy is kept verbatim in the directory;
// this is its checked, evaluable form. Reading is strict in the way an operator needs: an unknown
// field is an error naming the policy and the field; a field Graph has but Deputy does not enforce
// is accepted only when it is null or empty (so a policy never silently means less here than in
// Entra); read-only metadata (`@odata.*`, `templateId`, timestamps) is ignored.

/// A Conditional Access policy, ready to evaluate. An immutable class: every sign-in's evaluation
/// borrows the directory's policies rather than copying them (the evaluator's cost is per policy
/// per issuance; see docs/benchmarks.md).
public final class ConditionalAccessPolicy: Sendable, Equatable {
    public static func == (a: ConditionalAccessPolicy, b: ConditionalAccessPolicy) -> Bool { a.json == b.json }

    /// The policy as the reader fills it in, field by field.
    struct Draft {
        var id: String
        var displayName: String
        var state: State
        var users: Users?
        var applications: Applications?
        var clientApplications: ClientApplications?
        var conditions: [any ConditionalAccessCondition] = []
        /// `AND` or `OR`.
        var requireAllControls = false
        var controls: [Control] = []
        /// `grantControls.authenticationStrength` (the built-in "Multifactor authentication" strength):
        /// satisfied by MFA, like the `mfa` control.
        var authenticationStrength: String?
        var signInFrequency: SignInFrequency?
        var strictLocationEnforcement = false
        /// The policy's JSON as given.
        var json: JSONValue

        var grantControls: [Control] {
            var c = controls
            if authenticationStrength != nil, !c.contains(.mfa) { c.append(.mfa) }
            return c
        }

        init(id: String, displayName: String, state: State, json: JSONValue) {
            self.id = id
            self.displayName = displayName
            self.state = state
            self.json = json
        }
    }

    init(_ d: Draft) {
        id = d.id
        displayName = d.displayName
        state = d.state
        users = d.users
        applications = d.applications
        clientApplications = d.clientApplications
        conditions = d.conditions
        requireAllControls = d.requireAllControls
        controls = d.controls
        authenticationStrength = d.authenticationStrength
        signInFrequency = d.signInFrequency
        strictLocationEnforcement = d.strictLocationEnforcement
        json = d.json
        var controls = d.controls
        if d.authenticationStrength != nil, !controls.contains(.mfa) { controls.append(.mfa) }
        orderedGrantControls = controls.sorted()
    }

    public enum State: String, Sendable, CaseIterable {
        case enabled, disabled, enabledForReportingButNotEnforced
    }

    /// `conditions.users`.
    public struct Users: Sendable, Equatable {
        public var includeUsers: [String] = []
        public var excludeUsers: [String] = []
        public var includeGroups: [String] = []
        public var excludeGroups: [String] = []
        public var includeRoles: [String] = []
        public var excludeRoles: [String] = []
        /// `includeGuestsOrExternalUsers` / `excludeGuestsOrExternalUsers`: which external users, from which tenants.
        public var includeGuestsOrExternalUsers: GuestsOrExternalUsers?
        public var excludeGuestsOrExternalUsers: GuestsOrExternalUsers?
    }

    /// Graph's `conditionalAccessGuestsOrExternalUsers`: the user types named (each matched on its
    /// own) and the external tenants they come from.
    public struct GuestsOrExternalUsers: Sendable, Equatable {
        public var types: Set<ExternalUserType>
        /// `externalTenants`: nil for all (`membershipKind: all`, or not given), else the tenant ids listed.
        public var tenants: Set<String>?

        /// Whether a user of this kind, from this home tenant, is one of these.
        public func matches(_ type: ExternalUserType?, tenant: String?) -> Bool {
            guard let type, types.contains(type) else { return false }
            guard let tenants else { return true }
            return tenant.map { tenants.contains($0.lowercased()) } ?? false
        }
    }

    /// `conditions.applications`.
    public struct Applications: Sendable, Equatable {
        public var includeApplications: [String] = [] { didSet { included = Set(includeApplications.map { $0.lowercased() }) } }
        public var excludeApplications: [String] = [] { didSet { excluded = Set(excludeApplications.map { $0.lowercased() }) } }
        /// The lists lowercased, for the per-request lookup (app ids compare case-insensitively).
        private(set) var included: Set<String> = []
        private(set) var excluded: Set<String> = []
        /// `c1`…`c99`.
        public var includeAuthenticationContextClassReferences: [String] = []
    }

    /// `conditions.clientApplications` (workload identities and agent identities).
    public struct ClientApplications: Sendable, Equatable {
        /// `ServicePrincipalsInMyTenant`, `All` or service principal ids.
        public var includeServicePrincipals: [String] = []
        public var excludeServicePrincipals: [String] = []
        /// Agent identities (Microsoft Learn, "Conditional Access for agent identities"): `All`,
        /// agent identity ids, or a blueprint's appId (every agent identity created from it).
        public var includeAgentIdServicePrincipals: [String] = []
        public var excludeAgentIdServicePrincipals: [String] = []

        /// Whether the policy is assigned to agent identities.
        public var targetsAgents: Bool { !includeAgentIdServicePrincipals.isEmpty }
    }

    /// The built-in grant controls.
    public enum Control: String, Sendable, CaseIterable, Comparable {
        // Declared in Entra's prompting order (Microsoft Learn, "Building a Conditional Access policy").
        case block, mfa, compliantDevice, domainJoinedDevice, passwordChange

        public static func < (a: Control, b: Control) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// `sessionControls.signInFrequency`.
    public struct SignInFrequency: Sendable, Equatable {
        /// nil with `frequencyInterval: everyTime`.
        public var seconds: TimeInterval?
        /// `secondaryAuthentication` measures from the last MFA rather than the last sign-in.
        public var secondaryOnly: Bool
    }

    public let id: String
    public let displayName: String
    public let state: State
    public let users: Users?
    public let applications: Applications?
    public let clientApplications: ClientApplications?
    /// The conditions beyond the assignments (client apps, platforms, locations, device state, risk)
    /// the policy configures, in ``ConditionalAccessConditions/all``'s order.
    let conditions: [any ConditionalAccessCondition]
    /// `AND` or `OR`.
    public let requireAllControls: Bool
    public let controls: [Control]
    /// `grantControls.authenticationStrength` (the built-in "Multifactor authentication" strength):
    /// satisfied by MFA, like the `mfa` control.
    public let authenticationStrength: String?
    public let signInFrequency: SignInFrequency?
    /// `sessionControls.continuousAccessEvaluation.mode` is `strictEnforcement` or `strictLocation`
    /// (Microsoft Learn, "Strictly enforce location policies using continuous access evaluation"):
    /// a user's change of location is a critical event for resources that evaluate continuously.
    public let strictLocationEnforcement: Bool
    /// The policy's JSON as given.
    public let json: JSONValue

    /// The controls that grant access, with the authentication strength counted as `mfa`.
    public var grantControls: [Control] {
        var c = controls
        if authenticationStrength != nil, !c.contains(.mfa) { c.append(.mfa) }
        return c
    }

    /// ``grantControls`` in prompting order.
    let orderedGrantControls: [Control]

    /// The built-in authentication strength Deputy can satisfy (TOTP is its second factor).
    public static let multifactorStrengthID = "00000000-0000-0000-0000-000000000002"
}

/// A problem in a policy: which policy, which field, what is wrong.
public struct PolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `'Require MFA' (0c1d…)`, or the policy's position when it has neither.
    public var policy: String
    /// The field path inside the policy (`conditions.users.includeUser`), empty for the whole policy.
    public var field: String
    public var message: String

    public var description: String {
        field.isEmpty ? "policy \(policy): \(message)" : "policy \(policy): \(field): \(message)"
    }
}

extension ConditionalAccessPolicy {
    /// Reads a policy from Graph JSON.
    /// - Parameter json: one `conditionalAccessPolicy` object, as Graph returns it.
    /// - Parameter position: names the policy in errors when it has no displayName.
    public static func parse(_ json: JSONValue, position: String = "") throws(PolicyError) -> ConditionalAccessPolicy {
        var reader = PolicyReader(name: position)
        return try reader.policy(json)
    }
}

/// Reads one policy object field by field; every key of every object is either read, ignored as
/// metadata, or accepted as an unenforced empty value — anything else is an error.
struct PolicyReader {
    var name: String

    func fail(_ field: String, _ message: String) -> PolicyError { PolicyError(policy: name, field: field, message: message) }

    /// Read-only metadata Graph returns and a POST ignores.
    /// (`policyApplies` and `analysisReasons` are What-If's additions to a policy it returns.)
    static let metadata: Set<String> = [
        "id", "templateId", "createdDateTime", "modifiedDateTime", "deletedDateTime", "policyApplies", "analysisReasons",
    ]

    func object(_ v: JSONValue?, _ path: String) throws(PolicyError) -> [String: JSONValue]? {
        switch v {
        case nil, .null?: return nil
        case .object(let o)?: return o
        default: throw fail(path, "expected an object")
        }
    }

    func strings(_ v: JSONValue?, _ path: String) throws(PolicyError) -> [String] {
        switch v {
        case nil, .null?: return []
        case .array(let a)?:
            var out: [String] = []
            for (i, e) in a.enumerated() {
                guard case .string(let s) = e else { throw fail("\(path)[\(i)]", "expected a string") }
                out.append(s)
            }
            return out
        default: throw fail(path, "expected a list of strings")
        }
    }

    func string(_ v: JSONValue?, _ path: String) throws(PolicyError) -> String? {
        switch v {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw fail(path, "expected a string")
        }
    }

    /// Whether a value is "not set": null, an empty list or object, an empty string, `false`, or
    /// an object whose members are all not set or whose `isEnabled` is false.
    static func isUnset(_ v: JSONValue) -> Bool {
        switch v {
        case .null: return true
        case .array(let a): return a.isEmpty
        case .string(let s): return s.isEmpty
        case .bool(let b): return !b
        case .number: return false
        case .object(let o):
            if case .bool(false)? = o["isEnabled"] { return true }
            return o.allSatisfy { $0.key.hasPrefix("@odata.") || isUnset($0.value) }
        }
    }

    /// Checks an object's keys: `known` are read by the caller, `unenforced` must be unset.
    func checkKeys(_ o: [String: JSONValue], _ path: String, known: Set<String>, unenforced: Set<String>) throws(PolicyError) {
        for (key, value) in o.sorted(by: { $0.key < $1.key }) {
            let field = path.isEmpty ? key : "\(path).\(key)"
            // Instance and property annotations (`@odata.type`, `x@odata.context`, `@microsoft.graph.tips`) are metadata.
            if key.contains("@") || (path.isEmpty && Self.metadata.contains(key)) || known.contains(key) { continue }
            if unenforced.contains(key) {
                if Self.isUnset(value) { continue }
                throw fail(
                    field,
                    "Deputy does not enforce this condition or control; it must be null or empty here (a policy must not mean less than it says)"
                )
            }
            let candidates = known.union(unenforced)
            let hint = closest(key, among: candidates).map { " (did you mean '\($0)'?)" } ?? ""
            throw fail(field, "unknown field\(hint)")
        }
    }

    mutating func policy(_ json: JSONValue) throws(PolicyError) -> ConditionalAccessPolicy {
        guard case .object(let o) = json else { throw fail("", "expected a Graph conditionalAccessPolicy object") }
        let displayName = try string(o["displayName"], "displayName")
        let id = try string(o["id"], "id")
        if let displayName { name = "'\(displayName)'" + (id.map { " (\($0))" } ?? "") } else if let id { name = id }
        guard let displayName, !displayName.isEmpty else { throw fail("displayName", "expected a display name") }
        // A POST body has no id (Graph assigns one): Deputy derives a stable one from the name, so
        // a claims challenge names the same policy after every restart.
        let policyID = id ?? TenantFileLoader.derivedID("conditionalAccessPolicy", displayName)
        guard UUID(uuidString: policyID) != nil else { throw fail("id", "expected the policy's id, a GUID, found '\(policyID)'") }
        var json = json
        if id == nil, case .object(var withID) = json {
            withID["id"] = .string(policyID)
            json = .object(withID)
        }
        try checkKeys(
            o, "", known: ["displayName", "description", "state", "conditions", "grantControls", "sessionControls"],
            unenforced: ["partialEnablementStrategy"])
        let stateText = try string(o["state"], "state") ?? ""
        guard let state = ConditionalAccessPolicy.State(rawValue: stateText) else {
            throw fail("state", "expected enabled, disabled or enabledForReportingButNotEnforced, found '\(stateText)'")
        }
        var p = ConditionalAccessPolicy.Draft(id: policyID, displayName: displayName, state: state, json: json)
        guard let conditions = try object(o["conditions"], "conditions") else {
            throw fail("conditions", "expected the policy's conditions")
        }
        try readConditions(conditions, into: &p)
        try readGrantControls(try object(o["grantControls"], "grantControls"), into: &p)
        try readSessionControls(try object(o["sessionControls"], "sessionControls"), into: &p)
        let has = { (kind: any ConditionalAccessCondition.Type) in p.conditions.contains { type(of: $0) == kind } }
        if p.controls.contains(.passwordChange) && (!has(UserRiskCondition.self) || !p.requireAllControls || !p.controls.contains(.mfa)) {
            // Graph's rule: a password change remediates user risk, so it needs that condition, and MFA with AND.
            throw fail("grantControls.builtInControls", "passwordChange needs conditions.userRiskLevels and operator AND with mfa")
        }
        if p.clientApplications?.targetsAgents == true || has(AgentIdRiskCondition.self) {
            // Microsoft Learn, "Conditional Access for agent identities": policies assigned to agent
            // identities have one condition (agent risk) and one control, block.
            if p.grantControls != [.block] || p.signInFrequency != nil {
                throw fail(
                    "grantControls.builtInControls",
                    "a policy assigned to agent identities can only block (Entra offers no other control for agents)")
            }
            if p.clientApplications?.targetsAgents != true {
                throw fail(
                    "conditions.agentIdRiskLevels",
                    "agent risk applies to policies assigned to agent identities (conditions.clientApplications.includeAgentIdServicePrincipals)"
                )
            }
        }
        if p.clientApplications != nil && (p.users?.includeUsers ?? ["None"]) == ["None"] && p.grantControls != [.block] {
            // Workload identities support block only (Microsoft Learn, "Conditional Access for workload identities").
            throw fail("grantControls.builtInControls", "a policy for workload identities can only block")
        }
        if p.grantControls.isEmpty && p.signInFrequency == nil {
            throw fail("grantControls", "a policy needs a grant control (block, mfa, …) or a session control")
        }
        return ConditionalAccessPolicy(p)
    }

    func readConditions(_ c: [String: JSONValue], into p: inout ConditionalAccessPolicy.Draft) throws(PolicyError) {
        try checkKeys(
            c, "conditions", known: ConditionalAccessConditions.graphKeys.union(["users", "applications", "clientApplications"]),
            unenforced: ["servicePrincipalRiskLevels", "insiderRiskLevels", "authenticationFlows", "times", "clients"])
        if let u = try object(c["users"], "conditions.users") {
            let path = "conditions.users"
            try checkKeys(
                u, path,
                known: [
                    "includeUsers", "excludeUsers", "includeGroups", "excludeGroups", "includeRoles", "excludeRoles",
                    "includeGuestsOrExternalUsers", "excludeGuestsOrExternalUsers",
                ], unenforced: [])
            var users = ConditionalAccessPolicy.Users()
            users.includeUsers = try strings(u["includeUsers"], "\(path).includeUsers")
            users.excludeUsers = try strings(u["excludeUsers"], "\(path).excludeUsers")
            users.includeGroups = try strings(u["includeGroups"], "\(path).includeGroups")
            users.excludeGroups = try strings(u["excludeGroups"], "\(path).excludeGroups")
            users.includeRoles = try strings(u["includeRoles"], "\(path).includeRoles")
            users.excludeRoles = try strings(u["excludeRoles"], "\(path).excludeRoles")
            users.includeGuestsOrExternalUsers = try guests(u["includeGuestsOrExternalUsers"], "\(path).includeGuestsOrExternalUsers")
            users.excludeGuestsOrExternalUsers = try guests(u["excludeGuestsOrExternalUsers"], "\(path).excludeGuestsOrExternalUsers")
            p.users = users
        }
        if let a = try object(c["applications"], "conditions.applications") {
            let path = "conditions.applications"
            try checkKeys(
                a, path, known: ["includeApplications", "excludeApplications", "includeAuthenticationContextClassReferences"],
                unenforced: ["includeUserActions", "applicationFilter", "networkAccess", "globalSecureAccess", "includeProtectionLevels"])
            var apps = ConditionalAccessPolicy.Applications()
            apps.includeApplications = try strings(a["includeApplications"], "\(path).includeApplications")
            apps.excludeApplications = try strings(a["excludeApplications"], "\(path).excludeApplications")
            apps.includeAuthenticationContextClassReferences = try strings(
                a["includeAuthenticationContextClassReferences"],
                "\(path).includeAuthenticationContextClassReferences")
            for (i, acr) in apps.includeAuthenticationContextClassReferences.enumerated() where !Self.isContextID(acr) {
                throw fail(
                    "\(path).includeAuthenticationContextClassReferences[\(i)]",
                    "expected an authentication context id c1…c99, found '\(acr)'")
            }
            for (i, app) in apps.includeApplications.enumerated() where app == "Office365" || app == "MicrosoftAdminPortals" {
                throw fail(
                    "\(path).includeApplications[\(i)]",
                    "'\(app)' names Microsoft's own apps, which Deputy does not host; use All or app ids")
            }
            p.applications = apps
        }
        if let ca = try object(c["clientApplications"], "conditions.clientApplications") {
            let path = "conditions.clientApplications"
            try checkKeys(
                ca, path,
                known: [
                    "includeServicePrincipals", "excludeServicePrincipals", "includeAgentIdServicePrincipals",
                    "excludeAgentIdServicePrincipals",
                ],
                unenforced: ["servicePrincipalFilter", "agentIdServicePrincipalFilter"])
            p.clientApplications = .init(
                includeServicePrincipals: try strings(ca["includeServicePrincipals"], "\(path).includeServicePrincipals"),
                excludeServicePrincipals: try strings(ca["excludeServicePrincipals"], "\(path).excludeServicePrincipals"),
                includeAgentIdServicePrincipals: try strings(
                    ca["includeAgentIdServicePrincipals"], "\(path).includeAgentIdServicePrincipals"),
                excludeAgentIdServicePrincipals: try strings(
                    ca["excludeAgentIdServicePrincipals"], "\(path).excludeAgentIdServicePrincipals"))
        }
        if p.users == nil && p.clientApplications == nil {
            throw fail("conditions.users", "a policy needs conditions.users or conditions.clientApplications")
        }
        if p.applications == nil { throw fail("conditions.applications", "a policy needs conditions.applications") }
        for kind in ConditionalAccessConditions.all {
            if let condition = try kind.read(c, self) { p.conditions.append(condition) }
        }
    }

    /// `includeGuestsOrExternalUsers`: a `conditionalAccessGuestsOrExternalUsers` object (Graph):
    /// `guestOrExternalUserTypes` is a comma-separated flags string, `externalTenants` a
    /// `conditionalAccessAllExternalTenants` or `conditionalAccessEnumeratedExternalTenants`.
    func guests(_ v: JSONValue?, _ path: String) throws(PolicyError) -> ConditionalAccessPolicy.GuestsOrExternalUsers? {
        guard let o = try object(v, path), !PolicyReader.isUnset(.object(o)) else { return nil }
        try checkKeys(o, path, known: ["guestOrExternalUserTypes", "externalTenants"], unenforced: [])
        var names: [String]
        switch o["guestOrExternalUserTypes"] {
        case .string(let s)?: names = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        case .array?: names = try strings(o["guestOrExternalUserTypes"], "\(path).guestOrExternalUserTypes")
        case nil, .null?: names = []
        default: throw fail("\(path).guestOrExternalUserTypes", "expected a comma-separated string of user types")
        }
        names.removeAll { $0.isEmpty || $0 == "none" }
        let valid = ExternalUserType.allCases.map(\.rawValue).joined(separator: ", ")
        guard !names.isEmpty else { throw fail("\(path).guestOrExternalUserTypes", "name at least one of \(valid)") }
        var types = Set<ExternalUserType>()
        for name in names {
            guard let t = ExternalUserType(rawValue: name) else {
                throw fail("\(path).guestOrExternalUserTypes", "'\(name)' is not a guest or external user type; expected \(valid)")
            }
            types.insert(t)
        }
        var tenants: Set<String>? = nil
        if let t = try object(o["externalTenants"], "\(path).externalTenants") {
            let tp = "\(path).externalTenants"
            try checkKeys(t, tp, known: ["membershipKind", "members"], unenforced: [])
            switch try string(t["membershipKind"], "\(tp).membershipKind") ?? "all" {
            case "all": break
            case "enumerated":
                let members = try strings(t["members"], "\(tp).members")
                guard !members.isEmpty else { throw fail("\(tp).members", "list at least one tenant id for membershipKind enumerated") }
                for (i, m) in members.enumerated() where UUID(uuidString: m) == nil {
                    throw fail("\(tp).members[\(i)]", "expected a tenant id (a GUID), found '\(m)'")
                }
                tenants = Set(members.map { $0.lowercased() })
            case let kind: throw fail("\(tp).membershipKind", "expected all or enumerated, found '\(kind)'")
            }
        }
        return .init(types: types, tenants: tenants)
    }

    /// Whether `s` is an authentication context id as Entra names them: `c1` to `c99`, written
    /// exactly so (no sign, no leading zero, no other characters), read byte by byte.
    static func isContextID(_ s: String) -> Bool {
        let b = Array(s.utf8)
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard (2...3).contains(b.count), b[0] == UInt8(ascii: "c"), b[1] != UInt8(ascii: "0") else { return false }
        return b.dropFirst().allSatisfy { digits.contains($0) }
    }

    func readGrantControls(_ g: [String: JSONValue]?, into p: inout ConditionalAccessPolicy.Draft) throws(PolicyError) {
        guard let g else { return }
        let path = "grantControls"
        try checkKeys(
            g, path, known: ["operator", "builtInControls", "authenticationStrength"],
            unenforced: ["customAuthenticationFactors", "termsOfUse"])
        let op = try string(g["operator"], "\(path).operator") ?? "OR"
        guard op == "AND" || op == "OR" else { throw fail("\(path).operator", "expected AND or OR, found '\(op)'") }
        p.requireAllControls = op == "AND"
        for (i, name) in try strings(g["builtInControls"], "\(path).builtInControls").enumerated() {
            guard let c = ConditionalAccessPolicy.Control(rawValue: name) else {
                let enforced = ConditionalAccessPolicy.Control.allCases.map(\.rawValue).joined(separator: ", ")
                if ["approvedApplication", "compliantApplication"].contains(name) {
                    throw fail(
                        "\(path).builtInControls[\(i)]",
                        "'\(name)' needs Intune app protection, which Deputy does not emulate; controls it enforces: \(enforced)")
                }
                throw fail("\(path).builtInControls[\(i)]", "unknown control '\(name)'; expected one of \(enforced)")
            }
            p.controls.append(c)
        }
        if p.controls.contains(.block) && p.controls.count > 1 {
            throw fail("\(path).builtInControls", "block cannot be combined with other controls")
        }
        if let s = try object(g["authenticationStrength"], "\(path).authenticationStrength") {
            let sid = try string(s["id"], "\(path).authenticationStrength.id")
            guard sid == ConditionalAccessPolicy.multifactorStrengthID else {
                throw fail(
                    "\(path).authenticationStrength.id",
                    "Deputy supports the built-in 'Multifactor authentication' strength (\(ConditionalAccessPolicy.multifactorStrengthID)); found '\(sid ?? "none")'"
                )
            }
            p.authenticationStrength = sid
        }
    }

    func readSessionControls(_ s: [String: JSONValue]?, into p: inout ConditionalAccessPolicy.Draft) throws(PolicyError) {
        guard let s else { return }
        let path = "sessionControls"
        try checkKeys(
            s, path, known: ["signInFrequency", "continuousAccessEvaluation"],
            unenforced: [
                "applicationEnforcedRestrictions", "cloudAppSecurity", "persistentBrowser",
                "disableResilienceDefaults", "secureSignInSession", "globalSecureAccessFilteringProfile", "networkAccessSecurity",
            ])
        if let cae = try object(s["continuousAccessEvaluation"], "\(path).continuousAccessEvaluation") {
            let cp = "\(path).continuousAccessEvaluation"
            try checkKeys(cae, cp, known: ["mode"], unenforced: [])
            switch try string(cae["mode"], "\(cp).mode") {
            case "strictEnforcement"?, "strictLocation"?: p.strictLocationEnforcement = true
            case "disabled"?, nil: break
            case let other?: throw fail("\(cp).mode", "expected strictEnforcement, strictLocation or disabled, found '\(other)'")
            }
        }
        guard let f = try object(s["signInFrequency"], "\(path).signInFrequency") else { return }
        let fp = "\(path).signInFrequency"
        try checkKeys(f, fp, known: ["isEnabled", "type", "value", "authenticationType", "frequencyInterval"], unenforced: [])
        guard case .bool(true)? = f["isEnabled"] else { return }
        let interval = try string(f["frequencyInterval"], "\(fp).frequencyInterval") ?? "timeBased"
        let authType = try string(f["authenticationType"], "\(fp).authenticationType") ?? "primaryAndSecondaryAuthentication"
        guard ["primaryAndSecondaryAuthentication", "secondaryAuthentication"].contains(authType) else {
            throw fail("\(fp).authenticationType", "expected primaryAndSecondaryAuthentication or secondaryAuthentication")
        }
        switch interval {
        case "everyTime":
            p.signInFrequency = .init(seconds: nil, secondaryOnly: authType == "secondaryAuthentication")
        case "timeBased":
            let type = try string(f["type"], "\(fp).type")
            guard case .number(let value)? = f["value"], value >= 1, value == value.rounded() else {
                throw fail("\(fp).value", "expected a whole number of hours or days")
            }
            let unit: Double
            switch type {
            case "hours": unit = 3600
            case "days": unit = 86_400
            default: throw fail("\(fp).type", "expected hours or days")
            }
            p.signInFrequency = .init(seconds: value * unit, secondaryOnly: authType == "secondaryAuthentication")
        default:
            throw fail("\(fp).frequencyInterval", "expected timeBased or everyTime")
        }
    }
}

/// The nearest candidate by edit distance, when it is close (a likely misspelling).
func closest(_ word: String, among candidates: Set<String>) -> String? {
    var best: (name: String, distance: Int)?
    for candidate in candidates.sorted() {
        let d = TenantFileLoader.editDistance(word.lowercased(), candidate.lowercased())
        if d < (best?.distance ?? Int.max) { best = (candidate, d) }
    }
    let limit = min(3, max(1, word.count / 3))
    guard let best, best.distance <= limit else { return nil }
    return best.name
}
