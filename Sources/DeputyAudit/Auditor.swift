public import AsyncHTTPClient
public import DeputyAuthority
public import DeputyCore
public import Foundation
public import MCP
import NIOCore
import NIOHTTP1

/// What to audit and how to reach it.
public struct AuditOptions: Sendable {
    /// The middle tier's URL the audit calls (`http://127.0.0.1:8080/expenses`, or an MCP endpoint).
    public var target: String
    /// The HTTP method and JSON body of the call (HTTP targets).
    public var method = "GET"
    public var body: String?
    /// For an MCP server: the tool to call (the target is then an MCP endpoint) and its arguments.
    public var mcpTool: String?
    public var mcpArguments: [String: Value] = [:]
    /// For an MCP server: a tool that needs more scope than the server's baseline (`scopes_supported`).
    public var stepUpTool: String?
    /// The manifest's application whose API the caller's token is for (the target's own API).
    public var app = "auditTarget"
    /// The manifest's application the target authenticates as when it gets downstream tokens
    /// (its `azp` there); `app` when nil. The agent's is its agent identity (`agent`).
    public var client: String?
    /// The manifest's service the target calls on the user's behalf (`dataApi`, or `mcpServer`
    /// for the agent), which must be a `deputy up` service (it keeps what tokens it received).
    public var downstream = "dataApi"
    /// The manifest's user the audit signs in as.
    public var user = "alice"
    /// The scopes the caller asks for; the app's scopes in the manifest (an MCP server's
    /// `scopes_supported`) when nil.
    public var scopes: [String]?

    public init(target: String) { self.target = target }
}

/// Checks a middle tier against the delegation rules, as a client of it would see them, with
/// Deputy's authority behind it: audience validation, no passthrough, On-Behalf-Of per
/// downstream resource, claims challenges and consent relayed unchanged, no tokens in answers.
///
/// The audit reads `deputy up`'s manifest for the applications, users and service URLs, and
/// works on the authority's store (the data directory or database) for three things: signing the
/// user in through the authority's own engine, switching on a Conditional Access policy that
/// requires MFA for the downstream API for the run, and taking the target's consent grant away
/// for one rule. Every change is journaled and undone (``TemporaryChanges``).
public struct Auditor: Sendable {
    let manifest: [String: JSONValue]
    let store: RecordStore
    let http: HTTPClient
    let options: AuditOptions
    let journal: URL
    /// Where progress notes go (standard error in the CLI).
    public var progress: (@Sendable (String) -> Void)?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - manifest: `deputy up`'s manifest (JSON).
    ///   - store: the authority's store.
    ///   - httpClient: the client that calls the target and the downstream service.
    ///   - options: what to audit.
    ///   - journal: where changes are journaled until undone.
    public init(manifest: JSONValue, store: RecordStore, httpClient: HTTPClient, options: AuditOptions, journal: URL) throws {
        guard let m = manifest.objectValue else { throw Failure(description: "the manifest is not a JSON object") }
        self.manifest = m
        self.store = store
        self.http = httpClient
        self.options = options
        self.journal = journal
    }

    func string(_ path: String...) -> String? {
        var value: JSONValue? = .object(manifest)
        for key in path { value = value?.objectValue?[key] }
        return value?.stringValue
    }

    func require(_ path: String...) throws -> String {
        var value: JSONValue? = .object(manifest)
        for key in path { value = value?.objectValue?[key] }
        guard let s = value?.stringValue else { throw Failure(description: "the manifest has no \(path.joined(separator: "."))") }
        return s
    }

    /// Undoes the changes an interrupted audit left (see ``TemporaryChanges``); returns how many.
    public func restoreLeftovers() async throws -> Int {
        try await TemporaryChanges(store: store, journal: journal).restoreLeftovers()
    }

    /// Runs every rule and undoes the audit's changes, also when a rule throws or the task is cancelled.
    public func run() async throws -> AuditReport {
        let changes = TemporaryChanges(store: store, journal: journal)
        let leftovers = try await changes.restoreLeftovers()
        if leftovers > 0 { progress?("undid \(leftovers) change(s) an interrupted audit left (\(journal.path))") }
        do {
            let report = try await audit(changes)
            try await changes.restore()
            return report
        } catch {
            try? await changes.restore()
            throw error
        }
    }

    func audit(_ changes: TemporaryChanges) async throws -> AuditReport {
        let tenantID = try require("tenantId")
        let appID = try require("applications", options.app, "appId")
        let clientKey = options.client ?? options.app
        let clientID = try require("applications", clientKey, "appId")
        let downstreamID = try require("applications", options.downstream, "appId")
        let downstreamURI = string("applications", options.downstream, "identifierUri")
        let downstreamURL = try require("services", options.downstream)
        let userID = try require("users", options.user, "objectId")
        let user = (
            upn: try require("users", options.user, "userPrincipalName"), password: try require("users", options.user, "password"),
            totpSecret: string("users", options.user, "totpSecret")
        )
        let target = AuditTarget(
            url: options.target,
            kind: options.mcpTool.map { .mcp(tool: $0, arguments: options.mcpArguments) }
                ?? .http(method: options.method, body: options.body), http: http)

        // The authority's engine on the same store and clock as `deputy up`.
        let (authority, _) = try await Authority.open(
            configuration: AuthorityConfiguration(baseURL: try require("services", "authority")), store: store, tenantFile: nil,
            time: OffsetTimeSource(offset: try await store.clockOffset()))
        let upn = user.upn
        let say = progress
        let onWait: @Sendable (TimeInterval) -> Void = { seconds in
            say?("waiting \(Int(seconds.rounded(.up))) s for the next verification code of \(upn) (each code is accepted once)")
        }
        let tokens = AuditTokens(
            authority: authority, tenant: tenantID, publicClient: try require("applications", "cli", "appId"), user: user, onWait: onWait)
        var findings: [AuditFinding] = []
        var metadata: [String: JSONValue]?
        if options.mcpTool != nil {
            let (finding, document) = await resourceMetadataRule()
            findings.append(finding)
            metadata = document
        }
        let scopes =
            options.scopes ?? metadata?["scopes_supported"]?.arrayValue?.compactMap(\.stringValue)
            ?? (manifest["applications"]?.objectValue?[options.app]?.objectValue?["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        guard !scopes.isEmpty else { throw Failure(description: "no scopes for \(options.app): name them with --scope") }
        let scope = scopes.joined(separator: " ")

        // For the run: MFA for the downstream API, for this user only. The user's sign-in satisfies
        // it (as after a relayed challenge); a password-only token does not.
        let policyID = UUID().uuidString.lowercased()
        try await changes.addPolicy(
            .object([
                "id": .string(policyID), "displayName": .string("deputy audit: MFA for \(options.downstream) (temporary)"),
                "state": .string("enabled"),
                "conditions": .object([
                    "users": .object(["includeUsers": .array([.string(userID)])]),
                    "applications": .object(["includeApplications": .array([.string(downstreamID)])]),
                    "clientAppTypes": .array([.string("all")]),
                ]),
                "grantControls": .object(["operator": .string("OR"), "builtInControls": .array([.string("mfa")])]),
            ]), tenantID: tenantID)

        let grantsBefore = try await changes.grants(tenantID: tenantID)
        let signedIn: TokenResponse
        do { signedIn = try await tokens.signInWithMFA(scope: scope, mfaPolicyID: policyID) } catch {
            try await changes.recordGrantsChanged(since: grantsBefore, tenantID: tenantID)
            throw error
        }
        try await changes.recordGrantsChanged(since: grantsBefore, tenantID: tenantID)
        let good = signedIn.accessToken
        guard let refresh = signedIn.refreshToken else { throw Failure(description: "the sign-in returned no refresh token") }
        let otherKey = ["webApi", "reportsApi", "auditTarget", "agentBlueprint"].first { key in
            key != options.app && string("applications", key, "appId") != appID && string("applications", key, "appId") != clientID
        }
        let other = try await tokens.refreshed(
            refresh, scope: try require("applications", otherKey ?? "webApi", "identifierUri") + "/.default")
        var sent = [good, other]
        var exchanges: [Exchange] = []
        func send(_ token: String?, _ label: String) async throws -> Exchange {
            if let token { sent.append(token) }
            let e = try await target.send(token: token, correlation: "deputy-audit-\(label)-\(UUID().uuidString.prefix(8))")
            exchanges.append(e)
            return e
        }

        // Tokens a resource must refuse (RFC 6750 §3.1: 401 invalid_token, or no error without a token).
        let missing = try await send(nil, "missing")
        findings.append(refusal(.rejectsMissingToken, missing))
        findings.append(
            refusal(.rejectsWrongAudience, try await send(other, "wrong-audience"), note: "a token for \(otherKey ?? "webApi")"))
        findings.append(refusal(.rejectsExpiredToken, try await send(try await tokens.expired(good), "expired")))
        findings.append(refusal(.rejectsBadSignature, try await send(AuditTokens.badSignature(good), "bad-signature")))
        findings.append(refusal(.rejectsAlgNone, try await send(AuditTokens.unsigned(good), "alg-none")))
        if options.mcpTool != nil {
            let named = missing.wwwAuthenticate?.contains("resource_metadata=") == true
            findings.append(
                AuditFinding(
                    .mcp401Challenge, missing.status == 401 && named ? .pass : .fail,
                    missing.status == 401 && named
                        ? "401 names resource_metadata" : "expected 401 with resource_metadata, got \(missing.status)",
                    evidence: ["answer": missing.evidence]))
        }

        // The happy path: the target gets its own token for the downstream API.
        let since = Date()
        let signInsSince = authority.time.now() - 1
        let success = try await send(good, "obo")
        if success.status == 401 {
            // The target refuses a valid token as well: its refusals above prove nothing.
            let offset = try await store.clockOffset()
            let clock =
                offset == 0
                ? ""
                : "; the authority's clock is \(Int(offset)) s ahead of this machine's (test controls): a target checking times against its own clock refuses its tokens"
            for i in findings.indices where findings[i].rule.rawValue.hasPrefix("rejects-") {
                findings[i].verdict = .skip
                findings[i].detail = "not conclusive: the target refuses a valid token too (401)\(clock)"
            }
        }
        let received = try await receivedTokens(downstreamURL, since: since)
        findings.append(
            try await oboRule(
                success, received: received, authority: authority, signInsSince: signInsSince,
                appIDs: (clientID, downstreamID, downstreamURI),
                userID: userID))

        // Conditional Access at the downstream: a password-only token meets the MFA policy there.
        let weak = try await tokens.passwordOnly(scope: scope)
        let challenged = try await send(weak, "claims-challenge")
        let expected = try await expectedChallenge(authority: authority, tenantID: tenantID, clientKey: clientKey, assertion: weak)
        findings.append(claimsRule(challenged, policyID: policyID, expected: expected))

        // Consent: the target's grant to the downstream API taken away for one call (a new token,
        // so no cache in the target answers for it).
        let fresh = try await tokens.refreshed(refresh, scope: scope)
        guard let directory = try await store.directories().first(where: { $0.tenant.id == tenantID }) else {
            throw Failure(description: "the store holds no tenant \(tenantID)")
        }
        let index = DirectoryIndex(directory)
        let removed = try await changes.removeGrants(
            clientID: index.servicePrincipal(appID: clientID)?.id ?? "", resourceID: index.servicePrincipal(appID: downstreamID)?.id ?? "",
            tenantID: tenantID)
        if removed == 0 {
            findings.append(
                AuditFinding(
                    .relaysConsentRequired, .skip,
                    "\(clientKey) has no grant of its own to \(options.downstream) to take away (its permissions are inherited)"))
        } else {
            findings.append(consentRule(try await send(fresh, "consent")))
        }
        try await changes.restore()

        // The passthrough check covers every call above.
        let all = try await receivedTokens(downstreamURL, since: since.addingTimeInterval(-600))
        findings.append(passthroughRule(all, sent: sent))
        findings.append(leakRule(exchanges, sent: sent))

        if options.mcpTool != nil {
            if let tool = options.stepUpTool {
                let answer = try await target.send(token: good, correlation: "deputy-audit-step-up", tool: tool)
                findings.append(stepUpRule(answer, tool: tool))
            } else {
                findings.append(
                    AuditFinding(.mcpInsufficientScope, .skip, "name a tool that needs more than the baseline scope with --step-up-tool"))
            }
        }
        let order = AuditRule.allCases
        return AuditReport(
            target: options.target, findings: findings.sorted { order.firstIndex(of: $0.rule)! < order.firstIndex(of: $1.rule)! })
    }

    // MARK: - Rules

    func refusal(_ rule: AuditRule, _ answer: Exchange, note: String? = nil) -> AuditFinding {
        let ok = answer.status == 401
        let detail =
            ok
            ? "refused with 401" + (note.map { " (\($0))" } ?? "")
            : "expected 401, got \(answer.status)\(answer.succeeded ? ": the token was accepted" : "")" + (note.map { " (\($0))" } ?? "")
        return AuditFinding(rule, ok ? .pass : .fail, detail, evidence: ["answer": answer.evidence])
    }

    func oboRule(
        _ answer: Exchange, received: [[String: JSONValue]]?, authority: Authority, signInsSince: Date,
        appIDs: (client: String, downstream: String, downstreamURI: String?), userID: String
    ) async throws -> AuditFinding {
        guard answer.succeeded else {
            return AuditFinding(
                .oboDownstream, .fail, "the target did not answer a valid request with success (\(answer.status))",
                evidence: ["answer": answer.evidence])
        }
        guard let received else {
            return AuditFinding(
                .oboDownstream, .skip, "the downstream service keeps no record of the tokens it receives (not a deputy up service)")
        }
        let audiences = Set([appIDs.downstream, appIDs.downstreamURI].compactMap { $0?.lowercased() })
        let own = received.filter {
            audiences.contains($0["aud"]?.stringValue?.lowercased() ?? "")
                && $0["azp"]?.stringValue?.lowercased() == appIDs.client.lowercased()
                && $0["oid"]?.stringValue == userID
        }
        let log = try await store.recentSignIns(limit: 500).filter {
            $0.createdDateTime >= signInsSince && $0.appId?.lowercased() == appIDs.client.lowercased()
                && $0.resourceId?.lowercased() == appIDs.downstream.lowercased() && $0.userId == userID && $0.status.errorCode == 0
        }
        let evidence: [String: JSONValue] = [
            "answer": answer.evidence, "downstreamReceived": .array(received.map(JSONValue.object)),
            "signInLog": .array(
                log.prefix(3).map { r in
                    .object([
                        "id": .string(r.id), "appId": .string(r.appId ?? ""), "resourceId": .string(r.resourceId ?? ""),
                        "authenticationProtocol": .string(r.authenticationProtocol), "correlationId": .string(r.correlationId),
                    ])
                }),
        ]
        if own.isEmpty {
            return AuditFinding(
                .oboDownstream, .fail, "the downstream received no token for itself with azp \(appIDs.client) for this user",
                evidence: evidence)
        }
        if log.isEmpty {
            return AuditFinding(
                .oboDownstream, .fail, "no successful token issuance to \(appIDs.client) for the downstream is in the sign-in log",
                evidence: evidence)
        }
        return AuditFinding(
            .oboDownstream, .pass, "the downstream received its own token (azp \(appIDs.client)), issued by On-Behalf-Of",
            evidence: evidence)
    }

    /// The claims the authority itself answers to the target's On-Behalf-Of with `assertion`,
    /// when the manifest has the target's secret (otherwise nil: the relayed claims are checked
    /// for the audit's policy only).
    func expectedChallenge(authority: Authority, tenantID: String, clientKey: String, assertion: String) async throws -> String? {
        guard let secret = string("applications", clientKey, "clientSecret"), let clientID = string("applications", clientKey, "appId"),
            let resource = string("applications", options.downstream, "identifierUri")
        else { return nil }
        let result = await authority.token(
            TokenRequest(
                tenantSegment: tenantID,
                form: FormParameters([
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("requested_token_use", "on_behalf_of"),
                    ("client_id", clientID), ("client_secret", secret), ("assertion", assertion),
                    ("scope", (resource.hasSuffix("/") ? resource : resource + "/") + ".default"),
                ]), correlationID: "deputy-audit-expected-challenge"))
        if case .failure(let error) = result { return error.claims }
        return nil
    }

    func claimsRule(_ answer: Exchange, policyID: String, expected: String?) -> AuditFinding {
        var relayed: String?
        if let header = answer.wwwAuthenticate, let challenge = ClaimsChallenge(wwwAuthenticate: header) { relayed = challenge.claims }
        if relayed == nil, case .object(let body)? = try? JSONParser.parse(Data(answer.body.utf8)), let claims = body["claims"]?.stringValue
        {
            // A JSON body may carry the claims as JSON text or base64 of it.
            relayed =
                (try? JSONParser.parse(Data(claims.utf8))) != nil
                ? claims : Data(base64Encoded: claims).map { String(decoding: $0, as: UTF8.self) }
        }
        var evidence: [String: JSONValue] = ["answer": answer.evidence]
        if let expected { evidence["authorityClaims"] = .string(expected) }
        guard let relayed, let got = try? JSONParser.parse(Data(relayed.utf8)) else {
            return AuditFinding(
                .relaysClaimsChallenge, .fail,
                "the answer (\(answer.status)) carries no claims challenge: the caller cannot step up", evidence: evidence)
        }
        evidence["relayedClaims"] = .string(relayed)
        if let expected, let want = try? JSONParser.parse(Data(expected.utf8)) {
            return got == want
                ? AuditFinding(
                    .relaysClaimsChallenge, .pass, "the authority's claims challenge reached the caller unchanged (\(answer.status))",
                    evidence: evidence)
                : AuditFinding(.relaysClaimsChallenge, .fail, "the relayed claims differ from the authority's", evidence: evidence)
        }
        let ids =
            got.objectValue?["access_token"]?.objectValue?["capolids"]?.objectValue?["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return ids.contains(policyID)
            ? AuditFinding(
                .relaysClaimsChallenge, .pass, "the claims challenge naming the policy reached the caller (\(answer.status))",
                evidence: evidence)
            : AuditFinding(.relaysClaimsChallenge, .fail, "the relayed claims do not name the policy that challenged", evidence: evidence)
    }

    func consentRule(_ answer: Exchange) -> AuditFinding {
        let text = (answer.body + " " + (answer.wwwAuthenticate ?? "")).lowercased()
        let says = text.contains("consent") || text.contains("65001")
        let ok = (400..<500).contains(answer.status) && says
        let detail =
            ok
            ? "answered \(answer.status) saying consent is required"
            : answer.status >= 500
                ? "answered \(answer.status): a server error instead of consent required"
                : "answered \(answer.status) without saying consent is required"
        return AuditFinding(.relaysConsentRequired, ok ? .pass : .fail, detail, evidence: ["answer": answer.evidence])
    }

    func passthroughRule(_ received: [[String: JSONValue]]?, sent: [String]) -> AuditFinding {
        guard let received else {
            return AuditFinding(
                .noPassthrough, .skip, "the downstream service keeps no record of the tokens it receives (not a deputy up service)")
        }
        let digests = Set(sent.map(AuditTokens.digest))
        let passed = received.filter { digests.contains($0["sha256"]?.stringValue ?? "") }
        return passed.isEmpty
            ? AuditFinding(.noPassthrough, .pass, "none of the \(sent.count) tokens sent to the target reached the downstream")
            : AuditFinding(
                .noPassthrough, .fail, "the downstream received \(passed.count) token(s) the caller sent to the target",
                evidence: ["received": .array(passed.map(JSONValue.object))])
    }

    func leakRule(_ exchanges: [Exchange], sent: [String]) -> AuditFinding {
        let jwt = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/
        var leaks: [JSONValue] = []
        for e in exchanges {
            let text = e.body + "\n" + e.headers.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
            if text.firstMatch(of: jwt) != nil || sent.contains(where: { text.contains($0) }) {
                leaks.append(.object(["status": .number(Double(e.status))]))
            }
        }
        return leaks.isEmpty
            ? AuditFinding(.noTokenLeak, .pass, "no token in \(exchanges.count) answers")
            : AuditFinding(.noTokenLeak, .fail, "\(leaks.count) answer(s) carry a token", evidence: ["answers": .array(leaks)])
    }

    func stepUpRule(_ answer: Exchange, tool: String) -> AuditFinding {
        let header = answer.wwwAuthenticate ?? ""
        let ok = answer.status == 403 && header.contains("insufficient_scope") && header.contains("scope=")
        return AuditFinding(
            .mcpInsufficientScope, ok ? .pass : .fail,
            ok
                ? "\(tool) answered 403 insufficient_scope naming the scopes it needs"
                : "expected 403 insufficient_scope from \(tool), got \(answer.status)",
            evidence: ["answer": answer.evidence])
    }

    /// The RFC 9728 document at the path-inserted and root well-known URLs.
    func resourceMetadataRule() async -> (AuditFinding, [String: JSONValue]?) {
        guard let url = URLComponents(string: options.target), let scheme = url.scheme, let host = url.host else {
            return (AuditFinding(.mcpResourceMetadata, .fail, "the target is not a URL"), nil)
        }
        let origin = "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
        let path = url.path == "/" ? "" : url.path
        var documents: [String: JSONValue] = [:]
        var parsed: [String: JSONValue]?
        for location in ["\(origin)/.well-known/oauth-protected-resource\(path)", "\(origin)/.well-known/oauth-protected-resource"] {
            guard let response = try? await http.execute(HTTPClientRequest(url: location), timeout: .seconds(10)),
                let body = try? await response.body.collect(upTo: 1 << 20)
            else { continue }
            if response.status.code == 200, case .object(let o)? = try? JSONParser.parse(body.readableBytesView) {
                documents[location] = .object(o)
                if parsed == nil { parsed = o }
            }
        }
        guard let parsed else {
            return (AuditFinding(.mcpResourceMetadata, .fail, "no RFC 9728 document at the path-inserted or root well-known URL"), nil)
        }
        let issuer = string("issuer") ?? ""
        let names = parsed["resource"]?.stringValue == options.target
        let trusts = parsed["authorization_servers"]?.arrayValue?.contains(.string(issuer)) == true
        let ok = names && trusts
        return (
            AuditFinding(
                .mcpResourceMetadata, ok ? .pass : .fail,
                ok
                    ? "served at \(documents.count) well-known URL(s), resource is the endpoint, the authority is listed"
                    : "the document's resource (\(parsed["resource"]?.stringValue ?? "none")) or authorization_servers do not match",
                evidence: ["documents": .object(documents)]), parsed
        )
    }

    /// What the downstream `deputy up` service received since `since`; nil when it keeps no record.
    func receivedTokens(_ service: String, since: Date) async throws -> [[String: JSONValue]]? {
        let url = "\(service)/_deputy/received-tokens?since=\(since.timeIntervalSince1970)"
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        guard response.status.code == 200, case .array(let list)? = try? JSONParser.parse(body.readableBytesView) else { return nil }
        return list.compactMap(\.objectValue)
    }
}
