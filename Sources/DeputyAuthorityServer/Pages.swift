import DeputyAuthority
import Foundation
import Mustache

/// The server-rendered pages (sign-in, device code, messages, errors, form_post), as Mustache
/// templates compiled once. Kept in code so the `deputy` binary carries them wherever it goes.
enum Pages {
    static let layout = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title><style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f2f2f2;margin:0}
        main{max-width:420px;margin:8vh auto;background:#fff;padding:36px 40px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
        h1{font-size:1.5rem;font-weight:600;margin:.2em 0 .6em} .brand{color:#555;font-size:.9rem}
        label{display:block;margin:.8em 0 .2em} input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;border:0;border-bottom:1px solid #666;font-size:1rem}
        button{margin-top:1.4em;background:#0067b8;color:#fff;border:0;padding:8px 28px;font-size:1rem;cursor:pointer}
        .error{color:#e81123;margin:.6em 0} .small{color:#666;font-size:.8rem;margin-top:2em;word-break:break-all}
        </style></head><body><main>{{{body}}}</main></body></html>
        """

    static let signIn = try! MustacheTemplate(
        string: """
            <div class="brand">{{tenant}}</div><h1>Sign in</h1><p>to continue to <b>{{app}}</b></p>
            {{#error}}<p class="error" role="alert" id="error">{{error}}</p>{{/error}}
            <form method="post" action="{{action}}" autocomplete="off">
            <input type="hidden" name="flow" value="{{flow}}"><input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="username">Email or username</label><input type="text" id="username" name="username" value="{{username}}" autofocus>
            <label for="password">Password</label><input type="password" id="password" name="password">
            <button type="submit" id="signin">Sign in</button></form>
            """)

    static let consent = try! MustacheTemplate(
        string: """
            <div class="brand">{{tenant}} · {{user}}</div><h1>Permissions requested</h1>
            <p><b>{{app}}</b> would like to:</p>{{#organization}}<p id="organization"><b>Consent on behalf of your organization:</b> every user of {{tenant}} will be covered.</p>{{/organization}}
            <ul id="permissions">{{#permissions}}<li><b>{{description}}</b><br><span class="small">{{scope}} on {{resource}}</span></li>{{/permissions}}</ul>
            <p class="small">Accepting lets this app use these permissions as you until you revoke them. Decline if you don't trust it.</p>
            <form method="post" action="{{action}}"><input type="hidden" name="flow" value="{{flow}}"><input type="hidden" name="csrf_token" value="{{csrf}}">
            <button type="submit" name="decision" value="decline" id="decline" style="background:#666">Cancel</button>
            <button type="submit" name="decision" value="accept" id="accept">Accept</button></form>
            """)

    /// The verification-code step; at registration it first shows the new key and its otpauth:// URI.
    static let verificationCode = try! MustacheTemplate(
        string: """
            <div class="brand">{{tenant}} · {{user}}</div><h1>{{heading}}</h1>
            {{#secret}}<p>Your organization needs more information to keep your account secure. Set up an authenticator app:
            add an account with this key (or scan the otpauth:// link), then enter the code it shows.</p>
            <p>Key: <code id="secret">{{secret}}</code></p><p class="small"><a id="otpauth" href="{{uri}}">{{uri}}</a></p>{{/secret}}
            {{^secret}}<p>Enter the code displayed in the authenticator app on your mobile device.</p>{{/secret}}
            {{#error}}<p class="error" role="alert" id="error">{{error}}</p>{{/error}}
            <form method="post" action="{{action}}" autocomplete="off">
            <input type="hidden" name="flow" value="{{flow}}"><input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="otc">Code</label><input type="text" id="otc" name="otc" inputmode="numeric" maxlength="6" autofocus>
            <button type="submit" id="verify">Verify</button></form>
            """)

    static let passwordChange = try! MustacheTemplate(
        string: """
            <div class="brand">{{tenant}} · {{user}}</div><h1>Update your password</h1>
            <p>Your organization requires you to change your password.</p>
            {{#error}}<p class="error" role="alert" id="error">{{error}}</p>{{/error}}
            <form method="post" action="{{action}}" autocomplete="off">
            <input type="hidden" name="flow" value="{{flow}}"><input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="new_password">New password</label><input type="password" id="new_password" name="new_password" autofocus>
            <label for="confirm_password">Confirm password</label><input type="password" id="confirm_password" name="confirm_password">
            <button type="submit" id="submit">Sign in</button></form>
            """)

    static let deviceCode = try! MustacheTemplate(
        string: """
            <div class="brand">Deputy</div><h1>Enter code</h1><p>Enter the code displayed on your app or device.</p>
            {{#error}}<p class="error" role="alert" id="error">{{error}}</p>{{/error}}
            <form method="post" action="/devicelogin" autocomplete="off"><input type="hidden" name="csrf_token" value="{{csrf}}">
            <label for="user_code">Code</label><input type="text" id="user_code" name="user_code" autofocus>
            <button type="submit" id="next">Next</button></form>
            """)

    static let confirmLogout = try! MustacheTemplate(
        string: """
            <div class="brand">Deputy</div><h1 id="title">Sign out?</h1><p>Do you want to sign out of your account?</p>
            <form method="post" action="{{action}}">{{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
            <button type="submit" id="signout">Sign out</button></form>
            """)

    static let message = try! MustacheTemplate(
        string: """
            <div class="brand">Deputy</div><h1 id="title">{{title}}</h1><p id="message">{{text}}</p>
            """)

    static let error = try! MustacheTemplate(
        string: """
            <div class="brand">Deputy</div><h1>Sorry, but we're having trouble signing you in.</h1>
            <p class="error" id="error">{{description}}</p>
            <div class="small">Error: {{error}}<br>Correlation ID: {{correlation}}<br>Timestamp: {{timestamp}}</div>
            """)

    static let formPost = try! MustacheTemplate(
        string: """
            <form method="post" action="{{action}}" id="form">{{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
            <noscript><button type="submit">Continue</button></noscript></form><script>document.getElementById('form').submit()</script>
            """)

    static func page(title: String, body: String) -> String {
        let layoutTemplate = try! MustacheTemplate(string: layout)
        return layoutTemplate.render(["title": title, "body": body])
    }

    static func consent(_ p: ConsentPage) -> String {
        let permissions = p.permissions.map { ["resource": $0.resourceName, "scope": $0.scope, "description": $0.description] }
        let o: [String: Any] = [
            "tenant": p.tenantDisplayName, "user": p.userPrincipalName, "app": p.applicationName, "action": p.action,
            "flow": p.flowID, "csrf": p.csrfToken, "permissions": permissions, "organization": p.forOrganization,
        ]
        return page(title: "Permissions requested", body: consent.render(o))
    }

    static let signInLog = try! MustacheTemplate(
        string: """
            <div class="brand">{{tenant}} · {{user}}</div><h1>Sign-ins</h1>
            <p class="small">Newest first. Open one to see every Conditional Access policy, whether it applied and why.</p>
            {{#records}}<details class="signin" id="signin-{{id}}"><summary><b>{{time}}</b> · {{who}} · {{app}} → {{resource}} ·
            <span class="{{statusClass}}">{{status}}</span> · CA {{caStatus}}</summary>
            <p class="small">{{kind}} · {{protocol}} · {{ip}} · correlation {{correlation}} · methods {{methods}} · requirement {{requirement}}{{#note}} · {{note}}{{/note}}</p>
            {{#agent}}<p class="small agent">Agent: {{agent}}</p>{{/agent}}
            <table>{{#policies}}<tr><td><b>{{name}}</b></td><td class="{{resultClass}}">{{result}}</td><td>{{controls}}</td><td class="small">{{why}}</td></tr>{{/policies}}</table>
            </details>{{/records}}
            {{^records}}<p>No sign-ins yet.</p>{{/records}}
            """)

    static func signInLog(_ records: [SignInRecord], tenant: String, user: String) -> String {
        let f = ISO8601DateFormatter()
        let rows: [[String: Any]] = records.map { r in
            let failed = r.status.errorCode != 0
            return [
                "id": r.id, "time": f.string(from: r.createdDateTime), "who": r.userPrincipalName ?? "(app-only)",
                "app": r.appDisplayName ?? r.appId ?? "", "resource": r.resourceDisplayName ?? r.resourceId ?? "",
                "status": failed ? "AADSTS\(r.status.errorCode): \(r.status.failureReason ?? "")" : "Success",
                "statusClass": failed ? "error" : "", "caStatus": r.conditionalAccessStatus,
                "kind": r.isInteractive ? "interactive" : "non-interactive", "protocol": r.authenticationProtocol,
                "ip": r.ipAddress ?? "", "correlation": r.correlationId, "methods": r.authenticationMethodsUsed.joined(separator: ", "),
                "requirement": r.authenticationRequirement ?? "", "note": r.note ?? false, "agent": Self.agent(r.agent) ?? false,
                "policies": r.appliedConditionalAccessPolicies.map { p -> [String: Any] in
                    [
                        "name": p.displayName, "result": p.result, "controls": p.enforcedGrantControls.joined(separator: ", "),
                        "why": why(p), "resultClass": p.result.hasSuffix("ailure") ? "error" : "",
                    ]
                },
            ]
        }
        let body = signInLog.render(["tenant": tenant, "user": user, "records": rows] as [String: Any])
        return page(title: "Sign-ins", body: body).replacingOccurrences(of: "max-width:420px", with: "max-width:1100px")
    }

    /// The sign-in's agent in words: which agent identity of which blueprint, and in what role.
    static func agent(_ a: SignInRecord.AgentSignIn?) -> String? {
        guard let a else { return nil }
        let who =
            "\(a.agentDisplayName ?? a.agentIdentityId) (agent identity \(a.agentIdentityId)) of blueprint \(a.parentDisplayName ?? a.parentAppId)"
        switch (a.agentType, a.agentSubjectType) {
        case (.agentIdentityBlueprintPrincipal, _): return "the blueprint got a credential (T1) for \(who)"
        case (_, .notAgentic): return "\(who), acting for the user"
        case (_, .agentIDuser): return "\(who), acting as its agent user"
        default: return "\(who), acting on its own"
        }
    }

    /// Why a policy applied or not, in words, from Graph's condition terms.
    static func why(_ p: SignInRecord.AppliedPolicy) -> String {
        if !p.explanation.isEmpty { return p.explanation.joined(separator: "; ") }
        let words: [String: String] = [
            "users": "the user is not assigned", "application": "the resource is not a target",
            "authenticationContext": "its authentication context was not requested",
            "workloadIdentities": "it is not for this kind of sign-in (user or workload identity)",
            "clientApps": "the client app type is not included",
            "devicePlatform": "the device platform is not included", "location": "the location is not included",
            "signInRisk": "the sign-in risk is not included", "userRisk": "the user risk is not included",
            "devices": "the device state is not included", "policyNotEnabled": "the policy is off",
        ]
        if !p.conditionsNotSatisfied.isEmpty {
            return "Not applied: " + p.conditionsNotSatisfied.map { words[$0] ?? $0 }.joined(separator: "; ")
        }
        switch p.result {
        case "success", "reportOnlySuccess": return "Applied: every condition matched and its controls were satisfied"
        case "failure", "reportOnlyFailure", "reportOnlyInterrupted":
            return "Applied: every condition matched; required \(p.enforcedGrantControls.joined(separator: ", ")) was not satisfied"
        default: return ""
        }
    }

    static func step(_ p: StepPage) -> String {
        var o: [String: Any] = [
            "tenant": p.tenantDisplayName, "user": p.userPrincipalName, "action": p.action, "flow": p.flowID, "csrf": p.csrfToken,
        ]
        if let e = p.errorMessage { o["error"] = e }
        switch p.step {
        case .mfa:
            o["heading"] = "Enter code"
            return page(title: "Enter code", body: verificationCode.render(o))
        case .mfaRegistration:
            o["heading"] = "More information required"
            o["secret"] = p.secret ?? ""
            o["uri"] = p.provisioningURI ?? ""
            return page(title: "More information required", body: verificationCode.render(o))
        case .passwordChange: return page(title: "Update your password", body: passwordChange.render(o))
        }
    }

    static func signIn(_ p: SignInPage) -> String {
        var o: [String: Any] = [
            "tenant": p.tenantDisplayName, "app": p.applicationName, "action": p.action, "flow": p.flowID,
            "csrf": p.csrfToken, "username": p.username ?? "",
        ]
        if let e = p.errorMessage { o["error"] = e }
        return page(title: "Sign in to your account", body: signIn.render(o))
    }
}
