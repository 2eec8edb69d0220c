import DeputyAuthority
import DeputyCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Microsoft Graph's user writes that raise continuous access evaluation's critical events
/// (Microsoft Graph v1.0, "user: revokeSignInSessions", "Update user", "Delete a user"):
/// `POST /v1.0/users/{id | userPrincipalName}/revokeSignInSessions`, `PATCH /v1.0/users/{id}`
/// with `accountEnabled` or `passwordProfile`, and `DELETE /v1.0/users/{id}`.
extension AuthorityRoutes {
    /// Application permissions (app roles of Graph) and delegated scopes that allow these writes.
    static let userWritePermissions: Set<String> = ["User.ReadWrite.All", "Directory.ReadWrite.All"]
    static let revokeSessionsPermissions: Set<String> = userWritePermissions.union(["User.RevokeSessions.All"])

    func addGraphUserRoutes(_ router: Router<AuthorityRequestContext>) {
        router.post("/v1.0/users/:user/revokeSignInSessions") { req, ctx in try await revokeSignInSessions(req, ctx) }
        router.patch("/v1.0/users/:user") { req, ctx in try await updateUser(req, ctx) }
        router.delete("/v1.0/users/:user") { req, ctx in try await deleteUser(req, ctx) }
    }

    /// The user a Graph path names (object id or userPrincipalName), or Graph's 404.
    func graphUser(_ ctx: AuthorityRequestContext, in tenant: DirectoryIndex) -> Result<User, GraphRefusal> {
        let name = ctx.parameters.get("user").flatMap { $0.removingPercentEncoding } ?? ""
        guard let user = tenant.user(id: name) ?? tenant.user(login: name), !user.isAgentUser else {
            return .failure(
                GraphRefusal(
                    graphError(.notFound, "Request_ResourceNotFound", "Resource '\(name)' does not exist or one of its queried reference-property objects are not present.")))
        }
        return .success(user)
    }

    struct GraphRefusal: Error { let response: Response; init(_ r: Response) { response = r } }

    /// POST /v1.0/users/{id}/revokeSignInSessions: ends the user's sessions and refresh tokens and
    /// tells resources that evaluate continuously. Graph answers `{"value": true}`.
    func revokeSignInSessions(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, anyOf: Self.revokeSessionsPermissions, roles: DirectoryIndex.userAdministratorRoles) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let user: User
        switch graphUser(ctx, in: tenant) {
        case .failure(let refusal): return refusal.response
        case .success(let u): user = u
        }
        try await authority.raiseCriticalEvent(.sessionsRevoked, userID: user.id, tenantID: tenant.tenantID)
        return json(
            ["@odata.context": .string("https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean"), "value": .bool(true)], cache: "no-store")
    }

    /// PATCH /v1.0/users/{id}: `accountEnabled`, `passwordProfile.password`, and the plain
    /// properties `displayName`, `jobTitle`, `givenName`, `surname`, `mail`. Disabling the account
    /// and setting a password are critical events. Graph answers 204.
    func updateUser(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, anyOf: Self.userWritePermissions, roles: DirectoryIndex.userAdministratorRoles) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let user: User
        switch graphUser(ctx, in: tenant) {
        case .failure(let refusal): return refusal.response
        case .success(let u): user = u
        }
        var r = req
        let body = try await r.collectBody(upTo: 1 << 16)
        guard case .object(let patch)? = try? JSONParser.parse(Data(String(buffer: body).utf8)) else {
            return graphError(.badRequest, "BadRequest", "The request body must be a JSON object of user properties.")
        }
        let plain = ["displayName", "jobTitle", "givenName", "surname", "mail"]
        let known = Set(plain + ["accountEnabled", "passwordProfile"])
        if let unknown = patch.keys.sorted().first(where: { !known.contains($0) }) {
            return graphError(
                .badRequest, "Request_BadRequest",
                "Property '\(unknown)' cannot be updated here; Deputy updates \(known.sorted().joined(separator: ", ")).")
        }
        var strings: [String: String?] = [:]
        for name in plain where patch[name] != nil {
            switch patch[name] {
            case .string(let s)?: strings[name] = s
            case .null?: strings[name] = .some(nil)
            default: return graphError(.badRequest, "Request_BadRequest", "Property '\(name)' must be a string or null.")
            }
        }
        var enabled: Bool?
        if let value = patch["accountEnabled"] {
            guard case .bool(let b) = value else { return graphError(.badRequest, "Request_BadRequest", "accountEnabled must be true or false.") }
            enabled = b
        }
        var newHash: String?
        if let value = patch["passwordProfile"] {
            guard case .object(let profile) = value, case .string(let password)? = profile["password"], !password.isEmpty else {
                return graphError(.badRequest, "Request_BadRequest", "passwordProfile must carry a non-empty password.")
            }
            newHash = await authority.passwords.hash(password)
        }
        let change: @Sendable (inout User) -> Void = { [strings, enabled, newHash] u in
            for (name, value) in strings {
                switch name {
                case "displayName": u.displayName = value ?? u.displayName
                case "jobTitle": u.jobTitle = value
                case "givenName": u.givenName = value
                case "surname": u.surname = value
                default: u.mail = value
                }
            }
            if let enabled { u.accountEnabled = enabled }
            if let newHash {
                u.passwordHash = newHash
                u.password = nil
            }
        }
        if enabled == false, user.isEnabled {
            try await authority.raiseCriticalEvent(.userDisabled, userID: user.id, tenantID: tenant.tenantID, change: change)
        } else if newHash != nil {
            try await authority.raiseCriticalEvent(.passwordChanged, userID: user.id, tenantID: tenant.tenantID, change: change)
        } else {
            try await authority.store.updateDirectory(tenantID: tenant.tenantID) { d in
                if let i = d.users.firstIndex(where: { $0.id == user.id }) { change(&d.users[i]) }
            }
        }
        return Response(status: .noContent, headers: noStoreHeaders())
    }

    /// DELETE /v1.0/users/{id}: removes the user (a critical event). Graph answers 204.
    func deleteUser(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, anyOf: Self.userWritePermissions, roles: DirectoryIndex.userAdministratorRoles) {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        let user: User
        switch graphUser(ctx, in: tenant) {
        case .failure(let refusal): return refusal.response
        case .success(let u): user = u
        }
        try await authority.raiseCriticalEvent(.userDeleted, userID: user.id, tenantID: tenant.tenantID)
        return Response(status: .noContent, headers: noStoreHeaders())
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
