import DeputyAuthority
import DeputyCore
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The part of Microsoft Graph the authority serves on its own origin: the sign-in log
/// (`GET /v1.0/auditLogs/signIns`) and What-If (`POST /beta/identity/conditionalAccess/evaluate`),
/// for administrators only, in Graph's shapes (Graph v1.0 "signIn resource type", Graph beta
/// "conditionalAccessRoot: evaluate").
extension AuthorityRoutes {
    func addGraphRoutes(_ router: Router<AuthorityRequestContext>) {
        // Every answer, errors included, readable by a browser page (see `graphCORS`).
        router.get("/v1.0/auditLogs/signIns") { req, _ in graphCORS(try await signIns(req), req) }
        router.get("/beta/auditLogs/signIns") { req, _ in graphCORS(try await signIns(req), req) }
        router.post("/beta/identity/conditionalAccess/evaluate") { req, _ in graphCORS(try await whatIf(req), req) }
        for path: RouterPath in ["/beta/auditLogs/signIns", "/beta/identity/conditionalAccess/evaluate"] {
            router.on(path, method: .options) { req, _ in await graphPreflight(req) }
        }
    }

    /// Who is calling Graph: an app-only token with the app role, or a delegated token with the
    /// scope for a user in an administrator role (Graph needs both for delegated calls).
    func graphCaller(_ req: Request, permission: String) async throws -> GraphAccess {
        try await graphCaller(req, anyOf: [permission], roles: DirectoryIndex.auditReaderRoles)
    }

    /// Who is calling Graph: an app-only token with one of `permissions` as an app role, or a
    /// delegated token with one of them as a scope for a user holding one of the directory `roles`
    /// (role template ids; Microsoft Graph, "Microsoft Graph permissions reference").
    func graphCaller(_ req: Request, anyOf permissions: Set<String>, roles: Set<String>) async throws -> GraphAccess {
        guard let header = req.headers[.authorization], header.lowercased().hasPrefix("bearer "), header.count > 7 else {
            return .denied(graphError(.unauthorized, "InvalidAuthenticationToken", "Access token is empty.", challenge: true))
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let tid = (try? UnverifiedJWT(token))?.string("tid"), let tenant = try await authority.tenant(tid) else {
            return .denied(
                graphError(
                    .unauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience or issuer.",
                    challenge: true))
        }
        let config = authority.configuration
        let policy = ValidationPolicy(
            issuers: [config.issuerV2(tenantID: tenant.tenantID), config.issuerV1(tenantID: tenant.tenantID)],
            audiences: [WellKnownApplications.microsoftGraph, "https://graph.microsoft.com", "https://graph.microsoft.com/"])
        let validated: ValidatedToken
        do { validated = try await authority.currentKeys().validator.validate(token, policy: policy) } catch {
            return .denied(
                graphError(.unauthorized, "InvalidAuthenticationToken", "Access token validation failure: \(error)", challenge: true))
        }
        let allowed: Bool
        switch validated.kind {
        case .appOnlyAccessToken: allowed = !permissions.isDisjoint(with: validated.roles)
        case .userAccessToken:
            allowed =
                !permissions.isDisjoint(with: validated.scopes) && (validated.objectID.map { tenant.holdsRole($0, in: roles) } ?? false)
        case .idToken: allowed = false
        }
        guard allowed else {
            return .denied(
                graphError(
                    .forbidden, "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation. This call needs \(permissions.sorted().joined(separator: " or ")) (an application permission, or a delegated permission for an administrator)."
                ))
        }
        return .allowed(tenant)
    }

    func graphError(_ status: HTTPResponse.Status, _ code: String, _ message: String, challenge: Bool = false) -> Response {
        var h = noStoreHeaders()
        h[.contentType] = "application/json; charset=utf-8"
        if challenge {
            // RFC 6750 §3, as Graph sends it.
            h[.wwwAuthenticate] =
                "Bearer realm=\"\", authorization_uri=\"\(authority.configuration.baseURL)/common/oauth2/authorize\", client_id=\"\(WellKnownApplications.microsoftGraph)\""
        }
        let body: JSONValue = .object([
            "error": .object([
                "code": .string(code), "message": .string(message),
                "innerError": .object([
                    "date": .string(ISO8601DateFormatter().string(from: authority.time.now())),
                    "request-id": .string(UUID().uuidString.lowercased()),
                ]),
            ])
        ])
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
    }

    func graphJSON(_ value: some Encodable) throws -> Response {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var h = noStoreHeaders()
        h[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: try enc.encode(value))))
    }

    struct GraphSignInPage: Encodable {
        let context: String
        let nextLink: String?
        let value: [SignInRecord]
        enum CodingKeys: String, CodingKey {
            case context = "@odata.context"
            case nextLink = "@odata.nextLink"
            case value
        }
    }

    /// GET /v1.0/auditLogs/signIns: newest first; `$top` (1–1000, default 1000), `$filter` with
    /// `eq` on userPrincipalName, userId, appId, resourceId, correlationId and id and `ge`, `gt`,
    /// `le`, `lt` on createdDateTime, joined with `and`; and `@odata.nextLink` with a `$skiptoken`
    /// while there is more (Graph "List signIns", "Paging Microsoft Graph data in your app"). The
    /// store reads only the time range the filter names, one page at a time.
    func signIns(_ req: Request) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, permission: "AuditLog.Read.All") {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        // OData's query options as clients send them: `$filter` or `%24filter`, spaces as `%20` or
        // `+` (Python's requests encodes both), decoded as application/x-www-form-urlencoded.
        let q: FormParameters
        do { q = try FormParameters(parsing: req.uri.query ?? "") } catch {
            return graphError(.badRequest, "BadRequest", "The query string is not valid: \(error.message)")
        }
        var top = 1000
        if let t = q["$top"] {
            guard let n = Int(t), (1...1000).contains(n) else {
                return graphError(.badRequest, "BadRequest", "Invalid $top value '\(t)': expected 1 to 1000.")
            }
            top = n
        }
        let filter: SignInFilter
        do { filter = try SignInFilter(q["$filter"] ?? "") } catch {
            return graphError(.badRequest, "BadRequest", "\(error)")
        }
        var cursor: String?
        if let token = q["$skiptoken"] {
            guard let bytes = Base64URL.decode(token), let key = String(bytes: bytes, encoding: .utf8) else {
                return graphError(.badRequest, "BadRequest", "Invalid $skiptoken: pass the one from @odata.nextLink unchanged.")
            }
            cursor = key
        }
        let (from, through) = filter.timeRange
        let page = try await authority.store.signIns(
            SignInQuery(tenantID: tenant.tenantID, from: from, through: through, limit: top, cursor: cursor) { filter.matches($0) })
        let nextLink = page.nextCursor.map { key in
            let kept = q.pairs.filter { $0.name != "$skiptoken" }.map { ($0.name, $0.value) }
            let query = FormParameters(kept + [("$skiptoken", Base64URL.encode(Array(key.utf8)))]).encoded
            return authority.configuration.baseURL + req.uri.path + "?" + query
        }
        return try graphJSON(
            GraphSignInPage(
                context: "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns", nextLink: nextLink, value: page.records))
    }

    /// POST /beta/identity/conditionalAccess/evaluate: What-If.
    func whatIf(_ req: Request) async throws -> Response {
        let tenant: DirectoryIndex
        switch try await graphCaller(req, permission: "Policy.Read.All") {
        case .denied(let r): return r
        case .allowed(let t): tenant = t
        }
        var r = req
        let body = try await r.collectBody(upTo: 1 << 20)
        guard let json = try? JSONParser.parse(Data(String(buffer: body).utf8)) else {
            return graphError(.badRequest, "BadRequest", "The request body must be JSON (signInIdentity, signInContext, signInConditions).")
        }
        do {
            let (_, answers) = try WhatIf(time: authority.time).evaluate(try WhatIf.question(fromGraph: json), tenant: tenant)
            let out: JSONValue = .object([
                "@odata.context": .string("https://graph.microsoft.com/beta/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)"),
                "value": .array(answers.map(\.json)),
            ])
            var h = noStoreHeaders()
            h[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: out.serialized)))
        } catch {
            return graphError(.badRequest, "BadRequest", "\(error)")
        }
    }
}

extension AuthorityRoutes {
    /// GET /{tenant}/signins: the sign-in log for a signed-in administrator (others sign in first,
    /// or get 403).
    func signInLogPage(_ req: Request, _ ctx: AuthorityRequestContext) async throws -> Response {
        let parameters = queryForm(req)
        let request = browser(req, ctx, parameters: parameters)
        // After signing in, back to this page with its query (a correlation id to show, say).
        let (tenant, admin, signIn) = try await interactive.portalAccess(
            request, path: req.uri.path + (req.uri.query.map { "?" + $0 } ?? ""))
        if let signIn { return render(signIn, req) }
        guard let admin else {
            return html(
                Pages.page(
                    title: "Access denied",
                    body: Pages.message.render(
                        [
                            "title": "You don't have access",
                            "text":
                                "The sign-in log is for administrators (Global Administrator, Global Reader, Security or Reports Reader).",
                        ])),
                status: .forbidden)
        }
        // `?correlationId=…`: one request's sign-ins across every hop of a chain (the SPA links here).
        let correlation = parameters["correlationId"].flatMap { $0.isEmpty ? nil : $0 }
        let page = try await authority.store.signIns(
            SignInQuery(tenantID: tenant.tenantID, limit: 200) { correlation == nil || $0.correlationId == correlation })
        return html(Pages.signInLog(page.records, tenant: tenant.tenant.displayName, user: admin.userPrincipalName))
    }
}

/// The outcome of checking a Graph caller.
enum GraphAccess {
    case allowed(DirectoryIndex)
    case denied(Response)
}

/// The OData `$filter` subset the sign-in log understands. Hand-written: no listed package parses
/// OData, and the grammar needed is `field op 'value'` joined with `and`.
struct SignInFilter: Sendable {
    struct Clause: Sendable {
        var field: String
        var op: String
        var value: String
    }
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }
    var clauses: [Clause] = []

    static let stringFields: Set<String> = ["userPrincipalName", "userId", "appId", "resourceId", "correlationId", "id"]

    init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return }
        for part in trimmed.components(separatedBy: " and ") {
            let words = part.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 2).map(String.init)
            guard words.count == 3 else { throw Invalid(description: "Invalid filter clause '\(part)': expected field eq 'value'.") }
            var value = words[2]
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            let clause = Clause(field: words[0], op: words[1].lowercased(), value: value)
            if Self.stringFields.contains(clause.field) {
                guard clause.op == "eq" else { throw Invalid(description: "Invalid filter clause '\(part)': \(clause.field) supports eq.") }
            } else if clause.field == "createdDateTime" {
                guard ["ge", "le", "gt", "lt"].contains(clause.op), SignInFilter.date(value) != nil else {
                    throw Invalid(
                        description: "Invalid filter clause '\(part)': createdDateTime supports ge, le, gt, lt with an ISO 8601 time.")
                }
            } else {
                throw Invalid(
                    description:
                        "Invalid filter clause '\(part)': filter on userPrincipalName, userId, appId, resourceId, correlationId or createdDateTime."
                )
            }
            clauses.append(clause)
        }
    }

    /// The time range the `createdDateTime` clauses allow (the store reads only that range).
    var timeRange: (from: Date?, through: Date?) {
        var from: Date?
        var through: Date?
        for clause in clauses where clause.field == "createdDateTime" {
            guard let d = SignInFilter.date(clause.value) else { continue }
            switch clause.op {
            case "ge", "gt": from = max(from ?? d, d)
            default: through = min(through ?? d, d)
            }
        }
        return (from, through)
    }

    static func date(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }

    func matches(_ r: SignInRecord) -> Bool {
        clauses.allSatisfy { c in
            switch c.field {
            case "userPrincipalName": return r.userPrincipalName?.lowercased() == c.value.lowercased()
            case "userId": return r.userId == c.value
            case "appId": return r.appId?.lowercased() == c.value.lowercased()
            case "resourceId": return r.resourceId?.lowercased() == c.value.lowercased()
            case "correlationId": return r.correlationId == c.value
            case "id": return r.id == c.value
            default:
                guard let d = SignInFilter.date(c.value) else { return false }
                switch c.op {
                case "ge": return r.createdDateTime >= d
                case "le": return r.createdDateTime <= d
                case "gt": return r.createdDateTime > d
                default: return r.createdDateTime < d
                }
            }
        }
    }
}
