import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyObservability
import DeputySamples
import DeputyTestSupport
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing

/// Metrics and traces across the agent's chain: an OTLP/HTTP collector on loopback receives the
/// spans, and one trace, started by the caller's W3C `traceparent`, covers every hop.
///
/// Tracing and metrics are process-wide (`InstrumentationSystem`, `MetricsSystem`): this is the
/// one test that bootstraps them, and it finds its own trace by id among spans other tests make.
@Suite("observability")
struct ObservabilityTests {
    /// The spans a collector received, as OTLP JSON (OTLP specification, "JSON Protobuf Encoding").
    final class Collector: @unchecked Sendable {
        struct Span: Sendable {
            var traceID: String
            var name: String
            var service: String?
        }
        private let lock = NSLock()
        private var spans: [Span] = []
        var all: [Span] { lock.withLock { spans } }

        /// A trace or span id as lower-case hex: OTLP JSON says hex, protobuf's JSON mapping says base64.
        static func hex(_ s: String) -> String {
            if s.count == 32 || s.count == 16, s.allSatisfy(\.isHexDigit) { return s.lowercased() }
            guard let data = Data(base64Encoded: s) else { return s }
            return data.map { String(format: "%02x", $0) }.joined()
        }

        func receive(_ body: Data) {
            guard case .object(let root)? = try? JSONParser.parse(body) else { return }
            var found: [Span] = []
            for rs in root["resourceSpans"]?.arrayValue ?? [] {
                for ss in rs.objectValue?["scopeSpans"]?.arrayValue ?? [] {
                    for span in ss.objectValue?["spans"]?.arrayValue ?? [] {
                        guard let o = span.objectValue, let trace = o["traceId"]?.stringValue, let name = o["name"]?.stringValue else {
                            continue
                        }
                        let service = (o["attributes"]?.arrayValue ?? []).first { $0.objectValue?["key"]?.stringValue == "deputy.service" }
                            .flatMap { $0.objectValue?["value"]?.objectValue?["stringValue"]?.stringValue }
                        found.append(Span(traceID: Self.hex(trace), name: name, service: service))
                    }
                }
            }
            lock.withLock { spans += found }
        }
    }

    @Test(
        "One trace from the caller's traceparent covers agent, MCP server, Data API and authority, with validation, OBO, CA and signing spans; /metrics counts the run"
    )
    func traceAcrossTheChain() async throws {
        let collector = Collector()
        let collectorRouter = Router()
        collectorRouter.post("/v1/traces") { request, _ -> Response in
            var r = request
            let body = try await r.collectBody(upTo: 16 << 20)
            collector.receive(Data(body.readableBytesView))
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let collectorPort = try freeLoopbackPort()
        try await serving(collectorRouter, port: collectorPort) {
            Observability.bootstrapMetrics()
            let exporter = try Observability.bootstrapTracing(
                endpoint: "http://127.0.0.1:\(collectorPort)", encoding: .json, serviceName: "deputy-test", exportDelay: .milliseconds(100))
            // Made after the tracer: AsyncHTTPClient takes it at creation, and injects traceparent.
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await exporter.run() }
                defer { group.cancelAll() }
                try await runChain(http: http, collector: collector)
            }
            try await http.shutdown()
        }
    }

    func runChain(http: HTTPClient, collector: Collector) async throws {
        try await LiveAuthority.run(conditionalAccess: true) { live in
            let port = Int(live.base.split(separator: ":").last!)!
            let demo = DemoTenant(portBase: port, https: false)
            let directory = try #require(try await live.authority.store.directories().first)
            let data = try DemoChain.dataAPI(demo: demo, directory: directory, storePath: nil, httpClient: http)
            let mcp = try DemoChain.mcpServer(demo: demo, httpClient: http)
            let agent = try DemoChain.agent(demo: demo, httpClient: http)
            try await serving(data, port: port + DemoTenant.Role.dataApi.portOffset) {
                try await serving(mcp, port: port + DemoTenant.Role.mcpServer.portOffset) {
                    try await serving(agent, port: port + DemoTenant.Role.agent.portOffset) {
                        try await check(live: live, demo: demo, http: http, collector: collector)
                    }
                }
            }
        }
    }

    func check(live: LiveAuthority, demo: DemoTenant, http: HTTPClient, collector: Collector) async throws {
        let token = try await SignInDriver.token(
            authority: live.authority, user: DemoTenant.user("alice"), scope: AgentChainTests.agentScope, claims: SignInDriver.mfaChallenge)
        let traceID = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        var request = HTTPClientRequest(url: demo.url(.agent) + "/chat")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "traceparent", value: "00-\(traceID)-00f067aa0ba902b7-01")
        request.body = .bytes(ByteBuffer(string: #"{"message":"list my expenses"}"#))
        // The caller (the SPA's part) sends its own traceparent: a client without a tracer, so the
        // header is the only one.
        var untraced = HTTPClient.Configuration()
        untraced.tracing.tracer = nil
        let caller = HTTPClient(eventLoopGroupProvider: .singleton, configuration: untraced)
        let response = try await caller.execute(request, timeout: .seconds(30))
        try await caller.shutdown()
        #expect(response.status == .ok)

        // Every hop's server span and the steps inside, in the caller's trace.
        let services: Set<String> = ["agent", "mcpServer", "dataApi", "authority"]
        let steps: Set<String> = ["validate token", "on-behalf-of", "conditional access", "sign token"]
        var trace: [Collector.Span] = []
        for _ in 0..<100 {
            trace = collector.all.filter { $0.traceID == traceID }
            if services.isSubset(of: Set(trace.compactMap(\.service))), steps.isSubset(of: Set(trace.map(\.name))) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Set(trace.compactMap(\.service)).isSuperset(of: services), "services in the trace: \(Set(trace.compactMap(\.service)))")
        #expect(Set(trace.map(\.name)).isSuperset(of: steps), "spans in the trace: \(Set(trace.map(\.name)))")

        // The metrics of the run, as every service's /metrics serves them.
        let metrics = try await http.execute(HTTPClientRequest(url: demo.url(.dataApi) + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await metrics.body.collect(upTo: 4 << 20))
        #expect(text.contains(#"deputy_token_requests_total{grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",result="success"}"#))
        #expect(text.contains(#"deputy_http_requests_total{service="dataApi",method="GET""#))
        #expect(text.contains(#"deputy_http_request_duration_seconds_bucket{service="mcpServer""#))
        #expect(text.contains(#"deputy_token_cache_lookups_total{flow="obo",result="miss"}"#))
        #expect(text.contains(#"deputy_conditional_access_results_total{policy="Require MFA for Contoso SQL",result="success"}"#))

        // A relayed step-up is counted: a password-only token meets the Data API's MFA policy.
        let weak = try await live.userToken("alice", scope: AgentChainTests.agentScope)
        var stepUp = HTTPClientRequest(url: demo.url(.agent) + "/chat")
        stepUp.method = .POST
        stepUp.headers.add(name: "Authorization", value: "Bearer \(weak)")
        stepUp.headers.add(name: "Content-Type", value: "application/json")
        stepUp.body = .bytes(ByteBuffer(string: #"{"message":"list my expenses"}"#))
        #expect(try await http.execute(stepUp, timeout: .seconds(30)).status == .unauthorized)
        #expect(Observability.metricsText().contains(#"deputy_challenge_relays_total{kind="claims_challenge"}"#))
    }
}
