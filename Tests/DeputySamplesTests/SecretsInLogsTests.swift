import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputySamples
import DeputyTestSupport
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import Hummingbird
import Logging
import NIOHTTP1
import Testing

/// Every log line of the process at debug level, kept while a capture is on. Installed once for
/// the test process (swift-log allows one bootstrap): lines at info and above still go to
/// standard error as before; debug and trace lines are only kept.
final class CapturedLogs: Sendable {
    static let shared: CapturedLogs = {
        let logs = CapturedLogs()
        LoggingSystem.bootstrap { label in Handler(label: label, logs: logs) }
        return logs
    }()

    let lines = LockedBox<[String]>([])
    let capturing = LockedBox(false)

    struct Handler: LogHandler {
        let label: String
        let logs: CapturedLogs
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        var stream: StreamLogHandler

        init(label: String, logs: CapturedLogs) {
            self.label = label
            self.logs = logs
            stream = StreamLogHandler.standardError(label: label)
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(
            level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String, file: String, function: String,
            line: UInt
        ) {
            if logs.capturing.withLock({ $0 }) {
                let all = metadata.merging(extra ?? [:]) { _, new in new }
                let text =
                    "\(level) \(label) \(message) \(all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")) [\(source) \(file):\(line)]"
                logs.lines.withLock { $0.append(text) }
            }
            if level >= .info {
                stream.log(
                    level: level, message: message, metadata: metadata.merging(extra ?? [:]) { _, n in n },
                    source: source, file: file, function: function, line: line)
            }
        }
    }
}

/// Secrets never reach a log: the whole chain runs at debug level — sign-in with a password and
/// a verification code, codes, refresh tokens, OBO at each hop, client credentials, a wrong
/// password, a relayed challenge, Graph writes with passwords, a revocation the resources learn
/// from the critical-event feed — and every line logged is searched for every secret, password,
/// code and token of the run.
@Suite("Secrets in logs", .serialized)
struct SecretsInLogsTests {
    @Test("No password, secret, code or token issued during a run of the whole chain appears in its debug log")
    func noSecretsInLogs() async throws {
        let logs = CapturedLogs.shared
        logs.lines.withLock { $0 = [] }
        logs.capturing.withLock { $0 = true }
        defer { logs.capturing.withLock { $0 = false } }
        let secrets = LockedBox<Set<String>>([])
        @Sendable func keep(_ s: String?) { if let s, s.count >= 6 { secrets.withLock { _ = $0.insert(s) } } }
        // Everything the tenant file holds.
        for u in ["alice", "bob", "eve"].map(DemoTenant.user) {
            keep(u.password)
            keep(u.totpSecret)
        }
        for key in ["spa", "webApi", "dataApi", "mcpServer", "agentBlueprint", "reports", "reportsApi", "admin", "cli"] {
            keep(DemoTenant.app(key).secret)
        }

        try await AgentChainTests.withChain(continuousAccess: true) { chain in
            let live = chain.live
            let authority = live.authority
            let bob = DemoTenant.user("bob")
            let alice = DemoTenant.user("alice")
            // Interactive sign-in with MFA, the code and the tokens it redeems for.
            let signedIn = try await SignInDriver.response(
                authority: authority, user: bob, scope: "api://contoso-expense-agent/access_as_user",
                claims: SignInDriver.mfaChallenge)
            keep(signedIn.accessToken)
            keep(signedIn.refreshToken)
            keep(signedIn.idToken)
            if let code = TOTP.code(base32Secret: bob.totpSecret!, at: authority.time.now()) { keep(code) }
            // A refresh, a wrong password, ROPC, client credentials.
            let refreshed = try await authority.token(
                TokenRequest(
                    tenantSegment: "contoso.com",
                    form: FormParameters([
                        ("grant_type", "refresh_token"), ("client_id", DemoTenant.app("cli").appId),
                        ("refresh_token", signedIn.refreshToken!),
                        ("scope", "api://contoso-expense-agent/access_as_user"),
                    ]), correlationID: "logs")
            ).get()
            keep(refreshed.accessToken)
            keep(refreshed.refreshToken)
            _ = await authority.token(
                TokenRequest(
                    tenantSegment: "contoso.com",
                    form: FormParameters([
                        ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", alice.upn),
                        ("password", "Wrong-Password-123"),
                        ("scope", "api://contoso-expenses-api/access_as_user"),
                    ]), correlationID: "logs"))
            keep("Wrong-Password-123")
            let ropc = try await live.userToken("alice", scope: "api://contoso-expense-agent/access_as_user")
            keep(ropc)
            let reports = DemoTenant.app("reports")
            let app = try await authority.token(
                TokenRequest(
                    tenantSegment: "contoso.com",
                    form: FormParameters([
                        ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                        ("scope", "https://database.windows.net//.default"),
                    ]), correlationID: "logs")
            ).get()
            keep(app.accessToken)
            // The chain: the agent (OBO to the MCP server, OBO to the Data API) for bob, with MFA;
            // alice without MFA gets the relayed challenge.
            let chat = try await AgentChainTests.send(
                chain.agent + "/chat", token: refreshed.accessToken, body: #"{"message":"list my expenses"}"#,
                correlation: "logs-chat")
            #expect(chat.status == 200, "\(chat.status) \(chat.body)")
            let challenged = try await AgentChainTests.send(
                chain.agent + "/chat", token: ropc, body: #"{"message":"list my expenses"}"#,
                correlation: "logs-challenge")
            #expect(challenged.status == 401)
            // An OBO that Conditional Access interrupts (its claims challenge is logged, never a token).
            _ = await authority.token(
                TokenRequest(
                    tenantSegment: "contoso.com",
                    form: FormParameters([
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", DemoTenant.app("webApi").appId),
                        ("client_secret", DemoTenant.app("webApi").secret!), ("assertion", try await live.userToken("bob")),
                        ("scope", "https://database.windows.net//Data.Read"), ("requested_token_use", "on_behalf_of"),
                    ]), correlationID: "logs"))
            let t1 = try await authority.token(
                TokenRequest(
                    tenantSegment: "contoso.com",
                    form: FormParameters([
                        ("grant_type", "client_credentials"), ("client_id", DemoTenant.app("agentBlueprint").appId),
                        ("client_secret", DemoTenant.app("agentBlueprint").secret!), ("scope", "api://AzureADTokenExchange/.default"),
                        ("fmi_path", DemoTenant.app("agent").appId),
                    ]), correlationID: "logs")
            ).get()
            keep(t1.accessToken)
            // alice with MFA: her chat works until her sessions are revoked below.
            let aliceMFA = try await SignInDriver.token(
                authority: authority, user: alice, scope: "api://contoso-expense-agent/access_as_user", claims: SignInDriver.mfaChallenge)
            keep(aliceMFA)
            let before = try await AgentChainTests.send(
                chain.agent + "/chat", token: aliceMFA, body: #"{"message":"list my expenses"}"#, correlation: "logs-alice")
            #expect(before.status == 200, "\(before.status) \(before.body)")
            // Graph writes: a user created with a password, a password reset, sessions revoked (a
            // critical event the chain's resources read from the feed with their client secrets).
            let graph = try await ContinuousAccessChainTests.adminGraphToken(live)
            keep(graph)
            let created = try await AgentChainTests.send(
                live.base + "/v1.0/users", token: graph,
                body: #"""
                    {"accountEnabled":true,"displayName":"Log Test","mailNickname":"logtest","userPrincipalName":"logtest@contoso.com",
                     "passwordProfile":{"forceChangePasswordNextSignIn":false,"password":"Graph-Created-Pass-789"}}
                    """#, correlation: "logs-graph")
            keep("Graph-Created-Pass-789")
            #expect(created.status == 201, "\(created.status) \(created.body)")
            let reset = try await AgentChainTests.send(
                live.base + "/v1.0/users/logtest@contoso.com", method: .PATCH, token: graph,
                body: #"{"passwordProfile":{"forceChangePasswordNextSignIn":false,"password":"Graph-Reset-Pass-456"}}"#,
                correlation: "logs-graph")
            keep("Graph-Reset-Pass-456")
            #expect(reset.status == 204, "\(reset.status) \(reset.body)")
            // Events and token times are in whole seconds: the revocation comes after bob's tokens.
            try await Task.sleep(for: .seconds(1.1))
            let revoke = try await AgentChainTests.send(
                live.base + "/v1.0/users/\(alice.upn)/revokeSignInSessions", token: graph, body: nil, correlation: "logs-graph")
            #expect(revoke.status == 200)
            // alice's next message: the resources read the feed and refuse her tokens with a challenge.
            try await Task.sleep(for: .seconds(1.1))
            let revoked = try await AgentChainTests.send(
                chain.agent + "/chat", token: aliceMFA, body: #"{"message":"list my expenses"}"#, correlation: "logs-cae")
            #expect(revoked.status == 401, "\(revoked.status) \(revoked.body)")
        }
        logs.capturing.withLock { $0 = false }
        let lines = logs.lines.withLock { $0 }
        #expect(lines.count > 20, "the run logged too little to prove anything (\(lines.count) lines)")
        #expect(lines.contains { $0.hasPrefix("debug") || $0.hasPrefix("trace") }, "nothing was logged at debug level")
        // Each token is also searched by its signature alone (a log that cut the token would still leak it).
        var needles = secrets.withLock { $0 }
        for s in needles where s.split(separator: ".").count == 3 { needles.insert(String(s.split(separator: ".")[2])) }
        let log = lines.joined(separator: "\n")
        for needle in needles where log.contains(needle) {
            let line = lines.first { $0.contains(needle) } ?? ""
            Issue.record("a secret (\(needle.prefix(6))…) was logged: \(line.prefix(300))")
        }
        // Tokens the middle tiers got for themselves are not seen by the test: every shape the
        // authority issues is searched for as well (JWTs, codes, refresh tokens, device codes).
        let shapes: [(String, Regex<Substring>)] = [
            ("a JWT", try Regex(#"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}"#)),
            ("an authorization code", try Regex(#"1\.A[A-Za-z0-9_-]{60,}"#)),
            ("a refresh token", try Regex(#"1\.D[A-Za-z0-9_-]{60,}"#)),
            ("a device code", try Regex(#"DAQABIQEAAA[A-Za-z0-9_-]{20,}"#)),
        ]
        for (what, shape) in shapes {
            if let line = lines.first(where: { $0.contains(shape) }) { Issue.record("\(what) was logged: \(line.prefix(300))") }
        }
        if ProcessInfo.processInfo.environment["SHOW_LOGS"] != nil { print(lines.joined(separator: "\n")) }
        print("secrets in logs: \(needles.count) secrets searched in \(lines.count) log lines (\(log.utf8.count) bytes)")
    }
}
