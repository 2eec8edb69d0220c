public import DeputyCore
import Foundation

/// Agent ID facts in words, for `deputy decode`, What-If and the sign-in log page: "agent identity
/// Contoso Expense Agent (4a6c…) of blueprint Contoso Expense Agent Blueprint (c3d5…), acting for
/// alice@contoso.com". Names come from the tenant when one is given; otherwise ids are shown.
public enum AgentDescription {
    /// Describes a token's agent facets (Microsoft Learn, "Agent token claims"), or nil when no agent acted.
    public static func describe(claims: [String: JSONValue], tenant: DirectoryIndex?) -> String? {
        func facets(_ name: String) -> Set<String> {
            switch claims[name] {
            case .string(let s)?: Set(s.split(separator: " ").map(String.init))
            case .array(let a)?: Set(a.compactMap { $0.stringValue ?? $0.numberValue.map { String(Int($0)) } })
            case .number(let n)?: [String(Int(n))]
            default: []
            }
        }
        guard facets("xms_act_fct").contains("11"), let agentID = claims["azp"]?.stringValue ?? claims["appid"]?.stringValue else {
            return nil
        }
        let blueprintID = claims["xms_par_app_azp"]?.stringValue
        let subject = facets("xms_sub_fct")
        let user = claims["preferred_username"]?.stringValue ?? claims["upn"]?.stringValue ?? claims["oid"]?.stringValue ?? "a user"
        let how: String
        if subject.contains("13") {
            how = "acting as its agent user \(user)"
        } else if subject.contains("11") || claims["idtyp"]?.stringValue == "app" {
            how = "acting on its own (no user)"
        } else {
            how = "acting for \(user)"
        }
        return "\(agentIdentity(agentID, blueprintID: blueprintID, tenant: tenant)), \(how)"
    }

    /// "agent identity NAME (ID) of blueprint NAME (ID)".
    public static func agentIdentity(_ agentID: String, blueprintID: String?, tenant: DirectoryIndex?) -> String {
        let agentName = tenant?.agentIdentity(appID: agentID)?.displayName
        let blueprint = blueprintID ?? tenant?.agentIdentity(appID: agentID)?.agentIdentityBlueprintId
        let blueprintName = blueprint.flatMap { tenant?.application(appID: $0)?.displayName }
        var text = "agent identity " + (agentName.map { "\($0) (\(agentID))" } ?? agentID)
        if let blueprint { text += " of blueprint " + (blueprintName.map { "\($0) (\(blueprint))" } ?? blueprint) }
        return text
    }

    /// What-If's sign-in in words, when an agent identity is the client.
    public static func describe(_ context: SignInContext) -> String? {
        guard let agent = context.agent else { return nil }
        let who = agentIdentity(agent.identity.appId, blueprintID: agent.blueprint.appId, tenant: context.tenant)
        guard let user = context.user else {
            return "\(who), acting on its own: only policies assigned to agent identities apply (block only; agent risk \(agent.risk))"
        }
        if user.isAgentUser {
            return "\(who), acting as its agent user \(user.userPrincipalName): agent-user policies (AllAgentIdUsers) apply, not All users"
        }
        return "\(who), acting for \(user.userPrincipalName): the user's policies apply, at the user's location"
    }
}
