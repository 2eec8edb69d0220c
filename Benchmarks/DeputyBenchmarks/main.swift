import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyTokenValidation
import Foundation
import JWTKit
import NIOCore
import NIOPosix

/// Signing-rate baselines for Benchmarks/run, measured in the same run as the server's
/// throughput: jwt-kit's RS256 signing on every core (one key collection per task, since
/// `JWTKeyCollection` is an actor) and Deputy's own signer (`SigningKey`).
///
/// Usage: DeputyBenchmarks signing [seconds]
///        DeputyBenchmarks agent-obo [seconds] — in-process OBO issuance, one task each: the Web API
///        (secret) next to the agent identity (T1 as its client assertion), measured in the same run.
///        DeputyBenchmarks policies [seconds] [file] — Conditional Access evaluations/s with the demo
///        tenant's policies plus 100 generated ones (written to `file` as JSON for `deputy policy apply`).
struct Claims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var scp: String
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

func measure(seconds: Double, tasks: Int, _ work: @escaping @Sendable () async throws -> Void) async throws -> Double {
    let start = Date()
    let counts = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                var n = 0
                while Date().timeIntervalSince(start) < seconds {
                    try await work()
                    n += 1
                }
                return n
            }
        }
        return try await group.reduce(0, +)
    }
    return Double(counts) / Date().timeIntervalSince(start)
}

let args = CommandLine.arguments
let seconds = args.count > 2 ? Double(args[2]) ?? 5 : 5
let cores = ProcessInfo.processInfo.activeProcessorCount

/// 100 policies shaped like a real tenant's: users by All, group or role with exclusions; apps
/// (mostly other apps); locations, platforms, risk; report-only and disabled ones; MFA and block.
/// None blocks the benchmark's OBO (Bob, the Web API, the Data API, after MFA).
func generatedPolicies() -> [String] {
    let dataApi = DemoTenant.app("dataApi").appId
    let approvers = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    return (1...100).map { n in
        let id = String(format: "5eed0000-0000-4000-8000-%012d", n)
        let other = String(format: "0ddba11a-0000-4000-8000-%012d", n)
        let users = [
            #"{"includeUsers":["All"],"excludeUsers":["\#(DemoTenant.user("eve").id)"]}"#, #"{"includeGroups":["\#(approvers)"]}"#,
            #"{"includeRoles":["62e90394-69f5-4237-9190-012177145e10"],"excludeGroups":["\#(approvers)"]}"#,
        ][n % 3]
        let apps =
            n % 4 == 0
            ? #"{"includeApplications":["\#(dataApi)"]}"# : #"{"includeApplications":["\#(other)"],"excludeApplications":["\#(dataApi)"]}"#
        let extra = [
            #","platforms":{"includePlatforms":["android","iOS"]}"#, #","signInRiskLevels":["high"]"#,
            #","locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}"#, "",
        ][n % 4]
        let state = n % 10 == 0 ? "enabledForReportingButNotEnforced" : n % 15 == 0 ? "disabled" : "enabled"
        let grant = n % 4 == 0 ? "mfa" : (n % 2 == 0 ? "block" : "mfa")
        return
            #"{"id":"\#(id)","displayName":"Generated \#(n)","state":"\#(state)","conditions":{"users":\#(users),"applications":\#(apps),"clientAppTypes":["all"]\#(extra)},"grantControls":{"operator":"OR","builtInControls":["\#(grant)"]}}"#
    }
}

if args.count > 1 && args[1] == "serve-signing-floor" {
    // As `deputy` does (Sources/deputy/Deputy.swift), so the floor runs on the same executor.
    if ProcessInfo.processInfo.environment["DEPUTY_NIO_EXECUTOR"] != "0" {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
    try await serveSigningFloor(port: Int(args[2]) ?? 8080)
    exit(0)
}
if args.count > 1 && args[1] == "serve-resource" {
    try await serveResource(port: Int(args[2]) ?? 8080)
    exit(0)
}
if args.count > 1 && args[1] == "obo-cache" {
    try await oboCache(seconds: seconds)
    exit(0)
}
if args.count > 1 && args[1] == "chain-latency" {
    // DeputyBenchmarks chain-latency <agent origin> <user token file> [messages]
    let token = try String(contentsOfFile: args[3], encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    try await chainLatency(agent: args[2], token: token, count: args.count > 4 ? Int(args[4]) ?? 1000 : 1000)
    try await HTTPClient.shared.shutdown()
    exit(0)
}
if args.count > 1 && args[1] == "token-work" {
    try await tokenWork(seconds: seconds)
    exit(0)
}
if args.count > 1 && args[1] == "obo-memory" {
    try await oboCache(seconds: 0, memorySize: Int(args[2]) ?? 100_000)
    exit(0)
}

if args.count > 1 && args[1] == "agent-obo" {
    // The authority in process on an in-memory store (no HTTP): what the agent's OBO costs more
    // than the Web API's — T1 verified as the client assertion instead of a secret compared.
    var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo")
    file.tenants[0].conditionalAccessPolicies = []
    var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
    configuration.passwordHashCost = 4
    let (authority, _) = try await Authority.open(configuration: configuration, store: RecordStore.inMemory(), tenantFile: file)
    await authority.passwords.waitForHashing()
    @Sendable func token(_ form: [(String, String)]) async throws -> String {
        try await authority.token(
            TokenRequest(
                tenantSegment: DemoTenant.tenantID, form: FormParameters(form), correlationID: "bench",
                ipAddress: "127.0.0.1")
        ).get().accessToken
    }
    let bob = DemoTenant.user("bob")
    let cli = DemoTenant.app("cli").appId
    func userToken(_ scope: String) async throws -> String {
        try await token([
            ("grant_type", "password"), ("client_id", cli), ("username", bob.upn), ("password", bob.password), ("scope", scope),
        ])
    }
    let forWebAPI = try await userToken("api://contoso-expenses-api/access_as_user")
    let forBlueprint = try await userToken("api://contoso-expense-agent/access_as_user")
    let blueprint = DemoTenant.app("agentBlueprint")
    let agent = DemoTenant.app("agent").appId
    let webApi = DemoTenant.app("webApi")
    let t1 = try await token([
        ("grant_type", "client_credentials"), ("client_id", blueprint.appId), ("client_secret", blueprint.secret!),
        ("scope", "api://AzureADTokenExchange/.default"), ("fmi_path", agent),
    ])
    let obo = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    let mcp = "api://contoso-expenses-mcp/.default"
    let classic: [(String, String)] = [
        ("grant_type", obo), ("client_id", webApi.appId), ("client_secret", webApi.secret!),
        ("requested_token_use", "on_behalf_of"), ("assertion", forWebAPI), ("scope", "https://database.windows.net//.default"),
    ]
    let agentOBO: [(String, String)] = [
        ("grant_type", obo), ("client_id", agent), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", t1), ("requested_token_use", "on_behalf_of"), ("assertion", forBlueprint), ("scope", mcp),
    ]
    _ = try await token(classic)
    _ = try await token(agentOBO)
    // Interleaved, so both see the same machine and the same (growing) sign-in log.
    let clock = ContinuousClock()
    var classicTime = Duration.zero
    var agentTime = Duration.zero
    var rounds = 0
    let deadline = clock.now + .milliseconds(Int(seconds * 1000))
    while clock.now < deadline {
        classicTime += try await clock.measure { _ = try await token(classic) }
        agentTime += try await clock.measure { _ = try await token(agentOBO) }
        rounds += 1
    }
    func perSecond(_ d: Duration) -> Double { Double(rounds) / (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18) }
    let classicRate = perSecond(classicTime)
    let agentRate = perSecond(agentTime)
    print(
        String(
            format: "in-process OBO issuances/s (one task): Web API %.0f, agent identity %.0f, ratio %.2f (%.0f µs more per agent OBO)",
            classicRate, agentRate, agentRate / classicRate, (1 / agentRate - 1 / classicRate) * 1e6))
    if args.count > 3 && args[3] == "detail" {
        let validator = try await authority.currentKeys().validator
        let policy = ValidationPolicy(
            issuers: [configuration.issuerV2(tenantID: DemoTenant.tenantID)], audiences: ["fb60f99c-7a34-4190-8149-302f77469936"])
        let verify = try await measure(seconds: 2, tasks: 1) { _ = try await validator.validate(t1, policy: policy) }
        let keys = try await measure(seconds: 2, tasks: 1) { _ = try await authority.currentKeys() }
        let mcpOBOByWeb = try await measure(seconds: 2, tasks: 1) {
            _ = await authority.token(
                TokenRequest(
                    tenantSegment: DemoTenant.tenantID,
                    form: FormParameters(agentOBO.map { $0.0 == "client_assertion" ? ("client_assertion", "x") : $0 }), correlationID: "b"))
        }
        print(
            String(
                format: "T1 verification %.0f µs, currentKeys %.0f µs, a refused agent OBO (bad T1) %.0f µs", 1e6 / verify, 1e6 / keys,
                1e6 / mcpOBOByWeb))
        let reports = DemoTenant.app("reports")
        let daemon = try await measure(seconds: 2, tasks: 1) {
            _ = try await token([
                ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
                ("scope", "https://database.windows.net//.default"),
            ])
        }
        let autonomous = try await measure(seconds: 2, tasks: 1) {
            _ = try await token([
                ("grant_type", "client_credentials"), ("client_id", agent),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", t1),
                ("scope", "https://database.windows.net//.default"),
            ])
        }
        let t1s = try await measure(seconds: 2, tasks: 1) {
            _ = try await token([
                ("grant_type", "client_credentials"), ("client_id", blueprint.appId), ("client_secret", blueprint.secret!),
                ("scope", "api://AzureADTokenExchange/.default"), ("fmi_path", agent),
            ])
        }
        print(
            String(
                format: "client credentials: daemon %.0f µs, autonomous agent %.0f µs, T1 %.0f µs", 1e6 / daemon, 1e6 / autonomous,
                1e6 / t1s))
    }
    exit(0)
}
if args.count > 1 && args[1] == "policies" {
    let texts = generatedPolicies()
    if args.count > 3 { try Data(("[" + texts.joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: args[3])) }
    var d = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo").tenants[0]
    let demoPolicies = d.conditionalAccessPolicies.count
    d.conditionalAccessPolicies += try texts.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    let tenant = DirectoryIndex(d)
    precondition(tenant.policies.count == demoPolicies + texts.count, "every generated policy parses")
    let bob = tenant.user(id: DemoTenant.user("bob").id)!
    let context = SignInContext(
        tenant: tenant, user: bob, client: tenant.application(appID: DemoTenant.app("webApi").appId)!,
        resource: tenant.application(appID: DemoTenant.app("dataApi").appId), isInteractive: false,
        authentication: Authentication(userID: bob.id, authTime: Date(), methods: ["pwd", "mfa", "otp"], mfaTime: Date()),
        requestedAuthenticationContexts: [], ipAddress: "127.0.0.1", authenticationProtocol: "bench")
    let engine = ConditionalAccessEngine(time: SystemTimeSource())
    precondition(engine.evaluate(context).decision == .grant, "the generated policies let the benchmark's OBO through")
    let rate = try await measure(seconds: seconds, tasks: 1) { _ = engine.evaluate(context) }
    print(String(format: "evaluations/s of %d policies (one core): %.0f", tenant.policies.count, rate))
    exit(0)
}
let record = try SigningKey.generate(now: Date())
let pem = record.privateKeyPEM

// jwt-kit: one collection per task so the actor does not serialize the cores.
let collections = try await (0..<cores).asyncMap { _ in
    try await JWTKeyCollection().add(rsa: Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256, kid: "bench")
}
let counter = LockedBox(0)
let jwtKitRate = try await measure(seconds: seconds, tasks: cores) {
    let i =
        counter.withLock { v -> Int in
            v += 1
            return v
        } % cores
    _ = try await collections[i].sign(Claims(sub: "user", exp: .init(value: Date() + 3600), scp: "Data.Read"), kid: "bench")
}

// Deputy's signer (swift-crypto directly).
let key = try SigningKey.load(record)
let claims: [String: JSONValue] = [
    "sub": .string("user"), "exp": .number(Date().timeIntervalSince1970 + 3600), "scp": .string("Data.Read"),
]
let deputyRate = try await measure(seconds: seconds, tasks: cores) { _ = try key.sign(claims: claims) }

print("cores \(cores)")
print(String(format: "jwt-kit RS256 signatures/s (all cores): %.0f", jwtKitRate))
print(String(format: "deputy signer RS256 signatures/s (all cores): %.0f", deputyRate))

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
