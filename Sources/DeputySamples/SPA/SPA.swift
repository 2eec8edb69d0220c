import DeputyCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The SPA: static HTML, CSS and JavaScript (no build step; the files are compiled into the
/// binary, so `deputy` runs from anywhere) and its `/config.json`, served from their own origin.
public enum SPA {
    /// The SPA's settings, read by `app.js` at start.
    public struct Configuration: Sendable {
        /// The authority with the tenant (`https://127.0.0.1:7400/<tenant id>`).
        public var authority: String
        public var clientID: String
        public var redirectURI: String
        /// Each service the SPA calls: role → (display name, origin, scopes).
        public var services: [(role: String, name: String, url: String, scopes: [String])]
        public var signInLog: String
        /// Demo mode: show the token-chain panel.
        public var demo: Bool
        /// Serve `index.html`, `app.js` and `style.css` from this folder, read at every request,
        /// instead of the copies compiled in: for editing the SPA without rebuilding `deputy`.
        public var assetsDirectory: String?

        public init(
            assetsDirectory: String? = nil, authority: String, clientID: String, redirectURI: String,
            services: [(role: String, name: String, url: String, scopes: [String])],
            signInLog: String, demo: Bool
        ) {
            self.assetsDirectory = assetsDirectory
            self.authority = authority
            self.clientID = clientID
            self.redirectURI = redirectURI
            self.services = services
            self.signInLog = signInLog
            self.demo = demo
        }

        var json: JSONValue {
            var services: [String: JSONValue] = [:]
            for s in self.services {
                services[s.role] = .object([
                    "name": .string(s.name), "url": .string(s.url), "scopes": .array(s.scopes.map(JSONValue.string)),
                ])
            }
            return .object([
                "authority": .string(authority), "clientId": .string(clientID), "redirectUri": .string(redirectURI),
                "services": .object(services), "signInLog": .string(signInLog), "demo": .bool(demo),
            ])
        }
    }

    /// The routes: `/`, `/callback` (the same page), `/index.html`, `/app.js`, `/style.css`, `/config.json`.
    public static func addRoutes<Context: RequestContext>(to router: Router<Context>, configuration: Configuration) {
        let policy = contentSecurityPolicy(configuration)
        let folder = configuration.assetsDirectory
        /// A file's bytes: from the folder when one is set (a missing file there is an error, not a fallback).
        @Sendable func bytes(_ name: String, _ builtIn: [UInt8]) -> [UInt8] {
            guard let folder else { return builtIn }
            return (FileManager.default.contents(atPath: folder + "/" + name)).map { Array($0) }
                ?? Array("/* \(folder)/\(name) cannot be read */".utf8)
        }
        let page = { @Sendable in asset(bytes("index.html", PackageResources.index_html), type: "text/html; charset=utf-8", policy: policy)
        }
        router.get("/") { _, _ in page() }
        router.get("/index.html") { _, _ in page() }
        router.get("/callback") { _, _ in page() }
        router.get("/app.js") { _, _ in asset(bytes("app.js", PackageResources.app_js), type: "text/javascript; charset=utf-8") }
        router.get("/style.css") { _, _ in asset(bytes("style.css", PackageResources.style_css), type: "text/css; charset=utf-8") }
        let config = configuration.json.serialized
        router.get("/config.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: config)))
        }
        router.get("/health") { _, _ in "ok" }
    }

    /// The page runs only its own script and style, and talks only to the authority and the
    /// configured services (the tokens in its session storage go nowhere else).
    static func contentSecurityPolicy(_ configuration: Configuration) -> String {
        func origin(_ url: String) -> String? {
            guard let u = URLComponents(string: url), let scheme = u.scheme, let host = u.host else { return nil }
            return "\(scheme)://\(host)" + (u.port.map { ":\($0)" } ?? "")
        }
        let connect = (["'self'"] + ([configuration.authority] + configuration.services.map(\.url)).compactMap(origin)).joined(
            separator: " ")
        return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src \(connect); "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }

    static func asset(_ bytes: [UInt8], type: String, policy: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        if let policy { headers[.contentSecurityPolicy] = policy }
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
