import DeputyAuthority
import DeputyCore
import Foundation
import HTTPTypes
import Hummingbird

/// Entra protects administrators from lesser administrators and from apps: only a Global
/// Administrator or a Privileged Authentication Administrator may disable, delete, give a new
/// password to (or change another sensitive property of), or end the sessions of a user who holds
/// a directory role (Microsoft Learn, "Microsoft Entra built-in roles", "Who can perform
/// sensitive actions"; Microsoft Graph, "Update user": "only the … administrators … can update
/// sensitive properties of users with privileged roles"). And only a Global Administrator or a
/// Privileged Role Administrator may change the members of a group that holds a role
/// (Microsoft Learn, "Use Microsoft Entra groups to manage role assignments"), since a member gets
/// the group's roles. Without these rules a User Administrator could take over a Global
/// Administrator's account, and a group writer could give itself any role.
///
/// App-only callers are refused on such targets (Entra asks an app for a role of its own, which
/// Deputy's directory does not model).
extension AuthorityRoutes {
    /// Global Administrator, Privileged Authentication Administrator.
    static let privilegedUserManagers: Set<String> = [DirectoryIndex.globalAdministratorRole, "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"]
    /// Global Administrator, Privileged Role Administrator.
    static let roleGroupManagers: Set<String> = [DirectoryIndex.globalAdministratorRole, "e8611ab8-c189-46e8-94e1-60213ab1f814"]
    /// The user properties Graph calls sensitive: those that let the caller sign in as the user,
    /// or lock the user out.
    static let sensitiveUserProperties: Set<String> = [
        "accountEnabled", "passwordProfile", "passwordPolicies", "userPrincipalName", "mail", "otherMails", "mobilePhone",
        "businessPhones", "onPremisesImmutableId",
    ]

    /// 403 when `target` holds a directory role and the caller is not a delegated user holding
    /// one of `managers`; nil when the change may go ahead.
    func privilegedTargetRefusal(_ req: Request, tenant: DirectoryIndex, target: String, managers: Set<String>, what: String) -> Response? {
        guard tenant.holdsAnyRole(target) else { return nil }
        // graphCaller validated this token already; here only its subject is read.
        if let header = req.headers[.authorization], header.lowercased().hasPrefix("bearer "),
            let token = try? UnverifiedJWT(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)),
            token.string("idtyp") != "app", token.claims["scp"] != nil, let caller = token.string("oid"),
            tenant.holdsRole(caller, in: managers)
        {
            return nil
        }
        return graphCORS(
            graphError(
                .forbidden, "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation. \(what) holds a directory role: only a Global Administrator or a "
                    + "\(managers == Self.roleGroupManagers ? "Privileged Role" : "Privileged Authentication") Administrator, "
                    + "signed in, may do this."), req)
    }
}
