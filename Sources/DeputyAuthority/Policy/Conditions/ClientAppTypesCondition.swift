import DeputyCore

/// `conditions.clientAppTypes`: browser, mobile and desktop apps (modern authentication), or the
/// legacy kinds (Microsoft Learn, "Conditional Access: Client apps").
struct ClientAppTypesCondition: ConditionalAccessCondition {
    static let graphKeys: Set<String> = ["clientAppTypes"]
    static let reason = AnalysisReasons.clientApps
    static let values: Set<String> = ["all", "browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "easSupported", "other"]

    let types: [String]

    static func read(_ c: [String: JSONValue], _ reader: PolicyReader) throws(PolicyError) -> Self? {
        let types = try reader.strings(c["clientAppTypes"], "conditions.clientAppTypes", oneOf: values)
        // `all` (or nothing) does not restrict the policy.
        return types.isEmpty || types.contains("all") ? nil : Self(types: types)
    }

    func matches(_ f: ConditionalAccessEngine.Facts) -> Bool { types.contains(f.context.clientAppType) }

    func describe(_ f: ConditionalAccessEngine.Facts) -> String { "client app type \(f.context.clientAppType)" }
}
