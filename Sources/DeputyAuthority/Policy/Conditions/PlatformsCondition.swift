import DeputyCore

/// `conditions.platforms`: the device platform the sign-in comes from (Microsoft Learn,
/// "Conditional Access: Conditions", device platforms), exclusion beating inclusion.
struct PlatformsCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["platforms"]
    static let reason = AnalysisReasons.devicePlatform
    static let values: Set<String> = ["android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all"]

    let include: [String]
    let exclude: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        guard let pl = try reader.object(c["platforms"], "conditions.platforms") else { return nil }
        try reader.checkKeys(pl, "conditions.platforms", known: ["includePlatforms", "excludePlatforms"], unenforced: [])
        let include = try reader.strings(pl["includePlatforms"], "conditions.platforms.includePlatforms", oneOf: values)
        let exclude = try reader.strings(pl["excludePlatforms"], "conditions.platforms.excludePlatforms", oneOf: values)
        return include.isEmpty && exclude.isEmpty ? nil : Self(include: include, exclude: exclude)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool {
        let p = f.context.devicePlatform
        let included = include.contains("all") || (p.map(include.contains) ?? false)
        let excluded = p.map(exclude.contains) ?? false
        return included && !excluded
    }

    func describe(_ f: ConditionalAccessEngine.Facts) -> String { "device platform \(f.context.devicePlatform ?? "unknown")" }
}
