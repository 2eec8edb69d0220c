import DeputyCore
import Foundation

/// Everything Conditional Access may look at for one sign-in (DESIGN.md "The authority, inside").
public struct SignInContext: Sendable {
    public var tenant: DirectoryIndex
    public var user: User?
    public var client: Application
    /// The resource the token is being minted for.
    public var resource: Application?
    public var isInteractive: Bool
    /// How the user authenticated (from the session, the code, the refresh token or the assertion).
    public var authentication: Authentication?
    /// Authentication contexts asked for in `claims`.
    public var requestedAuthenticationContexts: [String]
    public var ipAddress: String?
    /// The grant or endpoint (`authorization_code`, `client_credentials`, `authorize`, …).
    public var authenticationProtocol: String
}

/// What the evaluator decided.
public enum ConditionalAccessOutcome: Sendable {
    /// Issue the token. `applied` lists each policy's result for the sign-in log.
    case granted(applied: [SignInRecord.AppliedPolicy], status: String)
    /// The user must do more (MFA, …): token grants answer with this claims-challenge error,
    /// interactive sign-in runs the step.
    case interrupt(OAuthError, applied: [SignInRecord.AppliedPolicy])
    /// Blocked.
    case blocked(OAuthError, applied: [SignInRecord.AppliedPolicy])
}

/// The one hook every issuance passes before a token is minted: interactive authorize,
/// every token grant, and (later) What-If.
public protocol ConditionalAccessEvaluating: Sendable {
    func evaluate(_ context: SignInContext) async -> ConditionalAccessOutcome
}

/// The evaluator in use until the Conditional Access engine lands: the tenant's policies are
/// loaded and kept, none is enforced, and every sign-in is logged as `notApplied` — which is
/// exactly what the sign-in log says.
public struct PoliciesNotEnforced: ConditionalAccessEvaluating {
    public init() {}
    public func evaluate(_ context: SignInContext) async -> ConditionalAccessOutcome {
        .granted(applied: [], status: "notApplied")
    }
}
