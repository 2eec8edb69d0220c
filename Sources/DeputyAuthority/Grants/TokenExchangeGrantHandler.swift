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

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        do {
            return try await exchange(request, context: context)
        } catch var e as OAuthError {
            // Failures inside the exchange (including consent) answer in RFC 6749's body; client
            // authentication and request-shape errors, checked before this handler runs, keep Entra's
            // body (a superset of RFC 6749's).
            e.rfc6749Only = true
            throw e
        }
    }

    func exchange(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
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
        let subject: ValidatedToken
        do {
            subject = try await OnBehalfOfGrantHandler.validateAssertion(subjectToken, caller: caller.application, context: context)
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
            let policy = ValidationPolicy(
                issuers: [
                    context.configuration.issuerV2(tenantID: context.tenant.tenantID),
                    context.configuration.issuerV1(tenantID: context.tenant.tenantID),
                ],
                // An actor token may be for any application of the tenant (it identifies the actor).
                audiences: Set(context.tenant.directory.applications.flatMap(context.tenant.audiences(of:))))
            let validator = try await context.authority.currentKeys().validator
            let validated: ValidatedToken
            do { validated = try await validator.validate(actorToken, policy: policy) } catch {
                throw OAuthError.tokenExchange(.invalidGrant, "The actor_token is not valid here: \(error.description)")
            }
            // The actor token must be the caller's own (RFC 8693 §1.1: the actor is the party
            // acting; a client presenting another client's token would act under its name) —
            // unless the subject token's `may_act` names the caller as allowed to act.
            let caller = caller.application.appId
            let mayActClient = subject.claims["may_act"]?.objectValue.flatMap { $0["client_id"]?.stringValue ?? $0["sub"]?.stringValue }
            guard validated.clientID?.lowercased() == caller.lowercased() || mayActClient?.lowercased() == caller.lowercased() else {
                throw OAuthError.tokenExchange(
                    .invalidGrant,
                    "The actor_token was issued to '\(validated.clientID ?? "(no client)")', not to the calling client '\(caller)'.")
            }
            actor = ["sub": .string(validated.subject ?? ""), "client_id": .string(validated.clientID ?? caller)]
        }
        // RFC 8693 §4.4: may_act names who may act for the subject.
        if case .object(let mayAct)? = subject.claims["may_act"], let allowed = mayAct["sub"]?.stringValue,
            allowed != actor["sub"]?.stringValue
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
        let scopeTokens = Scopes.parse(form["scope"])
        var resolved: ResolvedScopes
        do {
            resolved = try ResolvedScopes.resolve(scopeTokens, tenant: context.tenant, tenantName: request.tenantSegment)
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
        let authentication = OnBehalfOfGrantHandler.authentication(of: subject, userID: user.id)
        context.draft.record.authenticationMethodsUsed = authentication.methods
        context.draft.record.signInEventTypes = ["nonInteractiveUser"]
        let claimsRequest = try form["claims"].map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        // Conditional Access as for OBO: the user is the subject, with the original sign-in's
        // time, methods and location (carried in the subject token), never the caller's address.
        var ca = SignInContext(
            tenant: context.tenant, user: user, client: caller.application, resource: target, isInteractive: false,
            authentication: authentication,
            requestedAuthenticationContexts: claimsRequest.requestedAuthenticationContexts,
            ipAddress: authentication.ipAddress ?? request.ipAddress, authenticationProtocol: grantType)
        ca.requiredPolicyIDs = claimsRequest.policyIDs
        let outcome = try context.conditionalAccess(ca)
        let acrs = context.authenticationContexts(carried: authentication.acrs, outcome: outcome, in: ca)

        // RFC 9068 §2.2 claims, plus tid and oid; act nests the subject token's own act (§4.1).
        let now = context.now
        let lifetime = Int.random(in: context.configuration.accessTokenLifetime)
        let iat = now.timeIntervalSince1970.rounded(.down)
        let jti = TokenMinter.randomID()
        var act = actor
        if let previous = subject.claims["act"] { act["act"] = previous }
        var claims: [String: JSONValue] = [
            "iss": .string(context.configuration.issuerV2(tenantID: context.tenant.tenantID)), "aud": .string(target.appId),
            "sub": .string(subject.subject ?? user.id), "client_id": .string(caller.application.appId), "iat": .number(iat),
            "nbf": .number(iat), "exp": .number(iat + Double(lifetime)), "jti": .string(jti), "scope": .string(Scopes.format(granted)),
            "tid": .string(context.tenant.tenantID), "oid": .string(user.id), "act": .object(act),
            // RFC 9068 §2.2.1's authentication facts, carried from the subject token so the next
            // exchange (or OBO) evaluates sign-in frequency and authentication contexts against
            // the user's real sign-in, not this exchange.
            "auth_time": .number(authentication.authTime.timeIntervalSince1970.rounded(.down)),
            "amr": .array(authentication.methods.map(JSONValue.string)),
            "aio": .string(
                TokenMinter.aio(authentication: authentication, issuedAt: now, ipAddress: authentication.ipAddress ?? request.ipAddress)),
        ]
        if !acrs.isEmpty { claims["acrs"] = .array(acrs.map(JSONValue.string)) }
        let roles = context.tenant.appRoles(principalID: user.id, resource: target, includeGroups: true)
        if !roles.isEmpty { claims["roles"] = .array(roles.map(JSONValue.string)) }
        let keys = try await context.authority.currentKeys()
        let token = try keys.current.sign(claims: claims, type: "at+jwt")
        context.draft.record.uniqueTokenIdentifier = jti
        context.draft.record.scopes = granted
        var response = TokenResponse(scope: Scopes.format(granted), expiresIn: lifetime, accessToken: token)
        response.issuedTokenType = Self.accessTokenType
        return response
    }
}
