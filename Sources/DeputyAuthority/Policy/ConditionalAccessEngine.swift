public import DeputyCore
public import Foundation

/// Conditional Access as Entra evaluates it (Microsoft Learn, "Building a Conditional Access policy",
/// "Conditional Access: Grant"): every policy's
/// assignments and conditions are ANDed; exclusion beats inclusion; every applicable enabled
/// policy must be satisfied; block wins; report-only policies are evaluated and logged, never
/// enforced. The same function serves interactive sign-in, every token grant and What-If.
public struct ConditionalAccessEngine: ConditionalAccessEvaluating {
    /// How long a sign-in counts as fresh for `frequencyInterval: everyTime` (Entra allows five minutes).
    public static let everyTimeTolerance: TimeInterval = 300

    let time: any TimeSource

    public init(time: any TimeSource) { self.time = time }

    public func evaluate(_ context: SignInContext) -> ConditionalAccessOutcome {
        let facts = Facts(context, now: time.now())
        let evaluations = context.tenant.policies.map { evaluate($0, facts) }
        var outcome = Self.combine(evaluations, context: context)
        if !context.tenant.policyProblems.isEmpty {
            // Fail closed: a policy that cannot be read might have applied.
            outcome.decision = .block
            outcome.requirements = []
            outcome.satisfiedContexts = []
            outcome.unreadablePolicies = context.tenant.policyProblems
        }
        return outcome
    }

    static func combine(_ evaluations: [PolicyEvaluation], context: SignInContext) -> ConditionalAccessOutcome {
        let enforced = evaluations.filter { $0.isEnforced && $0.applies }
        let blockers = enforced.filter(\.blocks)
        let failing = enforced.filter { !$0.unmet.isEmpty }
        let decision: ConditionalAccessOutcome.Decision = !blockers.isEmpty ? .block : failing.isEmpty ? .grant : .interrupt
        let requirements = Set(failing.flatMap(\.unmet)).sorted()
        // Entra adds an explicitly requested context when every policy for it is satisfied
        // (also when no policy targets it) — Microsoft Learn, "Developer guide to Conditional Access authentication context".
        let satisfied = context.requestedAuthenticationContexts.filter { acr in
            enforced.allSatisfy { e in
                !(e.policy.applications?.includeAuthenticationContextClassReferences.contains(acr) ?? false)
                    || (!e.blocks && e.unmet.isEmpty)
            }
        }
        return ConditionalAccessOutcome(
            decision: decision, evaluations: evaluations, requirements: decision == .interrupt ? requirements : [],
            failedPolicyIDs: (decision == .block ? blockers : failing).map(\.policy.id),
            satisfiedContexts: decision == .block ? [] : satisfied)
    }

    /// What the conditions look at, computed once per sign-in.
    struct Facts {
        let context: SignInContext
        let now: Date
        let groups: Set<String>
        let roles: Set<String>
        let servicePrincipalID: String?
        let locations: [NamedLocation]
        let device: DeviceState?
        let signInRisk: String
        let userRisk: String
        /// The target resource's appId, lowercased.
        let targetID: String
        let locationIDs: Set<String>
        let inTrustedLocation: Bool
        /// The user's kind, once per sign-in (Foundation's case-insensitive compare is not free).
        let externalUserType: ExternalUserType?
        let userIsAgentUser: Bool

        init(_ c: SignInContext, now: Date) {
            context = c
            self.now = now
            if let user = c.user {
                let groups = c.tenant.groups(of: user.id)
                self.groups = groups
                let principals = groups.union([user.id])
                roles = Set(
                    c.tenant.directory.directoryRoleAssignments.filter { principals.contains($0.principalId) }.map(\.roleTemplateId))
            } else {
                groups = []
                roles = []
            }
            servicePrincipalID = c.tenant.servicePrincipal(appID: c.client.appId)?.id
            locations = c.tenant.namedLocations.filter { $0.contains(c.ipAddress) }
            locationIDs = Set(locations.map(\.id))
            inTrustedLocation = locations.contains(where: \.isTrusted)
            device = c.device ?? c.user?.device
            signInRisk = (c.signInRiskLevel ?? c.user?.signInRiskLevel ?? "none").lowercased()
            userRisk = (c.userRiskLevel ?? c.user?.userRiskLevel ?? "none").lowercased()
            targetID = (c.resource ?? c.client).appId.lowercased()
            userIsAgentUser = c.user?.isAgentUser ?? false
            externalUserType = c.user?.externalUserType
        }
    }

    func evaluate(_ policy: ConditionalAccessPolicy, _ f: Facts) -> PolicyEvaluation {
        let c = f.context
        var reasons: AnalysisReasons = []
        var why: [String] = []
        let explain = c.explain
        // The text is an autoclosure: live issuance never builds it.
        func condition(_ term: AnalysisReasons, _ matched: Bool, _ text: @autoclosure () -> String) {
            if !matched { reasons.insert(term) }
            if explain { why.append((matched ? "✓ " : "✗ ") + text()) }
        }

        // Assignments: the user (never the middle tier), or the workload identity for app-only tokens.
        if let user = c.user {
            if let u = policy.users {
                condition(.users, Self.matches(u, user: user, facts: f), Self.match(u, user: user, facts: f).1)
            } else {
                condition(.users, false, "targets workload identities, not users")
            }
        } else if let agent = c.agent {
            // An autonomous agent: only the policies assigned to agent identities (Microsoft Learn,
            // "Conditional Access for agent identities").
            if let ca = policy.clientApplications, ca.targetsAgents {
                let name = agent.identity.displayName ?? agent.identity.appId
                let excluded = Self.agentListed(ca.excludeAgentIdServicePrincipals, agent)
                let included = Self.agentListed(ca.includeAgentIdServicePrincipals, agent)
                condition(
                    .workloadIdentities, included && !excluded,
                    excluded
                        ? "agent identity \(name) is excluded"
                        : included ? "agent identity \(name) is included" : "agent identity \(name) is not included")
            } else {
                condition(
                    .workloadIdentities, false,
                    policy.users != nil
                        ? "targets users; this is an agent acting on its own" : "targets workload identities, not agent identities")
            }
        } else if let ca = policy.clientApplications {
            let sp = f.servicePrincipalID ?? ""
            let excluded = ca.excludeServicePrincipals.contains(sp)
            let included =
                ca.includeServicePrincipals.contains(sp) || ca.includeServicePrincipals.contains("ServicePrincipalsInMyTenant")
                || ca.includeServicePrincipals.contains("All")
            condition(
                .workloadIdentities, included && !excluded,
                excluded
                    ? "\(c.client.displayName) is excluded"
                    : included ? "\(c.client.displayName) is included" : "\(c.client.displayName) is not included")
        } else {
            condition(.workloadIdentities, false, "targets users; this is an app-only sign-in")
        }

        // Target resources: apps, or an authentication context asked for in `claims`.
        if let apps = policy.applications {
            let asked =
                !c.requestedAuthenticationContexts.isEmpty
                && apps.includeAuthenticationContextClassReferences.contains(where: c.requestedAuthenticationContexts.contains)
            if asked {
                let contexts = apps.includeAuthenticationContextClassReferences.filter(c.requestedAuthenticationContexts.contains)
                condition(.authenticationContext, true, "authentication context \(contexts.joined(separator: ", ")) was requested")
            } else if apps.includeApplications.isEmpty && !apps.includeAuthenticationContextClassReferences.isEmpty {
                condition(
                    .authenticationContext, false,
                    "authentication context \(apps.includeAuthenticationContextClassReferences.joined(separator: ", ")) was not requested")
            } else {
                let id = f.targetID
                let excluded = apps.excluded.contains(id)
                let included = apps.included.contains("all") || apps.included.contains(id)
                condition(
                    .application, included && !excluded,
                    {
                        let name = (c.resource ?? c.client).displayName
                        return excluded ? "\(name) is excluded" : included ? "\(name) is included" : "\(name) is not a target"
                    }())
            }
        }
        // The other conditions, each one type (Policy/Conditions).
        for each in policy.conditions {
            condition(type(of: each).reason, each.matches(f), each.describe(f))
        }

        var applies = reasons.isEmpty
        // A claims challenge names policies of another resource: their target resources and client
        // types are set aside, never the user assignment, and a block is never asked for.
        let forcible: AnalysisReasons = [.application, .authenticationContext, .clientApps]
        if !applies && policy.state == .enabled && forcible.isSuperset(of: reasons) && !policy.controls.contains(.block)
            && c.requiredPolicyIDs.contains(policy.id)
        {
            // A client answering a claims challenge must meet exactly what the named policies need.
            applies = true
            reasons = []
            if explain { why.append("named in the claims challenge (capolids)") }
        }
        if policy.state == .disabled {
            return PolicyEvaluation(
                policy: policy, applies: false, conditionsNotMet: .policyNotEnabled,
                explanation: explain ? ["the policy is off"] + why : [],
                unmet: [], blocks: false, result: "notEnabled")
        }
        let blocks = applies && policy.controls.contains(.block)
        let unmet = applies && !blocks ? Self.unmet(policy, f) : []
        if applies && explain {
            if blocks { why.append("→ blocks access") }
            for u in unmet { why.append("→ needs \(u.rawValue)") }
            if !blocks && unmet.isEmpty { why.append("→ satisfied") }
        }
        let result: String
        if policy.state == .enabled {
            result = !applies ? "notApplied" : (blocks || !unmet.isEmpty) ? "failure" : "success"
        } else {
            let userCanAct: Set<ConditionalAccessRequirement> = [.mfa, .reauthentication, .passwordChange]
            result =
                !applies
                ? "reportOnlyNotApplied"
                : blocks
                    ? "reportOnlyFailure"
                    : unmet.isEmpty
                        ? "reportOnlySuccess"
                        : Set(unmet).isSubset(of: userCanAct) ? "reportOnlyInterrupted" : "reportOnlyFailure"
        }
        return PolicyEvaluation(
            policy: policy, applies: applies, conditionsNotMet: reasons, explanation: why, unmet: unmet, blocks: blocks, result: result)
    }

    /// Whether an agent identity is in an `include/excludeAgentIdServicePrincipals` list: `All`, its
    /// own id or appId, or its blueprint's appId.
    static func agentListed(_ list: [String], _ agent: SignInContext.AgentFacts) -> Bool {
        list.contains { v in
            v == "All" || v.caseInsensitiveCompare(agent.identity.id) == .orderedSame
                || v.caseInsensitiveCompare(agent.identity.appId) == .orderedSame
                || v.caseInsensitiveCompare(agent.blueprint.appId) == .orderedSame
        }
    }

    /// `All` means every user but agent users; `AllAgentIdUsers` means every agent user
    /// (Microsoft Learn, "Conditional Access for agent identities": "All users" policies do not
    /// include agent user accounts).
    static func allUsersValue(_ v: String, agentUser: Bool) -> Bool {
        (v == "All" && !agentUser) || (v == "AllAgentIdUsers" && agentUser)
    }

    /// The user assignment, without words (the per-request path).
    static func matches(_ u: ConditionalAccessPolicy.Users, user: User, facts f: Facts) -> Bool {
        let external = f.externalUserType
        let agentUser = f.userIsAgentUser
        func hit(users: [String], groups: [String], roles: [String], guests: ConditionalAccessPolicy.GuestsOrExternalUsers?) -> Bool {
            for v in users where allUsersValue(v, agentUser: agentUser) || v == user.id || (v == "GuestsOrExternalUsers" && external != nil)
            {
                return true
            }
            if let guests, guests.matches(external, tenant: user.externalTenantId) { return true }
            for g in groups where f.groups.contains(g) { return true }
            for r in roles where f.roles.contains(r) { return true }
            return false
        }
        if hit(users: u.excludeUsers, groups: u.excludeGroups, roles: u.excludeRoles, guests: u.excludeGuestsOrExternalUsers) {
            return false
        }
        return hit(users: u.includeUsers, groups: u.includeGroups, roles: u.includeRoles, guests: u.includeGuestsOrExternalUsers)
    }

    /// The user assignment: included by id, All, guests, group or role; excluded the same ways.
    static func match(_ u: ConditionalAccessPolicy.Users, user: User, facts f: Facts) -> (Bool, String) {
        func hits(users: [String], groups: [String], roles: [String], guests: ConditionalAccessPolicy.GuestsOrExternalUsers?) -> String? {
            if users.contains("All") && !user.isAgentUser { return "All users" }
            if users.contains("AllAgentIdUsers") && user.isAgentUser { return "all agent users" }
            if users.contains(user.id) { return user.userPrincipalName }
            if let type = f.externalUserType {
                if users.contains("GuestsOrExternalUsers") { return "guests or external users" }
                if let guests, guests.matches(type, tenant: user.externalTenantId) {
                    return "guest or external user type \(type.rawValue)" + (user.externalTenantId.map { " from tenant \($0)" } ?? "")
                }
            }
            if let g = groups.first(where: f.groups.contains) {
                return "group " + (f.context.tenant.directory.groups.first { $0.id == g }?.displayName ?? g)
            }
            if let r = roles.first(where: f.roles.contains) { return "directory role \(r)" }
            return nil
        }
        if let why = hits(users: u.excludeUsers, groups: u.excludeGroups, roles: u.excludeRoles, guests: u.excludeGuestsOrExternalUsers) {
            return (false, "\(user.userPrincipalName) is excluded (\(why))")
        }
        if let why = hits(users: u.includeUsers, groups: u.includeGroups, roles: u.includeRoles, guests: u.includeGuestsOrExternalUsers) {
            return (true, "\(user.userPrincipalName) is included (\(why))")
        }
        if user.isAgentUser && u.includeUsers.contains("All") {
            return (false, "\(user.userPrincipalName) is an agent user, which All users does not include (use AllAgentIdUsers)")
        }
        return (false, "\(user.userPrincipalName) is not included")
    }

    /// What the sign-in lacks for an applicable, non-blocking policy.
    static func unmet(_ policy: ConditionalAccessPolicy, _ f: Facts) -> [ConditionalAccessRequirement] {
        let auth = f.context.authentication
        func satisfied(_ control: ConditionalAccessPolicy.Control) -> Bool {
            switch control {
            case .block: false
            case .mfa: auth?.methods.contains("mfa") ?? false
            case .compliantDevice: f.device?.isCompliant == true
            case .domainJoinedDevice: f.device?.trustType?.caseInsensitiveCompare("ServerAD") == .orderedSame
            // Satisfied by changing the password, which remediates the user's risk (the
            // policy's userRiskLevels condition then no longer matches).
            case .passwordChange: false
            }
        }
        func requirement(_ control: ConditionalAccessPolicy.Control) -> ConditionalAccessRequirement {
            switch control {
            case .block, .mfa: .mfa
            case .compliantDevice: .compliantDevice
            case .domainJoinedDevice: .domainJoinedDevice
            case .passwordChange: .passwordChange
            }
        }
        let controls = policy.orderedGrantControls
        var unmet: [ConditionalAccessRequirement] = []
        if !controls.isEmpty {
            if policy.requireAllControls {
                unmet = controls.filter { !satisfied($0) }.map(requirement)
            } else if !controls.contains(where: satisfied) {
                unmet = [requirement(controls[0])]
            }
        }
        if let sif = policy.signInFrequency {
            let since = sif.secondaryOnly ? auth?.mfaTime : auth?.authTime
            let limit = sif.seconds ?? everyTimeTolerance
            if since.map({ f.now.timeIntervalSince($0) > limit }) ?? true {
                // For the second factor only, a fresh MFA is the remedy; otherwise a new sign-in.
                let needed: ConditionalAccessRequirement = sif.secondaryOnly ? .mfa : .reauthentication
                if !unmet.contains(needed) { unmet.append(needed) }
            }
        }
        return unmet
    }
}
