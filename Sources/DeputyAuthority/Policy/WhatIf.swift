public import DeputyCore
import Foundation

/// What-If (Graph beta `POST /identity/conditionalAccess/evaluate`, "conditionalAccessRoot: evaluate"):
/// which policies would apply to a sign-in, and why — computed by the same evaluator as live
/// issuance, for a sign-in that has not yet satisfied any control.
public struct WhatIf: Sendable {
    /// The question, in the request's terms.
    public struct Question: Sendable {
        public var userID: String?
        public var servicePrincipalID: String?
        /// The target resource's appId (`applicationContext.includeApplications`).
        public var resourceAppID: String?
        /// `authContext.authenticationContextValue`.
        public var authenticationContext: String?
        public var clientAppID: String?
        public var ipAddress: String?
        public var devicePlatform: String?
        public var clientAppType: String?
        public var signInRiskLevel: String?
        public var userRiskLevel: String?
        public var device: DeviceState?
        /// The agent identity's risk when an agent identity is the client (Deputy's addition).
        public var agentIdRiskLevel: String?
        public var appliedPoliciesOnly = false
        public init() {}
    }

    /// One policy's answer (Graph's `whatIfAnalysisResult`).
    public struct Answer: Sendable {
        public var evaluation: PolicyEvaluation
        /// The policy's JSON with `policyApplies` and `analysisReasons` added.
        public var json: JSONValue {
            var o: [String: JSONValue] = [:]
            if case .object(let p) = evaluation.policy.json { o = p }
            o["policyApplies"] = .bool(evaluation.applies)
            o["analysisReasons"] = .string(evaluation.reasons.isEmpty ? "notSet" : evaluation.reasons.joined(separator: ","))
            return .object(o)
        }
    }

    /// A question that names something the tenant does not have.
    public struct InvalidQuestion: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads Graph's request body.
    public static func question(fromGraph body: JSONValue) throws -> Question {
        guard case .object(let o) = body else { throw InvalidQuestion(description: "The request body must be a JSON object.") }
        var q = Question()
        if case .object(let identity)? = o["signInIdentity"] {
            q.userID = identity["userId"]?.stringValue
            // `#microsoft.graph.agentSignIn` names the agent identity as agentServicePrincipalId.
            q.servicePrincipalID = identity["servicePrincipalId"]?.stringValue ?? identity["agentServicePrincipalId"]?.stringValue
        }
        if case .object(let context)? = o["signInContext"] {
            if case .array(let apps)? = context["includeApplications"] { q.resourceAppID = apps.first?.stringValue }
            q.authenticationContext = context["authenticationContextValue"]?.stringValue
        }
        if case .object(let c)? = o["signInConditions"] {
            q.ipAddress = c["ipAddress"]?.stringValue
            q.devicePlatform = c["devicePlatform"]?.stringValue
            q.clientAppType = c["clientAppType"]?.stringValue
            q.signInRiskLevel = c["signInRiskLevel"]?.stringValue
            q.userRiskLevel = c["userRiskLevel"]?.stringValue
            q.agentIdRiskLevel = c["agentIdRiskLevel"]?.stringValue
            if case .object(let d)? = c["deviceInfo"], case .bool(let compliant)? = d["isCompliant"] {
                q.device = DeviceState(isCompliant: compliant, trustType: d["trustType"]?.stringValue)
            }
        }
        if case .bool(let only)? = o["appliedPoliciesOnly"] { q.appliedPoliciesOnly = only }
        return q
    }

    let engine: ConditionalAccessEngine

    public init(time: any TimeSource) { engine = ConditionalAccessEngine(time: time) }

    /// The sign-in context the question describes (no control satisfied yet).
    public func context(for q: Question, tenant: DirectoryIndex) throws -> SignInContext {
        var user: User?
        if let id = q.userID {
            guard let u = tenant.user(id: id) ?? tenant.user(login: id) else {
                throw InvalidQuestion(description: "No user '\(id)' in this tenant.")
            }
            user = u
        }
        var client: Application?
        // An agent identity may be the client: acting on its own (no user) or for the user named.
        var agent: ServicePrincipal?
        if let sp = q.servicePrincipalID {
            guard let s = tenant.servicePrincipal(id: sp) ?? tenant.servicePrincipal(appID: sp), let app = tenant.client(appID: s.appId)
            else {
                throw InvalidQuestion(description: "No service principal '\(sp)' in this tenant.")
            }
            client = app
            if s.isAgentIdentity { agent = s }
        }
        var resource: Application?
        if let r = q.resourceAppID {
            guard let app = tenant.application(appID: r) ?? tenant.resource(named: r) else {
                throw InvalidQuestion(description: "No application '\(r)' in this tenant.")
            }
            resource = app
        }
        if let c = q.clientAppID {
            guard let app = tenant.client(appID: c) else { throw InvalidQuestion(description: "No application '\(c)' in this tenant.") }
            client = app
            if let a = tenant.agentIdentity(appID: c) { agent = a }
        }
        guard user != nil || client != nil else {
            throw InvalidQuestion(description: "Name a user (signInIdentity.userId) or a service principal.")
        }
        guard let clientApp = client ?? resource else {
            throw InvalidQuestion(description: "Name the application signed in to (signInContext.includeApplications).")
        }
        var c = SignInContext(
            tenant: tenant, user: user, client: clientApp, resource: resource ?? clientApp, isInteractive: user != nil,
            authentication: user.map { Authentication(userID: $0.id, authTime: engine.time.now(), methods: ["pwd"]) },
            requestedAuthenticationContexts: q.authenticationContext.map { [$0] } ?? [], ipAddress: q.ipAddress,
            authenticationProtocol: "whatIf")
        c.devicePlatform = q.devicePlatform
        c.clientAppType = q.clientAppType ?? (user != nil ? "browser" : "mobileAppsAndDesktopClients")
        c.signInRiskLevel = q.signInRiskLevel
        c.userRiskLevel = q.userRiskLevel
        c.device = q.device
        if let agent {
            guard let blueprint = tenant.blueprint(of: agent) else {
                throw InvalidQuestion(description: "The agent identity '\(agent.appId)' has no blueprint.")
            }
            c.agent = .init(identity: agent, blueprint: blueprint, isAutonomous: user == nil, riskLevel: q.agentIdRiskLevel)
            c.clientAppType = q.clientAppType ?? "mobileAppsAndDesktopClients"
            c.isInteractive = false
        }
        c.explain = true
        return c
    }

    /// Every policy (or only those that apply) with its reasons.
    public func evaluate(_ q: Question, tenant: DirectoryIndex) throws -> (ConditionalAccessOutcome, [Answer]) {
        let outcome = engine.evaluate(try context(for: q, tenant: tenant))
        let answers = outcome.evaluations.map(Answer.init).filter { !q.appliedPoliciesOnly || $0.evaluation.applies }
        return (outcome, answers)
    }

    /// The sign-in the question describes, in words, when an agent identity is the client.
    public func summary(_ q: Question, tenant: DirectoryIndex) throws -> String? {
        AgentDescription.describe(try context(for: q, tenant: tenant))
    }
}
