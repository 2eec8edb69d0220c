import DeputyCore
import Foundation

/// RFC 8628 §3.4–3.5: the device polls until the user approved at the verification page.
struct DeviceCodeGrantHandler: GrantHandler {
    let grantType = "urn:ietf:params:oauth:grant-type:device_code"

    /// The device code, bound to this client. Whether the user has approved is known only when
    /// `issue` polls (the approval arrives between polls), so the user's checks follow the poll.
    struct Validated: Sendable {
        var codeHash: String
        var clientInfo: Bool
        var tenantSegment: String
    }

    func validate(_ request: TokenRequest, context: GrantContext) async throws -> Validated {
        let deviceCode = try request.form["device_code"] ?? request.form["code"] ?? request.form.require("device_code")
        let hash = TokenIssuer.hash(deviceCode)
        guard let record = try await context.authority.store.deviceCode(hash: hash) else {
            throw OAuthError.invalidGrantValue("device_code")
        }
        // Checked before polling, so another client cannot spend an approved authorization.
        try context.requireBound(tenantID: record.tenantID, clientID: record.clientID, "device code")
        return Validated(codeHash: hash, clientInfo: request.wantsClientInfo, tenantSegment: request.tenantSegment)
    }

    func issue(_ validated: Validated, context: GrantContext) async throws -> TokenResponse {
        let record: DeviceCodeRecord
        do {
            record = try await context.authority.store.pollDeviceCode(hash: validated.codeHash, at: context.now)
        } catch StorageError.notFound {
            throw OAuthError.invalidGrantValue("device_code")
        }
        guard record.expiresAt > context.now else { throw OAuthError.deviceCodeExpired() }
        switch record.state {
        case .pending:
            // RFC 8628 §3.5 slow_down: polling well inside the interval.
            if let last = record.lastPolledAt, context.now.timeIntervalSince(last) < Double(record.interval) / 2 {
                throw OAuthError.slowDown()
            }
            throw OAuthError.authorizationPending()
        case .declined:
            throw OAuthError.deviceAuthorizationDeclined()
        case .consumed:
            throw OAuthError.invalidGrantValue("device_code")
        case .approved(let authentication):
            // A deleted user is not a disabled one (Entra: AADSTS50034, the account does not exist).
            guard let user = context.tenant.user(id: authentication.userID) else {
                throw OAuthError.userNotFound(authentication.userID, tenant: context.tenant.tenant.displayName)
            }
            guard user.isEnabled else { throw OAuthError.userDisabled() }
            context.draft.user(user)
            let resolved = try ResolvedScopes.resolve(record.scopes, tenant: context.tenant, tenantName: validated.tenantSegment)
            let granted = try Consent.grantedScopes(
                client: context.client.application, resolved: resolved, userID: user.id,
                tenant: context.tenant, draft: context.draft)
            return try await TokenIssuer(context: context).issueForUser(
                .init(
                    user: user, authentication: authentication, resolved: resolved, grantedScopes: granted, nonce: nil,
                    platform: context.client.isConfidential ? .web : .publicClient, familyID: nil, familyStartedAt: nil,
                    claims: try ClaimsRequest.parse(record.claims), isInteractive: false, clientInfo: validated.clientInfo))
        }
    }
}
