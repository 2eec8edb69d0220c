import DeputyCore
import Foundation

/// RFC 8628 §3.4–3.5: the device polls until the user approved at the verification page.
struct DeviceCodeGrantHandler: GrantHandler {
    let grantType = "urn:ietf:params:oauth:grant-type:device_code"

    func handle(_ request: TokenRequest, context: GrantContext) async throws -> TokenResponse {
        let deviceCode = try request.form["device_code"] ?? request.form["code"] ?? request.form.require("device_code")
        // Checked before polling, so another client cannot spend an approved authorization.
        if let peek = try await context.authority.store.deviceCode(hash: TokenIssuer.hash(deviceCode)),
            peek.tenantID != context.tenant.tenantID || peek.clientID.lowercased() != context.client.application.appId.lowercased()
        {
            throw OAuthError.grantBoundToOtherClient("device code")
        }
        let record: DeviceCodeRecord
        do {
            record = try await context.authority.store.pollDeviceCode(hash: TokenIssuer.hash(deviceCode), at: context.now)
        } catch StorageError.notFound {
            throw OAuthError.invalidGrantValue("device_code")
        }
        guard record.tenantID == context.tenant.tenantID, record.clientID.lowercased() == context.client.application.appId.lowercased()
        else {
            throw OAuthError.grantBoundToOtherClient("device code")
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
            guard let user = context.tenant.user(id: authentication.userID), user.isEnabled else { throw OAuthError.userDisabled() }
            context.draft.user(user)
            let resolved = try ResolvedScopes.resolve(record.scopes, tenant: context.tenant, tenantName: request.tenantSegment)
            let granted = try Consent.grantedScopes(
                client: context.client.application, resolved: resolved, userID: user.id,
                tenant: context.tenant, draft: context.draft)
            let claims = try record.claims.map { c throws(OAuthError) in try ClaimsRequest(parsing: c) } ?? ClaimsRequest()
            return try await TokenIssuer(context: context).issueForUser(
                .init(
                    user: user, authentication: authentication, resolved: resolved, grantedScopes: granted, nonce: nil,
                    platform: context.client.isConfidential ? .web : .publicClient, familyID: nil, familyStartedAt: nil,
                    claims: claims, isInteractive: false, clientInfo: request.form["client_info"] == "1"))
        }
    }
}
