import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import Foundation
import Testing

@testable import DeputyAudit

/// The parts of `deputy audit` that judge answers and undo changes; the audit end to end runs in
/// the interop suite against Deputy's own services and deliberately bad middle tiers.
@Suite("deputy audit")
struct AuditTests {
    static func auditor() throws -> Auditor {
        let manifest: JSONValue = .object([
            "tenantId": .string(DemoTenant.tenantID), "issuer": .string("http://127.0.0.1:1/t/v2.0"),
        ])
        return try Auditor(
            manifest: manifest, store: .inMemory(), httpClient: .shared, options: AuditOptions(target: "http://127.0.0.1:1/api"),
            journal: URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("j-\(UUID().uuidString).json"))
    }

    @Test("Only a 401 counts as refusing a token; an accepted token is named as such")
    func refusals() throws {
        let a = try Self.auditor()
        #expect(a.refusal(.rejectsAlgNone, Exchange(status: 401, headers: [:], body: "")).verdict == .pass)
        let accepted = a.refusal(.rejectsAlgNone, Exchange(status: 200, headers: [:], body: "[]"))
        #expect(accepted.verdict == .fail && accepted.detail.contains("the token was accepted"))
        #expect(a.refusal(.rejectsWrongAudience, Exchange(status: 500, headers: [:], body: "")).verdict == .fail)
        #expect(a.refusal(.rejectsWrongAudience, Exchange(status: 403, headers: [:], body: "")).verdict == .fail)
    }

    @Test("A claims challenge passes only when the authority's claims arrive unchanged, in the header or the JSON body")
    func claimsChallenge() throws {
        let a = try Self.auditor()
        let claims = #"{"access_token":{"capolids":{"essential":true,"values":["p-1"]}}}"#
        let header = #"Bearer error="insufficient_claims", claims="\#(Data(claims.utf8).base64EncodedString())""#
        #expect(
            a.claimsRule(Exchange(status: 401, headers: ["www-authenticate": header], body: ""), policyID: "p-1", expected: claims).verdict
                == .pass)
        let inBody = Exchange(
            status: 401, headers: [:], body: String(decoding: JSONValue.object(["claims": .string(claims)]).serialized, as: UTF8.self))
        #expect(a.claimsRule(inBody, policyID: "p-1", expected: claims).verdict == .pass)
        // Reordered members are the same JSON.
        let reordered = #"{"access_token":{"capolids":{"values":["p-1"],"essential":true}}}"#
        #expect(
            a.claimsRule(
                Exchange(
                    status: 401, headers: [:],
                    body: #"{"claims":\#(String(decoding: JSONValue.string(reordered).serialized, as: UTF8.self))}"#), policyID: "p-1",
                expected: claims
            ).verdict == .pass)
        let swallowed = a.claimsRule(
            Exchange(status: 500, headers: [:], body: #"{"error":"something went wrong"}"#), policyID: "p-1", expected: claims)
        #expect(swallowed.verdict == .fail && swallowed.detail.contains("no claims challenge"))
        let other = #"{"access_token":{"capolids":{"essential":true,"values":["p-2"]}}}"#
        #expect(
            a.claimsRule(
                Exchange(
                    status: 401, headers: [:],
                    body: String(decoding: JSONValue.object(["claims": .string(other)]).serialized, as: UTF8.self)), policyID: "p-1",
                expected: claims
            ).verdict == .fail)
        // Without the authority's own answer, the policy must be named.
        #expect(
            a.claimsRule(Exchange(status: 401, headers: ["www-authenticate": header], body: ""), policyID: "p-1", expected: nil).verdict
                == .pass)
    }

    @Test("Consent required must reach the caller as a 4xx that says so, not a server error")
    func consent() throws {
        let a = try Self.auditor()
        #expect(a.consentRule(Exchange(status: 403, headers: [:], body: #"{"error":"consent_required"}"#)).verdict == .pass)
        #expect(a.consentRule(Exchange(status: 500, headers: [:], body: #"{"error":"consent_required"}"#)).verdict == .fail)
        #expect(a.consentRule(Exchange(status: 403, headers: [:], body: #"{"error":"forbidden"}"#)).verdict == .fail)
    }

    @Test("Passthrough is a received token's hash equal to one the audit sent; leaks are tokens in answers")
    func passthroughAndLeaks() throws {
        let a = try Self.auditor()
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
        let seen: [[String: JSONValue]] = [["sha256": .string(AuditTokens.digest(token)), "aud": .string("api://x")]]
        #expect(a.passthroughRule(seen, sent: [token]).verdict == .fail)
        #expect(a.passthroughRule(seen, sent: ["other"]).verdict == .pass)
        #expect(a.passthroughRule(nil, sent: [token]).verdict == .skip)
        #expect(a.leakRule([Exchange(status: 200, headers: [:], body: "ok")], sent: [token]).verdict == .pass)
        #expect(a.leakRule([Exchange(status: 401, headers: ["x-debug": token], body: "")], sent: []).verdict == .fail)
    }

    @Test("The report is a table for people and JSON with id, result and detail for machines; a failure fails it, a skip does not")
    func report() throws {
        var r = AuditReport(
            target: "http://t",
            findings: [AuditFinding(.rejectsMissingToken, .pass, "refused with 401"), AuditFinding(.mcpInsufficientScope, .skip, "why")])
        #expect(r.passed)
        #expect(r.table.contains("rejects-missing-token") && r.table.contains("(1 skipped)"))
        r.findings.append(AuditFinding(.noPassthrough, .fail, "passed"))
        #expect(!r.passed)
        let rules = try #require(r.json.objectValue?["rules"]?.arrayValue)
        #expect(rules.map { $0.objectValue?["result"]?.stringValue } == ["pass", "skip", "fail"])
        #expect(rules.first?.objectValue?["id"] == .string("rejects-missing-token"))
    }

    @Test("Changes are journaled before they are made; a later run restores what an interrupted one left")
    func journalRestores() async throws {
        let store = RecordStore.inMemory()
        let file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        try await store.replaceDirectories(file.tenants, fingerprint: file.fingerprint)
        let before = try #require(try await store.directories().first)
        let journal = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("journal-\(UUID().uuidString).json")
        let interrupted = TemporaryChanges(store: store, journal: journal)
        try await interrupted.addPolicy(.object(["id": .string("audit-policy"), "state": .string("enabled")]), tenantID: before.tenant.id)
        let grant = try #require(before.oauth2PermissionGrants.first)
        #expect(try await interrupted.removeGrants(clientID: grant.clientId, resourceID: grant.resourceId, tenantID: before.tenant.id) == 1)
        #expect(FileManager.default.fileExists(atPath: journal.path))
        let changed = try #require(try await store.directories().first)
        #expect(changed.conditionalAccessPolicies.count == before.conditionalAccessPolicies.count + 1)
        #expect(!changed.oauth2PermissionGrants.contains(grant))
        // The process died here: the next audit reads the journal and undoes both.
        #expect(try await TemporaryChanges(store: store, journal: journal).restoreLeftovers() == 2)
        let after = try #require(try await store.directories().first)
        #expect(after.conditionalAccessPolicies == before.conditionalAccessPolicies)
        #expect(
            Set(after.oauth2PermissionGrants.map { "\($0.clientId)|\($0.resourceId)|\($0.scope)" })
                == Set(before.oauth2PermissionGrants.map { "\($0.clientId)|\($0.resourceId)|\($0.scope)" }))
        #expect(!FileManager.default.fileExists(atPath: journal.path))
    }

    @Test("A consent the audit's own sign-in gave, or widened, is journaled and taken back")
    func consentGivenBySignInIsUndone() async throws {
        let store = RecordStore.inMemory()
        let file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
        try await store.replaceDirectories(file.tenants, fingerprint: file.fingerprint)
        let tenantID = DemoTenant.tenantID
        let journal = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("journal-\(UUID().uuidString).json")
        let changes = TemporaryChanges(store: store, journal: journal)
        let before = try await changes.grants(tenantID: tenantID)
        let widened = before[0]
        // What a consent page does: a new Principal grant, and an existing grant with one more scope.
        var added = before[1]
        added.clientId = "client-sp"
        added.consentType = "Principal"
        added.principalId = "user"
        let newGrant = added
        try await store.updateDirectory(tenantID: tenantID) { dir in
            dir.oauth2PermissionGrants.append(newGrant)
            dir.oauth2PermissionGrants[0].scope += " extra"
        }
        try await changes.recordGrantsChanged(since: before, tenantID: tenantID)
        #expect(try await changes.grants(tenantID: tenantID) != before)
        try await changes.restore()
        #expect(try await changes.grants(tenantID: tenantID) == before)
        #expect(try await changes.grants(tenantID: tenantID)[0] == widened)
    }
}
