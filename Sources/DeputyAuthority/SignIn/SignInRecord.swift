import DeputyCore
public import Foundation

/// One sign-in event, shaped like Microsoft Graph's `signIn` resource (Graph v1.0 "signIn resource
/// type"). One record is written for every issuance attempt, successful or not.
public struct SignInRecord: Codable, Sendable, Equatable {
    public struct Status: Codable, Sendable, Equatable {
        /// 0 on success, else the AADSTS number.
        public var errorCode: Int
        public var failureReason: String?
        public var additionalDetails: String?

        public init(errorCode: Int, failureReason: String? = nil, additionalDetails: String? = nil) {
            self.errorCode = errorCode
            self.failureReason = failureReason
            self.additionalDetails = additionalDetails
        }
    }
    public struct AppliedPolicy: Codable, Sendable, Equatable {
        public var id: String
        public var displayName: String
        /// `success`, `failure`, `notApplied`, `notEnabled`, `reportOnly…`.
        public var result: String
        public var enforcedGrantControls: [String]
        /// Graph beta's `conditionsNotSatisfied` terms (`users`, `application`, `location`, …): why it did not apply.
        public var conditionsNotSatisfied: [String]
        /// Each condition in words (Deputy's addition, shown on the sign-in log page).
        public var explanation: [String]

        public init(
            id: String, displayName: String, result: String, enforcedGrantControls: [String],
            conditionsNotSatisfied: [String] = [], explanation: [String] = []
        ) {
            self.id = id
            self.displayName = displayName
            self.result = result
            self.enforcedGrantControls = enforcedGrantControls
            self.conditionsNotSatisfied = conditionsNotSatisfied
            self.explanation = explanation
        }

        enum CodingKeys: String, CodingKey { case id, displayName, result, enforcedGrantControls, conditionsNotSatisfied, explanation }

        // Every policy is in every sign-in record (as in Entra), so empty lists are left out of the
        // stored JSON and read back as empty: a tenant with 100 policies stays cheap to log.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(displayName, forKey: .displayName)
            try c.encode(result, forKey: .result)
            try c.encode(enforcedGrantControls, forKey: .enforcedGrantControls)
            if !conditionsNotSatisfied.isEmpty { try c.encode(conditionsNotSatisfied, forKey: .conditionsNotSatisfied) }
            if !explanation.isEmpty { try c.encode(explanation, forKey: .explanation) }
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            displayName = try c.decode(String.self, forKey: .displayName)
            result = try c.decode(String.self, forKey: .result)
            enforcedGrantControls = try c.decodeIfPresent([String].self, forKey: .enforcedGrantControls) ?? []
            conditionsNotSatisfied = try c.decodeIfPresent([String].self, forKey: .conditionsNotSatisfied) ?? []
            explanation = try c.decodeIfPresent([String].self, forKey: .explanation) ?? []
        }
    }

    /// The Agent ID facts of a sign-in, in Graph beta's `signIn.agent` shape
    /// (`microsoft.graph.agentic.agentSignIn`: `agentType`, `agentSubjectType`,
    /// `agentSubjectParentId`), plus the agent identity and its blueprint by id and name (Deputy's
    /// additions, for people reading the log).
    public struct AgentSignIn: Codable, Sendable, Equatable {
        /// Graph's `microsoft.graph.agentic.agentType`.
        public enum AgentType: String, Codable, Sendable {
            case notAgentic, agenticApp, agenticAppInstance, agentIdentityBlueprintPrincipal, agentIDuser
        }
        /// Who signed in: the blueprint's principal (getting an agent's credential) or the agent identity.
        public var agentType: AgentType
        /// Who the token is about: a person (`notAgentic`), the agent identity, or its agent user.
        public var agentSubjectType: AgentType
        /// The subject's parent: the blueprint of an agent identity, the agent identity of an agent user.
        public var agentSubjectParentId: String?
        public var agentIdentityId: String
        public var agentDisplayName: String?
        /// The agent identity's blueprint (appId).
        public var parentAppId: String
        public var parentDisplayName: String?
    }

    public var id: String
    public var createdDateTime: Date
    public var tenantId: String
    public var userId: String?
    public var userPrincipalName: String?
    public var userDisplayName: String?
    public var appId: String?
    public var appDisplayName: String?
    public var resourceId: String?
    public var resourceDisplayName: String?
    public var isInteractive: Bool
    /// `interactiveUser`, `nonInteractiveUser`, `servicePrincipal`.
    public var signInEventTypes: [String]
    /// The grant or endpoint (`authorization_code`, `client_credentials`, `authorize`, …).
    public var authenticationProtocol: String
    /// `none`, `clientSecret`, `clientAssertion`, `certificate`.
    public var clientCredentialType: String
    public var ipAddress: String?
    public var correlationId: String
    public var uniqueTokenIdentifier: String?
    public var status: Status
    /// `success`, `failure`, `notApplied`.
    public var conditionalAccessStatus: String
    public var appliedConditionalAccessPolicies: [AppliedPolicy]
    /// `singleFactorAuthentication` or `multiFactorAuthentication`: what the policies required.
    public var authenticationRequirement: String?
    /// Authentication contexts the issued token carries.
    public var authenticationContextClassReferences: [String]?
    public var authenticationMethodsUsed: [String]
    public var scopes: [String]
    /// Why a request failed in words an operator needs (e.g. which grant was missing).
    public var note: String?
    /// Set when an agent identity (or its blueprint, for the agent's credential) was the client.
    public var agent: AgentSignIn?

    public init(
        id: String, createdDateTime: Date, tenantId: String, isInteractive: Bool, authenticationProtocol: String,
        correlationId: String
    ) {
        self.id = id
        self.createdDateTime = createdDateTime
        self.tenantId = tenantId
        self.isInteractive = isInteractive
        self.signInEventTypes = []
        self.authenticationProtocol = authenticationProtocol
        self.clientCredentialType = "none"
        self.correlationId = correlationId
        self.status = Status(errorCode: 0)
        self.conditionalAccessStatus = "notApplied"
        self.appliedConditionalAccessPolicies = []
        self.authenticationMethodsUsed = []
        self.scopes = []
    }
}

extension SignInRecord {
    /// The stored JSON, written directly (one record per issuance; a tenant's every policy is in
    /// it). Read back with `JSONDecoder` and milliseconds-since-1970 dates, like every stored record.
    func storedJSON() -> [UInt8] {
        var o = JSONObjectWriter(capacity: 1024 + appliedConditionalAccessPolicies.count * 160)
        o.string("id", id)
        o.number("createdDateTime", createdDateTime.timeIntervalSince1970 * 1000)
        o.string("tenantId", tenantId)
        o.string("userId", userId)
        o.string("userPrincipalName", userPrincipalName)
        o.string("userDisplayName", userDisplayName)
        o.string("appId", appId)
        o.string("appDisplayName", appDisplayName)
        o.string("resourceId", resourceId)
        o.string("resourceDisplayName", resourceDisplayName)
        o.bool("isInteractive", isInteractive)
        o.strings("signInEventTypes", signInEventTypes)
        o.string("authenticationProtocol", authenticationProtocol)
        o.string("clientCredentialType", clientCredentialType)
        o.string("ipAddress", ipAddress)
        o.string("correlationId", correlationId)
        o.string("uniqueTokenIdentifier", uniqueTokenIdentifier)
        var st = JSONObjectWriter(capacity: 128)
        st.number("errorCode", Double(status.errorCode))
        st.string("failureReason", status.failureReason)
        st.string("additionalDetails", status.additionalDetails)
        o.object("status", st)
        o.string("conditionalAccessStatus", conditionalAccessStatus)
        o.objects(
            "appliedConditionalAccessPolicies",
            appliedConditionalAccessPolicies.map { p in
                var w = JSONObjectWriter(capacity: 160)
                w.string("id", p.id)
                w.string("displayName", p.displayName)
                w.string("result", p.result)
                w.strings("enforcedGrantControls", p.enforcedGrantControls)
                if !p.conditionsNotSatisfied.isEmpty { w.strings("conditionsNotSatisfied", p.conditionsNotSatisfied) }
                if !p.explanation.isEmpty { w.strings("explanation", p.explanation) }
                return w
            })
        o.string("authenticationRequirement", authenticationRequirement)
        o.strings("authenticationContextClassReferences", authenticationContextClassReferences)
        o.strings("authenticationMethodsUsed", authenticationMethodsUsed)
        o.strings("scopes", scopes)
        o.string("note", note)
        if let agent {
            var a = JSONObjectWriter(capacity: 256)
            a.string("agentType", agent.agentType.rawValue)
            a.string("agentSubjectType", agent.agentSubjectType.rawValue)
            a.string("agentSubjectParentId", agent.agentSubjectParentId)
            a.string("agentIdentityId", agent.agentIdentityId)
            a.string("agentDisplayName", agent.agentDisplayName)
            a.string("parentAppId", agent.parentAppId)
            a.string("parentDisplayName", agent.parentDisplayName)
            o.object("agent", a)
        }
        return o.finished
    }
}
