public import Foundation

/// The catalogue: every error the authority sends, named after what went wrong, with Entra's code
/// and wording (Microsoft Learn, "Microsoft identity platform authentication and authorization error codes"). A code Entra
/// does not document for a case Deputy checks is marked "Deputy's choice" at the factory.
extension OAuthError {
    // MARK: - Request shape

    /// AADSTS900144: a required parameter is missing.
    public static func missingParameter(_ name: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 900144, message: "The request body must contain the following parameter: '\(name)'.")
    }
    /// AADSTS900144 for query parameters of the authorize endpoint.
    public static func missingQueryParameter(_ name: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 900144, message: "The request body must contain the following parameter: '\(name)'.")
    }
    /// AADSTS9002313: the request is malformed (duplicate parameter, bad encoding, wrong content type, too large).
    public static func malformedRequest(_ detail: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 9_002_313, message: "Invalid request. Request is malformed or invalid. \(detail)")
    }
    /// AADSTS900561: the token endpoint only accepts POST.
    public static func postRequired(received method: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 900561, message: "The endpoint only accepts POST requests. Received a \(method) request.")
    }
    /// AADSTS70003: unknown `grant_type`.
    public static func unsupportedGrantType(_ grantType: String) -> OAuthError {
        OAuthError(.unsupportedGrantType, aadsts: 70003, message: "The app requested an unsupported grant type '\(grantType)'.")
    }
    /// AADSTS9002313 for a parameter with an invalid value.
    public static func invalidParameter(_ name: String, _ detail: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_313, message: "Invalid request. The value of the parameter '\(name)' is not valid. \(detail)")
    }

    // MARK: - Tenant and instance

    /// AADSTS90002: tenant not found.
    public static func tenantNotFound(_ tenant: String) -> OAuthError {
        OAuthError(
            .invalidTenant, aadsts: 90002,
            message:
                "Tenant '\(tenant)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        )
    }
    /// AADSTS50049: instance discovery for an unknown host.
    public static func unknownInstance(_ authorizationEndpoint: String) -> OAuthError {
        OAuthError(
            .invalidInstance, aadsts: 50049,
            message: "Unknown or invalid instance. The authorization endpoint '\(authorizationEndpoint)' is not served by this authority.")
    }

    // MARK: - Client authentication

    /// AADSTS700016: the client id is not registered in the tenant.
    public static func unknownClient(_ clientID: String, tenant: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700016,
            message:
                "Application with identifier '\(clientID)' was not found in the directory '\(tenant)'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        )
    }
    /// A client id that is a Client ID Metadata Document URL (MCP authorization, spec mode) whose
    /// document could not be fetched or is not valid. Entra has no such documents: the code is
    /// AADSTS700016 (the client is not known), with the reason.
    public static func invalidClientMetadataDocument(_ url: String, reason: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700016,
            message: "The client metadata document at '\(url)' cannot be used: \(reason)")
    }
    /// AADSTS7000215: wrong client secret (HTTP 401).
    public static func invalidClientSecret(appID: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 7_000_215,
            message:
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(appID)'."
        )
    }
    /// AADSTS7000222: the secret has expired.
    public static func expiredClientSecret(appID: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 7_000_222,
            message:
                "The provided client secret keys for app '\(appID)' are expired. Visit the Azure portal to create new keys for your app.")
    }
    /// AADSTS7000218: a confidential grant without a credential.
    public static func missingClientCredential() -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 7_000_218,
            message: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
    }
    /// AADSTS700025: a public client sent a credential.
    public static func publicClientWithCredential() -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700025,
            message: "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
    }
    /// AADSTS700024: client assertion outside its lifetime.
    public static func clientAssertionOutsideLifetime(now: Date, notBefore: Date?, expiry: Date?) -> OAuthError {
        let f = { (d: Date?) in d.map { EntraErrorBody.timestampFormat($0) } ?? "none" }
        return OAuthError(
            .invalidClient, aadsts: 700024,
            message:
                "Client assertion is not within its valid time range. Current time: \(f(now)), assertion valid from \(f(notBefore)), expiry time of assertion \(f(expiry))."
        )
    }
    /// AADSTS700027: the client assertion's signature, key or shape is wrong.
    public static func invalidClientAssertion(_ reason: String) -> OAuthError {
        OAuthError(.invalidClient, aadsts: 700027, message: "Client assertion failed signature validation. [Reason - \(reason)]")
    }
    /// AADSTS50027-style audience failure of a client assertion (Deputy's choice: 700027 with the reason).
    public static func clientAssertionAudience(expected: String, got: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700027,
            message: "Client assertion failed validation. [Reason - The audience '\(got)' is not the token endpoint '\(expected)'.]")
    }
    /// A client assertion whose `jti` was already used (Deputy's choice of code: 700027).
    public static func replayedClientAssertion() -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700027,
            message:
                "Client assertion failed validation. [Reason - The assertion's 'jti' was already used; a client assertion is single use.]")
    }
    /// AADSTS7000218 for public clients that ask for a confidential grant.
    public static func confidentialGrantForPublicClient(_ grantType: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 7_000_218,
            message:
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. The grant '\(grantType)' requires a confidential client."
        )
    }
    /// AADSTS7000218-family: ROPC/device code by an app that is not a public client.
    public static func publicClientFlowsDisabled(appID: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 7_000_218,
            message:
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. Application '\(appID)' is not configured as a public client ('isFallbackPublicClient')."
        )
    }

    /// AADSTS70021: a client assertion for `api://AzureADTokenExchange` with no matching federated credential.
    public static func noMatchingFederatedCredential(issuer: String, subject: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 70021,
            message:
                "No matching federated identity record found for presented assertion. Assertion Issuer: '\(issuer)'. Assertion Subject: '\(subject)'. Assertion Audience: 'api://AzureADTokenExchange'."
        )
    }
    /// AADSTS90056-family: a path that is not an endpoint (HTTP 404).
    public static func notAnEndpoint(_ path: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 90056,
            message: "The resource is disabled or does not exist. The path \(path) is not an endpoint of this authority.", status: 404)
    }

    // MARK: - Agent ID (Microsoft Learn: "Agent OBO flow", "Autonomous agent flow", "Agent user flow")
    // Entra documents the flows, not the codes of every refusal: where a code is Deputy's choice
    // the factory says so, and the description names what to fix.

    /// `fmi_path` sent by an application that is not an agent identity blueprint (Deputy's choice: AADSTS700230).
    public static func fmiPathNotAllowed(appID: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700230,
            message:
                "Application '\(appID)' is not an agent identity blueprint; only a blueprint may request a token for an agent identity with 'fmi_path'."
        )
    }
    /// `fmi_path` naming something other than one of the blueprint's own agent identities (Deputy's choice: AADSTS700231).
    public static func agentNotOfBlueprint(fmiPath: String, blueprintAppID: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700231,
            message:
                "'\(fmiPath)' in fmi_path is not an agent identity of the blueprint '\(blueprintAppID)'. A blueprint can get tokens only for agent identities created from it."
        )
    }
    /// A blueprint's agent-identity token asked for another scope than the token exchange (Deputy's choice: AADSTS700232).
    public static func fmiPathNeedsTokenExchangeScope(_ scope: String) -> OAuthError {
        OAuthError(
            .invalidScope, aadsts: 700232,
            message:
                "The scope '\(scope)' is not valid with fmi_path. A blueprint gets an agent identity's credential with scope 'api://AzureADTokenExchange/.default'; the agent identity then uses it as its client_assertion."
        )
    }
    /// An agent identity presented a secret, certificate or federated credential of its own (Deputy's choice: AADSTS700233; HTTP 401).
    public static func agentIdentityHasNoCredentials(appID: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700233,
            message:
                "'\(appID)' is an agent identity, which has no credentials of its own. Authenticate with client_assertion = a token its blueprint got for it (client_credentials with fmi_path='\(appID)' and scope api://AzureADTokenExchange/.default)."
        )
    }
    /// AADSTS700213: the agent's client assertion was minted for another agent identity (its `sub`).
    public static func agentCredentialForOtherAgent(subject: String, expected: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700213,
            message:
                "No matching federated identity record found for presented assertion subject '\(subject)'. The assertion was issued for another agent identity; expected the subject '\(expected)'."
        )
    }
    /// The agent's client assertion was not issued by the agent identity's own blueprint (Deputy's choice: AADSTS700234).
    public static func agentCredentialFromOtherBlueprint(issuedTo: String, expected: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700234,
            message:
                "The client assertion was obtained by '\(issuedTo)', not by the agent identity's blueprint '\(expected)'. Only the parent blueprint can get credentials for its agent identities."
        )
    }
    /// A token used outside its one purpose in the agent flows: a user-FIC token (T2) as a client
    /// assertion, or an agent credential (T1) as a user token (Deputy's choice: AADSTS700235).
    /// `asClientCredential` false: the misused token is a grant's input (the OBO assertion, the
    /// user_fic credential), answered `invalid_grant` with HTTP 400 rather than `invalid_client`.
    public static func agentTokenMisused(_ detail: String, asClientCredential: Bool = true) -> OAuthError {
        OAuthError(
            asClientCredential ? .invalidClient : .invalidGrant, aadsts: 700235,
            message: "The token was replayed outside its purpose. \(detail)")
    }
    /// An agent identity that is disabled (or whose blueprint is) (AADSTS7000112).
    public static func agentIdentityDisabled(appID: String) -> OAuthError {
        OAuthError(.unauthorizedClient, aadsts: 7_000_112, message: "Application '\(appID)' is disabled.")
    }
    /// A blueprint (or an agent identity) at /authorize: nobody signs in to it interactively (Deputy's choice: AADSTS700236).
    public static func noInteractiveSignInForAgents(appID: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700236,
            message:
                "Application '\(appID)' is an agent identity blueprint or agent identity, which does not support interactive sign-in (/authorize). Sign the user in to a client application that requests a token for the blueprint's API."
        )
    }
    /// user_fic: the user-FIC token (T2) is not the calling agent identity's own (Deputy's choice: AADSTS700237).
    public static func userCredentialForOtherAgent(subject: String, expected: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 700237,
            message:
                "The user_federated_identity_credential was issued to '\(subject)', not to the calling agent identity '\(expected)'. Get it as the agent identity: client_credentials with scope api://AzureADTokenExchange/.default."
        )
    }
    /// user_fic: the user is not the calling agent identity's agent user (Deputy's choice: AADSTS700238).
    public static func agentUserOfOtherAgent(user: String, agentAppID: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 700238,
            message:
                "The user '\(user)' is not the agent user of the agent identity '\(agentAppID)'. An agent identity can get tokens only for its own agent user."
        )
    }
    /// A grant Agent ID objects do not support, e.g. ROPC or device code (Deputy's choice: AADSTS700240).
    public static func grantNotAllowedForAgent(_ grantType: String, kind: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700240,
            message:
                "The grant '\(grantType)' is not supported for \(kind). Agent identities use client_credentials, urn:ietf:params:oauth:grant-type:jwt-bearer (on-behalf-of), refresh_token and user_fic; blueprints client_credentials, on-behalf-of and refresh_token."
        )
    }
    /// A user-FIC grant by a client that is not an agent identity (Deputy's choice: AADSTS700239).
    public static func userFICNeedsAgentIdentity(appID: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 700239,
            message:
                "Application '\(appID)' is not an agent identity; the user_fic grant is for an agent identity acting as its agent user.")
    }

    // MARK: - On-behalf-of assertions (Microsoft Learn: "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow")

    /// AADSTS50013: the assertion is malformed, badly signed, or from another issuer.
    public static func invalidAssertion(_ reason: String) -> OAuthError {
        OAuthError(.invalidGrant, aadsts: 50013, message: "Assertion failed signature validation. [Reason - \(reason)]")
    }
    /// AADSTS500133: the assertion is outside its lifetime.
    public static func assertionOutsideLifetime(now: Date, expiry: Date?) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 500133,
            message:
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: \(EntraErrorBody.timestampFormat(now)), expiry time of assertion \(expiry.map(EntraErrorBody.timestampFormat) ?? "none")."
        )
    }
    /// AADSTS500131: the assertion's audience is not the caller.
    public static func assertionAudienceMismatch(audience: String, clientID: String, clientName: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 500131,
            message:
                "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '\(audience)' and the expected audience is '\(clientID)' or one of the Application Uris of this application with App ID '\(clientID)'(\(clientName)). The downstream client must request a token for the expected audience (the application that made the OBO request) and this application should use that token as the assertion."
        )
    }
    /// AADSTS7000114: an app-only token as the assertion.
    public static func appOnlyAssertion(appID: String) -> OAuthError {
        OAuthError(
            .unauthorizedClient, aadsts: 7_000_114, message: "Application '\(appID)' is not allowed to make application on-behalf-of calls."
        )
    }
    /// AADSTS240002: an ID token as the assertion.
    public static func idTokenAssertion() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 240002, message: "The id_token can't be used as urn:ietf:params:oauth:grant-type:jwt-bearer grant.")
    }
    /// AADSTS700229: an Entra-issued federated credential that is not app-only.
    public static func forbiddenFederatedTokenType() -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 700229,
            message:
                "ForbiddenTokenType: Only app-only tokens can be used as Federated Identity Credentials for the issuer of this authority.")
    }

    // MARK: - Token exchange (RFC 8693 §2.2.2; rendered in RFC 6749's body)

    /// A token-exchange error in RFC 6749's plain body.
    public static func tokenExchange(_ code: Code, _ description: String) -> OAuthError {
        var e = OAuthError(code, message: description)
        e.rfc6749Only = true
        return e
    }

    // MARK: - Users

    /// AADSTS50126: wrong username or password.
    public static func invalidCredentials() -> OAuthError {
        OAuthError(.invalidGrant, aadsts: 50126, message: "Error validating credentials due to invalid username or password.")
    }
    /// AADSTS50034: no such user.
    public static func userNotFound(_ username: String, tenant: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 50034,
            message:
                "The user account {EUII Hidden} does not exist in the \(tenant) directory. To sign into this application, the account must be added to the directory.",
            logDetail: "unknown user \(username)")
    }
    /// AADSTS50057: the account is disabled.
    public static func userDisabled() -> OAuthError {
        OAuthError(.invalidGrant, aadsts: 50057, message: "The user account is disabled.")
    }
    /// AADSTS50058: prompt=none without a session.
    public static func loginRequired() -> OAuthError {
        OAuthError(.loginRequired, aadsts: 50058, message: "A silent sign-in request was sent but no user is signed in.")
    }

    /// AADSTS160021: prompt=none with a login_hint for a user who has no session here.
    public static func sessionForHintMissing() -> OAuthError {
        OAuthError(.interactionRequired, aadsts: 160021, message: "Application requested a user session which does not exist.")
    }

    // MARK: - Codes, refresh tokens, device codes

    /// AADSTS54005: an authorization code redeemed twice.
    public static func codeAlreadyRedeemed() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 54005,
            message: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
    }
    /// AADSTS70008: code or refresh token expired.
    public static func grantExpired() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 70008,
            message:
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."
        )
    }
    /// AADSTS70000: the grant is unknown, malformed or bound to something else.
    public static func invalidGrantValue(_ what: String) -> OAuthError {
        OAuthError(.invalidGrant, aadsts: 70000, message: "The provided value for the '\(what)' parameter is not valid.")
    }
    /// AADSTS70000 for a grant presented by the wrong client.
    public static func grantBoundToOtherClient(_ what: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 70000, message: "Provided grant is invalid or malformed. The \(what) was issued to a different client.")
    }
    /// AADSTS501481: PKCE verifier mismatch.
    public static func pkceMismatch() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 501481,
            message: "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
    }
    /// AADSTS50148-family: the redirect URI at redemption differs.
    public static func redirectURIMismatchAtRedemption() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 70000,
            message: "Provided grant is invalid or malformed. The redirect_uri does not match the one used in the authorization request.")
    }
    /// AADSTS9002327: a SPA code redeemed without a cross-origin request.
    public static func spaRequiresCrossOrigin() -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_327,
            message: "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
    }
    /// AADSTS9002326: a cross-origin redemption of a non-SPA code.
    public static func crossOriginOnlyForSPA() -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_326,
            message:
                "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: the request has an Origin header."
        )
    }
    /// AADSTS700084: a SPA refresh token past its fixed 24-hour lifetime.
    public static func spaRefreshTokenExpired() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 700084,
            message:
                "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which can't be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page."
        )
    }
    /// AADSTS700082 / refresh token revoked or reused.
    public static func refreshTokenRevoked() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 70008,
            message:
                "The refresh token has been revoked or has expired. Send a new interactive authorization request for this user and resource."
        )
    }
    /// AADSTS50173 as an `interaction_required` claims challenge: a critical event (sessions
    /// revoked, password changed, account disabled) happened after the user last signed in, or a
    /// continuous access evaluation challenge asks for a token newer than that sign-in. The
    /// `claims` value (`{"access_token":{"nbf":…}}`) goes back to the interactive client, which
    /// signs the user in again (Microsoft Learn, "Continuous access evaluation").
    public static func freshSignInRequired(since: Date, claims: String) -> OAuthError {
        OAuthError(
            .interactionRequired, aadsts: 50173,
            message:
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password, or an administrator revoked their sessions at \(EntraErrorBody.timestampFormat(since)).",
            suberror: "bad_token", claims: claims)
    }
    /// AADSTS70016: the device flow is still pending.
    public static func authorizationPending() -> OAuthError {
        OAuthError(
            .authorizationPending, aadsts: 70016, message: "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
    }
    /// AADSTS70019: device code expired.
    public static func deviceCodeExpired() -> OAuthError {
        OAuthError(.expiredToken, aadsts: 70019, message: "Verification code expired.")
    }
    /// AADSTS70000 (authorization_declined): the user declined the device sign-in.
    public static func deviceAuthorizationDeclined() -> OAuthError {
        OAuthError(.authorizationDeclined, aadsts: 70000, message: "The user declined the device sign-in request.")
    }
    /// RFC 8628 §3.5 slow_down: polling faster than the interval (Deputy's choice of code: 70016).
    public static func slowDown() -> OAuthError {
        OAuthError(
            .slowDown, aadsts: 70016, message: "OAuth 2.0 device flow error. Polling too fast; wait the interval before polling again.")
    }

    // MARK: - Scopes and resources

    /// AADSTS70011: invalid scope.
    public static func invalidScope(_ scope: String, _ detail: String = "") -> OAuthError {
        let extra = detail.isEmpty ? "" : " \(detail)"
        return OAuthError(
            .invalidScope, aadsts: 70011,
            message:
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope \(scope) is not valid.\(extra)"
        )
    }
    /// AADSTS1002012: client credentials without `{resource}/.default`.
    public static func clientCredentialsNeedDefaultScope(_ scope: String) -> OAuthError {
        OAuthError(
            .invalidScope, aadsts: 1_002_012,
            message:
                "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
        )
    }
    /// AADSTS28000-family: scopes of more than one resource.
    public static func multipleResources(_ scope: String) -> OAuthError {
        OAuthError(
            .invalidScope, aadsts: 28000,
            message:
                "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope \(scope) is not valid."
        )
    }
    /// AADSTS500011: the resource is not in the tenant.
    public static func resourceNotFound(_ resource: String, tenant: String) -> OAuthError {
        OAuthError(
            .invalidResource, aadsts: 500011,
            message:
                "The resource principal named \(resource) was not found in the tenant named \(tenant). This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        )
    }
    /// AADSTS9010010: RFC 8707 `resource` that names something else than the scope. Entra's
    /// sentence, then what Deputy saw and what to change (Entra's v2 endpoint takes the resource
    /// from the scopes; an MCP client sending its server's URL needs that URL among the
    /// application's identifier URIs, or the tenant in MCP spec mode to bind the audience to it).
    public static func resourceMismatch(resource: String, scopeResource: String?, mcpSpec: Bool) -> OAuthError {
        let scopes = scopeResource.map { "the scopes name \($0)" } ?? "the scopes name no resource"
        let hint =
            mcpSpec
            ? "Ask for a scope of the application whose identifier URI is the resource (e.g. {resource}/.default)."
            : "Entra takes the resource from the scopes: send a scope of that application, or add the resource URL to its identifierUris."
        return OAuthError(
            .invalidTarget, aadsts: 9_010_010,
            message:
                "The resource parameter provided in the request doesn't match with the requested scopes. Deputy: resource '\(resource)', \(scopes). \(hint)"
        )
    }
    /// AADSTS65001: no consent.
    public static func consentRequired(clientAppID: String, clientName: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 65001,
            message:
                "The user or administrator has not consented to use the application with ID '\(clientAppID)' named '\(clientName)'. Send an interactive authorization request for this user and resource.",
            suberror: "consent_required")
    }
    /// AADSTS65001 at authorize (rendered as `consent_required` to the redirect URI).
    public static func consentRequiredInteractive(clientAppID: String, clientName: String) -> OAuthError {
        OAuthError(
            .consentRequired, aadsts: 65001,
            message:
                "The user or administrator has not consented to use the application with ID '\(clientAppID)' named '\(clientName)'. Send an interactive authorization request for this user and resource."
        )
    }

    // MARK: - Authorize

    /// AADSTS50011: redirect URI not registered (never redirected to).
    public static func redirectURINotRegistered(_ uri: String, appID: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 50011,
            message:
                "The redirect URI '\(uri)' specified in the request does not match the redirect URIs configured for the application '\(appID)'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal."
        )
    }
    /// AADSTS9002325: SPA redirect URI without PKCE.
    public static func pkceRequired() -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_325,
            message: "Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
    }
    /// AADSTS9002325 with Deputy's reason (Deputy's choice of code): a tenant in strict or MCP spec
    /// mode asks every authorization-code request for PKCE, not only SPAs'.
    public static func pkceRequired(mode: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_325,
            message:
                "Proof Key for Code Exchange (RFC 7636) with code_challenge_method S256 is required for every authorization code request in this tenant (\(mode))."
        )
    }
    /// AADSTS501491-family: bad `code_challenge` / method.
    public static func invalidCodeChallenge(_ detail: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 501491, message: "Invalid Code_Challenge parameter. \(detail)")
    }
    /// AADSTS700051: a response type the app or Deputy does not allow.
    public static func unsupportedResponseType(_ type: String) -> OAuthError {
        OAuthError(.unsupportedResponseType, aadsts: 700051, message: "response_type '\(type)' is not enabled for the application.")
    }
    /// AADSTS900144 for nonce with id_token responses.
    public static func nonceRequired() -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 900144, message: "The request body must contain the following parameter: 'nonce'.")
    }
    /// AADSTS90023-family: an invalid `response_mode`.
    public static func invalidResponseMode(_ mode: String) -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 9_002_313, message: "Invalid request. The response_mode '\(mode)' is not supported for this request.")
    }
    /// AADSTS65004: the user declined.
    public static func userDeclined() -> OAuthError {
        OAuthError(.accessDenied, aadsts: 65004, message: "User declined to consent to access the app.")
    }
    /// AADSTS90094: the permissions need an administrator's consent.
    public static func adminConsentNeeded(clientAppID: String, scopes: [String]) -> OAuthError {
        OAuthError(
            .consentRequired, aadsts: 90094,
            message:
                "The grant requires admin permission. Application '\(clientAppID)' asks for \(scopes.joined(separator: ", ")), which only an administrator can consent to."
        )
    }
    /// AADSTS90094 at /adminconsent: the signed-in user may not consent for the organization.
    public static func notAnAdministrator() -> OAuthError {
        OAuthError(
            .accessDenied, aadsts: 90094,
            message: "The grant requires admin permission. The signed-in user is not an administrator who can consent for the organization."
        )
    }
    /// AADSTS650057: `.default` for a resource the client does not list in requiredResourceAccess.
    public static func resourceNotInRequiredAccess(clientAppID: String, resource: String) -> OAuthError {
        OAuthError(
            .invalidClient, aadsts: 650057,
            message:
                "Invalid resource. The client has requested access to a resource which isn't listed in the requested permissions in the client's application registration. Client app ID: \(clientAppID). Resource value from request: \(resource)."
        )
    }
    /// AADSTS90014-family: invalid claims JSON.
    public static func invalidClaimsParameter(_ detail: String) -> OAuthError {
        OAuthError(.invalidRequest, aadsts: 90014, message: "The 'claims' parameter is not valid JSON claims request. \(detail)")
    }
    /// AADSTS70018: wrong device user code.
    public static func invalidUserCode() -> OAuthError {
        OAuthError(.invalidGrant, aadsts: 70018, message: "Invalid verification code entered.")
    }
    /// A form post without a valid anti-forgery token (Deputy's choice: AADSTS90100-family wording).
    public static func invalidCSRFToken() -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 90100,
            message: "The sign-in form was tampered with or expired (anti-forgery check failed). Start the sign-in again.")
    }
    /// The sign-in flow referred to by a form post is unknown or expired.
    public static func signInFlowExpired() -> OAuthError {
        OAuthError(
            .invalidRequest, aadsts: 90100,
            message: "This sign-in request has expired or is unknown. Start the sign-in again from the application.")
    }

    // MARK: - Server

    /// AADSTS50000: an internal error (the detail goes to the log only).
    public static func serverError(logDetail: String) -> OAuthError {
        OAuthError(
            .serverError, aadsts: 50000, message: "There was an error issuing a token or an issue with our sign-in service.", status: 500,
            logDetail: logDetail)
    }

    // MARK: - Conditional Access (Microsoft Learn: "Microsoft identity platform authentication and authorization error codes")

    /// AADSTS50076: a policy requires multi-factor authentication the user has not done
    /// (real responses: `invalid_grant` with suberror `basic_action`).
    public static func multifactorRequired(resource: String) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 50076,
            message:
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '\(resource)'.",
            suberror: "basic_action")
    }
    /// AADSTS53003 (Deputy's choice of code): a stored Conditional Access policy or named location
    /// cannot be read, so every sign-in of the tenant is blocked rather than evaluated without it.
    public static func conditionalAccessUnreadable(_ problems: [String]) -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 53003,
            message:
                "Access has been blocked by Conditional Access policies: a stored policy cannot be read, and Deputy does not skip policies "
                + "(\(problems.joined(separator: "; "))). Fix or delete it with deputy policy apply or deputy policy delete.",
            suberror: "message_only")
    }

    /// AADSTS53003: blocked by Conditional Access (real responses: suberror `message_only`).
    public static func blockedByConditionalAccess() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 53003,
            message: "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            suberror: "message_only")
    }
    /// AADSTS53000: a policy requires a compliant device.
    public static func deviceNotCompliant() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 53000,
            message:
                "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant. The user must enroll their device with an approved MDM provider like Intune.",
            suberror: "additional_action")
    }
    /// AADSTS53001: a policy requires a domain-joined (hybrid joined) device.
    public static func deviceNotDomainJoined() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 53001,
            message:
                "Device is not in required device state: domain_joined. Conditional Access policy requires a domain joined device, and the device is not domain joined. Have the user use a domain joined device.",
            suberror: "additional_action")
    }
    /// AADSTS50142: a policy requires the user to change their password.
    public static func passwordChangeRequired() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 50142, message: "Password change is required due to a conditional access policy.",
            suberror: "basic_action")
    }
    /// AADSTS70044: the session is older than a policy's sign-in frequency allows.
    public static func signInFrequencyExpired() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 70044,
            message: "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
            suberror: "basic_action")
    }
    /// AADSTS50079: the user must register for multi-factor authentication (interactive only).
    public static func multifactorRegistrationRequired() -> OAuthError {
        OAuthError(
            .interactionRequired, aadsts: 50079,
            message:
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource."
        )
    }
    /// A logout request that names its application inconsistently (Deputy's choice: Entra shows
    /// an error page without a documented code).
    public static func invalidLogoutRequest(_ message: String) -> OAuthError {
        OAuthError(.invalidRequest, message: message)
    }

    /// AADSTS50053: the account is locked after too many wrong passwords (smart lockout), or the
    /// source address is locked for spreading wrong passwords over many accounts.
    public static func accountLocked() -> OAuthError {
        OAuthError(
            .invalidGrant, aadsts: 50053,
            message: "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.")
    }

    /// AADSTS500121: strong authentication failed — here, too many wrong verification codes
    /// (the method is locked for a while).
    public static func multifactorLockedOut() -> OAuthError {
        OAuthError(
            .accessDenied, aadsts: 500121,
            message:
                "Authentication failed during strong authentication request. Too many wrong verification codes were entered; try again in a few minutes."
        )
    }
}
