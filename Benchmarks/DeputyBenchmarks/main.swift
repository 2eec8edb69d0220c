import DeputyAuthority
import DeputyCore
import Foundation
import JWTKit

/// Signing-rate baselines for Benchmarks/run, measured in the same run as the server's
/// throughput: jwt-kit's RS256 signing on every core (one key collection per task, since
/// `JWTKeyCollection` is an actor) and Deputy's own signer (`SigningKey`).
///
/// Usage: DeputyBenchmarks signing [seconds]
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
