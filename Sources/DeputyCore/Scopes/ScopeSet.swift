import Foundation

/// Space-separated scope lists (RFC 6749 §3.3) and Entra's resource-qualified scopes.
public enum Scopes {
    /// The OpenID Connect scopes Entra accepts next to a resource's scopes.
    public static let openIDScopes: Set<String> = ["openid", "profile", "email", "offline_access"]

    /// Splits a `scope` parameter into its distinct tokens, keeping their order.
    public static func parse(_ value: String?) -> [String] {
        guard let value else { return [] }
        var seen = Set<String>()
        return value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            .filter { seen.insert($0).inserted }
    }

    /// Joins scopes as a space-separated string.
    public static func format(_ scopes: some Sequence<String>) -> String { scopes.joined(separator: " ") }
}

/// One requested scope, read the way Entra reads it: an OIDC scope, `{resource}/.default`, or
/// `{resource}/{value}`. A bare value (`User.Read`) means Microsoft Graph, as in Entra.
public enum RequestedScope: Sendable, Hashable {
    case openID(String)
    case resourceDefault(resource: String)
    case resource(resource: String, value: String)

    /// The resource identifier Entra uses when no resource is named.
    public static let microsoftGraph = "https://graph.microsoft.com"

    public init(_ token: String) {
        if Scopes.openIDScopes.contains(token.lowercased()) {
            self = .openID(token.lowercased())
            return
        }
        if token.hasSuffix("/.default"), token.count > "/.default".count {
            // `https://database.windows.net//.default` names the resource `https://database.windows.net/`
            // (Entra accepts both forms); the directory lookup ignores one trailing slash.
            self = .resourceDefault(resource: String(token.dropLast("/.default".count)))
            return
        }
        if let slash = token.lastIndex(of: "/"), slash != token.startIndex {
            let resource = String(token[..<slash])
            let value = String(token[token.index(after: slash)...])
            if !value.isEmpty {
                self = .resource(resource: resource, value: value)
                return
            }
        }
        self = .resource(resource: RequestedScope.microsoftGraph, value: token)
    }

    /// The resource identifier named, if any.
    public var resource: String? {
        switch self {
        case .openID: nil
        case .resourceDefault(let r), .resource(let r, _): r
        }
    }
}
