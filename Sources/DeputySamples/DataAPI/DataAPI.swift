import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The Data API, in the role Azure SQL plays in the classic OBO sample ("Contoso SQL",
/// App ID URI `https://database.windows.net/`): expenses over REST for delegated tokens minted
/// for it — `GET /expenses`, `GET /expenses/{id}` (Data.Read), `POST /expenses`,
/// `POST /expenses/{id}/approve` (Data.Write). A user sees their own expenses and, as a manager,
/// their reports'; only the owner's manager approves; `DELETE /expenses/{id}` (Data.Write) lets an
/// owner withdraw what is not approved. Expenses filed by an agent user (Microsoft Entra Agent ID,
/// `xms_sub_fct` 13) are drafts: not submitted for approval, and left out of the monthly report. App-only tokens are refused on these
/// routes, which act for a user; `GET /reports/monthly` is the one app-only route, for callers
/// holding the `Expenses.Read.All` application role (the nightly reports job, the agent acting on
/// its own).
public struct DataAPI: Sendable {
    public let store: ExpenseStore
    let validator: ResourceValidator
    /// Validates app-only tokens for `GET /reports/monthly`; without it the route is not served.
    let reportValidator: ResourceValidator?
    /// Each user's manager (the approver of their expenses).
    let managers: [String: String]
    let resourceMetadata: String?
    let time: any TimeSource

    public static let readScopes: Set<String> = ["Data.Read", "Data.Write"]
    public static let writeScopes: Set<String> = ["Data.Write"]

    public init(
        validator: ResourceValidator, reportValidator: ResourceValidator? = nil, store: ExpenseStore, managers: [String: String],
        resourceMetadata: String? = nil, time: any TimeSource = SystemTimeSource()
    ) {
        self.validator = validator
        self.reportValidator = reportValidator
        self.store = store
        self.managers = managers
        self.resourceMetadata = resourceMetadata
        self.time = time
    }

    /// The validator configuration for the Data API of a tenant: its appId and App ID URI
    /// (with and without the trailing slash, as Entra's `aud` may carry either), delegated tokens only.
    public static func configuration(authority: String, appID: String, appIDURI: String) -> ResourceConfiguration {
        var uris: Set<String> = [appID, appIDURI]
        uris.insert(appIDURI.hasSuffix("/") ? String(appIDURI.dropLast()) : appIDURI + "/")
        var c = ResourceConfiguration(authority: authority, audiences: uris)
        c.acceptedKinds = [.delegated]
        c.requiredScopes = readScopes
        return c
    }

    /// The application role the monthly report needs.
    public static let reportRole = "Expenses.Read.All"

    /// The validator configuration of `GET /reports/monthly`: app-only tokens with ``reportRole``.
    public static func reportConfiguration(authority: String, appID: String, appIDURI: String) -> ResourceConfiguration {
        var c = configuration(authority: authority, appID: appID, appIDURI: appIDURI)
        c.acceptedKinds = [.appOnly]
        c.requiredScopes = []
        c.requiredRoles = [reportRole]
        return c
    }

    /// The demo rows: alice's expenses (approved by her manager, bob) and bob's own.
    public static func demoExpenses(now: Date) -> [Expense] {
        let alice = DemoTenant.user("alice")
        let bob = DemoTenant.user("bob")
        func row(_ owner: DemoTenant.DemoUser, approver: String?, cents: Int, _ text: String, daysAgo: Double) -> Expense {
            Expense(
                id: nil, ownerOid: owner.id, ownerName: owner.displayName, approverOid: approver, amountCents: cents, currency: "EUR",
                description: text, status: "submitted", createdAt: now - daysAgo * 86_400, approvedAt: nil)
        }
        return [
            row(alice, approver: bob.id, cents: 4_250, "Train to the customer workshop", daysAgo: 6),
            row(alice, approver: bob.id, cents: 12_900, "Hotel, one night", daysAgo: 5),
            row(alice, approver: bob.id, cents: 1_875, "Team lunch", daysAgo: 1),
            row(bob, approver: nil, cents: 31_000, "Conference ticket", daysAgo: 10),
        ]
    }

    /// The routes, behind the bearer-token middleware.
    public func addRoutes(to router: Router<BearerRequestContext>) {
        let api = router.group("expenses").add(middleware: BearerTokenMiddleware(validator: validator, resourceMetadata: resourceMetadata))
        api.get { _, context -> Response in
            let p = try context.principal(requiring: Self.readScopes, resourceMetadata: resourceMetadata)
            return try jsonResponse(.array(try store.visible(to: p.objectID ?? "").map(Self.representation)))
        }
        api.get(":id") { _, context -> Response in
            let p = try context.principal(requiring: Self.readScopes, resourceMetadata: resourceMetadata)
            guard let id = context.parameters.get("id", as: Int64.self), let row = try store.expense(id, visibleTo: p.objectID ?? "") else {
                return problemResponse(.notFound, "not_found", "No such expense.")
            }
            return try jsonResponse(Self.representation(row))
        }
        api.post { request, context -> Response in
            let p = try context.principal(requiring: Self.writeScopes, resourceMetadata: resourceMetadata)
            var r = request
            let body = try await r.collectBody(upTo: 64 * 1024)
            guard case .object(let o)? = try? JSONParser.parse(Data(String(buffer: body).utf8)),
                let amount = o["amount"]?.numberValue, amount > 0, amount < 1_000_000,
                let text = o["description"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty, text.count <= 500
            else {
                return problemResponse(
                    .badRequest, "invalid_request", "Send {\"amount\": a positive number, \"description\": \"…\", \"currency\": \"EUR\"}.")
            }
            let oid = p.objectID ?? ""
            // An agent's own user account files drafts, not submissions (Agent ID, xms_sub_fct 13).
            let status = p.agent?.subjectIsAgentUser == true ? "draft" : "submitted"
            let row = try store.add(
                Expense(
                    id: nil, ownerOid: oid, ownerName: p.name ?? p.username ?? oid, approverOid: managers[oid],
                    amountCents: Int((amount * 100).rounded()),
                    currency: (o["currency"]?.stringValue ?? "EUR").uppercased(), description: text, status: status, createdAt: time.now(),
                    approvedAt: nil))
            return try jsonResponse(Self.representation(row), status: .created)
        }
        api.post(":id/approve") { _, context -> Response in
            let p = try context.principal(requiring: Self.writeScopes, resourceMetadata: resourceMetadata)
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return problemResponse(.notFound, "not_found", "No such expense.")
            }
            do {
                return try jsonResponse(Self.representation(try store.approve(id, by: p.objectID ?? "", at: time.now())))
            } catch ExpenseStore.ApprovalError.notFound {
                return problemResponse(.notFound, "not_found", "No such expense.")
            } catch ExpenseStore.ApprovalError.notTheApprover {
                return problemResponse(.forbidden, "forbidden", "Only the owner's manager may approve this expense.")
            } catch ExpenseStore.ApprovalError.alreadyApproved {
                return problemResponse(.conflict, "already_approved", "This expense is already approved.")
            }
        }
        api.delete(":id") { _, context -> Response in
            let p = try context.principal(requiring: Self.writeScopes, resourceMetadata: resourceMetadata)
            guard let id = context.parameters.get("id", as: Int64.self) else {
                return problemResponse(.notFound, "not_found", "No such expense.")
            }
            do {
                return try jsonResponse(Self.representation(try store.delete(id, by: p.objectID ?? "")))
            } catch ExpenseStore.DeletionError.notFound {
                return problemResponse(.notFound, "not_found", "No such expense.")
            } catch ExpenseStore.DeletionError.notTheOwner {
                return problemResponse(.forbidden, "forbidden", "Only the owner may delete this expense.")
            } catch ExpenseStore.DeletionError.alreadyApproved {
                return problemResponse(.conflict, "already_approved", "An approved expense cannot be deleted.")
            }
        }
        if let reportValidator {
            router.group("reports").add(middleware: BearerTokenMiddleware(validator: reportValidator, resourceMetadata: resourceMetadata))
                .get("monthly") { _, context -> Response in
                    // The middleware admitted an app-only token with the role (reportConfiguration).
                    guard context.principal?.kind == .application else { throw HTTPError(.unauthorized) }
                    let rows = try store.monthlyTotals().map { t -> JSONValue in
                        .object([
                            "month": .string(t.month), "ownerName": .string(t.ownerName), "currency": .string(t.currency),
                            "count": .number(Double(t.count)),
                            "amount": .string(String(format: "%d.%02d", t.amountCents / 100, t.amountCents % 100)),
                        ])
                    }
                    return try jsonResponse(.object(["months": .array(rows)]))
                }
        }
    }

    static func representation(_ e: Expense) -> JSONValue {
        let f = ISO8601DateFormatter()
        var o: [String: JSONValue] = [
            "id": .number(Double(e.id ?? 0)), "ownerOid": .string(e.ownerOid), "ownerName": .string(e.ownerName),
            "amount": .string(String(format: "%d.%02d", e.amountCents / 100, e.amountCents % 100)), "currency": .string(e.currency),
            "description": .string(e.description), "status": .string(e.status), "createdAt": .string(f.string(from: e.createdAt)),
        ]
        o["approverOid"] = e.approverOid.map(JSONValue.string) ?? .null
        o["approvedAt"] = e.approvedAt.map { .string(f.string(from: $0)) } ?? .null
        return .object(o)
    }
}

func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) throws -> Response {
    Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(bytes: value.serialized)))
}

func problemResponse(_ status: HTTPResponse.Status, _ error: String, _ description: String) -> Response {
    let body: JSONValue = .object(["error": .string(error), "error_description": .string(description)])
    return Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(bytes: body.serialized)))
}
