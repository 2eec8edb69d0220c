import Crypto
import DeputyCore
import DeputyTokenValidation
import Foundation

/// OAuth 2.0 Token Exchange (RFC 8693), the standards form of on-behalf-of for ecosystems that
/// are not Entra. The same rules as OBO: the caller authenticates as itself, the subject token
/// must be a user token issued to the caller (never passed through), and the tenant's delegated
/// grants decide the scopes. The issued token is an RFC 9068 JWT access token with `act`.
/// Errors use RFC 6749's body (RFC 8693 §2.2.2).
struct TokenExchangeGrantHandler: GrantHandler {
    let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    /// RFC 8693 §2.1: `resource` and `audience` may appear more than once.
    let repeatableParameters: Set<String> = ["resource", "audience"]

    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    static let jwtType = "urn:ietf:params:oauth:token-type:jwt"

    struct Validated: Sendable {
        var user: User
        var subject: ValidatedToken
        var act: [String: JSONValue]
        var target: Application
        var resolved: ResolvedScopes
        var granted: [String]
        var authentication: Authentication
        var claims: ClaimsRequest
        var ipAddress: String?
    }

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        try await rfc6749Errors { try await check(request, context: context) }
    }

    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse {
        try await rfc6749Errors { try await exchange(validated, context: context) }
    }

    /// Failures inside the exchange (including consent and Conditional Access) answer in RFC 6749's
    /// body (RFC 8693 §2.2.2); client authentication and request-shape errors, checked before this
    /// handler runs, keep Entra's body (a superset of RFC 6749's). `claims` and `suberror` stay, so
    /// a Conditional Access step-up can be relayed as through OBO.
    private func rfc6749Errors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch var e as OAuthError {
            e.rfc6749Only = true
            throw e
        }
    }

    private func check(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        let form = request.form
        let caller = context.client
        guard caller.isConfidential else { throw OAuthError.missingClientCredential() }
        let subjectToken = try form.require("subject_token")
        let subjectType = try form.require("subject_token_type")
        guard [Self.accessTokenType, Self.jwtType].contains(subjectType) else {
            throw OAuthError.tokenExchange(
                .invalidRequest, "Unsupported subject_token_type '\(subjectType)'; expected \(Self.accessTokenType) or \(Self.jwtType).")
        }
        if let requested = form["requested_token_type"], ![Self.accessTokenType, Self.jwtType].contains(requested) {
            throw OAuthError.tokenExchange(.invalidRequest, "Unsupported requested_token_type '\(requested)'.")
        }
        // The subject token: the same checks as an OBO assertion (issuer, signature, lifetime,
        // audience = the caller, a user token).
        let validator = AssertionValidator(context)
        let subject: ValidatedToken
        do {
            subject = try await validator.userAssertion(subjectToken, caller: caller.application)
        } catch let e as OAuthError {
            throw OAuthError.tokenExchange(.invalidGrant, "The subject_token is not valid here: \(e.message)")
        }
        guard let oid = subject.objectID, let user = context.tenant.user(id: oid), user.isEnabled else {
            throw OAuthError.tokenExchange(.invalidGrant, "The subject_token's user does not exist or is disabled.")
        }
        context.draft.user(user)
        // The actor: the actor_token's subject when given, else the calling client.
        var actor: [String: JSONValue] = ["sub": .string(caller.application.appId), "client_id": .string(caller.application.appId)]
        if let actorToken = form["actor_token"] {
            guard form["actor_token_type"] != nil else {
                throw OAuthError.tokenExchange(.invalidRequest, "actor_token_type is required with actor_token.")
            }
            let validated = try await validator.actorToken(actorToken, caller: caller.application, subject: subject)
            actor = ["sub": .string(validated.subject ?? ""), "client_id": .string(validated.clientID ?? caller.application.appId)]
        }
        // RFC 8693 §4.4: may_act names who may act for the subject.
        var actorSubs = [actor["sub"]?.stringValue].compactMap { $0 }
        if form["actor_token"] == nil, let sp = context.tenant.servicePrincipal(appID: caller.application.appId) { actorSubs.append(sp.id) }
        if case .object(let mayAct)? = subject.claims["may_act"],
            !AssertionValidator.mayAct(mayAct, names: actorSubs, clientID: actor["client_id"]?.stringValue)
        {
            throw OAuthError.tokenExchange(
                .invalidGrant, "The subject_token's may_act does not allow '\(actor["sub"]?.stringValue ?? "")' to act for its subject.")
        }
        // The target: audience/resource parameters and scope must name one resource.
        var names = form.values("audience") + form.values("resource")
        names = names.filter { !$0.isEmpty }
        var resources = Set<String>()
        for name in names {
            guard let app = context.tenant.resource(named: name) else {
                throw OAuthError.tokenExchange(.invalidTarget, "The audience or resource '\(name)' is not known to this authority.")
            }
            resources.insert(app.appId)
        }
        var resolved: ResolvedScopes
        do {
            resolved = try ResolvedScopes.resolve(Scopes.parse(form["scope"]), tenant: context.tenant, tenantName: request.tenantSegment)
        } catch {
            throw OAuthError.tokenExchange(error.error == .invalidResource ? .invalidTarget : .invalidScope, error.message)
        }
        if let scoped = resolved.resource { resources.insert(scoped.appId) }
        guard resources.count == 1, let target = context.tenant.application(appID: resources.first!) else {
            throw OAuthError.tokenExchange(
                .invalidTarget,
                resources.isEmpty
                    ? "Name the target with audience, resource or a resource-qualified scope."
                    : "The request names more than one target; a token is issued for one audience.")
        }
        if resolved.resource == nil {
            resolved = ResolvedScopes(
                resource: target, resourceIdentifier: names.first, isDefault: true, values: [], openID: resolved.openID)
        }
        context.draft.resource(target)
        let granted = try Consent.grantedScopes(
            client: caller.application, resolved: resolved, userID: user.id, tenant: context.tenant, draft: context.draft)
        var act = actor
        if let previous = subject.claims["act"] { act["act"] = previous }
        return Validated(
            user: user, subject: subject, act: act, target: target, resolved: resolved, granted: granted,
            authentication: AssertionValidator.authentication(of: subject, userID: user.id), claims: try request.claimsRequest(),
            ipAddress: request.ipAddress)
    }

    private func exchange(_ v: Validated, context: GrantContext) async throws -> TokenResponse {
        // A subject token from before a critical event, or older than a challenge's `nbf`, is
        // refused as an OBO assertion is (continuous access evaluation).
        try ContinuousAccess.requireCurrentSignIn(user: v.user, authentication: v.authentication, claims: v.claims)
        context.draft.record.authenticationMethodsUsed = v.authentication.methods
        context.draft.record.signInEventTypes = ["nonInteractiveUser"]
        // Conditional Access as for OBO: the user is the subject, with the original sign-in's
        // time, methods and location (carried in the subject token), never the caller's address.
        var ca = SignInContext(
            tenant: context.tenant, user: v.user, client: context.client.application, resource: v.target, isInteractive: false,
            authentication: v.authentication,
            requestedAuthenticationContexts: v.claims.requestedAuthenticationContexts,
            ipAddress: v.authentication.ipAddress ?? v.ipAddress, authenticationProtocol: grantType)
        ca.requiredPolicyIDs = v.claims.policyIDs
        let outcome = try context.conditionalAccess(ca)
        let keys = try await context.authority.currentKeys()
        let minted = try TokenMinter(configuration: context.configuration).jwtProfileAccessToken(
            .init(
                tenant: context.tenant, user: v.user, subject: v.subject.subject ?? v.user.id, client: context.client.application,
                audience: v.target, scopes: v.granted,
                roles: context.tenant.appRoles(principalID: v.user.id, resource: v.target, includeGroups: true),
                acrs: context.authenticationContexts(carried: v.authentication.acrs, outcome: outcome, in: ca), act: v.act,
                authentication: v.authentication, ipAddress: v.authentication.ipAddress ?? v.ipAddress),
            key: keys.current, now: context.now)
        context.draft.record.uniqueTokenIdentifier = minted.uti
        context.draft.record.scopes = v.granted
        var response = TokenResponse(scope: Scopes.format(v.granted), expiresIn: minted.expiresIn, accessToken: minted.token)
        response.issuedTokenType = Self.accessTokenType
        return response
    }
}
