import DeputyCore
import Foundation

/// Identity Protection's risk levels as Graph names them (`riskLevel`).
private let riskLevels: Set<String> = ["low", "medium", "high", "hidden", "none", "unknownFutureValue"]

/// `conditions.signInRiskLevels`: the risk of this sign-in (Microsoft Learn, "Risk-based Conditional Access").
struct SignInRiskCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["signInRiskLevels"]
    static let reason = AnalysisReasons.signInRisk

    let levels: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        let levels = try reader.strings(c["signInRiskLevels"], "conditions.signInRiskLevels", oneOf: riskLevels)
        return levels.isEmpty ? nil : Self(levels: levels)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool { levels.contains(f.signInRisk) }
    func describe(_ f: ConditionalAccessEngine.Facts) -> String { "sign-in risk \(f.signInRisk)" }
}

/// `conditions.userRiskLevels`: the user's risk. The `passwordChange` control remediates it, so a policy
/// with that control must have this condition (checked when the policy is read).
struct UserRiskCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["userRiskLevels"]
    static let reason = AnalysisReasons.userRisk

    let levels: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        let levels = try reader.strings(c["userRiskLevels"], "conditions.userRiskLevels", oneOf: riskLevels)
        return levels.isEmpty ? nil : Self(levels: levels)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool { levels.contains(f.userRisk) }
    func describe(_ f: ConditionalAccessEngine.Facts) -> String { "user risk \(f.userRisk)" }
}

/// `conditions.agentIdRiskLevels`: an agent identity's risk, for policies assigned to agent identities
/// (Microsoft Learn, "Conditional Access for agent identities"). Graph's
/// `conditionalAccessAgentIdRiskLevels` is a flags enum (`"medium,high"`); a list is accepted too.
struct AgentIdRiskCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["agentIdRiskLevels"]
    static let reason = AnalysisReasons.agentIdRisk

    let levels: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        let path = "conditions.agentIdRiskLevels"
        let levels: [String]
        switch c["agentIdRiskLevels"] {
        case .string(let text)?:
            levels = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        default: levels = try reader.strings(c["agentIdRiskLevels"], path)
        }
        for (i, v) in levels.enumerated() where !["low", "medium", "high"].contains(v) {
            throw reader.fail("\(path)[\(i)]", "expected low, medium or high, found '\(v)'")
        }
        return levels.isEmpty ? nil : Self(levels: levels)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool { levels.contains(f.context.agent?.risk ?? "none") }
    func describe(_ f: ConditionalAccessEngine.Facts) -> String { "agent risk \(f.context.agent?.risk ?? "none")" }
}
