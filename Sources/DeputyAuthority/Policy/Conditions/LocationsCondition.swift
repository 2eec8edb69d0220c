import DeputyCore

/// `conditions.locations`: named locations (IP ranges, countries), `All` and `AllTrusted`, matched on
/// the sign-in's address (Microsoft Learn, "Using the location condition in a Conditional Access policy").
struct LocationsCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["locations"]
    static let reason = AnalysisReasons.location

    let include: [String]
    let exclude: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        guard let l = try reader.object(c["locations"], "conditions.locations") else { return nil }
        try reader.checkKeys(l, "conditions.locations", known: ["includeLocations", "excludeLocations"], unenforced: [])
        let include = try reader.strings(l["includeLocations"], "conditions.locations.includeLocations")
        let exclude = try reader.strings(l["excludeLocations"], "conditions.locations.excludeLocations")
        return include.isEmpty && exclude.isEmpty ? nil : Self(include: include, exclude: exclude)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool {
        func inAny(_ list: [String]) -> Bool {
            list.contains { $0 == "All" || ($0 == "AllTrusted" && f.inTrustedLocation) || f.locationIDs.contains($0) }
        }
        return inAny(include) && !inAny(exclude)
    }

    func describe(_ f: ConditionalAccessEngine.Facts) -> String {
        let names = f.locations.map(\.displayName)
        return "sign-in from \(f.context.ipAddress ?? "an unknown address")"
            + (names.isEmpty ? " (in no named location)" : " (in \(names.joined(separator: ", ")))")
    }
}
