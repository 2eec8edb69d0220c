import DeputyCore
import Foundation
import Metrics

/// The sign-in record of one request, filled in as the request learns who and what it is about,
/// and written exactly once (success or failure) by the endpoint. Owned by one request's task.
public final class SignInDraft: @unchecked Sendable {
    public var record: SignInRecord

    init(tenantID: String, isInteractive: Bool, protocol proto: String, correlationID: String, ipAddress: String?, now: Date) {
        record = SignInRecord(
            id: UUID().uuidString.lowercased(), createdDateTime: now, tenantId: tenantID,
            isInteractive: isInteractive, authenticationProtocol: proto, correlationId: correlationID)
        record.ipAddress = ipAddress
    }

    func client(_ app: Application, credential: ClientCredentialKind) {
        record.appId = app.appId
        record.appDisplayName = app.displayName
        record.clientCredentialType = credential.signInLogValue
    }

    func user(_ user: User) {
        record.userId = user.id
        record.userPrincipalName = user.userPrincipalName
        record.userDisplayName = user.displayName
    }

    func resource(_ app: Application) {
        resource(appID: app.appId, displayName: app.displayName)
    }

    func resource(appID: String, displayName: String) {
        record.resourceId = appID
        record.resourceDisplayName = displayName
    }

    /// What an agent did in a sign-in.
    enum AgentAction {
        /// The blueprint got an agent identity's credential (T1).
        case credential
        /// The agent identity got its own exchange token (T2).
        case ownCredential
        /// The agent identity acted for a person (agent OBO).
        case forUser
        /// The agent identity acted as itself (client credentials).
        case autonomous
        /// The agent identity acted as its agent user.
        case asAgentUser
    }

    /// Records the Agent ID facts of the sign-in (Graph beta's `signIn.agent`).
    func agent(_ action: AgentAction, identity: ServicePrincipal, blueprint: Application) {
        let type: SignInRecord.AgentSignIn.AgentType = action == .credential ? .agentIdentityBlueprintPrincipal : .agenticAppInstance
        let subject: SignInRecord.AgentSignIn.AgentType
        let parent: String?
        switch action {
        case .forUser: (subject, parent) = (.notAgentic, nil)
        case .asAgentUser: (subject, parent) = (.agentIDuser, identity.id)
        case .credential, .ownCredential, .autonomous: (subject, parent) = (.agenticAppInstance, blueprint.appId)
        }
        record.agent = .init(
            agentType: type, agentSubjectType: subject, agentSubjectParentId: parent, agentIdentityId: identity.appId,
            agentDisplayName: identity.displayName, parentAppId: blueprint.appId, parentDisplayName: blueprint.displayName)
    }

    /// Records Conditional Access's decision: every policy's result and the overall status.
    func conditionalAccess(_ outcome: ConditionalAccessOutcome) {
        // `deputy_conditional_access_results_total{policy, result}`: who was blocked or stepped up by which policy.
        for policy in outcome.applied {
            Counter(
                label: "deputy_conditional_access_results_total", dimensions: [("policy", policy.displayName), ("result", policy.result)]
            ).increment()
        }
        record.appliedConditionalAccessPolicies = outcome.applied
        record.conditionalAccessStatus = outcome.status
        record.authenticationRequirement = outcome.authenticationRequirement
    }

    func fail(_ error: OAuthError, note: String? = nil) {
        record.status = .init(errorCode: error.aadsts ?? 50000, failureReason: error.message, additionalDetails: error.suberror)
        if let note { record.note = note }
        // A claims challenge is Conditional Access's, except continuous access evaluation's
        // fresh-sign-in answer (50173), which no policy gave.
        if record.conditionalAccessStatus == "notApplied", error.claims != nil, error.aadsts != 50173 {
            record.conditionalAccessStatus = "failure"
        }
    }
}

/// How a client proved who it is.
public enum ClientCredentialKind: String, Sendable {
    case none, secret, certificate
    /// A token of a trusted issuer (workload identity federation).
    case federated

    var signInLogValue: String {
        switch self {
        case .none: "none"
        case .secret: "clientSecret"
        case .certificate: "certificate"
        case .federated: "federatedIdentityCredential"
        }
    }

    /// `azpacr` / `appidacr`: 0 public, 1 secret, 2 certificate.
    var authenticationLevel: Int {
        switch self {
        case .none: 0
        case .secret: 1
        case .certificate, .federated: 2
        }
    }
}
