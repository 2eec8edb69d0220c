import DeputyAuthority
import DeputyCore
import Foundation
import Testing

/// Inputs found with the fuzz targets in Fuzz/ (Fuzz/README.md, "Known findings" 5 and 6), each
/// minimised. Crashing inputs run in exit tests (a child process), so that while the bug is there
/// the test fails instead of taking the whole test run down with it.
@Suite("fuzz regressions")
struct FuzzRegressionTests {
    // MARK: - Named locations

    /// FuzzPolicy: `{"id":"…","displayName":"x","ipRanges":[{"cidrAddress":""}]}` trapped with
    /// "Index out of range" in `IPRange(cidr:)`, which reads `parts[0]` of `"".split(separator: "/")`
    /// (an empty array). Graph documents `cidrAddress` as a CIDR range (Microsoft Learn,
    /// "ipNamedLocation resource type"); an empty one is not a range.
    @Test("An empty or slash-only CIDR range is not a range, and does not crash")
    func emptyCIDRRange() async {
        await #expect(processExitsWith: .success) {
            exit(IPRange(cidr: "") == nil && IPRange(cidr: "/") == nil ? 0 : 1)
        }
    }

    @Test("A named location with an empty cidrAddress is refused with a PolicyError naming the range")
    func namedLocationWithEmptyCIDRAddress() async {
        await #expect(processExitsWith: .success) {
            let json = JSONValue.object([
                "id": .string("0824dbaf-6277-4db0-8112-b29fd356f2c4"),
                "displayName": .string("x"),
                "ipRanges": .array([.object(["cidrAddress": .string("")])]),
            ])
            do {
                _ = try NamedLocation.parse(json)
                exit(1)
            } catch let error as PolicyError {
                exit(error.field == "ipRanges[0]" ? 0 : 2)
            } catch {
                exit(3)
            }
        }
    }

    /// The same input through a tenant file: `deputy tenant validate` and `deputy authority
    /// --tenant` crashed instead of naming the line.
    @Test("A tenant file with an empty cidrAddress is refused with a TenantFileError, not a crash")
    func tenantFileWithEmptyCIDRAddress() async {
        await #expect(processExitsWith: .success) {
            let yaml = """
                tenant: {id: 11111111-2222-4333-8444-555555555555, displayName: One, verifiedDomains: [one.example]}
                namedLocations:
                  - id: 0824dbaf-6277-4db0-8112-b29fd356f2c4
                    displayName: Office
                    ipRanges: [{cidrAddress: ""}]
                """
            do {
                _ = try TenantFileLoader.load(yaml: yaml, fileName: "fuzz.yaml")
                exit(1)
            } catch let error as TenantFileError {
                exit(error.problems.contains { $0.path.hasPrefix("namedLocations[0]") && $0.line != nil } ? 0 : 2)
            } catch {
                exit(3)
            }
        }
    }

    // MARK: - Tenant files

    /// FuzzTenantFile: YAML aliases that refer to aliases (`a1: &a1 [*a0, *a0, …]`, YAML 1.2 §3.2.2.2)
    /// are composed as shared nodes, but `TenantFileLoader.collectMarks` walked every path through
    /// them: ten aliases per level take 10^depth steps and as many `marks` entries. At depth 6
    /// (a 333-byte file) a load took about 2.4 s and 210 MB under the fuzzer; at depth 7, 25 s and
    /// 1.5 GB; at depth 8 the fuzzer ran out of memory. The loader now stops at a budget of values
    /// and names the reason; this file (depth 8, 10^8 values) would not finish without it.
    @Test("A tenant file of nested YAML aliases is refused as too large once expanded, not walked")
    func nestedYAMLAliases() throws {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1..<8 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        let error = #expect(throws: TenantFileError.self) {
            try TenantFileLoader.load(yaml: lines.joined(separator: "\n"), fileName: "aliases.yaml")
        }
        #expect(error?.problems.contains { $0.message.contains("expands to more than") } == true, "\(String(describing: error))")
    }
}
