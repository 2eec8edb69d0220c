public import Foundation

/// Where an authorization code or refresh token was sent: decides client authentication,
/// cross-origin rules and refresh-token lifetime (Entra treats SPA redirect URIs specially).
public enum ClientPlatform: String, Codable, Sendable {
    case web, spa, publicClient
}

/// How the user authenticated (carried into `amr`, `aio` and later grants).
public struct Authentication: Codable, Sendable, Equatable {
    public var userID: String
    public var authTime: Date
    /// RFC 8176 method references: `pwd`, `mfa`, `otp`.
    public var methods: [String]
    /// Authentication context class references satisfied (`c1`…).
    public var acrs: [String]
    /// When the second factor was last satisfied (sign-in frequency with `secondaryAuthentication`).
    public var mfaTime: Date?
    /// Where the user signed in from, carried through OBO: Conditional Access places an agent's
    /// sign-in for a user at the user's location.
    public var ipAddress: String?

    public init(userID: String, authTime: Date, methods: [String], acrs: [String] = [], mfaTime: Date? = nil, ipAddress: String? = nil) {
        self.userID = userID
        self.authTime = authTime
        self.methods = methods
        self.acrs = acrs
        self.mfaTime = mfaTime
        self.ipAddress = ipAddress
    }
}

/// An authorization code, stored by hash. Single use; reuse revokes the tokens it produced.
public struct AuthorizationCodeRecord: Codable, Sendable, Equatable {
    public var codeHash: String
    public var tenantID: String
    public var clientID: String
    public var redirectURI: String
    public var platform: ClientPlatform
    public var authentication: Authentication
    /// The scopes asked for at authorize (as sent).
    public var scopes: [String]
    public var nonce: String?
    public var codeChallenge: String?
    public var codeChallengeMethod: String?
    public var claims: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var consumedAt: Date?
    /// The refresh-token family the redemption created (revoked on reuse).
    public var familyID: String

    public init(
        codeHash: String, tenantID: String, clientID: String, redirectURI: String, platform: ClientPlatform,
        authentication: Authentication, scopes: [String], nonce: String?, codeChallenge: String?,
        codeChallengeMethod: String?, claims: String?, createdAt: Date, expiresAt: Date, familyID: String
    ) {
        self.codeHash = codeHash
        self.tenantID = tenantID
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.platform = platform
        self.authentication = authentication
        self.scopes = scopes
        self.nonce = nonce
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.claims = claims
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.familyID = familyID
    }
}

/// A refresh token, stored by hash, in a family that starts at one sign-in.
public struct RefreshTokenRecord: Codable, Sendable, Equatable {
    public var tokenHash: String
    public var familyID: String
    public var tenantID: String
    public var clientID: String
    public var platform: ClientPlatform
    public var authentication: Authentication
    /// Scopes the token may be redeemed for (full strings, e.g. `api://x/read`, plus `offline_access`).
    public var scopes: [String]
    public var createdAt: Date
    /// Absolute end (SPA tokens: 24 hours from the family's start) or inactivity end.
    public var expiresAt: Date
    /// Set when the token was redeemed for a successor.
    public var redeemedAt: Date?
    /// Set for a middle tier's token from OBO: Conditional Access places each refresh at the
    /// user's sign-in (`authentication.ipAddress`), as the OBO itself was, not at the middle
    /// tier's address.
    public var carriesSignInLocation: Bool?

    public init(
        tokenHash: String, familyID: String, tenantID: String, clientID: String, platform: ClientPlatform,
        authentication: Authentication, scopes: [String], createdAt: Date, expiresAt: Date
    ) {
        self.tokenHash = tokenHash
        self.familyID = familyID
        self.tenantID = tenantID
        self.clientID = clientID
        self.platform = platform
        self.authentication = authentication
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A device authorization (RFC 8628).
public struct DeviceCodeRecord: Codable, Sendable, Equatable {
    public enum State: Codable, Sendable, Equatable {
        case pending
        case approved(Authentication)
        case declined
        case consumed
    }
    public var deviceCodeHash: String
    public var userCode: String
    public var tenantID: String
    public var clientID: String
    public var scopes: [String]
    public var claims: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var interval: Int
    public var state: State
    public var lastPolledAt: Date?

    public init(
        deviceCodeHash: String, userCode: String, tenantID: String, clientID: String, scopes: [String],
        claims: String?, createdAt: Date, expiresAt: Date, interval: Int
    ) {
        self.deviceCodeHash = deviceCodeHash
        self.userCode = userCode
        self.tenantID = tenantID
        self.clientID = clientID
        self.scopes = scopes
        self.claims = claims
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.interval = interval
        self.state = .pending
    }
}

/// A browser's single-sign-on session (the cookie holds the id; the store holds its hash).
public struct SessionRecord: Codable, Sendable, Equatable {
    public var idHash: String
    public var tenantID: String
    public var authentication: Authentication
    public var createdAt: Date
    public var expiresAt: Date

    public init(idHash: String, tenantID: String, authentication: Authentication, createdAt: Date, expiresAt: Date) {
        self.idHash = idHash
        self.tenantID = tenantID
        self.authentication = authentication
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// An interactive sign-in in progress (between the authorize redirect and the code), so each form
/// post refers to server-side state rather than trusting hidden fields.
public struct InteractiveFlowRecord: Codable, Sendable, Equatable {
    public enum Purpose: Codable, Sendable, Equatable {
        case authorize(AuthorizeParameters)
        case deviceCode(userCode: String)
        /// The user signed in and must answer a consent prompt before the code is issued.
        case consent(AuthorizeParameters, Authentication, [ConsentItem])
        /// An administrator is asked to consent for the whole tenant (`/adminconsent`).
        case adminConsent(AdminConsentParameters, [ConsentItem])
        /// A Conditional Access step for an authenticated user; `then` continues the sign-in.
        indirect case step(InteractiveStep, Authentication, secret: String?, then: Purpose)
        /// An administrator signs in to the authority's own pages (the sign-in log); `path` is where to go back.
        case portal(path: String)
    }
    public var id: String
    public var tenantID: String
    public var purpose: Purpose
    /// The anti-forgery token the form must echo.
    public var csrfToken: String
    /// Hash of the browser-binding cookie set with the form (double-submit binding).
    public var browserBindingHash: String
    public var loginHint: String?
    public var createdAt: Date
    public var expiresAt: Date

    public init(
        id: String, tenantID: String, purpose: Purpose, csrfToken: String, browserBindingHash: String,
        loginHint: String?, createdAt: Date, expiresAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.purpose = purpose
        self.csrfToken = csrfToken
        self.browserBindingHash = browserBindingHash
        self.loginHint = loginHint
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// Delegated permissions a user is asked to grant: `clientAppID` may call `resourceAppID` with `scopes`.
public struct ConsentItem: Codable, Sendable, Equatable {
    public var clientAppID: String
    public var resourceAppID: String
    public var scopes: [String]
}

/// A validated admin-consent request (`/{tenant}/v2.0/adminconsent`).
public struct AdminConsentParameters: Codable, Sendable, Equatable {
    public var clientID: String
    public var redirectURI: String
    public var scope: String?
    public var state: String?
}

/// A validated authorize request, kept with the flow.
public struct AuthorizeParameters: Codable, Sendable, Equatable {
    public var clientID: String
    public var redirectURI: String
    public var platform: ClientPlatform
    public var responseType: String
    public var responseMode: String
    public var scopes: [String]
    public var state: String?
    public var nonce: String?
    public var codeChallenge: String?
    public var codeChallengeMethod: String?
    public var prompt: String?
    public var loginHint: String?
    public var claims: String?

    public init(
        clientID: String, redirectURI: String, platform: ClientPlatform, responseType: String, responseMode: String, scopes: [String],
        state: String?, nonce: String?, codeChallenge: String?, codeChallengeMethod: String?, prompt: String?, loginHint: String?,
        claims: String?
    ) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.platform = platform
        self.responseType = responseType
        self.responseMode = responseMode
        self.scopes = scopes
        self.state = state
        self.nonce = nonce
        self.codeChallenge = codeChallenge
        self.codeChallengeMethod = codeChallengeMethod
        self.prompt = prompt
        self.loginHint = loginHint
        self.claims = claims
    }
}

/// A signing key with its self-signed certificate (published as `x5c`).
public struct SigningKeyRecord: Codable, Sendable, Equatable {
    public var kid: String
    /// PKCS#8 PEM of the RSA private key.
    public var privateKeyPEM: String
    /// DER of the certificate, base64.
    public var certificateDER: String
    public var createdAt: Date
    /// When it stopped signing (nil: the current key). Published until `retiredAt + grace`.
    public var retiredAt: Date?

    public init(kid: String, privateKeyPEM: String, certificateDER: String, createdAt: Date, retiredAt: Date? = nil) {
        self.kid = kid
        self.privateKeyPEM = privateKeyPEM
        self.certificateDER = certificateDER
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}

/// Why a store operation could not be done. Grant handlers turn these into OAuth errors.
public enum StorageError: Error, Sendable, Equatable {
    case notFound
    /// A one-time item was already used; the payload is the stored record (for reuse handling).
    case alreadyConsumed
    case revoked
    case conflict
    /// A change was attempted inside ``StorageBackend/read(_:)`` (a defect in the record logic).
    case readOnly
}
