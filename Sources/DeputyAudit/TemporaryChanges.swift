import DeputyAuthority
import DeputyCore
import Foundation

/// The changes an audit makes to the tenant for one rule (a Conditional Access policy switched
/// on, a consent grant taken away), each written to a journal file before it is made, so they are
/// undone at the end, on an interruption (SIGINT, SIGTERM), or — after a crash or `kill -9` — by
/// the next `deputy audit`, which restores what the journal names before it starts.
actor TemporaryChanges {
    enum Change: Codable, Sendable {
        /// A policy the audit added (undo: remove it).
        case addedPolicy(tenantID: String, policyID: String)
        /// A grant the audit removed (undo: put it back where it was).
        case removedGrant(tenantID: String, grant: OAuth2PermissionGrant, index: Int)
        /// A grant the audit's own sign-in added (the consent page it accepted; undo: remove it).
        case addedGrant(tenantID: String, grant: OAuth2PermissionGrant)
    }

    let store: RecordStore
    let journal: URL
    private var changes: [Change] = []

    init(store: RecordStore, journal: URL) {
        self.store = store
        self.journal = journal
    }

    /// Undoes what a journal left by an earlier, interrupted audit names. Returns how many changes.
    func restoreLeftovers() async throws -> Int {
        guard let data = try? Data(contentsOf: journal) else { return 0 }
        changes = (try? JSONDecoder().decode([Change].self, from: data)) ?? []
        let count = changes.count
        try await restore()
        return count
    }

    /// Adds a Conditional Access policy (Graph JSON) until ``restore()``.
    func addPolicy(_ policy: JSONValue, tenantID: String) async throws {
        guard let id = policy.objectValue?["id"]?.stringValue else { return }
        try record(.addedPolicy(tenantID: tenantID, policyID: id))
        try await store.updateDirectory(tenantID: tenantID) { $0.conditionalAccessPolicies.append(policy) }
    }

    /// Removes the delegated grants from `clientID` to `resourceID` (service principal ids) until ``restore()``.
    func removeGrants(clientID: String, resourceID: String, tenantID: String) async throws -> Int {
        guard let directory = try await store.directories().first(where: { $0.tenant.id == tenantID }) else { return 0 }
        let all = directory.oauth2PermissionGrants
        let grants = all.filter { $0.clientId == clientID && $0.resourceId == resourceID }
        // Journaled last to first, so undoing (newest first) puts each back at its own index.
        for (index, grant) in all.enumerated().reversed() where grant.clientId == clientID && grant.resourceId == resourceID {
            try record(.removedGrant(tenantID: tenantID, grant: grant, index: index))
        }
        try await store.updateDirectory(tenantID: tenantID) { dir in
            dir.oauth2PermissionGrants.removeAll { $0.clientId == clientID && $0.resourceId == resourceID }
        }
        return grants.count
    }

    /// The tenant's grants now, to compare with after a sign-in (see ``recordGrantsAdded(since:tenantID:)``).
    func grants(tenantID: String) async throws -> [OAuth2PermissionGrant] {
        try await store.directories().first { $0.tenant.id == tenantID }?.oauth2PermissionGrants ?? []
    }

    /// Journals what the audit's own sign-in changed in the grants since `before` (a consent the
    /// sign-in accepted adds a grant, or widens the user's grant), so it is undone too.
    func recordGrantsChanged(since before: [OAuth2PermissionGrant], tenantID: String) async throws {
        let after = try await grants(tenantID: tenantID)
        for (index, grant) in before.enumerated() where !after.contains(grant) {
            try record(.removedGrant(tenantID: tenantID, grant: grant, index: index))
        }
        for grant in after where !before.contains(grant) { try record(.addedGrant(tenantID: tenantID, grant: grant)) }
    }

    /// Undoes every change, newest first, then deletes the journal.
    func restore() async throws {
        while let change = changes.last {
            switch change {
            case .addedPolicy(let tenantID, let policyID):
                try await store.updateDirectory(tenantID: tenantID) { dir in
                    dir.conditionalAccessPolicies.removeAll { $0.objectValue?["id"]?.stringValue == policyID }
                }
            case .removedGrant(let tenantID, let grant, let index):
                try await store.updateDirectory(tenantID: tenantID) { dir in
                    if !dir.oauth2PermissionGrants.contains(grant) {
                        dir.oauth2PermissionGrants.insert(grant, at: min(index, dir.oauth2PermissionGrants.count))
                    }
                }
            case .addedGrant(let tenantID, let grant):
                try await store.updateDirectory(tenantID: tenantID) { dir in dir.oauth2PermissionGrants.removeAll { $0 == grant } }
            }
            changes.removeLast()
            try write()
        }
        try? FileManager.default.removeItem(at: journal)
    }

    /// Journals a change before it is made.
    private func record(_ change: Change) throws {
        changes.append(change)
        try write()
    }

    private func write() throws {
        if changes.isEmpty {
            try? FileManager.default.removeItem(at: journal)
            return
        }
        try JSONEncoder().encode(changes).write(to: journal, options: .atomic)
    }
}
