import DeputyAuthority
import DeputyCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The directory in Microsoft Graph's v1.0 shapes (Graph v1.0 reference: user, group,
/// application, servicePrincipal, oAuth2PermissionGrant, conditionalAccessPolicy, namedLocation):
/// GET a collection (with `$filter`, `$select`, `$orderby`, `$top` and `@odata.nextLink`) or one
/// object, POST, PATCH and DELETE, group membership by `$ref`, and `revokeSignInSessions`.
/// Changes are written in one transaction, take effect at the next token request, and raise
/// continuous access evaluation's critical events where Entra would: a user disabled, deleted, or
/// given a new password, and sessions revoked.
extension AuthorityRoutes {
    func addGraphDirectoryRoutes(_ router: Router<AuthorityRequestContext>) {
        for collection in GraphCollection.allCases {
            let base = RouterPath("/v1.0/" + collection.path)
            let one = RouterPath("/v1.0/" + collection.path + "/:id")
            router.get(base) { req, _ in try await graphList(req, collection) }
            router.get(one) { req, ctx in try await graphGet(req, ctx, collection) }
            router.post(base) { req, _ in try await graphCreate(req, collection) }
            router.patch(one) { req, ctx in try await graphUpdate(req, ctx, collection) }
            router.delete(one) { req, ctx in try await graphDelete(req, ctx, collection) }
        }
        router.post("/v1.0/users/:id/revokeSignInSessions") { req, ctx in try await revokeSignInSessions(req, ctx) }
        router.get("/v1.0/groups/:id/members") { req, ctx in try await groupMembers(req, ctx) }
        router.post("/v1.0/groups/:id/members/$ref") { req, ctx in try await addGroupMember(req, ctx) }
        router.delete("/v1.0/groups/:id/members/:member/$ref") { req, ctx in try await removeGroupMember(req, ctx) }
        // The SPA's admin page calls Graph from the browser, as Graph allows (CORS).
        let preflighted: [RouterPath] =
            GraphCollection.allCases.flatMap { [RouterPath("/v1.0/" + $0.path), RouterPath("/v1.0/" + $0.path + "/:id")] } + [
                "/v1.0/users/:id/revokeSignInSessions", "/v1.0/groups/:id/members", "/v1.0/groups/:id/members/$ref",
                "/v1.0/groups/:id/members/:member/$ref", "/v1.0/auditLogs/signIns",
            ]
        for path in preflighted { router.on(path, method: .options) { req, _ in await graphPreflight(req) } }
    }

    /// Application permissions and delegated scopes for revokeSignInSessions (Graph: User.RevokeSessions.All or broader).
    static let revokeSessionsPermissions: Set<String> = GraphCollection.users.writePermissions.union(["User.RevokeSessions.All"])

    func graphError(_ e: GraphError) -> Response {
        graphError(HTTPResponse.Status(code: e.status), e.code, e.message)
    }

    func graphID(_ ctx: AuthorityRequestContext, _ name: String = "id") -> String {
        (ctx.parameters.get(name) ?? "").removingPercentEncoding ?? ""
    }

    func graphBody(_ req: Request) async throws -> Result<[String: JSONValue], GraphError> {
        var r = req
        let body = try await r.collectBody(upTo: 1 << 20)
        guard case .object(let o)? = try? JSONParser.parse(Data(body.readableBytesView)) else {
            return .failure(GraphError(400, "BadRequest", "The request body must be a JSON object."))
        }
        return .success(o)
    }

    func graphResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok, req: Request) -> Response {
        var h = noStoreHeaders()
        h[.contentType] = "application/json; charset=utf-8"
        return graphCORS(Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized))), req)
    }

    func graphNoContent(_ req: Request) -> Response { graphCORS(Response(status: .noContent, headers: noStoreHeaders()), req) }

    /// Graph answers browsers from any origin (the token is the authorization).
    func graphCORS(_ response: Response, _ req: Request) -> Response {
        guard let origin = req.headers[.origin] else { return response }
        var r = response
        r.headers[.accessControlAllowOrigin] = origin
        r.headers[.accessControlExposeHeaders] = "WWW-Authenticate, client-request-id, request-id"
        r.headers[.vary] = "Origin"
        return r
    }

    func graphPreflight(_ req: Request) async -> Response {
        var h = HTTPFields()
        h[.accessControlAllowOrigin] = req.headers[.origin] ?? "*"
        h[.accessControlAllowMethods] = "GET, POST, PATCH, DELETE, OPTIONS"
        h[.accessControlAllowHeaders] = "Authorization, Content-Type, client-request-id, ConsistencyLevel, traceparent, tracestate"
        h[.accessControlMaxAge] = "600"
        h[.vary] = "Origin"
        return Response(status: .noContent, headers: h)
    }

    /// Checks the caller for reading or writing a collection.
    func graphAccess(_ req: Request, _ c: GraphCollection, write: Bool) async throws -> GraphAccess {
        switch try await graphCaller(
            req, anyOf: write ? c.writePermissions : c.readPermissions, roles: write ? c.writeRoles : c.readRoles)
        {
        case .denied(let r): return .denied(graphCORS(r, req))
        case .allowed(let t): return .allowed(t)
        }
    }

    /// Runs a change in one transaction; Graph's error when it is refused.
    func graphChange(
        _ tenant: DirectoryIndex, _ change: @escaping @Sendable (inout TenantDirectory) throws -> Void
    ) async throws
        -> GraphError?
    {
        do { try await authority.store.updateDirectory(tenantID: tenant.tenantID, change) } catch let e as GraphError { return e }
        return nil
    }

    // MARK: Handlers

    func graphList(_ req: Request, _ c: GraphCollection) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, c, write: false) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let query: ODataQuery
        do { query = try ODataQuery(parameters: try FormParameters(parsing: req.uri.query ?? "")) } catch let e as ODataQuery.Invalid {
            return graphCORS(graphError(.badRequest, "Request_UnsupportedQuery", e.description), req)
        } catch {
            return graphCORS(graphError(.badRequest, "BadRequest", "The query string is not valid."), req)
        }
        let (value, next) = query.page(c.list(tenant.directory))
        var out: [String: JSONValue] = ["@odata.context": .string(c.context), "value": .array(value)]
        if let next, let q = try? FormParameters(parsing: req.uri.query ?? "") {
            let kept = q.pairs.filter { $0.name != "$skiptoken" }.map { ($0.name, $0.value) }
            out["@odata.nextLink"] = .string(
                authority.configuration.baseURL + req.uri.path + "?" + FormParameters(kept + [("$skiptoken", next)]).encoded)
        }
        return graphResponse(.object(out), req: req)
    }

    func graphGet(_ req: Request, _ ctx: AuthorityRequestContext, _ c: GraphCollection) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, c, write: false) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let id = graphID(ctx)
        guard case .object(var o)? = c.object(id, in: tenant.directory) else {
            return graphCORS(
                graphError(
                    GraphError(
                        404, "Request_ResourceNotFound",
                        "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")), req)
        }
        if let select = (try? FormParameters(parsing: req.uri.query ?? ""))?["$select"] {
            let keep = Set(select.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } + ["id"])
            o = o.filter { keep.contains($0.key) }
        }
        o["@odata.context"] = .string(c.context + "/$entity")
        return graphResponse(.object(o), req: req)
    }

    func graphCreate(_ req: Request, _ c: GraphCollection) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, c, write: true) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        var body: [String: JSONValue]
        switch try await graphBody(req) {
        case .failure(let e): return graphCORS(graphError(e), req)
        case .success(let b): body = b
        }
        if c == .users {
            // Graph: a new user needs passwordProfile.password; Deputy stores its bcrypt hash.
            guard case .object(let profile)? = body["passwordProfile"], case .string(let password)? = profile["password"], !password.isEmpty
            else {
                return graphCORS(
                    graphError(.badRequest, "Request_BadRequest", "Property 'passwordProfile' with a password is required."), req)
            }
            for k in ["passwordHash", "totpSecret", "password"] where body[k] != nil {
                return graphCORS(graphError(.badRequest, "Request_BadRequest", "Property '\(k)' cannot be set; use passwordProfile."), req)
            }
            body.removeValue(forKey: "passwordProfile")
            body.removeValue(forKey: "mailNickname")
            let hash = await authority.passwords.hash(password)
            let created = LockedResult()
            let now = authority.time.now()
            let id = UUID().uuidString.lowercased()
            if let e = try await graphChange(
                tenant,
                { [body] d in
                    created.value = try c.create(body, in: &d, newID: id, now: now, passwordHash: hash)
                })
            {
                return graphCORS(graphError(e), req)
            }
            return graphCreated(created.value, c, req)
        }
        let created = LockedResult()
        let now = authority.time.now()
        let id = UUID().uuidString.lowercased()
        if let e = try await graphChange(tenant, { [body] d in created.value = try c.create(body, in: &d, newID: id, now: now) }) {
            return graphCORS(graphError(e), req)
        }
        return graphCreated(created.value, c, req)
    }

    func graphCreated(_ value: JSONValue?, _ c: GraphCollection, _ req: Request) -> Response {
        guard case .object(var o)? = value else { return graphNoContent(req) }
        o["@odata.context"] = .string(c.context + "/$entity")
        return graphResponse(.object(o), status: .created, req: req)
    }

    func graphUpdate(_ req: Request, _ ctx: AuthorityRequestContext, _ c: GraphCollection) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, c, write: true) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        var patch: [String: JSONValue]
        switch try await graphBody(req) {
        case .failure(let e): return graphCORS(graphError(e), req)
        case .success(let b): patch = b
        }
        let id = graphID(ctx)
        let now = authority.time.now()
        guard c == .users else {
            if let e = try await graphChange(tenant, { [patch] d in try c.update(id, patch, in: &d, now: now) }) {
                return graphCORS(graphError(e), req)
            }
            return graphNoContent(req)
        }
        // Users: a password becomes a hash; disabling the account or a new password is a critical event.
        guard let user = c.object(id, in: tenant.directory)?.objectValue, let userID = user["id"]?.stringValue else {
            return graphCORS(
                graphError(
                    GraphError(
                        404, "Request_ResourceNotFound",
                        "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")), req)
        }
        if !Self.sensitiveUserProperties.isDisjoint(with: patch.keys),
            let refusal = privilegedTargetRefusal(
                req, tenant: tenant, target: userID, managers: Self.privilegedUserManagers, what: "The user")
        {
            return refusal
        }
        var hash: String?
        if let value = patch.removeValue(forKey: "passwordProfile") {
            guard case .object(let profile) = value, case .string(let password)? = profile["password"], !password.isEmpty else {
                return graphCORS(graphError(.badRequest, "Request_BadRequest", "passwordProfile must carry a non-empty password."), req)
            }
            hash = await authority.passwords.hash(password)
        }
        let disables = patch["accountEnabled"] == .bool(false) && user["accountEnabled"] != .bool(false)
        let change: @Sendable (inout TenantDirectory) throws -> Void = { [patch, hash] d in
            if !patch.isEmpty { try c.update(userID, patch, in: &d, now: now) }
            if let hash, let i = d.users.firstIndex(where: { $0.id == userID }) { d.users[i].passwordHash = hash }
        }
        do {
            if disables {
                try await authority.raiseCriticalEvent(.userDisabled, userID: userID, tenantID: tenant.tenantID, change: change)
            } else if hash != nil {
                try await authority.raiseCriticalEvent(.passwordChanged, userID: userID, tenantID: tenant.tenantID, change: change)
            } else if let e = try await graphChange(tenant, change) {
                return graphCORS(graphError(e), req)
            }
        } catch let e as GraphError {
            return graphCORS(graphError(e), req)
        }
        return graphNoContent(req)
    }

    func graphDelete(_ req: Request, _ ctx: AuthorityRequestContext, _ c: GraphCollection) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, c, write: true) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let id = graphID(ctx)
        if c == .users {
            guard let userID = c.object(id, in: tenant.directory)?.objectValue?["id"]?.stringValue else {
                return graphCORS(
                    graphError(
                        GraphError(
                            404, "Request_ResourceNotFound",
                            "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")), req)
            }
            if let refusal = privilegedTargetRefusal(
                req, tenant: tenant, target: userID, managers: Self.privilegedUserManagers, what: "The user")
            {
                return refusal
            }
            try await authority.raiseCriticalEvent(.userDeleted, userID: userID, tenantID: tenant.tenantID)
            return graphNoContent(req)
        }
        // Deleting a group that holds a role removes its members' role: the role-group rule applies.
        if c == .groups, let group = c.object(id, in: tenant.directory)?.objectValue?["id"]?.stringValue,
            let refusal = privilegedTargetRefusal(req, tenant: tenant, target: group, managers: Self.roleGroupManagers, what: "The group")
        {
            return refusal
        }
        if let e = try await graphChange(tenant, { d in try c.delete(id, in: &d) }) { return graphCORS(graphError(e), req) }
        return graphNoContent(req)
    }

    /// POST /v1.0/users/{id}/revokeSignInSessions: ends the user's sessions and refresh tokens and
    /// tells resources that evaluate continuously. Graph answers `{"value": true}`.
    func revokeSignInSessions(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, anyOf: Self.revokeSessionsPermissions, roles: GraphCollection.users.writeRoles) {
        case .denied(let r): return graphCORS(r, req)
        case .allowed(let t): tenant = t
        }
        let id = graphID(ctx)
        guard let userID = GraphCollection.users.object(id, in: tenant.directory)?.objectValue?["id"]?.stringValue else {
            return graphCORS(
                graphError(
                    GraphError(
                        404, "Request_ResourceNotFound",
                        "Resource '\(id)' does not exist or one of its queried reference-property objects are not present.")), req)
        }
        if let refusal = privilegedTargetRefusal(
            req, tenant: tenant, target: userID, managers: Self.privilegedUserManagers, what: "The user")
        {
            return refusal
        }
        try await authority.raiseCriticalEvent(.sessionsRevoked, userID: userID, tenantID: tenant.tenantID)
        return graphResponse(
            .object(["@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean"), "value": .bool(true)]), req: req)
    }

    func groupMembers(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, .groups, write: false) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        do {
            let members = try GraphCollection.members(of: graphID(ctx), in: tenant.directory)
            return graphResponse(
                .object([
                    "@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#directoryObjects"), "value": .array(members),
                ]),
                req: req)
        } catch {
            return graphCORS(graphError(error), req)
        }
    }

    /// POST /v1.0/groups/{id}/members/$ref with `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`.
    func addGroupMember(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, .groups, write: true) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let body: [String: JSONValue]
        switch try await graphBody(req) {
        case .failure(let e): return graphCORS(graphError(e), req)
        case .success(let b): body = b
        }
        guard let ref = body["@odata.id"]?.stringValue, let member = ref.split(separator: "/").last.map(String.init), !member.isEmpty else {
            return graphCORS(graphError(.badRequest, "Request_BadRequest", "Expected {\"@odata.id\": \".../directoryObjects/{id}\"}."), req)
        }
        // The guard compares canonical ids: the path may spell the id in another case.
        guard let group = GraphCollection.groups.object(graphID(ctx), in: tenant.directory)?.objectValue?["id"]?.stringValue else {
            return graphCORS(graphError(GraphError.notFound(graphID(ctx))), req)
        }
        if let refusal = privilegedTargetRefusal(req, tenant: tenant, target: group, managers: Self.roleGroupManagers, what: "The group") {
            return refusal
        }
        if let e = try await graphChange(tenant, { d in try GraphCollection.addMember(member, toGroup: group, in: &d) }) {
            return graphCORS(graphError(e), req)
        }
        return graphNoContent(req)
    }

    func removeGroupMember(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphAccess(req, .groups, write: true) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let member = graphID(ctx, "member")
        guard let group = GraphCollection.groups.object(graphID(ctx), in: tenant.directory)?.objectValue?["id"]?.stringValue else {
            return graphCORS(graphError(GraphError.notFound(graphID(ctx))), req)
        }
        if let refusal = privilegedTargetRefusal(req, tenant: tenant, target: group, managers: Self.roleGroupManagers, what: "The group") {
            return refusal
        }
        if let e = try await graphChange(tenant, { d in try GraphCollection.removeMember(member, fromGroup: group, in: &d) }) {
            return graphCORS(graphError(e), req)
        }
        return graphNoContent(req)
    }

    /// POST /{tenant}/deputy/cae/events: the critical-event feed (see ``CriticalEventFeed``).
    func criticalEventFeed(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        var r = req
        let form: FormParameters
        do { form = try await bodyForm(&r) } catch let e as OAuthError { return entraError(e, req) }
        let request = TokenRequest(
            tenantSegment: ctx.parameters.get("tenant") ?? "", form: form, authorizationHeader: req.headers[.authorization],
            correlationID: correlationID(req), ipAddress: ctx.remoteAddress)
        switch await authority.criticalEventFeed(request) {
        case .success(let feed):
            var headers = noStoreHeaders()
            headers[.contentType] = "application/json; charset=utf-8"
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try enc.encode(feed))))
        case .failure(let error):
            return entraError(error, req, correlation: request.correlationID)
        }
    }
}

/// A value set inside a store transaction's closure and read after it.
final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: JSONValue?
    var value: JSONValue? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
