import DeputyAuthority
import DeputyCore
import DeputyDemo
import DeputyTokenValidation
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A federated credential whose issuer publishes its keys at a JWKS URL: a real HTTP server on a
/// loopback port serves them, and the issuer rotates its key mid-test.
@Suite("remote key sets")
struct RemoteKeySetTests {
    @Test("A federated credential with jwksUri is verified with fetched keys, and a rotated issuer key is picked up on its unknown kid")
    func jwksURI() async throws {
        let first = try SigningKey.load(try SigningKey.generate(now: Date()))
        let second = try SigningKey.load(try SigningKey.generate(now: Date()))
        let served = LockedBox<[SigningKey]>([first])
        let fetches = LockedBox(0)
        let router = Router()
        router.get("/keys") { _, _ -> Response in
            fetches.withLock { $0 += 1 }
            let keys = try served.withLock { try $0.map { JSONValue.object(try $0.jwk(issuer: "https://issuer.example")) } }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["keys": .array(keys)]).serialized)))
        }
        let issuerApp = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await issuerApp.test(.live) { client in
            let port = try #require(client.port)
            let uri = "http://127.0.0.1:\(port)/keys"
            let file = try TenantFileLoader.load(yaml: DemoTenant(portBase: 7400, https: false).yaml, fileName: "demo.yaml")
            var tenants = file
            let i = tenants.tenants[0].applications.firstIndex { $0.appId == DemoTenant.app("reports").appId }!
            tenants.tenants[0].applications[i].federatedIdentityCredentials = [
                .init(
                    name: "ci", issuer: "https://issuer.example", subject: "workload-1", audiences: nil, description: nil, jwks: nil,
                    jwksUri: uri)
            ]
            let (authority, _) = try await Authority.open(
                configuration: AuthorityConfiguration(baseURL: "http://127.0.0.1:7400"),
                store: RecordStore.inMemory(), tenantFile: tenants)
            func request(signedBy key: SigningKey) async throws -> Result<TokenResponse, OAuthError> {
                let now = Date().timeIntervalSince1970
                let assertion = try key.sign(claims: [
                    "iss": .string("https://issuer.example"), "sub": .string("workload-1"),
                    "aud": .string("api://AzureADTokenExchange"), "iat": .number(now), "exp": .number(now + 300),
                ])
                return await authority.token(
                    TokenRequest(
                        tenantSegment: "contoso.com",
                        form: FormParameters([
                            ("grant_type", "client_credentials"), ("client_id", DemoTenant.app("reports").appId),
                            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                            ("client_assertion", assertion),
                            ("scope", "https://database.windows.net//.default"),
                        ]), correlationID: "c"))
            }
            _ = try await request(signedBy: first).get()
            _ = try await request(signedBy: first).get()
            #expect(fetches.withLock { $0 } == 1, "the key set is cached")
            served.withLock { $0 = [second] }
            _ = try await request(signedBy: second).get()
            #expect(fetches.withLock { $0 } == 2, "an unknown kid refreshes the keys once")
            let stranger = try SigningKey.load(try SigningKey.generate(now: Date()))
            #expect(try await request(signedBy: stranger).failure?.aadsts == 700027)
        }
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}
