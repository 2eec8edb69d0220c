public import DeputyCore
import Foundation

/// A browser request to an interactive endpoint, framework-neutral.
public struct BrowserRequest: Sendable {
    public var tenantSegment: String
    /// Query parameters (GET) or the form body (POST).
    public var parameters: FormParameters
    public var cookies: [String: String]
    public var correlationID: String
    public var ipAddress: String?
    /// The browser's operating system as Conditional Access names platforms (from the User-Agent).
    public var devicePlatform: String?

    public init(
        tenantSegment: String, parameters: FormParameters, cookies: [String: String], correlationID: String, ipAddress: String?,
        devicePlatform: String? = nil
    ) {
        self.devicePlatform = devicePlatform
        self.tenantSegment = tenantSegment
        self.parameters = parameters
        self.cookies = cookies
        self.correlationID = correlationID
        self.ipAddress = ipAddress
    }
}

/// A cookie the browser must store.
public struct Cookie: Sendable, Equatable {
    public var name: String
    public var value: String
    /// nil: a session cookie; 0: delete.
    public var maxAge: Int?
    public var path: String = "/"
    public var httpOnly = true
    public var secure: Bool
    public var sameSite = "Lax"

    /// The `Set-Cookie` header value.
    public var headerValue: String {
        var s = "\(name)=\(value); Path=\(path); SameSite=\(sameSite)"
        if let maxAge { s += "; Max-Age=\(maxAge)" }
        if httpOnly { s += "; HttpOnly" }
        if secure { s += "; Secure" }
        return s
    }
}

/// What goes back to the client application after an interactive request.
public struct ClientResponse: Sendable, Equatable {
    public var redirectURI: String
    /// `query`, `fragment` or `form_post`.
    public var responseMode: String
    public var parameters: [(String, String)]

    public static func == (a: ClientResponse, b: ClientResponse) -> Bool {
        a.redirectURI == b.redirectURI && a.responseMode == b.responseMode
            && a.parameters.elementsEqual(b.parameters) { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// The redirect location for `query` and `fragment` modes.
    public var location: String {
        let encoded = FormParameters(parameters).encoded
        if responseMode == "fragment" { return "\(redirectURI)#\(encoded)" }
        return redirectURI + (redirectURI.contains("?") ? "&" : "?") + encoded
    }
}

/// The sign-in form to show.
public struct SignInPage: Sendable, Equatable {
    public var flowID: String
    public var csrfToken: String
    public var tenantDisplayName: String
    public var applicationName: String
    public var username: String?
    public var errorMessage: String?
    /// Where the form posts (absolute path).
    public var action: String
}

/// The consent prompt to show.
public struct ConsentPage: Sendable, Equatable {
    public struct Permission: Sendable, Equatable {
        public var resourceName: String
        public var scope: String
        public var description: String
    }
    public var flowID: String
    public var csrfToken: String
    public var tenantDisplayName: String
    public var applicationName: String
    public var userPrincipalName: String
    public var permissions: [Permission]
    public var action: String
    /// Admin consent: accepting grants the permissions for every user of the tenant.
    public var forOrganization = false
}

/// A step Conditional Access adds to a sign-in.
public enum InteractiveStep: String, Codable, Sendable {
    /// Enter the code of the registered authenticator app.
    case mfa
    /// Register an authenticator app (secret and otpauth:// URI shown), confirmed with one code.
    case mfaRegistration
    /// Choose a new password (a `passwordChange` grant control).
    case passwordChange

    /// The path segment the step's form posts to.
    public var path: String { self == .passwordChange ? "passwordchange" : "mfa" }
}

/// The page of a Conditional Access step.
public struct StepPage: Sendable, Equatable {
    public var step: InteractiveStep
    public var flowID: String
    public var csrfToken: String
    public var tenantDisplayName: String
    public var userPrincipalName: String
    public var errorMessage: String?
    public var action: String
    /// At registration: the new secret (base32) and its otpauth:// URI.
    public var secret: String?
    public var provisioningURI: String?
}

/// The outcome of an interactive step.
public enum InteractiveResult: Sendable {
    case signIn(SignInPage, cookies: [Cookie])
    case consent(ConsentPage, cookies: [Cookie])
    /// A Conditional Access step (verification code, registration, password change).
    case step(StepPage, cookies: [Cookie])
    case respond(ClientResponse, cookies: [Cookie])
    case error(OAuthError)
    /// A plain page (device sign-in done, signed out, enter a device code).
    case message(title: String, text: String, cookies: [Cookie])
    case deviceCodeEntry(csrfToken: String, errorMessage: String?, cookies: [Cookie])
    /// "Sign out?": a form that posts `fields` back to `action` when the user confirms.
    case confirmLogout(action: String, fields: [(String, String)], cookies: [Cookie])
    case redirect(String, cookies: [Cookie])
}
