import Foundation

/// A successful token response (RFC 6749 §5.1) with Entra's additions
/// (`ext_expires_in`, `refresh_in`, `id_token`, `client_info`; Microsoft Learn,
/// "Microsoft identity platform and OAuth 2.0 authorization code flow", successful response).
public struct TokenResponse: Codable, Sendable, Equatable {
    public var tokenType: String
    public var scope: String?
    public var expiresIn: Int
    public var extExpiresIn: Int?
    public var refreshIn: Int?
    public var accessToken: String
    public var refreshToken: String?
    public var idToken: String?
    public var clientInfo: String?
    /// RFC 8693 §2.2.1: the type of the issued token (token exchange only).
    public var issuedTokenType: String?

    enum CodingKeys: String, CodingKey {
        case issuedTokenType = "issued_token_type"
        case tokenType = "token_type"
        case scope
        case expiresIn = "expires_in"
        case extExpiresIn = "ext_expires_in"
        case refreshIn = "refresh_in"
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case idToken = "id_token"
        case clientInfo = "client_info"
    }

    public init(
        tokenType: String = "Bearer", scope: String?, expiresIn: Int, extExpiresIn: Int? = nil, refreshIn: Int? = nil,
        accessToken: String, refreshToken: String? = nil, idToken: String? = nil, clientInfo: String? = nil
    ) {
        self.tokenType = tokenType
        self.scope = scope
        self.expiresIn = expiresIn
        self.extExpiresIn = extExpiresIn
        self.refreshIn = refreshIn
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.idToken = idToken
        self.clientInfo = clientInfo
    }
}

/// The device authorization response (RFC 8628 §3.2) with Entra's `message`.
public struct DeviceCodeResponse: Codable, Sendable, Equatable {
    public var deviceCode: String
    public var userCode: String
    public var verificationURI: String
    public var expiresIn: Int
    public var interval: Int
    public var message: String

    enum CodingKeys: String, CodingKey {
        case deviceCode = "device_code"
        case userCode = "user_code"
        case verificationURI = "verification_uri"
        case expiresIn = "expires_in"
        case interval, message
    }

    public init(deviceCode: String, userCode: String, verificationURI: String, expiresIn: Int, interval: Int, message: String) {
        self.deviceCode = deviceCode
        self.userCode = userCode
        self.verificationURI = verificationURI
        self.expiresIn = expiresIn
        self.interval = interval
        self.message = message
    }
}
