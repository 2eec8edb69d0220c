public import DeputyCore
import Foundation
import Tracing

/// A token request as the engine sees it: no HTTP framework types.
public struct TokenRequest: Sendable {
    /// The tenant path segment as the client sent it (GUID or domain).
    public var tenantSegment: String
    public var form: FormParameters
    /// The `Authorization` header (for client_secret_basic).
    public var authorizationHeader: String?
    /// The `Origin` header (cross-origin redemption by SPAs).
    public var origin: String?
    public var correlationID: String
    public var ipAddress: String?
    /// The client's operating system as Conditional Access names platforms (from MSAL's
    /// `x-client-OS` header or the User-Agent), when known.
    public var devicePlatform: String?

    public init(
        tenantSegment: String, form: FormParameters, authorizationHeader: String? = nil, origin: String? = nil,
        correlationID: String, ipAddress: String? = nil, devicePlatform: String? = nil
    ) {
        self.devicePlatform = devicePlatform
        self.tenantSegment = tenantSegment
        self.form = form
        self.authorizationHeader = authorizationHeader
        self.origin = origin
        self.correlationID = correlationID
        self.ipAddress = ipAddress
    }
}

/// What a grant handler is given besides the request.
struct GrantContext: Sendable {
    let authority: Authority
    let tenant: DirectoryIndex
    let client: AuthenticatedClient
    let draft: SignInDraft
    let configuration: AuthorityConfiguration
    var devicePlatform: String?
    var now: Date { authority.time.now() }

    /// Conditional Access for this request (DESIGN.md step 6): evaluates, writes every policy's
    /// result to the sign-in record, and throws the tenant's claims-challenge error unless granted.
    func conditionalAccess(_ c: SignInContext) throws(OAuthError) -> ConditionalAccessOutcome {
        var c = c
        c.devicePlatform = c.devicePlatform ?? devicePlatform
        if let place = c.user?.signInIPAddress {
            c.ipAddress = place
            draft.record.ipAddress = place
        }
        // No grant issues for a sign-in that a critical event overtook (continuous access
        // evaluation): every user's token passes here, whatever the grant.
        if let user = c.user, let authentication = c.authentication {
            try ContinuousAccess.requireCurrentSignIn(user: user, authentication: authentication, claims: ClaimsRequest())
        }
        let outcome = withSpan("conditional access") { span in
            let outcome = authority.evaluator.evaluate(c)
            span.attributes["deputy.ca.status"] = outcome.status
            return outcome
        }
        draft.conditionalAccess(outcome)
        if let error = outcome.error(resource: c.resource, style: tenant.tenant.claimsChallengeStyle) { throw error }
        return outcome
    }

    /// The authentication contexts a new token may carry: those satisfied by this evaluation, and
    /// those carried from the earlier token (a refresh token's sign-in, an OBO assertion's or a
    /// subject token's `acrs`) that still hold now. A carried context is evaluated again with the
    /// original authentication time and kept only when every policy for it is still met, so a
    /// lapsed sign-in frequency on `c1` drops `c1` instead of re-issuing it (Microsoft Learn,
    /// "Conditional Access authentication context": the claim asserts the policies were satisfied).
    func authenticationContexts(carried: [String], outcome: ConditionalAccessOutcome, in c: SignInContext) -> [String] {
        var out = outcome.satisfiedContexts
        let unchecked = carried.filter { !c.requestedAuthenticationContexts.contains($0) && !out.contains($0) }
        guard !unchecked.isEmpty else { return out }
        var probe = c
        probe.requestedAuthenticationContexts = unchecked
        probe.requiredPolicyIDs = []
        probe.devicePlatform = probe.devicePlatform ?? devicePlatform
        out += authority.evaluator.evaluate(probe).satisfiedContexts
        return out
    }
}

/// One handler per `grant_type` (RFC 6749 §4, RFC 8628, Entra's extensions), in two phases as
/// ory/fosite's handlers are:
///
/// 1. ``validate(_:context:)`` makes the checks: the request's shape, the grant's binding to this
///    client, the presented tokens (through ``AssertionValidator``), the user, the scopes and the
///    tenant's consent. It produces a typed, authorised request (`Validated`) and changes no grant
///    state: no code, refresh token or device code is spent and no token is minted. (Password
///    checks count failures for smart lockout: that is authentication, not grant state.)
/// 2. ``issue(_:context:)`` spends the grant where it is single use and mints, through
///    ``TokenIssuer`` for user tokens, so every grant passes the same Conditional Access, token
///    profile and sign-in-log steps.
///
/// Adding a grant is one handler file and one line in ``Authority``'s registry.
protocol GrantHandler: Sendable {
    /// The authorised request `validate` produces and `issue` consumes.
    associatedtype Validated: Sendable
    /// The `grant_type` value this handler serves.
    var grantType: String { get }
    /// Parameters that may appear more than once (RFC 8707 `resource`, RFC 8693 `audience`).
    var repeatableParameters: Set<String> { get }
    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated
    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse
}

extension GrantHandler {
    var repeatableParameters: Set<String> { [] }

    /// Both phases, in order.
    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        try await issue(try await validate(request, context: context), context: context)
    }
}

extension TokenRequest {
    /// The `claims` request parameter (OpenID Connect Core §5.5; Microsoft Learn, "Claims challenges,
    /// claims requests and client capabilities"), empty when absent.
    func claimsRequest() throws(OAuthError) -> ClaimsRequest { try ClaimsRequest.parse(form["claims"]) }

    /// MSAL asks for `client_info` with `client_info=1`.
    var wantsClientInfo: Bool { form["client_info"] == "1" }
}

extension ClaimsRequest {
    /// A stored or sent `claims` value, parsed; empty when absent.
    static func parse(_ text: String?) throws(OAuthError) -> ClaimsRequest {
        guard let text else { return ClaimsRequest() }
        return try ClaimsRequest(parsing: text)
    }
}

extension GrantContext {
    /// A code, refresh token or device code is bound to the tenant and the client it was issued to
    /// (RFC 6749 §4.1.3, §6; AADSTS70000 otherwise).
    func requireBound(tenantID: String, clientID: String, _ kind: String) throws(OAuthError) {
        guard tenantID == tenant.tenantID, clientID.lowercased() == client.application.appId.lowercased() else {
            throw .grantBoundToOtherClient(kind)
        }
    }

    /// The `scope` of a user grant, resolved, with the RFC 8707 `resource` indicators of the
    /// request agreeing (AADSTS9010010 otherwise).
    func resolveUserScopes(_ scopes: [String], request: TokenRequest) throws(OAuthError) -> ResolvedScopes {
        var resolved = try ResolvedScopes.resolve(scopes, tenant: tenant, tenantName: request.tenantSegment)
        resolved.audience = try checkResourceIndicators(request.form, resolved: resolved, tenant: tenant)
        return resolved
    }

    /// The resource of a grant that mints for one: a request naming none would be for Microsoft
    /// Graph, which this authority does not host (AADSTS500011, as Entra answers for an unknown resource).
    func requireResource(_ resolved: ResolvedScopes, request: TokenRequest) throws(OAuthError) -> Application {
        guard let resource = resolved.resource else {
            throw .resourceNotFound(RequestedScope.microsoftGraph, tenant: request.tenantSegment)
        }
        return resource
    }
}

/// Exact lookup of the one handler for a grant type. Registering a grant twice is a programming error.
struct GrantHandlerRegistry: Sendable {
    private var handlers: [String: any GrantHandler] = [:]

    init(_ handlers: [any GrantHandler]) {
        for h in handlers {
            precondition(self.handlers[h.grantType] == nil, "grant type \(h.grantType) registered twice")
            self.handlers[h.grantType] = h
        }
    }

    func handler(for grantType: String) -> (any GrantHandler)? { handlers[grantType] }
    var grantTypes: [String] { handlers.keys.sorted() }
}

/// RFC 8707: a `resource` parameter is accepted when it names the same resource as the scope
/// (Entra refuses it otherwise with AADSTS9010010). Documented extension for MCP clients.
/// - Returns: in a tenant in MCP spec mode, the first indicator: the token's audience (RFC 8707
///   §2, "audience-restrict"; the MCP authorization specification's "Token Audience Binding").
///   In Entra mode `nil`: the audience is the resource's application, as Entra issues it.
@discardableResult
func checkResourceIndicators(_ form: FormParameters, resolved: ResolvedScopes, tenant: DirectoryIndex) throws(OAuthError) -> String? {
    let indicators = form.values("resource").filter { !$0.isEmpty }
    for value in indicators {
        guard let app = tenant.resource(named: value) ?? resourceByURL(value, tenant: tenant),
            app.appId == resolved.resource?.appId
        else {
            throw .resourceMismatch(
                resource: value, scopeResource: resolved.resourceIdentifier ?? resolved.resource?.appId, mcpSpec: tenant.isMCPSpec)
        }
        // RFC 8707 §2: an absolute URI without a fragment.
        guard !value.contains("#") else { throw .invalidParameter("resource", "RFC 8707 §2: a resource indicator has no fragment.") }
    }
    return tenant.isMCPSpec ? indicators.first : nil
}

/// An MCP server's RFC 8707 resource is its URL; it matches an app whose identifier URI it equals.
private func resourceByURL(_ url: String, tenant: DirectoryIndex) -> Application? {
    tenant.directory.applications.first { app in
        (app.identifierUris ?? []).contains { DirectoryIndex.normalize($0) == DirectoryIndex.normalize(url) }
    }
}
