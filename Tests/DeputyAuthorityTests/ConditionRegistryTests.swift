import DeputyCore
import Foundation
import Testing

@testable import DeputyAuthority

/// Each condition of ``ConditionalAccessConditions/all`` is one type; these checks hold for all of them,
/// so a new condition is covered as soon as it is registered (and this table fails until it has a sample).
@Suite("Conditional Access conditions")
struct ConditionRegistryTests {
    /// Per Graph key: a value the reader accepts, one it refuses, and the field the refusal names.
    static let samples: [String: (valid: String, invalid: String, field: String)] = [
        "clientAppTypes": (#"["browser"]"#, #"["fax"]"#, "conditions.clientAppTypes[0]"),
        "platforms": (#"{"includePlatforms":["iOS"]}"#, #"{"includePlatforms":["amiga"]}"#, "conditions.platforms.includePlatforms[0]"),
        "locations": (#"{"includeLocations":["All"]}"#, #"{"includeLocation":["All"]}"#, "conditions.locations.includeLocation"),
        "deviceStates": (#"{"includeStates":["All"]}"#, #"{"includeStates":["Shiny"]}"#, "conditions.deviceStates.includeStates[0]"),
        "devices": (#"{"excludeDevices":["Compliant"]}"#, #"{"excludeDevices":[7]}"#, "conditions.devices.excludeDevices[0]"),
        "signInRiskLevels": (#"["high"]"#, #"["severe"]"#, "conditions.signInRiskLevels[0]"),
        "userRiskLevels": (#"["medium"]"#, #""medium""#, "conditions.userRiskLevels"),
        "agentIdRiskLevels": (#""medium,high""#, #""high,extreme""#, "conditions.agentIdRiskLevels[1]"),
    ]

    /// A policy with one condition set: agent risk only exists on block policies for agent identities.
    static func policy(_ key: String, _ value: String) -> String {
        if key == "agentIdRiskLevels" {
            return
                #"{"displayName":"P","state":"enabled","conditions":{"clientApplications":{"includeAgentIdServicePrincipals":["All"]},"applications":{"includeApplications":["All"]},"\#(key)":\#(value)},"grantControls":{"operator":"OR","builtInControls":["block"]}}"#
        }
        return
            #"{"displayName":"P","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},"\#(key)":\#(value)},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
    }

    static func json(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    @Test("Every registered condition's Graph keys have a sample here, and no two conditions read the same key")
    func everyKeyIsCovered() {
        #expect(Set(Self.samples.keys) == ConditionalAccessConditions.graphKeys)
        let keys = ConditionalAccessConditions.all.flatMap { $0.graphKeys }
        #expect(keys.count == Set(keys).count)
    }

    @Test("Each condition is read from its own Graph key into exactly one condition of its type", arguments: samples.keys.sorted())
    func readsItsKey(_ key: String) throws {
        let parsed = try ConditionalAccessPolicy.parse(try Self.json(Self.policy(key, Self.samples[key]!.valid)))
        #expect(parsed.conditions.count == 1)
        #expect(parsed.conditions.first.map { type(of: $0).graphKeys.contains(key) } == true)
    }

    @Test("A wrong value in a condition is refused, naming the field", arguments: samples.keys.sorted())
    func refusesBadValues(_ key: String) throws {
        let sample = Self.samples[key]!
        let value = try Self.json(Self.policy(key, sample.invalid))
        let error = #expect(throws: PolicyError.self) { try ConditionalAccessPolicy.parse(value) }
        #expect(error?.field == sample.field, "\(String(describing: error))")
    }

    @Test("A condition left at its unrestricting value (clientAppTypes all, empty lists) adds no condition")
    func unrestrictingValuesAddNothing() throws {
        for (key, value) in [("clientAppTypes", #"["all"]"#), ("platforms", #"{"includePlatforms":[]}"#), ("signInRiskLevels", "[]")] {
            let parsed = try ConditionalAccessPolicy.parse(try Self.json(Self.policy(key, value)))
            #expect(parsed.conditions.isEmpty, "\(key)")
        }
    }
}
