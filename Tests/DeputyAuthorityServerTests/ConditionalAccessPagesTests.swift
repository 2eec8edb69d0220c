import DeputyAuthority
import DeputyAuthorityServer
import DeputyCore
import DeputyDemo
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Conditional Access through the HTML pages: the TOTP step, registration, lockout, the block
/// page, and the administrators' sign-in log (page and Graph API).
@Suite("Conditional Access pages")
struct ConditionalAccessPagesTests {
    typealias Browser = ConsentPagesTests.Browser
    static let mfaPolicy = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"
    static let blockGuests = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e03"
    static let capolids = #"{"access_token":{"capolids":{"essential":true,"values":["0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e01"]}}}"#

    /// The CLI's authorize URL for the Web API, answering the MFA policy's claims challenge.
    static func authorize(scope: String = "api://contoso-expenses-api/access_as_user", claims: String? = capolids) -> String {
        var q: [(String, String)] = [
            ("client_id", DemoTenant.app("cli").appId), ("redirect_uri", "http://localhost"), ("response_type", "code"),
            ("scope", scope), ("state", "st"),
        ]
        if let claims { q.append(("claims", claims)) }
        return "/contoso.com/oauth2/v2.0/authorize?" + FormParameters(q).encoded
    }

    static func text(_ r: TestResponse) -> String { String(buffer: r.body) }

    static func code(_ r: TestResponse) -> String? {
        guard r.status == .found, let location = r.headers[.location], let q = URLComponents(string: location)?.queryItems else {
            return nil
        }
        return q.first { $0.name == "code" }?.value
    }

    static func redeem(_ client: any TestClientProtocol, code: String) async throws -> [String: JSONValue] {
        let body = FormParameters([
            ("grant_type", "authorization_code"), ("client_id", DemoTenant.app("cli").appId), ("code", code),
            ("redirect_uri", "http://localhost"), ("scope", "api://contoso-expenses-api/access_as_user"),
        ]).encoded
        let r = try await client.execute(
            uri: "/contoso.com/oauth2/v2.0/token", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: body)
        ) { $0 }
        #expect(r.status == .ok)
        let json = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: r.body).utf8))
        return try UnverifiedJWT(try #require(json["access_token"]?.stringValue)).claims
    }

    @Test("Answering the MFA policy's challenge adds the verification code after the password; the token carries pwd, mfa and otp")
    func totpStep() async throws {
        try await ConsentPagesTests.withApp { client, authority in
            let browser = Browser(client)
            let bob = DemoTenant.user("bob")
            let signIn = try await browser.get(Self.authorize())
            let step = try await browser.submit(signIn, [("username", bob.upn), ("password", bob.password)])
            #expect(Self.text(step).contains("Enter code"))
            #expect(Self.text(step).contains("name=\"otc\""))
            let wrong = try await browser.submit(step, [("otc", "000000")])
            #expect(Self.text(wrong).contains("enter the expected verification code"))
            let secret = try #require(bob.totpSecret)
            let code = try #require(TOTP.code(base32Secret: secret, at: authority.time.now()))
            let done = try await browser.submit(wrong, [("otc", code)])
            let authCode = try #require(Self.code(done), "expected a redirect with a code, got \(done.status): \(Self.text(done))")
            let claims = try await Self.redeem(client, code: authCode)
            #expect(claims["amr"]?.arrayValue?.compactMap(\.stringValue) == ["pwd", "mfa", "otp"])

            // The SSO session remembers MFA: a second sign-in needs neither password nor code.
            let again = try await browser.get(Self.authorize())
            #expect(Self.code(again) != nil)

            // The interrupted attempt is in the sign-in log, with the policy that asked for MFA.
            let log = try await authority.store.recentSignIns(limit: 20)
            let interrupted = try #require(log.first { $0.status.errorCode == 50076 && $0.isInteractive })
            #expect(interrupted.appliedConditionalAccessPolicies.first { $0.id == Self.mfaPolicy }?.result == "failure")
            #expect(interrupted.userPrincipalName == bob.upn)
        }
    }

    @Test("A silent request (prompt=none) that needs MFA gets interaction_required at the redirect URI, never a page")
    func silentNeedsInteraction() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let browser = Browser(client)
            let bob = DemoTenant.user("bob")
            // Signed in with the password only (no policy targets the Web API without the claims).
            let first = try await browser.submit(
                try await browser.get(Self.authorize(claims: nil)), [("username", bob.upn), ("password", bob.password)])
            #expect(Self.code(first) != nil)
            let silent = try await browser.get(Self.authorize() + "&prompt=none")
            #expect(silent.status == .found)
            let q = URLComponents(string: silent.headers[.location] ?? "")?.queryItems ?? []
            #expect(q.first { $0.name == "error" }?.value == "interaction_required")
            #expect(q.first { $0.name == "error_description" }?.value?.hasPrefix("AADSTS50076") == true)
        }
    }

    @Test("A used code is refused, and repeated wrong codes lock the verification for a while")
    func replayAndLockout() async throws {
        try await ConsentPagesTests.withApp { client, authority in
            let bob = DemoTenant.user("bob")
            let secret = try #require(bob.totpSecret)
            let first = Browser(client)
            let step1 = try await first.submit(try await first.get(Self.authorize()), [("username", bob.upn), ("password", bob.password)])
            // The code of the step now (a busy test run can take longer than a 30-second step to get here).
            let code = try #require(TOTP.code(base32Secret: secret, at: authority.time.now()))
            #expect(Self.code(try await first.submit(step1, [("otc", code)])) != nil)

            let second = Browser(client)
            let step2 = try await second.submit(
                try await second.get(Self.authorize()), [("username", bob.upn), ("password", bob.password)])
            let replayed = try await second.submit(step2, [("otc", code)])
            #expect(Self.text(replayed).contains("That code was already used"))
            // The replayed code was one failed attempt: four more wrong codes reach the limit.
            var page = replayed
            for _ in 1..<InteractiveSignIn.maxCodeFailures { page = try await second.submit(page, [("otc", "000000")]) }
            #expect(Self.text(page).contains("AADSTS500121"))
            // Locked: even the right code is refused now.
            let third = Browser(client)
            let step3 = try await third.submit(try await third.get(Self.authorize()), [("username", bob.upn), ("password", bob.password)])
            let fresh = try #require(TOTP.code(base32Secret: bob.totpSecret!, at: authority.time.now() + TOTP.period))
            #expect(Self.text(try await third.submit(step3, [("otc", fresh)])).contains("AADSTS500121"))
        }
    }

    @Test("A user without MFA registers: the page shows the secret and otpauth URI, one code confirms it, and the secret is kept")
    func registration() async throws {
        try await ConsentPagesTests.withApp { client, authority in
            let browser = Browser(client)
            let eve = DemoTenant.user("eve")
            let step = try await browser.submit(
                try await browser.get(Self.authorize()), [("username", eve.upn), ("password", eve.password)])
            let html = Self.text(step)
            #expect(html.contains("More information required"))
            let secret = try #require(html.range(of: "id=\"secret\">").map { String(html[$0.upperBound...].prefix { $0 != "<" }) })
            #expect(html.contains("otpauth://totp/") && html.contains("secret=\(secret)"))
            let code = try #require(TOTP.code(base32Secret: secret, at: authority.time.now()))
            let done = try await browser.submit(step, [("otc", code)])
            #expect(Self.code(done) != nil)
            let stored = try await authority.tenant(DemoTenant.tenantID)?.user(id: eve.id)?.totpSecret
            #expect(stored == secret)
        }
    }

    @Test("A blocked guest sees Entra's block page with AADSTS53003, and the sign-in log names the block policy")
    func blockPage() async throws {
        try await ConsentPagesTests.withApp { client, authority in
            let browser = Browser(client)
            let eve = DemoTenant.user("eve")
            let page = try await browser.submit(
                try await browser.get(Self.authorize(scope: "https://database.windows.net//Data.Read", claims: nil)),
                [("username", eve.upn), ("password", eve.password)])
            #expect(Self.text(page).contains("AADSTS53003"))
            #expect(Self.code(page) == nil)
            let record = try #require(try await authority.store.recentSignIns(limit: 5).first { $0.status.errorCode == 53003 })
            #expect(record.appliedConditionalAccessPolicies.first { $0.id == Self.blockGuests }?.result == "failure")
            #expect(record.conditionalAccessStatus == "failure")
        }
    }

    static func token(_ client: any TestClientProtocol, _ form: [(String, String)]) async throws -> String {
        let r = try await client.execute(
            uri: "/contoso.com/oauth2/v2.0/token", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: FormParameters(form).encoded)
        ) { $0 }
        let json = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: r.body).utf8))
        return try #require(json["access_token"]?.stringValue, "no token: \(String(buffer: r.body))")
    }

    @Test(
        "The Graph sign-in log answers administrators only: 401 without a token, 403 for a user who is not an administrator, filtered records for the admin app"
    )
    func graphSignIns() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let none = try await client.execute(uri: "/v1.0/auditLogs/signIns", method: .get) { $0 }
            #expect(none.status == .unauthorized)
            #expect(none.headers[.wwwAuthenticate]?.hasPrefix("Bearer ") == true)

            let alice = DemoTenant.user("alice")
            let delegated = try await Self.token(
                client,
                [
                    ("grant_type", "password"), ("client_id", DemoTenant.app("cli").appId), ("username", alice.upn),
                    ("password", alice.password), ("scope", "https://graph.microsoft.com/AuditLog.Read.All"),
                ])
            let forbidden = try await client.execute(
                uri: "/v1.0/auditLogs/signIns", method: .get, headers: [.authorization: "Bearer \(delegated)"]
            ) { $0 }
            #expect(forbidden.status == .forbidden)

            let admin = DemoTenant.app("admin")
            let appToken = try await Self.token(
                client,
                [
                    ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                    ("scope", "https://graph.microsoft.com/.default"),
                ])
            let filter = "appId eq '\(DemoTenant.app("cli").appId)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let ok = try await client.execute(
                uri: "/v1.0/auditLogs/signIns?$top=5&$filter=\(filter)", method: .get,
                headers: [.authorization: "Bearer \(appToken)"]
            ) { $0 }
            #expect(ok.status == .ok)
            let body = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: ok.body).utf8))
            let records = try #require(body["value"]?.arrayValue)
            #expect(!records.isEmpty)
            #expect(records.allSatisfy { $0.objectValue?["appId"]?.stringValue == DemoTenant.app("cli").appId })
            #expect(records.first?.objectValue?["appliedConditionalAccessPolicies"]?.arrayValue?.isEmpty == false)

            // As Python's requests sends it: `$` percent-encoded and spaces as `+`.
            let plus = "%24top=2&%24filter=appId+eq+%27\(DemoTenant.app("cli").appId)%27"
            let encoded = try await client.execute(
                uri: "/v1.0/auditLogs/signIns?\(plus)", method: .get,
                headers: [.authorization: "Bearer \(appToken)"]
            ) { $0 }
            #expect(encoded.status == .ok)
            let encodedRecords = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: encoded.body).utf8))["value"]?
                .arrayValue
            #expect(encodedRecords?.count == min(2, records.count))
            #expect(encodedRecords?.allSatisfy { $0.objectValue?["appId"]?.stringValue == DemoTenant.app("cli").appId } == true)

            let bad = try await client.execute(
                uri: "/v1.0/auditLogs/signIns?$filter=nonsense", method: .get,
                headers: [.authorization: "Bearer \(appToken)"]
            ) { $0 }
            #expect(bad.status == .badRequest)
        }
    }

    @Test("The Graph sign-in log pages with @odata.nextLink: following it gives every record once, newest first, then no link")
    func graphSignInPaging() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let admin = DemoTenant.app("admin")
            let form = [
                ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                ("scope", "https://graph.microsoft.com/.default"),
            ]
            var appToken = ""
            for _ in 0..<5 { appToken = try await Self.token(client, form) }
            let filter = "appId eq '\(admin.appId)'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            func page(_ uri: String) async throws -> (ids: [String], times: [String], next: String?) {
                let r = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(appToken)"]) { $0 }
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let body = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: r.body).utf8))
                let records = body["value"]?.arrayValue?.compactMap(\.objectValue) ?? []
                return (
                    records.compactMap { $0["id"]?.stringValue }, records.compactMap { $0["createdDateTime"]?.stringValue },
                    body["@odata.nextLink"]?.stringValue
                )
            }
            let all = try await page("/v1.0/auditLogs/signIns?$filter=\(filter)")
            #expect(all.ids.count == 5 && all.next == nil)
            var ids: [String] = []
            var uri: String? = "/v1.0/auditLogs/signIns?$top=2&$filter=\(filter)"
            var links: [String] = []
            while let current = uri, links.count < 10 {
                let p = try await page(current)
                ids += p.ids
                uri = p.next.map { link in
                    links.append(link)
                    // The link is absolute, on the authority's origin; the test client takes the path and query.
                    return String(link.dropFirst(link.range(of: "/v1.0/")!.lowerBound.utf16Offset(in: link)))
                }
            }
            #expect(ids == all.ids)
            #expect(links.count == 2, "pages of 2, 2 and 1, the last without a link: \(links)")
            #expect(links.allSatisfy { $0.hasPrefix("http://127.0.0.1:7400/v1.0/auditLogs/signIns?") && $0.contains("skiptoken") })
            #expect(links.allSatisfy { $0.contains("filter") }, "the filter is kept in the link")
            let bad = try await client.execute(
                uri: "/v1.0/auditLogs/signIns?$skiptoken=%21%21", method: .get, headers: [.authorization: "Bearer \(appToken)"]
            ) { $0 }
            #expect(bad.status == .badRequest)
        }
    }

    @Test("What-If over Graph gives every policy with policyApplies and analysisReasons")
    func whatIf() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let admin = DemoTenant.app("admin")
            let appToken = try await Self.token(
                client,
                [
                    ("grant_type", "client_credentials"), ("client_id", admin.appId), ("client_secret", admin.secret!),
                    ("scope", "https://graph.microsoft.com/.default"),
                ])
            let body =
                ##"{"signInIdentity":{"@odata.type":"#microsoft.graph.userSignIn","userId":"\##(DemoTenant.user("eve").id)"},"signInContext":{"@odata.type":"#microsoft.graph.applicationContext","includeApplications":["\##(DemoTenant.app("dataApi").appId)"]},"signInConditions":{"clientAppType":"browser"}}"##
            let r = try await client.execute(
                uri: "/beta/identity/conditionalAccess/evaluate", method: .post,
                headers: [.authorization: "Bearer \(appToken)", .contentType: "application/json"], body: ByteBuffer(string: body)
            ) { $0 }
            #expect(r.status == .ok)
            let json = try JSONDecoder().decode([String: JSONValue].self, from: Data(String(buffer: r.body).utf8))
            let list = json["value"]?.arrayValue?.compactMap(\.objectValue)
            let value = try #require(list)
            #expect(value.count == 5)
            let block = try #require(value.first { $0["id"]?.stringValue == Self.blockGuests })
            #expect(block["policyApplies"] == .bool(true))
            #expect(block["analysisReasons"]?.stringValue == "notSet")
            let c1 = try #require(value.first { $0["id"]?.stringValue == "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e02" })
            #expect(c1["policyApplies"] == .bool(false))
            #expect(c1["analysisReasons"]?.stringValue == "authenticationContext")
        }
    }

    @Test("The sign-in log page shows an administrator each sign-in with every policy's result; others get 403")
    func signInLogPage() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let bob = DemoTenant.user("bob")
            let browser = Browser(client)
            let signIn = try await browser.get("/\(DemoTenant.tenantID)/signins")
            #expect(Self.text(signIn).contains("name=\"password\""))
            let back = try await browser.submit(signIn, [("username", bob.upn), ("password", bob.password)])
            #expect(back.headers[.location] == "/\(DemoTenant.tenantID)/signins")
            // An agent's sign-in names the agent identity and its blueprint.
            let blueprint = DemoTenant.app("agentBlueprint")
            let form = FormParameters([
                ("grant_type", "client_credentials"), ("client_id", blueprint.appId), ("client_secret", blueprint.secret!),
                ("scope", "api://AzureADTokenExchange/.default"), ("fmi_path", DemoTenant.app("agent").appId),
            ]).encoded
            let t1 = try await client.execute(
                uri: "/\(DemoTenant.tenantID)/oauth2/v2.0/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form)
            ) { $0 }
            #expect(t1.status == .ok)
            let page = try await browser.get("/\(DemoTenant.tenantID)/signins")
            #expect(page.status == .ok)
            #expect(Self.text(page).contains("<details"))
            #expect(Self.text(page).contains("Agent: the blueprint got a credential (T1) for Contoso Expense Agent"))

            let alice = DemoTenant.user("alice")
            let other = Browser(client)
            let aliceBack = try await other.submit(
                try await other.get("/\(DemoTenant.tenantID)/signins"), [("username", alice.upn), ("password", alice.password)])
            #expect(aliceBack.status == .found)
            #expect(try await other.get("/\(DemoTenant.tenantID)/signins").status == .forbidden)
        }
    }

    @Test("The sign-in log page shows one request's sign-ins by correlation id, also after signing in first")
    func signInLogPageByCorrelation() async throws {
        try await ConsentPagesTests.withApp { client, _ in
            let bob = DemoTenant.user("bob")
            let browser = Browser(client)
            let path = "/\(DemoTenant.tenantID)/signins?correlationId=chain-42"
            let back = try await browser.submit(try await browser.get(path), [("username", bob.upn), ("password", bob.password)])
            #expect(back.headers[.location] == path)
            // Bob's own page sign-in has another correlation id: nothing matches yet.
            #expect(!Self.text(try await browser.get(path)).contains("<details"))
            let reports = DemoTenant.app("reports")
            _ = try await client.execute(
                uri: "/\(DemoTenant.tenantID)/oauth2/v2.0/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("client-request-id")!: "chain-42"],
                body: ByteBuffer(
                    string: FormParameters([
                        ("grant_type", "client_credentials"), ("client_id", reports.appId),
                        ("client_secret", reports.secret!),
                        ("scope", "https://database.windows.net/.default"),
                    ]).encoded))
            let page = Self.text(try await browser.get(path))
            #expect(page.components(separatedBy: "<details").count == 2 && page.contains("chain-42"))
            #expect(Self.text(try await browser.get("/\(DemoTenant.tenantID)/signins")).components(separatedBy: "<details").count > 2)
        }
    }
}
