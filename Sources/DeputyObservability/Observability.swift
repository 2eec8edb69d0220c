import Foundation
public import HTTPTypes
public import Hummingbird
public import Logging
import Metrics
import NIOCore
import OTel
import Prometheus
public import ServiceLifecycle
import Tracing

/// Logs, metrics and traces for Deputy's services, wired once per process.
///
/// - Logs: swift-log, as text or one JSON object per line (``LogFormat``), with the request's
///   correlation id (`client-request-id`) and, when tracing, the trace and span ids on every line.
/// - Metrics: swift-metrics into a Prometheus registry, served at `/metrics` by every service
///   (Prometheus text exposition format 0.0.4).
/// - Traces: swift-distributed-tracing, exported with OTLP over HTTP by swift-otel when an
///   endpoint is given; W3C `traceparent` is read from requests and written on outgoing calls
///   (AsyncHTTPClient injects it), so one trace follows a request through the chain.
public enum Observability {
    /// How log lines are written.
    public enum LogFormat: String, CaseIterable, Sendable {
        /// swift-log's `StreamLogHandler` lines.
        case text
        /// One JSON object per line, for log collectors.
        case json
    }

    /// The wire format of OTLP over HTTP (OpenTelemetry Protocol specification, "OTLP/HTTP").
    public enum OTLPEncoding: String, CaseIterable, Sendable {
        case protobuf, json
    }

    /// The registry `/metrics` serves: the one the Prometheus factory writes to.
    static var registry: PrometheusCollectorRegistry { PrometheusMetricsFactory.defaultRegistry }

    /// What `/metrics` serves now (Prometheus text exposition format 0.0.4).
    public static func metricsText() -> String { registry.emitToString() }

    /// Adds the correlation id and trace ids of the current request to every log line.
    public static let metadataProvider = Logger.MetadataProvider.multiplex([
        CorrelationID.metadataProvider, OTel.makeLoggingMetadataProvider(),
    ])

    /// Bootstraps logging (once per process; the executable does it).
    /// - Parameters:
    ///   - format: text or JSON lines, on standard error.
    ///   - level: the lowest level written.
    public static func bootstrapLogging(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap(
            { label, provider in
                var handler: any LogHandler =
                    switch format {
                    case .text: StreamLogHandler.standardError(label: label, metadataProvider: provider)
                    case .json: JSONLogHandler(label: label, metadataProvider: provider)
                    }
                handler.logLevel = level
                return handler
            }, metadataProvider: metadataProvider)
    }

    /// Bootstraps metrics into the registry `/metrics` serves (once per process).
    public static func bootstrapMetrics() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Bootstraps tracing with an OTLP/HTTP exporter to `endpoint` (e.g. `http://127.0.0.1:4318`,
    /// to which `/v1/traces` is added), once per process, before HTTP clients are made. Run the
    /// returned service (it exports in batches and flushes at shutdown).
    /// - Parameters:
    ///   - endpoint: the collector's base URL.
    ///   - encoding: protobuf (the default of collectors) or JSON.
    ///   - serviceName: OpenTelemetry's `service.name`.
    ///   - exportDelay: how long spans wait to be exported in a batch.
    public static func bootstrapTracing(
        endpoint: String, encoding: OTLPEncoding = .protobuf, serviceName: String = "deputy", exportDelay: Duration = .seconds(1)
    ) throws -> any Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.endpoint = endpoint.hasSuffix("/v1/traces") ? endpoint : endpoint + "/v1/traces"
        configuration.traces.otlpExporter.protocol = encoding == .json ? .httpJSON : .httpProtobuf
        configuration.traces.batchSpanProcessor.scheduleDelay = exportDelay
        configuration.propagators = [.traceContext]
        // swift-otel's own warnings name the request headers it failed to read (`carrier`), the
        // bearer token among them: they go through a handler that drops that field.
        configuration.diagnosticLogger = .custom(
            Logger(label: "swift-otel") { label in RedactingLogHandler(wrapping: StreamLogHandler.standardError(label: label)) })
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        return backend.service
    }
}

extension Router {
    /// Observes a service's router: a server span per request (W3C `traceparent` continued, the
    /// query's codes and hints redacted), the correlation id in the task's context for log lines,
    /// `deputy_http_requests_total` and `deputy_http_request_duration_seconds` by service, method,
    /// route and status, and `GET /metrics`. Call it before adding routes (Hummingbird applies a
    /// router's middleware to the routes added after it).
    /// - Parameter service: the service's name in metrics and spans (`authority`, `dataApi` …).
    public func addObservability(service: String) {
        add(
            middleware: TracingMiddleware(
                recordingHeaders: [], redactingQueryParameters: ObservabilityMiddleware<Context>.redactedQueryParameters,
                attributes: ["deputy.service": .string(service)]))
        add(middleware: ObservabilityMiddleware(service: service))
        get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Observability.registry.emitToBuffer())))
        }
    }
}

/// The correlation id (`client-request-id`, Entra's and MSAL's header) and the request metrics.
struct ObservabilityMiddleware<Context: RequestContext>: RouterMiddleware {
    let service: String

    /// Query parameters never written to a span: codes, hints and anything else a trace store
    /// should not keep (OAuth 2.0 responses and requests; RFC 6749 §4.1.2, OpenID Connect Core §3.1.2.1).
    static var redactedQueryParameters: Set<String> {
        [
            "code", "state", "nonce", "code_challenge", "code_verifier", "login_hint", "id_token_hint", "session_state",
            "client_secret", "client_assertion", "assertion", "refresh_token", "access_token", "id_token", "flow",
        ]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = CorrelationID.of(request)
        let route = context.endpointPath ?? "unmatched"
        let start = ContinuousClock.now
        var context = context
        context.logger[metadataKey: "correlation_id"] = .string(id)
        func record(_ status: Int) {
            let dimensions = [("service", service), ("method", request.method.rawValue), ("route", route), ("status", String(status))]
            Counter(label: "deputy_http_requests_total", dimensions: dimensions).increment()
            Metrics.Timer(
                label: "deputy_http_request_duration_seconds", dimensions: Array(dimensions.prefix(3)), preferredDisplayUnit: .seconds
            ).recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        }
        do {
            let response = try await CorrelationID.$current.withValue(id) { try await next(request, context) }
            record(Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            record(Int(error.status.code))
            throw error
        } catch {
            record(500)
            throw error
        }
    }
}

/// The request's correlation id, for every log line written while it is served.
public enum CorrelationID {
    /// `client-request-id`: sent by MSAL and answered by Entra; Deputy's services pass it on.
    public static let header = HTTPField.Name("client-request-id")!

    /// The id of the request being served by this task, if any.
    @TaskLocal public static var current: String?

    static func of(_ request: Request) -> String {
        if let id = request.headers[header], !id.isEmpty, id.count <= 128 { return id }
        return UUID().uuidString.lowercased()
    }

    /// `correlation_id` in log metadata.
    public static let metadataProvider = Logger.MetadataProvider {
        guard let id = current else { return [:] }
        return ["correlation_id": .string(id)]
    }
}

/// One JSON object per log line (`time`, `level`, `label`, `message` and the metadata), written
/// to standard error and flushed at once. Hand-written: swift-log ships only text handlers, and a
/// JSON line is a few dozen lines of code.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var object: [String: Any] = [
            "time": Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)), "level": event.level.rawValue,
            "label": label, "message": event.message.description,
        ]
        for (key, value) in merged where object[key] == nil { object[key] = Self.json(value) }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }
}

/// Drops log metadata that can hold credentials (request headers) before the wrapped handler
/// writes the line: secrets and tokens never appear in Deputy's logs.
struct RedactingLogHandler: LogHandler {
    var wrapped: any LogHandler
    static let dropped: Set<String> = ["carrier", "headers", "http.request.headers"]

    init(wrapping handler: any LogHandler) { wrapped = handler }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.filter { !Self.dropped.contains($0.key) } }
    }
    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }
    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { if !Self.dropped.contains(key) { wrapped[metadataKey: key] = newValue } }
    }

    func log(event: LogEvent) {
        var event = event
        event.metadata = event.metadata?.filter { !Self.dropped.contains($0.key) }
        wrapped.log(event: event)
    }
}
