import DeputyCore
import Foundation

/// One condition of a Conditional Access policy (a member of Graph's `conditionalAccessConditionSet`
/// beside the user, application and client-application assignments): how it is read from the policy's
/// Graph JSON, whether a sign-in matches it, and the words What-If shows.
///
/// Adding a condition is adding one type conforming to this protocol and listing it in
/// ``ConditionalAccessConditions/all``; the reader, the evaluator and What-If pick it up from there.
/// Microsoft Learn, "Building a Conditional Access policy": all assignments and conditions of a
/// policy must match for it to apply; a condition not configured does not restrict it.
protocol ConditionalAccessCondition: Sendable {
    /// The keys of `conditions` this condition reads (e.g. `locations`).
    static var graphKeys: Set<String> { get }
    /// The What-If term (`analysisReasons`) reported when the condition does not match.
    static var reason: AnalysisReasons { get }
    /// Reads the condition from a policy's `conditions` object: nil when the policy does not configure it.
    /// Errors name the field, through `reader`.
    static func read(_ conditions: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self?
    /// Whether the sign-in matches (the per-request path: no words built).
    func matches(_ facts: ConditionalAccessEngine.Facts) -> Bool
    /// The fact the condition looked at, in words, for What-If and the sign-in log (`device platform iOS`).
    func describe(_ facts: ConditionalAccessEngine.Facts) -> String
}

/// The conditions Deputy enforces, in the order What-If explains them.
enum ConditionalAccessConditions {
    static let all: [any ConditionalAccessCondition.Type] = [
        ClientAppTypesCondition.self, PlatformsCondition.self, LocationsCondition.self, DeviceStatesCondition.self,
        SignInRiskCondition.self, UserRiskCondition.self, AgentIdRiskCondition.self,
    ]

    /// Every `conditions` key some condition reads.
    static let graphKeys: Set<String> = all.reduce(into: []) { $0.formUnion($1.graphKeys) }
}

extension ConditionalAccessPolicy {
    /// The policy's condition of a kind, when it configures one.
    func condition<C: ConditionalAccessCondition>(_ kind: C.Type) -> C? {
        for c in conditions { if let c = c as? C { return c } }
        return nil
    }
}

extension PolicyReader {
    /// A list of strings each of which must be one of `allowed`.
    func strings(_ v: JSONValue?, _ path: String, oneOf allowed: Set<String>) throws(PolicyError) -> [String] {
        let values = try strings(v, path)
        for (i, value) in values.enumerated() where !allowed.contains(value) {
            throw fail("\(path)[\(i)]", "expected one of \(allowed.sorted().joined(separator: ", ")), found '\(value)'")
        }
        return values
    }
}
