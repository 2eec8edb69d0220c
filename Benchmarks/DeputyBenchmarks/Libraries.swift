import DeputyAuthority
import DeputyCore
import DeputyHummingbird
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import Hummingbird
import NIOCore

// Library benchmarks for Benchmarks/run (issue 5): a resource served with and without token
// validation (wrk drives it), and the OBO cache's hit cost and memory.

/// Serves `/open` (no authentication), `/auth` (the middleware with its verified-token cache)
/// and `/auth-nocache` (every request fully validated), and prints a token to send.
func serveResource(port: Int) async throws {
    let key = try SigningKey.load(try SigningKey.generate(now: Date()))
    let issuer = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    let jwks = String(decoding: JSONValue.object(["keys": .array([.object(try key.jwk(issuer: issuer))])]).serialized, as: UTF8.self)
    func validator(cacheSize: Int) throws -> ResourceValidator {
        var c = ResourceConfiguration(authority: issuer, audiences: ["api://bench"])
        c.keys = .jwks(json: jwks, issuer: issuer)
        c.requiredScopes = ["Data.Read"]
        c.cacheSize = cacheSize
        return try ResourceValidator(c)
    }
    let now = Date().timeIntervalSince1970
    let token = try key.sign(claims: [
        "iss": .string(issuer), "aud": .string("api://bench"), "iat": .number(now), "exp": .number(now + 7200),
        "tid": .string("72f988bf-86f1-41af-91ab-2d7cd011db47"), "oid": .string("user-1"), "scp": .string("Data.Read"),
        "azp": .string("client"),
    ])
    let router = Router(context: BearerRequestContext.self)
    router.get("open") { _, _ in "user-1" }
    router.group("auth").add(middleware: BearerTokenMiddleware(validator: try validator(cacheSize: 10_000))).get { _, c in
        c.principal?.objectID ?? ""
    }
    router.group("auth-nocache").add(middleware: BearerTokenMiddleware(validator: try validator(cacheSize: 0))).get { _, c in
        c.principal?.objectID ?? ""
    }
    // Unbuffered, so the script reads it while the server runs.
    FileHandle.standardOutput.write(Data((token + "\n").utf8))
    try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port))).runService()
}

/// Resident memory in bytes (Linux /proc/self/statm × page size).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// The OBO cache: the cost of a hit, and memory with 100,000 cached entries (and flat at the bound).
func oboCache(seconds: Double, memorySize: Int? = nil) async throws {
    // A token endpoint on loopback answering every request with a fresh, Entra-sized token.
    let router = Router()
    let counter = LockedBox(0)
    let padding = String(repeating: "x", count: 1400)
    router.post("/t/oauth2/v2.0/token") { _, _ -> Response in
        let n = counter.withLock {
            $0 += 1
            return $0
        }
        let body =
            #"{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"scope":"https://database.windows.net//.default","access_token":"eyJ\#(n).\#(padding)"}"#
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: body)))
    }
    let (started, ready) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { ready.yield($0.localAddress?.port ?? 0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await p in started {
            port = p
            break
        }
        let authority = "http://127.0.0.1:\(port)/t"
        let scopes = ["https://database.windows.net//.default"]

        if let size = memorySize {
            // Memory: 100,000 distinct users' tokens through a cache of `size` entries (one size per
            // process: freed memory is not given back to the system, so sizes would mix).
            let client = ConfidentialClient(authority: authority, clientID: "bench", credential: .secret("s"), cacheSize: size)
            let before = residentBytes()
            try await withThrowingTaskGroup(of: Void.self) { fill in
                for worker in 0..<8 {
                    fill.addTask {
                        for i in stride(from: worker, to: 100_000, by: 8) {
                            _ = try await client.acquireTokenOnBehalfOf(
                                assertion: "eyJ.user-\(i)." + String(repeating: "a", count: 1200), scopes: scopes)
                        }
                    }
                }
                try await fill.waitForAll()
            }
            let after = residentBytes()
            print(
                String(
                    format: "OBO cache of %d entries after 100,000 users: resident memory +%.1f MB (%.2f KB per cached entry)", size,
                    Double(after - before) / 1e6, Double(after - before) / 1e3 / Double(min(size, 100_000))))
        } else {
            // Hit cost: one assertion, cached, asked for again and again on one task.
            let client = ConfidentialClient(authority: authority, clientID: "bench", credential: .secret("s"))
            let assertion = "eyJ.user-assertion." + String(repeating: "a", count: 1200)
            _ = try await client.acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes)
            var hits = 0
            let start = Date()
            while Date().timeIntervalSince(start) < seconds {
                for _ in 0..<1000 { _ = try await client.acquireTokenOnBehalfOf(assertion: assertion, scopes: scopes) }
                hits += 1000
            }
            let perHit = Date().timeIntervalSince(start) / Double(hits) * 1e6
            print(String(format: "OBO cache hit: %.2f µs (%d hits)", perHit, hits))
        }
        group.cancelAll()
    }
}

/// The floor under the token endpoint's throughput: a Hummingbird server on the same executor as
/// `deputy` that answers every `POST /token` with a freshly signed token of a client-credentials
/// token's size and shape, and does nothing else (no form, no client, no policy, no log). Its
/// tokens/s next to OpenSSL's signatures/s says how much of the signing limit HTTP on loopback
/// and the load generator on the same cores leave to any token endpoint.
func serveSigningFloor(port: Int) async throws {
    let key = try SigningKey.load(try SigningKey.generate(now: Date()))
    let tenant = "3f9a2c4e-7b1d-4e8a-9c6f-0d5e8b2a1c47"
    let router = Router()
    router.post("token") { _, _ -> Response in
        let now = Date().timeIntervalSince1970.rounded(.down)
        let claims: [String: JSONValue] = [
            "aud": .string("https://database.windows.net/"), "iss": .string("https://sts.windows.net/\(tenant)/"),
            "iat": .number(now), "nbf": .number(now), "exp": .number(now + 3599),
            "aio": .string(Base64URL.encode(Array(UUID().uuidString.utf8))), "appid": .string("e7f9a1b3-4c5d-4e6f-8a8b-7c9d1e3f5a67"),
            "appidacr": .string("1"), "idp": .string("https://sts.windows.net/\(tenant)/"), "idtyp": .string("app"),
            "oid": .string("5b7d9f1a-3c4e-4a6b-8d0f-2e4a6c8e0b13"), "roles": .array([.string("Data.Read")]),
            "sub": .string("5b7d9f1a-3c4e-4a6b-8d0f-2e4a6c8e0b13"), "tid": .string(tenant), "uti": .string(UUID().uuidString),
            "ver": .string("1.0"), "xms_ftd": .string("deputy"), "xms_idrel": .string("7 12"), "rh": .string("0.deputy"),
        ]
        let token = try key.sign(claims: claims, includeX5t: true)
        let body = JSONValue.object([
            "token_type": .string("Bearer"), "expires_in": .number(3599), "ext_expires_in": .number(3599), "access_token": .string(token),
        ]).serialized
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
    try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port))).runService()
}
