import Crypto
import DeputyCore
import Foundation

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and Entra's platform rules: a code is single use,
/// bound to its client and redirect URI; a code issued to a SPA redirect URI is redeemed only
/// cross-origin (AADSTS9002327); reuse revokes the refresh tokens the code produced.
struct AuthorizationCodeGrantHandler: GrantHandler {
    let grantType = "authorization_code"
    let repeatableParameters: Set<String> = ["resource"]

    struct Validated: Sendable {
        var codeHash: String
        /// Nil when the code was already spent: `issue` then answers as RFC 6749 §4.1.2 asks.
        var redemption: TokenIssuer.UserIssuance?
    }

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        let form = request.form
        let code = try form.require("code")
        let redirectURI = try form.require("redirect_uri")
        let hash = TokenIssuer.hash(code)
        guard let record = try await context.authority.store.code(hash: hash) else { throw OAuthError.invalidGrantValue("code") }
        // A spent code is answered by `issue` (reuse revokes what it produced), whoever presents it.
        guard record.consumedAt == nil else { return Validated(codeHash: hash, redemption: nil) }
        // The bindings are checked before the code is spent, so whoever merely saw a code (history,
        // Referer) cannot burn it by presenting it as another client or with the wrong verifier.
        try context.requireBound(tenantID: record.tenantID, clientID: record.clientID, "authorization code")
        guard record.redirectURI == redirectURI else { throw OAuthError.redirectURIMismatchAtRedemption() }
        guard record.expiresAt > context.now else { throw OAuthError.grantExpired() }
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
        // A deleted user is not a disabled one (Entra: AADSTS50034, the account does not exist).
        guard let user = context.tenant.user(id: record.authentication.userID) else {
            throw OAuthError.userNotFound(record.authentication.userID, tenant: context.tenant.tenant.displayName)
        }
        guard user.isEnabled else { throw OAuthError.userDisabled() }
        context.draft.user(user)
        let resolved = try context.resolveUserScopes(record.scopes, request: request)
        let granted = try Consent.grantedScopes(
            client: context.client.application, resolved: resolved, userID: user.id,
            tenant: context.tenant, draft: context.draft)
        return Validated(
            codeHash: hash,
            redemption: .init(
                user: user, authentication: record.authentication, resolved: resolved, grantedScopes: granted, nonce: record.nonce,
                platform: record.platform, familyID: record.familyID, familyStartedAt: context.now,
                claims: try ClaimsRequest.parse(record.claims), isInteractive: false, clientInfo: request.wantsClientInfo))
    }

    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse {
        let store = context.authority.store
        do {
            // Spent once, atomically: of two redemptions racing, one gets here second and fails.
            _ = try await store.consumeCode(hash: validated.codeHash, at: context.now)
        } catch StorageError.alreadyConsumed {
            // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
            // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
            // issued based on that authorization code."
            if let used = try await store.code(hash: validated.codeHash) { try await store.revokeFamily(used.familyID) }
            throw OAuthError.codeAlreadyRedeemed()
        } catch StorageError.notFound {
            throw OAuthError.invalidGrantValue("code")
        }
        guard let redemption = validated.redemption else { throw OAuthError.codeAlreadyRedeemed() }
        return try await TokenIssuer(context: context).issueForUser(redemption)
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
