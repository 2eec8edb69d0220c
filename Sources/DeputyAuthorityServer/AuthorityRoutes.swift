import DeputyAuthority
import DeputyCore
import DeputyObservability
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// The request context of the authority's routes: the client's address goes into the sign-in log.
public struct AuthorityRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The token endpoint accepts 1 MiB; larger bodies get Entra's malformed-request error.
    public var maxUploadSize: Int { FormParameters.defaultSizeLimit }
}

/// Builds the authority's router: Entra's paths, answered in Entra's shapes.
public struct AuthorityRoutes: Sendable {
    let authority: Authority
    /// With `deputy up --test-controls`: the clock tests may move.
    let testClock: OffsetTimeSource?
    var interactive: InteractiveSignIn { InteractiveSignIn(authority: authority) }

    public init(authority: Authority, testClock: OffsetTimeSource? = nil) {
        self.authority = authority
        self.testClock = testClock
    }

    public func router() -> Router<AuthorityRequestContext> {
        let router = Router(context: AuthorityRequestContext.self)
        router.addObservability(service: "authority")
        router.middlewares.add(ErrorBoundary(authority: authority))
        // Discovery
        router.get("/:tenant/v2.0/.well-known/openid-configuration") { req, ctx in try await discovery(req, ctx, v2: true) }
        router.get("/:tenant/.well-known/openid-configuration") { req, ctx in try await discovery(req, ctx, v2: false) }
        // RFC 8414 §3.1 inserts the well-known path between the host and the issuer's path, and the
        // MCP authorization specification has clients try that form first, then OpenID Connect's
        // inserted and appended forms. Entra serves only the appended OpenID form; the others
        // answer the same document so MCP clients find it.
        router.get("/.well-known/oauth-authorization-server/:tenant/v2.0") { req, ctx in try await discovery(req, ctx, v2: true) }
        router.get("/.well-known/openid-configuration/:tenant/v2.0") { req, ctx in try await discovery(req, ctx, v2: true) }
        router.get("/:tenant/v2.0/.well-known/oauth-authorization-server") { req, ctx in try await discovery(req, ctx, v2: true) }
        router.get("/:tenant/discovery/v2.0/keys") { req, ctx in try await keys(req, ctx, v2: true) }
        router.get("/:tenant/discovery/keys") { req, ctx in try await keys(req, ctx, v2: false) }
        // `common` is also a tenant segment (/common/v2.0/…), so these live under :tenant too.
        router.get("/:tenant/discovery/instance") { req, ctx in
            guard ctx.parameters.get("tenant")?.lowercased() == "common" else { throw HTTPError(.notFound) }
            do {
                let ep = req.uri.queryParameters.get("authorization_endpoint")
                return json(try authority.instanceDiscovery(authorizationEndpoint: ep), cache: "max-age=86400, private")
            } catch {
                return entraError(error as? OAuthError ?? .serverError(logDetail: "\(error)"), req)
            }
        }
        router.get("/:tenant/userrealm/:user") { req, ctx in
            guard ctx.parameters.get("tenant")?.lowercased() == "common" else { throw HTTPError(.notFound) }
            return json(await authority.userRealm(login: ctx.parameters.get("user") ?? ""), cache: "no-store")
        }
        // Token
        router.post("/:tenant/oauth2/v2.0/token") { req, ctx in try await token(req, ctx) }
        // Entra's v1 endpoints (named by the v1 discovery document): `resource` instead of `scope`.
        router.post("/:tenant/oauth2/token") { req, ctx in try await token(req, ctx, v1: true) }
        router.get("/:tenant/oauth2/authorize") { req, ctx in
            render(await interactive.authorize(browser(req, ctx, parameters: AuthorityRoutes.v1Scope(queryForm(req)))), req)
        }
        router.get("/:tenant/oauth2/logout") { req, ctx in
            render(await interactive.logout(browser(req, ctx, parameters: queryForm(req))), req)
        }
        router.get("/:tenant/oauth2/v2.0/token") { req, _ in await corsWrap(entraError(.postRequired(received: "GET"), req), req) }
        router.on("/:tenant/oauth2/v2.0/token", method: .options) { req, _ in await preflight(req) }
        router.post("/:tenant/oauth2/v2.0/devicecode") { req, ctx in try await deviceCode(req, ctx) }
        router.on("/:tenant/oauth2/v2.0/devicecode", method: .options) { req, _ in await preflight(req) }
        // Interactive
        router.get("/:tenant/oauth2/v2.0/authorize") { req, ctx in
            render(await interactive.authorize(browser(req, ctx, parameters: queryForm(req))), req)
        }
        formPost(router, "/:tenant/login") { await interactive.submitSignIn($0) }
        router.get("/:tenant/v2.0/adminconsent") { req, ctx in
            render(await interactive.adminConsent(browser(req, ctx, parameters: queryForm(req))), req)
        }
        formPost(router, "/:tenant/consent") { await interactive.submitConsent($0) }
        formPost(router, "/:tenant/mfa") { await interactive.submitVerificationCode($0) }
        formPost(router, "/:tenant/passwordchange") { await interactive.submitPasswordChange($0) }
        router.get("/devicelogin") { req, ctx in render(interactive.deviceLoginPage(browser(req, ctx, parameters: queryForm(req))), req) }
        formPost(router, "/devicelogin") { await interactive.submitDeviceCode($0) }
        router.get("/:tenant/oauth2/v2.0/logout") { req, ctx in
            render(await interactive.logout(browser(req, ctx, parameters: queryForm(req))), req)
        }
        formPost(router, "/:tenant/oauth2/v2.0/logout") { await interactive.logout($0) }
        router.get("/error") { req, _ in
            let code = req.uri.queryParameters.get("code") ?? ""
            return html(
                Pages.page(
                    title: "AADSTS\(code)",
                    body: Pages.message.render(
                        [
                            "title": "AADSTS\(code)",
                            "text": "Deputy emulates this Microsoft Entra error code. See docs/endpoints.md for when it is returned.",
                        ])))
        }
        router.get("/health") { _, _ in "ok" }
        addGraphRoutes(router)
        addGraphDirectoryRoutes(router)
        router.post("/:tenant/deputy/cae/events") { req, ctx in try await criticalEventFeed(req, ctx) }
        router.get("/:tenant/signins") { req, ctx in try await signInLogPage(req, ctx) }
        if let clock = testClock {
            // Test controls (`deputy up --test-controls` only): move the authority's clock — for a
            // tenant's administrator only, since moving the clock expires every session, code and
            // token: an app-only token with a directory write permission, or a Global
            // Administrator's delegated token with one. Reader roles and read permissions are not
            // enough. The clock is the process's: every tenant's administrator moves it for all.
            router.post("/_deputy/test/clock") { req, _ in
                if case .denied(let refusal) = try await graphCaller(
                    req, anyOf: ["Directory.ReadWrite.All", "User.ReadWrite.All"], roles: [DirectoryIndex.globalAdministratorRole])
                {
                    return refusal
                }
                var r = req
                let body = try await r.collectBody(upTo: 4096)
                guard case .object(let o)? = try? JSONParser.parse(Data(String(buffer: body).utf8)),
                    let seconds = o["advanceSeconds"]?.numberValue, seconds.isFinite, seconds >= 0
                else {
                    // Forward only: moving back would reopen TOTP steps and lifetimes already used.
                    return graphError(
                        .badRequest, "BadRequest", "Expected {\"advanceSeconds\": N} with N ≥ 0 (the clock only moves forward).")
                }
                clock.offset += seconds
                try await authority.store.setClockOffset(clock.offset)
                return json(
                    ["now": .string(ISO8601DateFormatter().string(from: clock.now())), "offsetSeconds": .number(clock.offset)],
                    cache: "no-store")
            }
        }
        return router
    }

    /// A browser form post: the body is read as a form (bad bodies become Entra errors) and the
    /// interactive step's result is rendered.
    func formPost(
        _ router: Router<AuthorityRequestContext>, _ path: RouterPath,
        _ step: @escaping @Sendable (BrowserRequest) async -> InteractiveResult
    ) {
        router.post(path) { req, ctx in
            var r = req
            let form = try await bodyForm(&r)
            return render(await step(browser(req, ctx, parameters: form)), req)
        }
    }

    // MARK: - Handlers

    func discovery(_ req: Request, _ ctx: AuthorityRequestContext, v2: Bool) async throws -> Response {
        let segment = ctx.parameters.get("tenant") ?? ""
        if ["common", "organizations", "consumers"].contains(segment.lowercased()) {
            return json(authority.openIDConfiguration(tenantSegment: segment, tenantID: nil, v2: v2), cache: "max-age=86400, private")
        }
        guard let tenant = try await authority.tenant(segment) else { return entraError(.tenantNotFound(segment), req) }
        return json(
            authority.openIDConfiguration(tenantSegment: segment, tenantID: tenant.tenantID, v2: v2, mcpSpec: tenant.isMCPSpec),
            cache: "max-age=86400, private")
    }

    func keys(_ req: Request, _ ctx: AuthorityRequestContext, v2: Bool) async throws -> Response {
        let segment = ctx.parameters.get("tenant") ?? ""
        var tenantID: String?
        if !["common", "organizations", "consumers"].contains(segment.lowercased()) {
            guard let tenant = try await authority.tenant(segment) else { return entraError(.tenantNotFound(segment), req) }
            tenantID = tenant.tenantID
        }
        return json(try await authority.jwks(tenantID: tenantID, v2: v2), cache: "max-age=300, private")
    }

    /// A v1 request names its resource with `resource`; the engine reads it as `{resource}/.default`
    /// (what `.default` means: the v1 resource parameter; Microsoft Learn, "Scopes and permissions in the Microsoft identity platform").
    static func v1Scope(_ form: FormParameters) -> FormParameters {
        guard form["scope"] == nil || form["scope"].map({ Scopes.parse($0).allSatisfy { Scopes.openIDScopes.contains($0) } }) == true,
            let resource = form["resource"]
        else { return form }
        var out = FormParameters(form.pairs.filter { $0.name != "scope" }.map { ($0.name, $0.value) })
        out.append("scope", Scopes.format([resource + "/.default"] + Scopes.parse(form["scope"])))
        return out
    }

    func token(_ req: Request, _ ctx: AuthorityRequestContext, v1: Bool = false) async throws -> Response {
        var r = req
        var form: FormParameters
        do { form = try await bodyForm(&r) } catch let e as OAuthError { return await corsWrap(entraError(e, req), req) }
        if v1 { form = AuthorityRoutes.v1Scope(form) }
        let request = TokenRequest(
            tenantSegment: ctx.parameters.get("tenant") ?? "", form: form, authorizationHeader: req.headers[.authorization],
            origin: req.headers[.origin], correlationID: correlationID(req), ipAddress: ctx.remoteAddress,
            devicePlatform: AuthorityRoutes.platform(
                clientOS: req.headers[HTTPField.Name("x-client-OS")!], userAgent: req.headers[.userAgent]))
        switch await authority.token(request) {
        case .success(let response):
            var headers = noStoreHeaders()
            headers[.contentType] = "application/json; charset=utf-8"
            let data = try JSONEncoder().encode(response)
            return await corsWrap(Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data))), req)
        case .failure(let error):
            return await corsWrap(entraError(error, req, correlation: request.correlationID), req)
        }
    }

    func deviceCode(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        var r = req
        let form: FormParameters
        do { form = try await bodyForm(&r) } catch let e as OAuthError { return entraError(e, req) }
        switch await authority.deviceAuthorization(tenantSegment: ctx.parameters.get("tenant") ?? "", form: form) {
        case .success(let response):
            var headers = noStoreHeaders()
            headers[.contentType] = "application/json; charset=utf-8"
            return await corsWrap(
                Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(response)))), req
            )
        case .failure(let error):
            return await corsWrap(entraError(error, req), req)
        }
    }

    // MARK: - Helpers

    /// Reads a form body: `application/x-www-form-urlencoded` only, 1 MiB at most.
    func bodyForm(_ req: inout Request) async throws -> FormParameters {
        let type = req.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw OAuthError.malformedRequest("The Content-Type must be application/x-www-form-urlencoded.")
        }
        let buffer: ByteBuffer
        do { buffer = try await req.collectBody(upTo: FormParameters.defaultSizeLimit) } catch {
            throw OAuthError.malformedRequest("The request body exceeds \(FormParameters.defaultSizeLimit) bytes.")
        }
        return try FormParameters(parsing: String(buffer: buffer))
    }

    func queryForm(_ req: Request) -> FormParameters {
        (try? FormParameters(parsing: req.uri.query ?? "")) ?? FormParameters()
    }

    func browser(_ req: Request, _ ctx: AuthorityRequestContext, parameters: FormParameters) -> BrowserRequest {
        var cookies: [String: String] = [:]
        for header in req.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2 { cookies[String(kv[0])] = String(kv[1]) }
            }
        }
        return BrowserRequest(
            tenantSegment: ctx.parameters.get("tenant") ?? "", parameters: parameters, cookies: cookies,
            correlationID: correlationID(req), ipAddress: ctx.remoteAddress,
            devicePlatform: AuthorityRoutes.platform(clientOS: nil, userAgent: req.headers[.userAgent]))
    }

    /// The device platform as Conditional Access names it, from MSAL's `x-client-OS` header or the
    /// User-Agent (Entra reads the User-Agent; MSAL's libraries also send their OS).
    static func platform(clientOS: String?, userAgent: String?) -> String? {
        for text in [clientOS, userAgent].compactMap({ $0?.lowercased() }) {
            if text.contains("android") { return "android" }
            if text.contains("iphone") || text.contains("ipad") || text.contains("ios") { return "iOS" }
            if text.contains("windows phone") { return "windowsPhone" }
            if text.contains("windows") || text.hasPrefix("win") { return "windows" }
            if text.contains("mac os") || text.contains("macintosh") || text.contains("darwin") || text.contains("macos") { return "macOS" }
            if text.contains("linux") || text.contains("x11") { return "linux" }
        }
        return nil
    }

    func correlationID(_ req: Request) -> String {
        if let id = req.headers[HTTPField.Name("client-request-id")!], !id.isEmpty, id.count <= 100 { return id }
        // The id the request's log lines already carry (see `Router.addObservability(service:)`).
        return CorrelationID.current ?? UUID().uuidString.lowercased()
    }

    func noStoreHeaders() -> HTTPFields {
        var h = HTTPFields()
        h[.cacheControl] = "no-store, no-cache"
        h[HTTPField.Name("Pragma")!] = "no-cache"
        return h
    }

    func json(_ object: [String: JSONValue], cache: String) -> Response {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? enc.encode(JSONValue.object(object))) ?? Data("{}".utf8)
        var h = HTTPFields()
        h[.contentType] = "application/json; charset=utf-8"
        h[.cacheControl] = cache
        h[.accessControlAllowOrigin] = "*"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func html(_ text: String, status: HTTPResponse.Status = .ok, cookies: [DeputyAuthority.Cookie] = []) -> Response {
        var h = noStoreHeaders()
        h[.contentType] = "text/html; charset=utf-8"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[.contentSecurityPolicy] =
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'"
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c.headerValue)) }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Entra's error body with its headers (`Cache-Control: no-store`, `x-ms-request-id`).
    func entraError(_ error: OAuthError, _ req: Request, correlation: String? = nil) -> Response {
        let trace = UUID().uuidString.lowercased()
        let body = EntraErrorBody(
            error, traceId: trace, correlationId: correlation ?? correlationID(req), at: authority.time.now(),
            errorURIBase: authority.configuration.baseURL)
        var h = noStoreHeaders()
        h[.contentType] = "application/json; charset=utf-8"
        h[HTTPField.Name("x-ms-request-id")!] = trace
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        return Response(status: .init(code: error.status), headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func render(_ result: InteractiveResult, _ req: Request) -> Response {
        switch result {
        case .signIn(let page, let cookies):
            return html(Pages.signIn(page), cookies: cookies)
        case .consent(let page, let cookies):
            return html(Pages.consent(page), cookies: cookies)
        case .step(let page, let cookies):
            return html(Pages.step(page), cookies: cookies)
        case .respond(let response, let cookies):
            if response.responseMode == "form_post" {
                let fields = response.parameters.map { ["name": $0.0, "value": $0.1] }
                return html(
                    Pages.page(title: "Working...", body: Pages.formPost.render(["action": response.redirectURI, "fields": fields])),
                    cookies: cookies)
            }
            return redirect(response.location, cookies: cookies)
        case .redirect(let location, let cookies):
            return redirect(location, cookies: cookies)
        case .message(let title, let text, let cookies):
            return html(Pages.page(title: title, body: Pages.message.render(["title": title, "text": text])), cookies: cookies)
        case .confirmLogout(let action, let fields, let cookies):
            let o: [String: Any] = ["action": action, "fields": fields.map { ["name": $0.0, "value": $0.1] }]
            return html(Pages.page(title: "Sign out", body: Pages.confirmLogout.render(o)), cookies: cookies)
        case .deviceCodeEntry(let csrf, let error, let cookies):
            var o: [String: Any] = ["csrf": csrf]
            if let error { o["error"] = error }
            return html(Pages.page(title: "Enter code", body: Pages.deviceCode.render(o)), cookies: cookies)
        case .error(let e):
            let o: [String: Any] = [
                "description": e.shortDescription, "error": e.error.rawValue, "correlation": correlationID(req),
                "timestamp": EntraErrorBody.timestampFormat(authority.time.now()),
            ]
            return html(
                Pages.page(title: "Sign in error", body: Pages.error.render(o)), status: HTTPResponse.Status(code: e.status), cookies: [])
        }
    }

    func redirect(_ location: String, cookies: [DeputyAuthority.Cookie]) -> Response {
        var h = noStoreHeaders()
        h[.location] = location
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c.headerValue)) }
        return Response(status: .found, headers: h)
    }

    /// CORS for the token endpoint: only origins of registered SPA redirect URIs may call it (a
    /// form POST is a simple request, so browsers send no preflight, but some libraries do).
    func corsWrap(_ response: Response, _ req: Request) async -> Response {
        guard let origin = req.headers[.origin], await isRegisteredSPAOrigin(origin) else { return response }
        var r = response
        r.headers[.accessControlAllowOrigin] = origin
        r.headers[.vary] = "Origin"
        r.headers[.accessControlExposeHeaders] = "x-ms-request-id, client-request-id"
        return r
    }

    func isRegisteredSPAOrigin(_ origin: String) async -> Bool {
        guard let tenants = try? await authority.tenants() else { return false }
        return tenants.contains { t in
            t.directory.applications.contains { app in
                app.spaRedirectURIs.contains { uri in
                    guard let u = URLComponents(string: uri), let scheme = u.scheme, let host = u.host else { return false }
                    return "\(scheme)://\(host)\(u.port.map { ":\($0)" } ?? "")".lowercased() == origin.lowercased()
                }
            }
        }
    }

    func preflight(_ req: Request) async -> Response {
        var h = HTTPFields()
        if let origin = req.headers[.origin], await isRegisteredSPAOrigin(origin) { h[.accessControlAllowOrigin] = origin }
        h[.accessControlAllowMethods] = "POST, OPTIONS"
        h[.accessControlAllowHeaders] =
            "content-type, client-request-id, x-client-sku, x-client-ver, x-client-os, x-ms-lib-capability, x-client-current-telemetry, x-client-last-telemetry"
        h[.accessControlMaxAge] = "86400"
        h[.vary] = "Origin"
        return Response(status: .noContent, headers: h)
    }
}

/// Turns anything thrown by a route into Entra's generic server error (logged with detail),
/// never a bare 500 or exception text.
struct ErrorBoundary: RouterMiddleware {
    typealias Context = AuthorityRequestContext
    let authority: Authority

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return AuthorityRoutes(authority: authority).entraError(
                .notAnEndpoint(request.uri.path), request)
        } catch let error as OAuthError {
            return AuthorityRoutes(authority: authority).entraError(error, request)
        } catch {
            let e = authority.normalize(error, draft: nil)
            return AuthorityRoutes(authority: authority).entraError(e, request)
        }
    }
}
