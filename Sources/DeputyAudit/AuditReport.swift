public import DeputyCore
import Foundation

/// One delegation rule `deputy audit` checks, with its stable id.
public enum AuditRule: String, CaseIterable, Sendable {
    case rejectsMissingToken = "rejects-missing-token"
    case rejectsWrongAudience = "rejects-wrong-audience"
    case rejectsExpiredToken = "rejects-expired-token"
    case rejectsBadSignature = "rejects-bad-signature"
    case rejectsAlgNone = "rejects-alg-none"
    case oboDownstream = "obo-downstream"
    case noPassthrough = "no-passthrough"
    case relaysClaimsChallenge = "relays-claims-challenge"
    case relaysConsentRequired = "relays-consent-required"
    case noTokenLeak = "no-token-leak"
    case mcpResourceMetadata = "mcp-resource-metadata"
    case mcp401Challenge = "mcp-401-challenge"
    case mcpInsufficientScope = "mcp-insufficient-scope"

    /// The rule in one sentence, for the table and docs/audit.md.
    public var summary: String {
        switch self {
        case .rejectsMissingToken: "A request without a token is refused with 401 (RFC 6750 §3.1)."
        case .rejectsWrongAudience: "A valid token for another API is refused with 401 (audience validation)."
        case .rejectsExpiredToken: "An expired token is refused with 401."
        case .rejectsBadSignature: "A token whose signature does not verify is refused with 401."
        case .rejectsAlgNone: "An unsigned token (alg none) is refused with 401 (RFC 8725 §3.1)."
        case .oboDownstream: "The downstream API received a token for itself whose azp is the middle tier, got by On-Behalf-Of."
        case .noPassthrough: "The downstream API never received the token the caller sent to the middle tier."
        case .relaysClaimsChallenge: "A Conditional Access claims challenge reaches the caller unchanged."
        case .relaysConsentRequired: "Missing consent reaches the caller as consent required, not as a server error."
        case .noTokenLeak: "No token appears in the middle tier's answers."
        case .mcpResourceMetadata: "The MCP server publishes RFC 9728 metadata naming its URL and the authority."
        case .mcp401Challenge: "The MCP server's 401 names its resource metadata."
        case .mcpInsufficientScope: "A tool that needs more scope answers 403 insufficient_scope with the scopes it needs."
        }
    }
}

/// A rule's verdict.
public enum AuditVerdict: String, Sendable {
    case pass, fail, skip
}

/// One rule's result: the verdict, a line saying why, and the evidence (statuses, headers,
/// token claims at each hop, sign-in log entries) — never a token.
public struct AuditFinding: Sendable {
    public var rule: AuditRule
    public var verdict: AuditVerdict
    public var detail: String
    public var evidence: [String: JSONValue]

    public init(_ rule: AuditRule, _ verdict: AuditVerdict, _ detail: String, evidence: [String: JSONValue] = [:]) {
        self.rule = rule
        self.verdict = verdict
        self.detail = detail
        self.evidence = evidence
    }
}

/// What `deputy audit` reports for one target.
public struct AuditReport: Sendable {
    public var target: String
    public var findings: [AuditFinding]

    public init(target: String, findings: [AuditFinding]) {
        self.target = target
        self.findings = findings
    }

    /// No rule failed (skips do not fail the audit; they say why).
    public var passed: Bool { !findings.contains { $0.verdict == .fail } }

    /// `{"target": …, "rules": [{"id": …, "result": "pass"|"fail"|"skip", "detail": …, "evidence": {…}}]}`.
    public var json: JSONValue {
        .object([
            "target": .string(target),
            "rules": .array(
                findings.map { f in
                    .object([
                        "id": .string(f.rule.rawValue), "result": .string(f.verdict.rawValue), "detail": .string(f.detail),
                        "evidence": .object(f.evidence),
                    ])
                }),
        ])
    }

    /// A table for people: rule, result, detail.
    public var table: String {
        let width = findings.map(\.rule.rawValue.count).max() ?? 0
        var lines = ["deputy audit of \(target)", ""]
        for f in findings {
            let mark = f.verdict == .pass ? "pass" : f.verdict == .fail ? "FAIL" : "skip"
            lines.append("  \(f.rule.rawValue.padding(toLength: width, withPad: " ", startingAt: 0))  \(mark)  \(f.detail)")
        }
        let failed = findings.filter { $0.verdict == .fail }.count
        let skipped = findings.filter { $0.verdict == .skip }.count
        lines.append("")
        lines.append(
            failed == 0
                ? "All \(findings.count - skipped) rules checked passed\(skipped > 0 ? " (\(skipped) skipped)" : "")."
                : "\(failed) of \(findings.count - skipped) rules failed.")
        return lines.joined(separator: "\n")
    }
}
