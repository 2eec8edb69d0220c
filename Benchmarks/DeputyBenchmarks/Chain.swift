import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputySamples
import DeputyTokenValidation
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1

// The chain benchmarks for Benchmarks/run (issue 6): the warm latency of one chat message through
// SPA → agent → MCP server → Data API, and the cost of the token work a message involves.

/// Sends `POST <agent>/chat {"message": "list my expenses"}` `count` times, one at a time (after
/// `warmup` unmeasured ones, which fill the OBO caches), and prints p50, p90 and p99 in ms.
func chainLatency(agent: String, token: String, count: Int, warmup: Int = 50) async throws {
    func once() async throws -> Double {
        var request = HTTPClientRequest(url: agent + "/chat")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"message":"list my expenses"}"#))
        let start = ContinuousClock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let elapsed = ContinuousClock.now - start
        guard response.status == .ok, String(buffer: body).contains("You can see") else {
            throw Failure(description: "the chain answered \(response.status.code): \(String(buffer: body).prefix(300))")
        }
        return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
    }
    for _ in 0..<warmup { _ = try await once() }
    var samples: [Double] = []
    for _ in 0..<count { samples.append(try await once()) }
    samples.sort()
    func p(_ q: Double) -> Double { samples[min(samples.count - 1, Int((Double(samples.count) * q).rounded(.up)) - 1)] }
    print(String(format: "chain latency over %d messages: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms", count, p(0.5), p(0.9), p(0.99)))
}

struct Failure: Error, CustomStringConvertible { var description: String }

/// The token work of one chat message, each piece measured on one core with realistic tokens:
/// validating a token already in the verified-token cache (agent 1, MCP server 1 — one 2026-07-28
/// `tools/call`, no handshake — and Data API 1), an OBO cache hit (the agent's authorizer 1, the
/// MCP server 1; `obo-cache` measures it), and demo mode's decoding of each hop's token (3).
func tokenWork(seconds: Double) async throws {
    let key = try SigningKey.load(try SigningKey.generate(now: Date()))
    let tenant = DemoTenant.tenantID
    let issuer = "https://127.0.0.1:7400/\(tenant)/v2.0"
    let jwks = String(decoding: JSONValue.object(["keys": .array([.object(try key.jwk(issuer: issuer))])]).serialized, as: UTF8.self)
    var c = ResourceConfiguration(authority: issuer, audiences: [DemoTenant.app("mcpServer").appId])
    c.keys = .jwks(json: jwks, issuer: issuer)
    c.requiredScopes = ["Expenses.ReadWrite"]
    let validator = try ResourceValidator(c)
    let now = Date().timeIntervalSince1970
    // An OBO token as the MCP server receives it (the demo's claims, Entra-sized).
    let token = try key.sign(claims: [
        "iss": .string(issuer), "aud": .string(DemoTenant.app("mcpServer").appId), "iat": .number(now), "nbf": .number(now),
        "exp": .number(now + 3600),
        "tid": .string(tenant), "oid": .string(DemoTenant.user("alice").id),
        "sub": .string("pairwise-subject-identifier-for-this-app-0001"),
        "scp": .string("Expenses.ReadWrite"), "azp": .string(DemoTenant.app("agent").appId), "azpacr": .string("1"), "ver": .string("2.0"),
        "amr": .array([.string("pwd"), .string("mfa")]), "name": .string("Alice Adams"), "preferred_username": .string("alice@contoso.com"),
        "aio": .string(String(repeating: "A", count: 120)), "uti": .string("x5Yk0m2eZkq3xG2c1vQbAA"),
        "rh": .string("0.AAAA" + String(repeating: "b", count: 60)),
        "xms_cc": .array([.string("cp1")]), "acrs": .array([]),
    ])
    let header = "Bearer " + token
    _ = try await validator.validate(authorizationHeader: header)
    let validations = try await measure(seconds: seconds, tasks: 1) { _ = try await validator.validate(authorizationHeader: header) }
    // Demo mode's report: the middleware's hop for the token (decoded once, then from its cache).
    let report = TokenChainMiddleware<BasicRequestContext>(service: "mcpServer", name: "MCP server")
    let decodes = try await measure(seconds: seconds, tasks: 1) { _ = report.hop(forAuthorization: header) }
    let firstDecodes = try await measure(seconds: seconds, tasks: 1) { _ = try UnverifiedJWT(token) }
    print(String(format: "cached validation: %.2f µs", 1e6 / validations))
    print(
        String(format: "token decode for the chain report: %.2f µs (a token not seen before: %.2f µs)", 1e6 / decodes, 1e6 / firstDecodes))
}
