import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `POST /_deputy/test/clock` (`deputy up --test-controls`) moves every tenant's clock: only an
/// administrator's Graph token may use it.
@Suite("Test clock")
struct TestClockTests {
    @Test("The test clock answers an administrator's token only: 401 without one, 403 for a user who is not an administrator")
    func clockNeedsAnAdministrator() async throws {
        let authority = try await DemoAuthority.make()
        let clock = OffsetTimeSource()
        try await Application(router: AuthorityRoutes(authority: authority, testClock: clock).router()).test(.router) { client in
            let body = ByteBuffer(string: #"{"advanceSeconds": 60}"#)
            let anonymous = try await client.execute(
                uri: "/_deputy/test/clock", method: .post, headers: [.contentType: "application/json"], body: body
            ) { $0 }
            #expect(anonymous.status == .unauthorized && clock.offset == 0)
            let alice = DemoTenant.user("alice")
            let user = try await ConditionalAccessPagesTests.token(
                client,
                [
                    ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", alice.upn),
                    ("password", alice.password),
                    ("scope", "https://graph.microsoft.com/AuditLog.Read.All"),
                ])
            let notAdmin = try await client.execute(
                uri: "/_deputy/test/clock", method: .post,
                headers: [.contentType: "application/json", .authorization: "Bearer \(user)"], body: body
            ) { $0 }
            #expect(notAdmin.status == .forbidden && clock.offset == 0)
            let admin = DemoTenant.app("admin")
            let appToken = try await ConditionalAccessPagesTests.token(
                client,
                [
                    ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                    ("scope", "https://graph.microsoft.com/.default"),
                ])
            let moved = try await client.execute(
                uri: "/_deputy/test/clock", method: .post,
                headers: [.contentType: "application/json", .authorization: "Bearer \(appToken)"], body: body
            ) { $0 }
            #expect(moved.status == .ok && clock.offset == 60)
        }
    }
}
