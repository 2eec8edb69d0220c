import DeputyCore
import Foundation

/// Device state: `All`, `Compliant`, `DomainJoined`, included and excluded, from the user's documented
/// device. Graph has carried it in two shapes, both read: the older `conditions.deviceStates`
/// (`includeStates`/`excludeStates`) and `conditions.devices` (`include/excludeDeviceStates`,
/// `include/excludeDevices`).
struct DeviceStatesCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["deviceStates", "devices"]
    static let reason = AnalysisReasons.devices
    static let values: Set<String> = ["All", "Compliant", "DomainJoined"]

    let include: [String]
    let exclude: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        var include: [String] = []
        var exclude: [String] = []
        if let d = try reader.object(c["deviceStates"], "conditions.deviceStates") {
            try reader.checkKeys(d, "conditions.deviceStates", known: ["includeStates", "excludeStates"], unenforced: [])
            include = try reader.strings(d["includeStates"], "conditions.deviceStates.includeStates", oneOf: values)
            exclude = try reader.strings(d["excludeStates"], "conditions.deviceStates.excludeStates", oneOf: values)
        }
        if let d = try reader.object(c["devices"], "conditions.devices") {
            let path = "conditions.devices"
            try reader.checkKeys(
                d, path, known: ["includeDeviceStates", "excludeDeviceStates", "includeDevices", "excludeDevices"],
                unenforced: ["deviceFilter"])
            for key in ["includeDeviceStates", "includeDevices"] { include += try reader.strings(d[key], "\(path).\(key)", oneOf: values) }
            for key in ["excludeDeviceStates", "excludeDevices"] { exclude += try reader.strings(d[key], "\(path).\(key)", oneOf: values) }
        }
        return include.isEmpty && exclude.isEmpty ? nil : Self(include: include, exclude: exclude)
    }

    static func states(_ f: ConditionalAccessEngine.Facts) -> Set<String> {
        var states: Set<String> = []
        if f.device?.isCompliant == true { states.insert("Compliant") }
        if f.device?.trustType?.caseInsensitiveCompare("ServerAD") == .orderedSame { states.insert("DomainJoined") }
        return states
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool {
        let states = Self.states(f)
        return (include.contains("All") || include.contains(where: states.contains)) && !exclude.contains(where: states.contains)
    }

    func describe(_ f: ConditionalAccessEngine.Facts) -> String {
        let states = Self.states(f)
        return "device state \(states.isEmpty ? "unmanaged" : states.sorted().joined(separator: ", "))"
    }
}
