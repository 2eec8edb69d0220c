import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyHummingbird
import DeputySamples
import DeputyTokenValidation
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The Data API against tokens the authority mints in-process: the Web API's OBO tokens for
/// users, an app-only token, and a token for another resource.
@Suite("Data API")
struct DataAPITests {
    struct Fixture {
        let authority: Authority
        let api: DataAPI

        init() async throws {
            var file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
            file.tenants[0].conditionalAccessPolicies = []  // Conditional Access is not under test here
            var configuration = AuthorityConfiguration(baseURL: "http://127.0.0.1:7400")
            configuration.passwordHashCost = 4
            (authority, _) = try await Authority.open(configuration: configuration, store: RecordStore.inMemory(), tenantFile: file)
            await authority.passwords.waitForHashing()
            let jwks = String(
                decoding: JSONValue.object(try await authority.jwks(tenantID: DemoTenant.tenantID, v2: true)).serialized, as: UTF8.self)
            let dataApi = DemoTenant.app("dataApi")
            var config = DataAPI.configuration(
                authority: "http://127.0.0.1:7400/\(DemoTenant.tenantID)/v2.0", appID: dataApi.appId,
                appIDURI: dataApi.identifierUri!)
            config.keys = .jwks(json: jwks, issuer: configuration.issuerV2(tenantID: DemoTenant.tenantID))
            let store = try ExpenseStore()
            try store.seedIfEmpty(DataAPI.demoExpenses(now: Date()))
            api = DataAPI(
                validator: try ResourceValidator(config), store: store,
                managers: [DemoTenant.user("alice").id: DemoTenant.user("bob").id])
        }

        func token(_ form: [(String, String)]) async throws -> String {
            try await authority.token(TokenRequest(tenantSegment: "contoso.com", form: FormParameters(form), correlationID: "t")).get()
                .accessToken
        }

        /// A user's token for the Data API, as the Web API gets it by OBO.
        func userToken(_ user: String, scope: String = "https://database.windows.net//.default") async throws -> String {
            let u = DemoTenant.user(user)
            let webApi = DemoTenant.app("webApi")
            let assertion = try await token([
                ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", u.upn),
                ("password", u.password), ("scope", "api://contoso-expenses-api/access_as_user"),
            ])
            return try await token([
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("client_id", webApi.appId),
                ("client_secret", webApi.secret!), ("requested_token_use", "on_behalf_of"), ("assertion", assertion),
                ("scope", scope),
            ])
        }

        func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let router = Router(context: BearerRequestContext.self)
            api.addRoutes(to: router)
            try await Application(router: router).test(.router, body)
        }
    }

    static func list(_ r: TestResponse) throws -> [[String: JSONValue]] {
        try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: r.body).utf8)).arrayValue?.compactMap(\.objectValue) ?? []
    }

    static func auth(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    @Test("Each user sees their own expenses; a manager also sees their reports'; a guest sees none")
    func visibility() async throws {
        let f = try await Fixture()
        let alice = try await f.userToken("alice")
        let bob = try await f.userToken("bob")
        let eve = try await f.userToken("eve")
        try await f.test { client in
            let a = try Self.list(try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(alice)) { $0 })
            #expect(a.count == 3 && a.allSatisfy { $0["ownerOid"] == .string(DemoTenant.user("alice").id) })
            let b = try Self.list(try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(bob)) { $0 })
            #expect(b.count == 4)
            let e = try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(eve)) { $0 }
            let seen = try Self.list(e)
            #expect(e.status == .ok && seen.isEmpty)
            // Someone else's expense is simply not there.
            #expect(try await client.execute(uri: "/expenses/1", method: .get, headers: Self.auth(eve)) { $0 }.status == .notFound)
            #expect(try await client.execute(uri: "/expenses/1", method: .get, headers: Self.auth(bob)) { $0 }.status == .ok)
        }
    }

    @Test("Submitting sets the manager as approver; only the manager approves, once")
    func submitAndApprove() async throws {
        let f = try await Fixture()
        let alice = try await f.userToken("alice")
        let bob = try await f.userToken("bob")
        try await f.test { client in
            let created = try await client.execute(
                uri: "/expenses", method: .post, headers: Self.auth(alice),
                body: ByteBuffer(string: #"{"amount": 23.5, "description": "Taxi"}"#)
            ) { $0 }
            #expect(created.status == .created)
            let row = try #require(try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: created.body).utf8)).objectValue)
            #expect(row["approverOid"] == .string(DemoTenant.user("bob").id) && row["amount"] == .string("23.50"))
            let id = Int(row["id"]?.numberValue ?? 0)
            #expect(
                try await client.execute(uri: "/expenses/\(id)/approve", method: .post, headers: Self.auth(alice)) { $0 }.status
                    == .forbidden)
            let approved = try await client.execute(uri: "/expenses/\(id)/approve", method: .post, headers: Self.auth(bob)) { $0 }
            #expect(approved.status == .ok && String(buffer: approved.body).contains(#""status":"approved""#))
            #expect(
                try await client.execute(uri: "/expenses/\(id)/approve", method: .post, headers: Self.auth(bob)) { $0 }.status == .conflict)
            let bad = try await client.execute(
                uri: "/expenses", method: .post, headers: Self.auth(alice), body: ByteBuffer(string: #"{"amount": -1}"#)
            ) { $0 }
            #expect(bad.status == .badRequest)
        }
    }

    @Test("Only delegated tokens minted for the Data API are accepted: no passthrough, no app-only, and writes need Data.Write")
    func tokens() async throws {
        let f = try await Fixture()
        let bob = DemoTenant.user("bob")
        let forWebApi = try await f.token([
            ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", bob.upn),
            ("password", bob.password), ("scope", "api://contoso-expenses-api/access_as_user"),
        ])
        let reports = DemoTenant.app("reports")
        let appOnly = try await f.token([
            ("grant_type", "client_credentials"), ("client_id", reports.appId), ("client_secret", reports.secret!),
            ("scope", "https://database.windows.net//.default"),
        ])
        let readOnly = try await f.userToken("bob", scope: "https://database.windows.net//Data.Read")
        try await f.test { client in
            let none = try await client.execute(uri: "/expenses", method: .get) { $0 }
            #expect(none.status == .unauthorized && none.headers[.wwwAuthenticate] == "Bearer")
            let passthrough = try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(forWebApi)) { $0 }
            #expect(passthrough.status == .unauthorized && passthrough.headers[.wwwAuthenticate] == #"Bearer error="invalid_token""#)
            let app = try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(appOnly)) { $0 }
            #expect(app.status == .unauthorized)
            #expect(try await client.execute(uri: "/expenses", method: .get, headers: Self.auth(readOnly)) { $0 }.status == .ok)
            let write = try await client.execute(
                uri: "/expenses", method: .post, headers: Self.auth(readOnly),
                body: ByteBuffer(string: #"{"amount": 1, "description": "x"}"#)
            ) { $0 }
            #expect(
                write.status == .forbidden && write.headers[.wwwAuthenticate] == #"Bearer error="insufficient_scope", scope="Data.Write""#)
        }
    }
}
