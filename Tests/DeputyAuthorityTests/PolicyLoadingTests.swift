import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAuthority

@Suite("policy loading")
struct PolicyLoadingTests {
    static func fixture(_ name: String) throws -> JSONValue {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/GraphPolicies"))
        return try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
    }

    static let names: [String] =
        (try? FileManager.default.contentsOfDirectory(
            atPath: Bundle.module.resourcePath! + "/Fixtures/GraphPolicies"))?.filter { $0.first?.isNumber == true }.sorted() ?? []

    /// Policies from Graph's documentation that use only what Deputy enforces (plus null or empty
    /// unenforced fields and read-only metadata).
    static let loadable: Set<String> = [
        "01", "02", "03", "04", "07", "08", "10", "11", "13", "14", "16", "17", "18", "19", "20", "21", "22",
        "24", "25", "26", "28", "29",
    ]
    /// The others, and the field each is refused for: a set Graph control or condition Deputy does not enforce.
    static let refused: [String: String] = [
        "05": "grantControls.termsOfUse", "06": "grantControls.termsOfUse", "09": "grantControls.termsOfUse",
        "12": "grantControls.termsOfUse", "15": "grantControls.termsOfUse",
        "23": "conditions.applications.includeApplications[0]", "27": "conditions.applications.includeUserActions",
    ]

    @Test("The collection holds the documentation's examples") func collection() { #expect(Self.names.count == 29) }

    @Test("Policies copied from Graph's documentation load unchanged, or are refused naming the unenforced field", arguments: names)
    func graphExample(_ name: String) throws {
        let json = try Self.fixture(name)
        let number = String(name.prefix(2))
        if Self.loadable.contains(number) {
            let policy = try ConditionalAccessPolicy.parse(json)
            // Kept as given; a POST body without an id gets a stable one derived from its name.
            if json.objectValue?["id"] != nil {
                #expect(policy.json == json)
            } else {
                #expect(policy.id == (try ConditionalAccessPolicy.parse(json)).id)
                var withID = json.objectValue ?? [:]
                withID["id"] = .string(policy.id)
                #expect(policy.json == .object(withID))
            }
            #expect(!policy.displayName.isEmpty)
        } else {
            let field = try #require(Self.refused[number], "\(name) is neither loadable nor listed as refused")
            #expect(throws: PolicyError.self) { try ConditionalAccessPolicy.parse(json) }
            do { _ = try ConditionalAccessPolicy.parse(json) } catch {
                #expect(error.field == field, "\(error)")
                #expect(error.description.contains(error.policy))
            }
        }
    }

    static func parse(_ text: String) throws(PolicyError) -> ConditionalAccessPolicy {
        try ConditionalAccessPolicy.parse((try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .null)
    }

    @Test("An unknown field is an error naming the policy and the field, with a suggestion")
    func unknownField() throws {
        let text =
            #"{"id":"00000000-0000-4000-8000-000000000001","displayName":"Typo","state":"enabled","conditions":{"users":{"includeUser":["All"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
        #expect(
            throws: PolicyError(
                policy: "'Typo' (00000000-0000-4000-8000-000000000001)", field: "conditions.users.includeUser",
                message: "unknown field (did you mean 'includeUsers'?)")
        ) { try Self.parse(text) }
    }

    @Test(
        "Bad values are refused with what was expected",
        arguments: [
            (#""state":"on""#, "state"),
            (#""grantControls":{"operator":"XOR","builtInControls":["mfa"]}"#, "grantControls.operator"),
            (#""grantControls":{"operator":"OR","builtInControls":["mfa","block"]}"#, "grantControls.builtInControls"),
            (#""grantControls":{"operator":"OR","builtInControls":["approvedApplication"]}"#, "grantControls.builtInControls[0]"),
            (
                #""grantControls":{"operator":"OR","builtInControls":[],"authenticationStrength":{"id":"00000000-0000-0000-0000-000000000004"}}"#,
                "grantControls.authenticationStrength.id"
            ),
            (#""sessionControls":{"persistentBrowser":{"isEnabled":true,"mode":"never"}}"#, "sessionControls.persistentBrowser"),
            (#""grantControls":null"#, "grantControls"),
            (#""grantControls":{"operator":"OR","builtInControls":["mfa","passwordChange"]}"#, "grantControls.builtInControls"),
        ])
    func badValues(_ replacement: String, _ field: String) throws {
        var text =
            #"{"id":"00000000-0000-4000-8000-000000000001","displayName":"P","state":"enabled","conditions":{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]}},"grantControls":{"operator":"OR","builtInControls":["mfa"]}}"#
        let key = String(replacement.prefix { $0 != ":" })
        if let r = text.range(of: key + ":") {
            // Replace the existing member.
            var depth = 0
            var end = r.upperBound
            for (i, ch) in text[r.upperBound...].enumerated() {
                if ch == "{" || ch == "[" { depth += 1 }
                if ch == "}" || ch == "]" { depth -= 1 }
                if depth == 0
                    && (ch == "," || ch == "}"
                        || (ch == "\"" && i > 0 && text[text.index(r.upperBound, offsetBy: i - 1)] != "\\" && key == #""state""#))
                {
                    end = text.index(r.upperBound, offsetBy: ch == "\"" ? i + 1 : (ch == "}" && text[r.upperBound] == "{" ? i + 1 : i))
                    break
                }
            }
            text.replaceSubrange(r.lowerBound..<end, with: replacement)
        } else {
            text.insert(contentsOf: "," + replacement, at: text.index(before: text.endIndex))
        }
        do {
            _ = try Self.parse(text)
            Issue.record("expected an error for \(field) in \(text)")
        } catch {
            #expect(error.field == field, "\(error) — in \(text)")
        }
    }

    @Test("A bad policy in a tenant file is reported with the file's line and the policy's field")
    func tenantFile() throws {
        var yaml = DemoTenant(portBase: 7400, https: false).yaml
        yaml = yaml.replacingOccurrences(
            of: "grantControls: {operator: OR, builtInControls: [block]}", with: "grantControls: {operator: OR, builtInControls: [blok]}")
        do {
            _ = try TenantFileLoader.load(yaml: yaml, fileName: "demo.yaml")
            Issue.record("expected a tenant file error")
        } catch {
            let problem = try #require(error.problems.first)
            #expect(problem.path.hasSuffix("conditionalAccessPolicies[2].grantControls.builtInControls[0]"))
            #expect(problem.message.contains("Block guests from Contoso SQL") && problem.message.contains("unknown control 'blok'"))
            let line = try #require(problem.line)
            #expect(yaml.components(separatedBy: "\n")[line - 1].contains("blok"))
        }
    }

    @Test("Misspelt Conditional Access settings in a tenant file are reported: challenge style, risk levels, device trust type")
    func settingValues() throws {
        var yaml = DemoTenant(portBase: 7400, https: false).yaml
        yaml = yaml.replacingOccurrences(
            of: "      displayName: Contoso\n", with: "      displayName: Contoso\n      claimsChallengeStyle: documentd\n")
        let line = try #require(yaml.components(separatedBy: "\n").first { $0.contains("userPrincipalName: \"alice@contoso.com\"") })
        let indent = String(line.prefix { $0 == " " })
        yaml = yaml.replacingOccurrences(
            of: line, with: line + "\n\(indent)userRiskLevel: severe\n\(indent)device: {isCompliant: true, trustType: HybridJoined}")
        do {
            _ = try TenantFileLoader.load(yaml: yaml, fileName: "demo.yaml")
            Issue.record("expected problems")
        } catch {
            let paths = error.problems.map(\.path)
            #expect(paths.contains { $0.hasSuffix("tenant.claimsChallengeStyle") }, "\(error)")
            #expect(paths.contains { $0.hasSuffix("userRiskLevel") }, "\(error)")
            #expect(paths.contains { $0.hasSuffix("device.trustType") }, "\(error)")
        }
    }

    @Test("A tenant-file policy without an id is stored with the id it is evaluated under")
    func derivedIDIsStored() throws {
        let yaml = DemoTenant(portBase: 7400, https: false).yaml.replacingOccurrences(
            of: "id: 0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e04", with: "templateId: null")
        let tenant = try TenantFileLoader.load(yaml: yaml, fileName: "demo.yaml").tenants[0]
        let stored = try #require(tenant.conditionalAccessPolicies.last?.objectValue?["id"]?.stringValue)
        #expect(stored == DirectoryIndex(tenant).policies.last?.id)
        #expect(stored != "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e04")
    }

    @Test(
        "TOTP codes match RFC 6238's SHA-1 test vectors (last six digits)",
        arguments: [
            (59.0, "287082"), (1_111_111_109, "081804"), (1_111_111_111, "050471"), (1_234_567_890, "005924"), (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ])
    func totpVectors(_ time: Double, _ code: String) throws {
        let secret = TOTP.encodeSecret(Array("12345678901234567890".utf8))
        #expect(secret == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(TOTP.secretBytes("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == Array("12345678901234567890".utf8))
        #expect(TOTP.code(base32Secret: secret, at: Date(timeIntervalSince1970: time)) == code)
        #expect(
            TOTP.match(code, base32Secret: secret, at: Date(timeIntervalSince1970: time + 30))
                == TOTP.step(at: Date(timeIntervalSince1970: time)))
        #expect(TOTP.match(code, base32Secret: secret, at: Date(timeIntervalSince1970: time + 61)) == nil)
    }
}
