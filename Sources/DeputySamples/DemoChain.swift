import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyMCP
import DeputyObservability
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird

/// The chain's services for the embedded demo tenant, as `deputy up` runs them: each built on the
/// libraries and pointed at the authority by URL, exactly as it would be pointed at Entra. In
/// demo mode each also reports its hop of the token chain (``TokenChainMiddleware``).
public enum DemoChain {
    /// The Data API ("Contoso SQL") on its port, with its expense database (seeded once).
    public static func dataAPI(
        demo: DemoTenant, directory: TenantDirectory, storePath: String?, httpClient: HTTPClient,
        demoMode: Bool = true, time: any TimeSource = SystemTimeSource()
    ) throws -> Router<BearerRequestContext> {
        let app = DemoTenant.app("dataApi")
        let store = try ExpenseStore(path: storePath)
        try store.seedIfEmpty(DataAPI.demoExpenses(now: Date()))
        var config = DataAPI.configuration(authority: issuer(demo), appID: app.appId, appIDURI: app.identifierUri!)
        config.continuousAccess = continuousAccess(app, demo: demo)
        var managers: [String: String] = [:]
        for user in directory.users { if let m = user.manager { managers[user.id] = m } }
        let router = serviceRouter(role: "dataApi", name: app.displayName, browserOrigin: nil, demoMode: demoMode)
        let reports = try ResourceValidator(
            DataAPI.reportConfiguration(authority: issuer(demo), appID: app.appId, appIDURI: app.identifierUri!),
            client: httpClient, time: time)
        DataAPI(
            validator: try ResourceValidator(config, client: httpClient, time: time), reportValidator: reports, store: store,
            managers: managers,
            time: time
        ).addRoutes(to: router)
        return router
    }

    /// The Web API middle tier on its port: CORS for the SPA's origin, exposing the challenge header.
    public static func webAPI(
        demo: DemoTenant, httpClient: HTTPClient, demoMode: Bool = true,
        time: any TimeSource = SystemTimeSource()
    ) throws -> Router<BearerRequestContext> {
        try middleTier("webApi", demo: demo, httpClient: httpClient, demoMode: demoMode, time: time)
    }

    /// The Reports API: the same middle tier as the Web API, but the tenant never granted it the
    /// Data API — every call comes back as consent required, relayed to the caller as such.
    public static func reportsAPI(
        demo: DemoTenant, httpClient: HTTPClient, demoMode: Bool = true,
        time: any TimeSource = SystemTimeSource()
    ) throws -> Router<BearerRequestContext> {
        try middleTier("reportsApi", demo: demo, httpClient: httpClient, demoMode: demoMode, time: time)
    }

    static func middleTier(
        _ role: String, demo: DemoTenant, httpClient: HTTPClient, demoMode: Bool, time: any TimeSource
    ) throws -> Router<BearerRequestContext> {
        let app = DemoTenant.app(role)
        let config = WebAPI.configuration(authority: issuer(demo), appID: app.appId, appIDURI: app.identifierUri!)
        let router = browserFacing(role, demo: demo, demoMode: demoMode)
        WebAPI(
            validator: try ResourceValidator(config, client: httpClient, time: time),
            obo: confidentialClient(app, demo: demo, httpClient: httpClient, time: time),
            dataAPI: demo.url(.dataApi), callerScopes: ["\(app.identifierUri!)/.default"], httpClient: httpClient
        )
        .addRoutes(to: router)
        return router
    }

    /// The MCP server: `/mcp` (Streamable HTTP, JSON answers) and its RFC 9728 metadata; its tools
    /// reach the Data API by OBO with the MCP server's own identity.
    public static func mcpServer(
        demo: DemoTenant, httpClient: HTTPClient, demoMode: Bool = true,
        time: any TimeSource = SystemTimeSource()
    ) throws -> Router<BearerRequestContext> {
        let app = DemoTenant.app("mcpServer")
        let router = serviceRouter(role: "mcpServer", name: app.displayName, browserOrigin: nil, demoMode: demoMode)
        try ExpenseTools.addEndpoint(
            to: router, issuer: issuer(demo), appID: app.appId, appIDURIs: [app.identifierUri!],
            resourceURL: demo.url(.mcpServer) + "/mcp", obo: confidentialClient(app, demo: demo, httpClient: httpClient, time: time),
            dataAPI: demo.url(.dataApi), continuousAccess: continuousAccess(app, demo: demo), httpClient: httpClient, time: time)
        return router
    }

    /// The assistive agent: `POST /chat`, the built-in planner unless another is given.
    public static func agent(
        demo: DemoTenant, httpClient: HTTPClient, planner: any AgentPlanner = BuiltInPlanner(),
        demoMode: Bool = true, time: any TimeSource = SystemTimeSource()
    ) throws -> Router<BearerRequestContext> {
        let blueprint = DemoTenant.app("agentBlueprint")
        let router = browserFacing("agent", demo: demo, demoMode: demoMode)
        // Users sign in for the blueprint's API; the agent identity does the OBO, authenticated by
        // the token its blueprint gets for it (Microsoft Entra Agent ID).
        Agent(
            validator: try ResourceValidator(
                Agent.configuration(authority: issuer(demo), appID: blueprint.appId, appIDURI: blueprint.identifierUri!),
                client: httpClient, time: time),
            obo: agentClient(demo: demo, httpClient: httpClient, time: time), mcpEndpoint: demo.url(.mcpServer) + "/mcp",
            mcpScopes: ["\(DemoTenant.app("mcpServer").identifierUri!)/.default"], callerScopes: ["\(blueprint.identifierUri!)/.default"],
            planner: planner, reports: (dataAPI: demo.url(.dataApi), scopes: ["https://database.windows.net//.default"]),
            httpClient: httpClient
        )
        .addRoutes(to: router)
        return router
    }

    /// The demo agent identity as a confidential client: its blueprint's secret gets the agent's
    /// credential (T1), which the agent presents for OBO, its own tokens and its agent user's.
    public static func agentClient(
        demo: DemoTenant, httpClient: HTTPClient, time: any TimeSource = SystemTimeSource()
    ) -> ConfidentialClient {
        agentClient(authority: "\(demo.url(.authority))/\(DemoTenant.tenantID)", httpClient: httpClient, time: time)
    }

    /// The demo agent identity's client against any authority URL of the demo tenant.
    public static func agentClient(
        authority: String, httpClient: HTTPClient = .shared, time: any TimeSource = SystemTimeSource()
    ) -> ConfidentialClient {
        let blueprint = DemoTenant.app("agentBlueprint")
        let credential = AgentIdentityCredential(
            authority: authority, blueprintClientID: blueprint.appId,
            blueprintCredential: .secret(blueprint.secret!), agentIdentityID: DemoTenant.app("agent").appId,
            httpClient: httpClient, time: time)
        return ConfidentialClient(agentIdentity: credential, clientCapabilities: clientCapabilities, httpClient: httpClient, time: time)
    }

    /// The SPA's origin: its pages and `/config.json`.
    public static func spa(demo: DemoTenant, demoMode: Bool = true, assetsDirectory: String? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.addObservability(service: "spa")
        let scopes = { (key: String) in ["\(DemoTenant.app(key == "agent" ? "agentBlueprint" : key).identifierUri!)/access_as_user"] }
        SPA.addRoutes(
            to: router,
            configuration: SPA.Configuration(
                assetsDirectory: assetsDirectory,
                authority: "\(demo.url(.authority))/\(DemoTenant.tenantID)", clientID: DemoTenant.app("spa").appId,
                redirectURI: "\(demo.url(.spa))/callback",
                services: [
                    (role: "webApi", name: "Web API", url: demo.url(.webApi), scopes: scopes("webApi")),
                    (role: "agent", name: "Assistive agent", url: demo.url(.agent), scopes: scopes("agent")),
                    (role: "reportsApi", name: "Reports API", url: demo.url(.reportsApi), scopes: scopes("reportsApi")),
                    // The admin page: Microsoft Graph on the authority's origin, for an administrator.
                    (role: "graph", name: "Microsoft Graph", url: demo.url(.authority), scopes: graphAdminScopes),
                ],
                signInLog: "\(demo.url(.authority))/\(DemoTenant.tenantID)/signins", demo: demoMode))
        return router
    }

    /// The delegated Graph permissions the SPA's admin page asks for (the demo tenant grants them).
    public static let graphAdminScopes = [
        "User.ReadWrite.All", "Application.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "Policy.ReadWrite.ConditionalAccess",
        "AuditLog.Read.All",
    ].map { "https://graph.microsoft.com/" + $0 }

    /// A router for a service the SPA calls from the browser: CORS for the SPA's origin exposing
    /// `WWW-Authenticate` (or the browser hides every challenge) and, in demo mode, the chain report.
    static func browserFacing(_ role: String, demo: DemoTenant, demoMode: Bool) -> Router<BearerRequestContext> {
        serviceRouter(role: role, name: DemoTenant.app(role).displayName, browserOrigin: demo.url(.spa), demoMode: demoMode)
    }

    /// A service's router: `/health`, CORS for a browser origin when given (exposing
    /// `WWW-Authenticate`, `client-request-id` and the chain report), and in demo mode the
    /// token-chain report under the role's name.
    public static func serviceRouter(role: String, name: String, browserOrigin: String?, demoMode: Bool) -> Router<BearerRequestContext> {
        let router = Router(context: BearerRequestContext.self)
        router.addObservability(service: role)
        if let browserOrigin {
            router.add(
                middleware: CORSMiddleware(
                    allowOrigin: .custom(browserOrigin),
                    allowHeaders: [
                        .accept, .authorization, .contentType, .origin, HTTPField.Name("client-request-id")!,
                        HTTPField.Name("traceparent")!, HTTPField.Name("tracestate")!,
                    ],
                    allowMethods: [.get, .post, .options],
                    exposedHeaders: Self.exposedHeaders))
            // Hummingbird's CORSMiddleware names exposed headers on preflights only; browsers read
            // Access-Control-Expose-Headers on the actual answer.
            router.add(middleware: ExposeHeadersMiddleware(headers: Self.exposedHeaders))
        }
        if demoMode {
            let received = ReceivedTokenLog()
            router.add(middleware: TokenChainMiddleware(service: role, name: name, received: received))
            // For `deputy audit`: hashes and claims of the tokens this service received (never the tokens).
            router.get("_deputy/received-tokens") { request, _ -> Response in
                let since = request.uri.queryParameters.get("since").flatMap(Double.init).map(Date.init(timeIntervalSince1970:))
                return try jsonResponse(received.json(since: since ?? .distantPast))
            }
        }
        router.get("health") { _, _ in "ok" }
        return router
    }

    /// What the SPA must be able to read: the challenge, the correlation id and the chain report.
    static let exposedHeaders = ["WWW-Authenticate", "client-request-id", TokenChainReport.headerName.canonicalName]

    static func confidentialClient(
        _ app: DemoTenant.DemoApp, demo: DemoTenant, httpClient: HTTPClient, time: any TimeSource
    ) -> ConfidentialClient {
        ConfidentialClient(
            authority: "\(demo.url(.authority))/\(DemoTenant.tenantID)", clientID: app.appId, credential: .secret(app.secret!),
            clientCapabilities: clientCapabilities, httpClient: httpClient, time: time)
    }

    /// Every middle tier of the chain declares `cp1` (Microsoft Learn, "Claims challenges, claims
    /// requests and client capabilities"): it relays claims challenges, so it gets continuous
    /// access evaluation tokens and the resources behind it may revoke them at once.
    static let clientCapabilities = ["cp1"]

    /// How long a resource of the chain may take to act on a critical event: it reads the
    /// authority's feed at most this often (Entra allows its resources up to 15 minutes).
    public static let continuousAccessDelay: TimeInterval = 1

    /// Continuous access evaluation for a resource of the chain: the authority's critical-event
    /// feed, read with the resource's own credentials.
    static func continuousAccess(_ app: DemoTenant.DemoApp, demo: DemoTenant) -> ContinuousAccessConfiguration {
        ContinuousAccessConfiguration(
            authority: issuer(demo), clientID: app.appId, clientSecret: app.secret!, maxDelay: continuousAccessDelay)
    }

    /// The demo tenant's v2.0 issuer: the authority the services trust.
    static func issuer(_ demo: DemoTenant) -> String { "\(demo.url(.authority))/\(DemoTenant.tenantID)/v2.0" }
}

extension DemoChain {
    /// What the chain's services are built from.
    public struct Environment: Sendable {
        public var demo: DemoTenant
        /// The demo tenant's directory (the Data API reads managers from it).
        public var directory: TenantDirectory
        /// Where services keep their own data (the Data API's expense database); nil keeps it in memory.
        public var dataDirectory: String?
        public var httpClient: HTTPClient
        public var planner: any AgentPlanner
        public var time: any TimeSource
        /// Where the SPA's files are read from, when not the built-in copies (see ``SPA/Configuration/assetsDirectory``).
        public var spaAssets: String?

        public init(
            demo: DemoTenant, directory: TenantDirectory, dataDirectory: String?, httpClient: HTTPClient,
            planner: any AgentPlanner = BuiltInPlanner(), time: any TimeSource = SystemTimeSource(), spaAssets: String? = nil
        ) {
            self.spaAssets = spaAssets
            self.demo = demo
            self.directory = directory
            self.dataDirectory = dataDirectory
            self.httpClient = httpClient
            self.planner = planner
            self.time = time
        }
    }

    /// A service's routes, by the request context they need: pages for the browser, or an API
    /// whose requests carry a validated bearer token.
    public enum Routes {
        case pages(Router<BasicRequestContext>)
        case api(Router<BearerRequestContext>)
    }

    /// One service of the chain, described once: its role (which gives its port, `portBase` +
    /// ``DemoTenant/Role/portOffset``, and its app registration in the demo tenant), the line
    /// `deputy up` prints for it, and its routes. `deputy up` starts every entry of
    /// ``DemoChain/services``; adding a service is one entry there (and its role and registration
    /// in `DemoTenant`).
    public struct ServiceDescription: Sendable {
        public let role: DemoTenant.Role
        /// What `deputy up` prints for the service: its name, URL and what to try.
        public let summary: @Sendable (DemoTenant) -> String
        /// Builds the service's routes.
        public let routes: @Sendable (Environment) throws -> Routes
    }

    /// The chain's services in start order: each starts after the services it calls, and stops
    /// before them.
    public static let services: [ServiceDescription] = [
        ServiceDescription(
            role: .dataApi, summary: { "Data API       \($0.url(.dataApi))/expenses   (Contoso SQL, https://database.windows.net/)" }
        ) { env in
            .api(
                try dataAPI(
                    demo: env.demo, directory: env.directory, storePath: env.dataDirectory.map { $0 + "/expenses.sqlite" },
                    httpClient: env.httpClient, time: env.time))
        },
        ServiceDescription(
            role: .mcpServer,
            summary: {
                "MCP server     \($0.url(.mcpServer))/mcp   (metadata: \($0.url(.mcpServer))/.well-known/oauth-protected-resource/mcp)"
            }
        ) { env in .api(try mcpServer(demo: env.demo, httpClient: env.httpClient, time: env.time)) },
        ServiceDescription(
            role: .reportsApi,
            summary: { "Reports API    \($0.url(.reportsApi))/api/expenses   (no grant to the Data API: consent required, relayed)" }
        ) { env in .api(try reportsAPI(demo: env.demo, httpClient: env.httpClient, time: env.time)) },
        ServiceDescription(role: .agent, summary: { "agent          \($0.url(.agent))/chat   (POST {\"message\": \"list my expenses\"})" })
        { env in
            .api(try agent(demo: env.demo, httpClient: env.httpClient, planner: env.planner, time: env.time))
        },
        ServiceDescription(role: .webApi, summary: { "Web API        \($0.url(.webApi))/api/expenses" }) { env in
            .api(try webAPI(demo: env.demo, httpClient: env.httpClient, time: env.time))
        },
        ServiceDescription(
            role: .spa, summary: { "SPA            \($0.url(.spa))/   (sign in here: Web API, agent chat, token-chain panel)" }
        ) { env in
            .pages(spa(demo: env.demo, assetsDirectory: env.spaAssets))
        },
    ]
}
