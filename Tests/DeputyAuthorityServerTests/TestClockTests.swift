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

    @Test(
        "Moving the test clock takes a tenant administrator: a reader role or a read permission is refused, a Global Administrator is not")
    func clockNeedsATenantAdministrator() async throws {
        let alice = DemoTenant.user("alice")
        let globalReader = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
        let authority = try await DemoAuthority.make { file in
            file.tenants[0].directoryRoleAssignments.append(
                DirectoryRoleAssignment(principalId: alice.id, roleTemplateId: globalReader, displayName: "Global Reader"))
        }
        let clock = OffsetTimeSource()
        try await Application(router: AuthorityRoutes(authority: authority, testClock: clock).router()).test(.router) { client in
            func advance(_ user: DemoTenant.DemoUser, scope: String) async throws -> HTTPResponse.Status {
                let token = try await ConditionalAccessPagesTests.token(
                    client,
                    [
                        ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", user.upn),
                        ("password", user.password), ("scope", "https://graph.microsoft.com/\(scope)"),
                    ])
                return try await client.execute(
                    uri: "/_deputy/test/clock", method: .post,
                    headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
                    body: ByteBuffer(string: #"{"advanceSeconds": 60}"#)
                ) { $0.status }
            }
            // A Global Reader reads the sign-in log, but does not move the clock, whatever the scope.
            let readerReading = try await advance(alice, scope: "AuditLog.Read.All")
            let readerWriting = try await advance(alice, scope: "User.ReadWrite.All")
            #expect(readerReading == .forbidden && readerWriting == .forbidden && clock.offset == 0)
            // A Global Administrator needs a write permission too.
            let bob = DemoTenant.user("bob")
            let adminReading = try await advance(bob, scope: "AuditLog.Read.All")
            #expect(adminReading == .forbidden && clock.offset == 0)
            let adminWriting = try await advance(bob, scope: "User.ReadWrite.All")
            #expect(adminWriting == .ok && clock.offset == 60)
        }
    }
}
