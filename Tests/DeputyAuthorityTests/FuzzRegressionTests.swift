import DeputyAuthority
import DeputyCore
import Foundation
import Testing

/// Inputs found with the fuzz targets in Fuzz/ (Fuzz/README.md, "Known findings" 4 to 7), each
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

    /// FuzzTenantFile, finding 4: YAML's `.nan`, `.inf` and `-.inf` (YAML 1.2 §10.2.1.4) loaded in
    /// policies and named locations, which are kept as JSON values, although JSON has no such
    /// numbers (RFC 8259 §6): the unknown-field check, which re-encodes the file as JSON, was
    /// skipped for the whole file, a sign-in frequency of `.inf` hours was accepted, and the loaded
    /// directory did not encode for the store. The loader now names the file, line and field.
    @Test(
        "A tenant file with .nan, .inf or -.inf is refused with a TenantFileError naming the file, line and field",
        arguments: [".inf", ".nan", "-.inf", "+.INF", ".NaN", "nan", "inf"])
    func nonFiniteNumberInPolicy(_ number: String) {
        let yaml = Self.signInEveryHour(value: number)
        let error = #expect(throws: TenantFileError.self) { try TenantFileLoader.load(yaml: yaml, fileName: "fuzz.yaml") }
        let problem = error?.problems.first
        #expect(error?.problems.count == 1, "\(String(describing: error))")
        #expect(problem?.line == 11)
        #expect(problem?.path == "conditionalAccessPolicies[0].sessionControls.signInFrequency.value")
        #expect(problem?.message.contains("'\(number)' is not a finite number") == true)
        #expect(error?.description.contains("fuzz.yaml:11: ") == true, "\(String(describing: error))")
    }

    @Test("The same tenant file with a finite sign-in frequency loads")
    func finiteNumberInPolicy() throws {
        let loaded = try TenantFileLoader.load(yaml: Self.signInEveryHour(value: "1"), fileName: "fuzz.yaml")
        #expect(loaded.tenants.first?.conditionalAccessPolicies.count == 1)
        #expect(throws: Never.self) { try JSONEncoder().encode(loaded.tenants) }
    }

    @Test("YAML's .nan in a named location, and .inf in any other field, are refused; quoted, they are text")
    func nonFiniteNumbersElsewhere() throws {
        let location = """
            tenant: {id: 11111111-2222-4333-8444-555555555555, displayName: One, verifiedDomains: [one.example]}
            namedLocations:
              - id: 0824dbaf-6277-4db0-8112-b29fd356f2c4
                displayName: Office
                isTrusted: .nan
                ipRanges: [{cidrAddress: 10.0.0.0/8}]
            """
        let error = #expect(throws: TenantFileError.self) { try TenantFileLoader.load(yaml: location, fileName: "locations.yaml") }
        #expect(error?.problems.map(\.path) == ["namedLocations[0].isTrusted"])
        #expect(error?.problems.first?.line == 5)
        #expect(error?.description.contains("locations.yaml:5: ") == true)

        let tenant = "tenant: {id: 11111111-2222-4333-8444-555555555555, displayName: -.inf, verifiedDomains: [one.example]}"
        let plain = #expect(throws: TenantFileError.self) { try TenantFileLoader.load(yaml: tenant, fileName: "tenant.yaml") }
        #expect(plain?.problems.map(\.path) == ["tenant.displayName"])
        #expect(plain?.problems.first?.line == 1)
        let quoted = try TenantFileLoader.load(
            yaml: tenant.replacingOccurrences(of: "-.inf", with: "\"-.inf\""), fileName: "tenant.yaml")
        #expect(quoted.tenants.first?.tenant.displayName == "-.inf")
    }

    /// A policy that asks to sign in again every hour, with `value` as the hours (line 11).
    static func signInEveryHour(value: String) -> String {
        """
        tenant: {id: 11111111-2222-4333-8444-555555555555, displayName: One, verifiedDomains: [one.example]}
        conditionalAccessPolicies:
          - id: 00000000-0000-4000-8000-000000000001
            displayName: Sign in again every hour
            state: enabled
            conditions:
              users: {includeUsers: [All]}
              applications: {includeApplications: [All]}
              clientAppTypes: [all]
            sessionControls:
              signInFrequency: {isEnabled: true, type: hours, value: \(value)}
        """
    }

    // MARK: - Conditional Access policies

    /// Finding 7 (no target checked it): `ConditionalAccessPolicy.parse` read an authentication
    /// context id's number with `Int`, so it accepted `c01` and `c+1`, which are not Entra's ids:
    /// Entra names authentication contexts `c1` to `c99` (Microsoft Learn, "authenticationContextClassReference
    /// resource type").
    @Test(
        "Authentication context ids other than c1 to c99, written exactly so, are refused with a PolicyError",
        arguments: ["c01", "c+1", "c0", "c100", "c-1", "c1 ", " c1", "C1", "c", "c1a", "c٣"])
    func authenticationContextIDs(_ id: String) {
        do {
            _ = try ConditionalAccessPolicy.parse(Self.contextPolicy(id))
            Issue.record("'\(id)' was accepted")
        } catch {
            #expect(error.field == "conditions.applications.includeAuthenticationContextClassReferences[0]")
            #expect(error.message == "expected an authentication context id c1…c99, found '\(id)'")
        }
    }

    @Test("Authentication context ids c1 to c99 are accepted", arguments: ["c1", "c9", "c10", "c42", "c99"])
    func validAuthenticationContextIDs(_ id: String) throws {
        let policy = try ConditionalAccessPolicy.parse(Self.contextPolicy(id))
        #expect(policy.applications?.includeAuthenticationContextClassReferences == [id])
    }

    /// A policy that asks for MFA for the authentication context `id`.
    static func contextPolicy(_ id: String) -> JSONValue {
        .object([
            "id": .string("00000000-0000-4000-8000-000000000001"),
            "displayName": .string("Context"),
            "state": .string("enabled"),
            "conditions": .object([
                "users": .object(["includeUsers": .array([.string("All")])]),
                "applications": .object(["includeAuthenticationContextClassReferences": .array([.string(id)])]),
                "clientAppTypes": .array([.string("all")]),
            ]),
            "grantControls": .object(["operator": .string("OR"), "builtInControls": .array([.string("mfa")])]),
        ])
    }
}
