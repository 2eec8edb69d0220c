import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import Foundation
import JWTKit

/// Signing-rate baselines for Benchmarks/run, measured in the same run as the server's
/// throughput: jwt-kit's RS256 signing on every core (one key collection per task, since
/// `JWTKeyCollection` is an actor) and Deputy's own signer (`SigningKey`).
///
/// Usage: DeputyBenchmarks signing [seconds]
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
        let users = [#"{"includeUsers":["All"],"excludeUsers":["\#(DemoTenant.user("eve").id)"]}"#, #"{"includeGroups":["\#(approvers)"]}"#,
                     #"{"includeRoles":["62e90394-69f5-4237-9190-012177145e10"],"excludeGroups":["\#(approvers)"]}"#][n % 3]
        let apps = n % 4 == 0 ? #"{"includeApplications":["\#(dataApi)"]}"# : #"{"includeApplications":["\#(other)"],"excludeApplications":["\#(dataApi)"]}"#
        let extra = [#","platforms":{"includePlatforms":["android","iOS"]}"#, #","signInRiskLevels":["high"]"#,
                     #","locations":{"includeLocations":["All"],"excludeLocations":["AllTrusted"]}"#, ""][n % 4]
        let state = n % 10 == 0 ? "enabledForReportingButNotEnforced" : n % 15 == 0 ? "disabled" : "enabled"
        let grant = n % 4 == 0 ? "mfa" : (n % 2 == 0 ? "block" : "mfa")
        return #"{"id":"\#(id)","displayName":"Generated \#(n)","state":"\#(state)","conditions":{"users":\#(users),"applications":\#(apps),"clientAppTypes":["all"]\#(extra)},"grantControls":{"operator":"OR","builtInControls":["\#(grant)"]}}"#
    }
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

if args.count > 1 && args[1] == "policies" {
    let texts = generatedPolicies()
    if args.count > 3 { try Data(("[" + texts.joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: args[3])) }
    var d = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo").tenants[0]
    d.conditionalAccessPolicies += try texts.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    let tenant = DirectoryIndex(d)
    precondition(tenant.policies.count == 104, "every generated policy parses")
    let bob = tenant.user(id: DemoTenant.user("bob").id)!
    let context = SignInContext(
        tenant: tenant, user: bob, client: tenant.application(appID: DemoTenant.app("webApi").appId)!,
        resource: tenant.application(appID: DemoTenant.app("dataApi").appId), isInteractive: false,
        authentication: Authentication(userID: bob.id, authTime: Date(), methods: ["pwd", "mfa", "otp"], mfaTime: Date()),
        requestedAuthenticationContexts: [], ipAddress: "127.0.0.1", authenticationProtocol: "bench")
    let engine = ConditionalAccessEngine(time: SystemTimeSource())
    precondition(engine.evaluate(context).decision == .grant, "the generated policies let the benchmark's OBO through")
    let rate = try await measure(seconds: seconds, tasks: 1) { _ = engine.evaluate(context) }
    print(String(format: "evaluations/s of 104 policies (one core): %.0f", rate))
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
    let i = counter.withLock { v -> Int in v += 1; return v } % cores
    _ = try await collections[i].sign(Claims(sub: "user", exp: .init(value: Date() + 3600), scp: "Data.Read"), kid: "bench")
}

// Deputy's signer (swift-crypto directly).
let key = try SigningKey.load(record)
let claims: [String: JSONValue] = ["sub": .string("user"), "exp": .number(Date().timeIntervalSince1970 + 3600), "scp": .string("Data.Read")]
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
