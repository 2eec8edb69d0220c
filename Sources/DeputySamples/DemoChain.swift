import AsyncHTTPClient
import DeputyAuthority
import DeputyCore
import DeputyHummingbird
import DeputyTokenAcquisition
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird

/// The chain's services for the embedded demo tenant, as `deputy up` runs them: each built on the
/// libraries and pointed at the authority by URL, exactly as it would be pointed at Entra.
public enum DemoChain {
    /// The Data API ("Contoso SQL") on its port, with its expense database (seeded once).
    public static func dataAPI(demo: DemoTenant, directory: TenantDirectory, storePath: String?, httpClient: HTTPClient) throws -> Router<BearerRequestContext> {
        let app = DemoTenant.app("dataApi")
        let store = try ExpenseStore(path: storePath)
        try store.seedIfEmpty(DataAPI.demoExpenses(now: Date()))
        let config = DataAPI.configuration(authority: issuer(demo), appID: app.appId, appIDURI: app.identifierUri!)
        var managers: [String: String] = [:]
        for user in directory.users { if let m = user.manager { managers[user.id] = m } }
        let router = Router(context: BearerRequestContext.self)
        router.get("health") { _, _ in "ok" }
        DataAPI(validator: ResourceValidator(config, client: httpClient), store: store, managers: managers).addRoutes(to: router)
        return router
    }

    /// The Web API middle tier on its port: CORS for the SPA's origin, exposing the challenge header.
    public static func webAPI(demo: DemoTenant, httpClient: HTTPClient) -> Router<BearerRequestContext> {
        middleTier(DemoTenant.app("webApi"), demo: demo, httpClient: httpClient)
    }

    /// The Reports API: the same middle tier as the Web API, but the tenant never granted it the
    /// Data API — every call comes back as consent required, relayed to the caller as such.
    public static func reportsAPI(demo: DemoTenant, httpClient: HTTPClient) -> Router<BearerRequestContext> {
        middleTier(DemoTenant.app("reportsApi"), demo: demo, httpClient: httpClient)
    }

    static func middleTier(_ app: DemoTenant.DemoApp, demo: DemoTenant, httpClient: HTTPClient) -> Router<BearerRequestContext> {
        let config = WebAPI.configuration(authority: issuer(demo), appID: app.appId, appIDURI: app.identifierUri!)
        let obo = ConfidentialClient(authority: "\(demo.url(.authority))/\(DemoTenant.tenantID)", clientID: app.appId,
                                     credential: .secret(app.secret!), httpClient: httpClient)
        let router = Router(context: BearerRequestContext.self)
        // The SPA reads WWW-Authenticate (the claims challenge): browsers hide it unless exposed.
        router.add(middleware: CORSMiddleware(allowOrigin: .custom(demo.url(.spa)),
                                              allowHeaders: [.accept, .authorization, .contentType, .origin, HTTPField.Name("client-request-id")!],
                                              allowMethods: [.get, .post, .options], exposedHeaders: ["WWW-Authenticate", "client-request-id"]))
        router.get("health") { _, _ in "ok" }
        WebAPI(validator: ResourceValidator(config, client: httpClient), obo: obo, dataAPI: demo.url(.dataApi),
               callerScopes: ["\(app.identifierUri!)/.default"], httpClient: httpClient)
            .addRoutes(to: router)
        return router
    }

    /// The demo tenant's v2.0 issuer: the authority the services trust.
    static func issuer(_ demo: DemoTenant) -> String { "\(demo.url(.authority))/\(DemoTenant.tenantID)/v2.0" }
}
