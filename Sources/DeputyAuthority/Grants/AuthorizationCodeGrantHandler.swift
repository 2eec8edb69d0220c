import Crypto
import DeputyCore
import Foundation

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and Entra's platform rules: a code is single use,
/// bound to its client and redirect URI; a code issued to a SPA redirect URI is redeemed only
/// cross-origin (AADSTS9002327); reuse revokes the refresh tokens the code produced.
struct AuthorizationCodeGrantHandler: GrantHandler {
    let grantType = "authorization_code"
    let repeatableParameters: Set<String> = ["resource"]

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        let form = request.form
        let code = try form.require("code")
        let redirectURI = try form.require("redirect_uri")
        let hash = TokenIssuer.hash(code)
        // The bindings that need no secret are checked before the code is spent, so whoever
        // merely saw a code (history, Referer) cannot burn it by presenting it as another client.
        if let peek = try await context.authority.store.code(hash: hash), peek.consumedAt == nil {
            guard peek.tenantID == context.tenant.tenantID, peek.clientID.lowercased() == context.client.application.appId.lowercased()
            else {
                throw OAuthError.grantBoundToOtherClient("authorization code")
            }
            guard peek.redirectURI == redirectURI else { throw OAuthError.redirectURIMismatchAtRedemption() }
        }
        let record: AuthorizationCodeRecord
        do {
            record = try await context.authority.store.consumeCode(hash: hash, at: context.now)
        } catch StorageError.alreadyConsumed {
            // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
            // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
            // issued based on that authorization code."
            if let used = try await context.authority.store.code(hash: hash) {
                try await context.authority.store.revokeFamily(used.familyID)
            }
            throw OAuthError.codeAlreadyRedeemed()
        } catch StorageError.notFound {
            throw OAuthError.invalidGrantValue("code")
        }
        guard record.tenantID == context.tenant.tenantID, record.clientID.lowercased() == context.client.application.appId.lowercased()
        else {
            throw OAuthError.grantBoundToOtherClient("authorization code")
        }
        guard record.expiresAt > context.now else { throw OAuthError.grantExpired() }
        guard record.redirectURI == redirectURI else { throw OAuthError.redirectURIMismatchAtRedemption() }
        try PlatformRules.check(platform: record.platform, origin: request.origin, client: context.client, grantType: grantType)
        if let challenge = record.codeChallenge {
            let verifier = try form.require("code_verifier")
            guard PKCE.isWellFormed(verifier) else {
                throw OAuthError.invalidCodeChallenge(
                    "The code_verifier must be 43 to 128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636 §4.1).")
            }
            guard PKCE.verify(verifier: verifier, challenge: challenge, method: record.codeChallengeMethod ?? "plain") else {
                throw OAuthError.pkceMismatch()
            }
        } else if form["code_verifier"] != nil {
            // RFC 9700 §2.1.1: a code_verifier is accepted only when the authorization request
            // carried a code_challenge (otherwise PKCE could be stripped by code injection).
            throw OAuthError.pkceMismatch()
        }
        guard let user = context.tenant.user(id: record.authentication.userID), user.isEnabled else { throw OAuthError.userDisabled() }
        context.draft.user(user)
        let resolved = try ResolvedScopes.resolve(record.scopes, tenant: context.tenant, tenantName: request.tenantSegment)
        try checkResourceIndicators(form, resolved: resolved, tenant: context.tenant)
        let granted = try Consent.grantedScopes(
            client: context.client.application, resolved: resolved, userID: user.id,
            tenant: context.tenant, draft: context.draft)
        let claims = try record.claims.map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
        return try await TokenIssuer(context: context).issueForUser(
            .init(
                user: user, authentication: record.authentication, resolved: resolved, grantedScopes: granted, nonce: record.nonce,
                platform: record.platform, familyID: record.familyID, familyStartedAt: context.now, claims: claims,
                isInteractive: false, clientInfo: form["client_info"] == "1"))
    }
}

/// Entra's rules for where a code or refresh token may be redeemed.
enum PlatformRules {
    static func check(platform: ClientPlatform, origin: String?, client: AuthenticatedClient, grantType: String) throws(OAuthError) {
        switch platform {
        case .spa:
            guard origin != nil else { throw .spaRequiresCrossOrigin() }
        case .web:
            if origin != nil { throw .crossOriginOnlyForSPA() }
            guard client.isConfidential else { throw .missingClientCredential() }
        case .publicClient:
            if origin != nil { throw .crossOriginOnlyForSPA() }
        }
    }
}

/// RFC 7636 code verifier checks.
enum PKCE {
    /// RFC 7636 §4.1: 43–128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
    static func isWellFormed(_ s: String) -> Bool {
        (43...128).contains(s.count)
            && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-._~".unicodeScalars.contains($0) }
    }

    /// RFC 7636 §4.6: S256 compares BASE64URL(SHA256(verifier)); plain compares equal.
    static func verify(verifier: String, challenge: String, method: String) -> Bool {
        switch method {
        case "S256": constantTimeEqual(Base64URL.encode(SHA256.hash(data: Data(verifier.utf8))), challenge)
        case "plain": constantTimeEqual(verifier, challenge)
        default: false
        }
    }
}
