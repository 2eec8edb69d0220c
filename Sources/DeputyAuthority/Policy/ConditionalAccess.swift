public import DeputyCore
import Foundation

/// Everything Conditional Access may look at for one sign-in (DESIGN.md "The authority, inside").
/// Live issuance fills it from the request and the user's authentication; What-If fills it from
/// the question asked.
public struct SignInContext: Sendable {
    public var tenant: DirectoryIndex
    /// The user the token is for — for OBO the assertion's subject, never the middle tier.
    public var user: User?
    /// The client application (for OBO: the middle tier).
    public var client: Application
    /// The resource the token is being minted for.
    public var resource: Application?
    public var isInteractive: Bool
    /// How the user authenticated (from the session, the code, the refresh token or the assertion).
    public var authentication: Authentication?
    /// Authentication contexts asked for in `claims` (`acrs`).
    public var requestedAuthenticationContexts: [String]
    /// Policies named in `claims` (`capolids`/`polids`): a client satisfying a claims challenge
    /// must meet exactly what these policies require.
    public var requiredPolicyIDs: [String] = []
    public var ipAddress: String?
    /// The grant or endpoint (`authorization_code`, `client_credentials`, `authorize`, …).
    public var authenticationProtocol: String
    /// `browser` or `mobileAppsAndDesktopClients`.
    public var clientAppType: String = "mobileAppsAndDesktopClients"
    /// `android`, `iOS`, `windows`, `macOS`, `linux`, or nil when unknown.
    public var devicePlatform: String?
    /// The device's state; nil takes the user's (tenant file `users[].device`).
    public var device: DeviceState?
    /// Sign-in risk; nil takes the user's `signInRiskLevel` (default `none`).
    public var signInRiskLevel: String?
    /// User risk; nil takes the user's `userRiskLevel` (default `none`).
    public var userRiskLevel: String?
    /// Write each condition's explanation in words (What-If and the `deputy whatif` command); live
    /// issuance records Graph's condition terms only, which cost nothing to compute.
    public var explain = false
    /// Set when the client is an agent identity (Microsoft Learn, "Conditional Access for agent
    /// identities"): acting for a user, the user's policies apply; acting autonomously (no user),
    /// the policies assigned to agent identities apply.
    public var agent: AgentFacts?

    /// The agent identity of a sign-in and what Conditional Access may look at about it.
    public struct AgentFacts: Sendable {
        public var identity: ServicePrincipal
        public var blueprint: Application
        /// No user: the agent acts as itself (client credentials).
        public var isAutonomous: Bool
        /// Agent risk; nil takes the agent identity's `agentRiskLevel` (default `none`).
        public var riskLevel: String?

        public init(identity: ServicePrincipal, blueprint: Application, isAutonomous: Bool, riskLevel: String? = nil) {
            self.identity = identity
            self.blueprint = blueprint
            self.isAutonomous = isAutonomous
            self.riskLevel = riskLevel
        }

        var risk: String { (riskLevel ?? identity.agentRiskLevel ?? "none").lowercased() }
    }

    public init(
        tenant: DirectoryIndex, user: User?, client: Application, resource: Application?, isInteractive: Bool,
        authentication: Authentication?, requestedAuthenticationContexts: [String], ipAddress: String?,
        authenticationProtocol: String
    ) {
        self.tenant = tenant
        self.user = user
        self.client = client
        self.resource = resource
        self.isInteractive = isInteractive
        self.authentication = authentication
        self.requestedAuthenticationContexts = requestedAuthenticationContexts
        self.ipAddress = ipAddress
        self.authenticationProtocol = authenticationProtocol
    }
}

/// What a sign-in still needs before a token may be issued, in Entra's prompting order.
public enum ConditionalAccessRequirement: String, Sendable, Codable, Comparable, CaseIterable {
    /// Sign-in frequency: the user must sign in again (first: a new sign-in starts the steps over).
    case reauthentication
    case mfa, compliantDevice, domainJoinedDevice, passwordChange

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// One policy's evaluation for one sign-in: what the sign-in log's `appliedConditionalAccessPolicies`
/// entry and What-If's `whatIfAnalysisResult` say.
public struct PolicyEvaluation: Sendable {
    public var policy: ConditionalAccessPolicy
    /// Whether every assignment and condition matched.
    public var applies: Bool
    /// The conditions that did not match; empty when the policy applies.
    public var conditionsNotMet: AnalysisReasons
    /// Graph's `analysisReasons` terms for the conditions that did not match (`users`,
    /// `application`, `location`, …); empty when the policy applies.
    public var reasons: [String] { conditionsNotMet.names }
    /// Each condition in words: why it matched or not.
    public var explanation: [String]
    /// What the sign-in still lacks for this policy (empty when satisfied or not applying).
    public var unmet: [ConditionalAccessRequirement]
    /// Whether the policy blocks (it applies and its control is `block`).
    public var blocks: Bool
    /// The sign-in log's result: `success`, `failure`, `notApplied`, `notEnabled`, `reportOnly…`.
    public var result: String

    var isEnforced: Bool { policy.state == .enabled }

    /// Graph's names for the grant controls the policy enforces (`Mfa`, `Block`, …).
    public var enforcedGrantControls: [String] {
        var out = policy.controls.map { c -> String in
            switch c {
            case .block: "Block"
            case .mfa: "Mfa"
            case .compliantDevice: "RequireCompliantDevice"
            case .domainJoinedDevice: "RequireDomainJoinedDevice"
            case .passwordChange: "RequirePasswordChange"
            }
        }
        if policy.authenticationStrength != nil { out.append("RequireAuthenticationStrength") }
        return out
    }
}

/// Graph's `analysisReasons` flags (a set, so the per-request path allocates nothing).
public struct AnalysisReasons: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let users = AnalysisReasons(rawValue: 1 << 0)
    public static let workloadIdentities = AnalysisReasons(rawValue: 1 << 1)
    public static let application = AnalysisReasons(rawValue: 1 << 2)
    public static let authenticationContext = AnalysisReasons(rawValue: 1 << 3)
    public static let clientApps = AnalysisReasons(rawValue: 1 << 4)
    public static let devicePlatform = AnalysisReasons(rawValue: 1 << 5)
    public static let location = AnalysisReasons(rawValue: 1 << 6)
    public static let devices = AnalysisReasons(rawValue: 1 << 7)
    public static let signInRisk = AnalysisReasons(rawValue: 1 << 8)
    public static let userRisk = AnalysisReasons(rawValue: 1 << 9)
    public static let policyNotEnabled = AnalysisReasons(rawValue: 1 << 10)
    public static let agentIdRisk = AnalysisReasons(rawValue: 1 << 11)

    static let all: [(AnalysisReasons, String)] = [
        (.users, "users"), (.workloadIdentities, "workloadIdentities"), (.application, "application"),
        (.authenticationContext, "authenticationContext"), (.clientApps, "clientApps"), (.devicePlatform, "devicePlatform"),
        (.location, "location"), (.devices, "devices"), (.signInRisk, "signInRisk"), (.userRisk, "userRisk"),
        (.policyNotEnabled, "policyNotEnabled"),
        (.agentIdRisk, "agentIdRisk"),
    ]

    /// Graph's names, in a fixed order.
    public var names: [String] { Self.all.filter { contains($0.0) }.map(\.1) }
}

/// What the evaluator decided, with every policy's evaluation.
public struct ConditionalAccessOutcome: Sendable {
    public enum Decision: String, Sendable, Equatable {
        /// Issue the token.
        case grant
        /// The user must do more (``requirements``): token grants answer with the claims
        /// challenge, interactive sign-in runs the steps.
        case interrupt
        /// An applicable enabled policy blocks.
        case block
    }
    public var decision: Decision
    /// Every policy of the tenant, in order.
    public var evaluations: [PolicyEvaluation]
    /// What enforced policies still need, in prompting order.
    public var requirements: [ConditionalAccessRequirement]
    /// The enforced policies that failed (blocking ones for a block): the challenge's `capolids`.
    public var failedPolicyIDs: [String]
    /// Requested authentication contexts whose policies are all satisfied (they go into `acrs`).
    public var satisfiedContexts: [String]
    /// Stored policies or named locations that cannot be read: the sign-in is blocked rather than
    /// evaluated without them (a policy skipped is a tenant that fails open).
    public var unreadablePolicies: [PolicyError] = []

    /// The sign-in log's `conditionalAccessStatus`.
    public var status: String {
        if decision != .grant { return "failure" }
        return evaluations.contains { $0.isEnforced && $0.applies } ? "success" : "notApplied"
    }

    /// The sign-in log's `authenticationRequirement`.
    public var authenticationRequirement: String {
        evaluations.contains { $0.isEnforced && $0.applies && $0.policy.grantControls.contains(.mfa) }
            ? "multiFactorAuthentication" : "singleFactorAuthentication"
    }

    /// The sign-in log's `appliedConditionalAccessPolicies`.
    public var applied: [SignInRecord.AppliedPolicy] {
        evaluations.map {
            SignInRecord.AppliedPolicy(
                id: $0.policy.id, displayName: $0.policy.displayName, result: $0.result,
                enforcedGrantControls: $0.applies ? $0.enforcedGrantControls : [],
                conditionsNotSatisfied: $0.reasons, explanation: $0.explanation)
        }
    }

    /// The token endpoint's error for an interrupt or a block (Microsoft Learn, "Microsoft identity platform
    /// authentication and authorization error codes"): by default
    /// what Entra really sends — `invalid_grant`, AADSTS50076 `basic_action` for MFA, AADSTS53003
    /// `message_only` for block, `claims` listing `capolids`; with the `documented` style the
    /// documentation's `interaction_required` and `polids`.
    public func error(resource: Application?, style: String?) -> OAuthError? {
        let documented = style == "documented"
        let key = documented ? "polids" : "capolids"
        let claims = String(
            decoding: JSONValue.object([
                "access_token": .object([
                    key: .object([
                        "essential": .bool(true), "values": .array(failedPolicyIDs.map(JSONValue.string)),
                    ])
                ])
            ]).serialized, as: UTF8.self)
        var e: OAuthError
        if !unreadablePolicies.isEmpty { return .conditionalAccessUnreadable(unreadablePolicies.map(\.description)) }
        switch decision {
        case .grant: return nil
        case .block: e = .blockedByConditionalAccess()
        case .interrupt:
            switch requirements.first ?? .mfa {
            case .mfa: e = .multifactorRequired(resource: resource?.appId ?? "")
            case .compliantDevice: e = .deviceNotCompliant()
            case .domainJoinedDevice: e = .deviceNotDomainJoined()
            case .passwordChange: e = .passwordChangeRequired()
            case .reauthentication: e = .signInFrequencyExpired()
            }
        }
        e.claims = claims
        if documented {
            e.error = .interactionRequired
            e.suberror = nil
        }
        return e
    }
}

/// The one hook every issuance passes before a token is minted: interactive authorize, every
/// token grant, and What-If.
public protocol ConditionalAccessEvaluating: Sendable {
    func evaluate(_ context: SignInContext) -> ConditionalAccessOutcome
}
