public import DeputyCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A named location (Graph `ipNamedLocation` or `countryNamedLocation`), read strictly like a
/// policy. Deputy runs on loopback, where no IP address has a country: a country location
/// matches only when it includes unknown countries and regions, as in Entra for private addresses.
public struct NamedLocation: Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var isTrusted: Bool
    public var ranges: [IPRange]
    /// `countryNamedLocation` with `includeUnknownCountriesAndRegions`.
    public var includesUnknownCountries: Bool

    /// Whether a sign-in from `address` is in this location.
    public func contains(_ address: String?) -> Bool {
        guard let address, let ip = IPRange.bytes(of: address) else { return includesUnknownCountries }
        if ranges.contains(where: { $0.contains(ip) }) { return true }
        // Loopback and private addresses have no country.
        return includesUnknownCountries
    }

    /// Reads a named location from Graph JSON.
    public static func parse(_ json: JSONValue) throws(PolicyError) -> NamedLocation {
        guard case .object(let o) = json else { throw PolicyError(policy: "(named location)", field: "", message: "expected an object") }
        let name = o["displayName"]?.stringValue ?? o["id"]?.stringValue ?? "(named location)"
        func fail(_ field: String, _ message: String) -> PolicyError { PolicyError(policy: "'\(name)'", field: field, message: message) }
        guard let id = o["id"]?.stringValue, UUID(uuidString: id) != nil else { throw fail("id", "expected the location's id, a GUID") }
        guard let displayName = o["displayName"]?.stringValue else { throw fail("displayName", "expected a display name") }
        let known: Set<String> = [
            "id", "displayName", "isTrusted", "ipRanges", "countriesAndRegions", "includeUnknownCountriesAndRegions",
            "countryLookupMethod", "createdDateTime", "modifiedDateTime",
        ]
        for key in o.keys.sorted() where !key.hasPrefix("@odata.") && !known.contains(key) {
            throw fail(key, "unknown field" + (closest(key, among: known).map { " (did you mean '\($0)'?)" } ?? ""))
        }
        var location = NamedLocation(id: id, displayName: displayName, isTrusted: false, ranges: [], includesUnknownCountries: false)
        if case .bool(let t)? = o["isTrusted"] { location.isTrusted = t }
        if case .bool(let u)? = o["includeUnknownCountriesAndRegions"] { location.includesUnknownCountries = u }
        if case .array(let ranges)? = o["ipRanges"] {
            for (i, r) in ranges.enumerated() {
                guard case .object(let ro) = r, let cidr = ro["cidrAddress"]?.stringValue, let range = IPRange(cidr: cidr) else {
                    throw fail("ipRanges[\(i)]", "expected {cidrAddress: \"10.0.0.0/8\"} with an IPv4 or IPv6 CIDR range")
                }
                location.ranges.append(range)
            }
        }
        return location
    }
}

/// An IPv4 or IPv6 CIDR range. (Foundation has no address parsing on Linux; `inet_pton` does the
/// parsing, the prefix comparison is a few lines.)
public struct IPRange: Sendable, Equatable {
    let network: [UInt8]
    let prefixLength: Int

    public init?(cidr: String) {
        let parts = cidr.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let bytes = IPRange.bytes(of: first) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let length, (0...(bytes.count * 8)).contains(length) else { return nil }
        network = bytes
        prefixLength = length
    }

    /// The address's bytes (4 for IPv4, 16 for IPv6), or nil when it is not an address.
    static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    func contains(_ ip: [UInt8]) -> Bool {
        guard ip.count == network.count else { return false }
        var remaining = prefixLength
        for i in network.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if ip[i] & mask != network[i] & mask { return false }
            remaining -= bits
        }
        return true
    }
}
