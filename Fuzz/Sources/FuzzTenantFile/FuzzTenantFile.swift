import DeputyAuthority
import DeputyCore
import Foundation
import FuzzSupport

/// Fuzzes the tenant-file loader, `TenantFileLoader.load(yaml:fileName:)`: YAML (through Yams),
/// the Graph-shaped directory model, the unknown-field and "did you mean" hints, and the
/// directory validator, which `load` runs on every tenant it decodes (the validator has no public
/// entry point of its own). What loads is then indexed with `DirectoryIndex(_:)`, as the
/// authority does before serving it.
///
/// Checks, beyond "does not crash or hang":
/// - a file that does not load throws a ``TenantFileError`` with at least one problem, and its
///   description renders;
/// - a file that loads has every Conditional Access policy and named location readable by the
///   authority (`DirectoryIndex.policyProblems` is empty): the validator must not let through
///   what the engine cannot enforce;
/// - every loaded application is found by its appId, and every user by id;
/// - a loaded tenant encodes as JSON, as the store saves it.
@main
enum FuzzTenantFileMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let yaml = Fuzz.text(data, size)
    let loaded: LoadedTenantFile
    do {
        loaded = try TenantFileLoader.load(yaml: yaml, fileName: "fuzz.yaml")
    } catch {
        Fuzz.log("rejected: \(error)")
        Fuzz.check(!error.problems.isEmpty, "a TenantFileError without problems")
        _ = error.description
        return 0
    }
    Fuzz.log("loaded \(loaded.tenants.count) tenants: \(loaded.tenants.map(\.tenant.id))")
    for tenant in loaded.tenants {
        // Finding 4 (fixed): YAML's `.nan` and `.inf` loaded (in policies and named locations, which
        // are kept as JSON values), but JSON has no such numbers, so the store could not save them.
        Fuzz.check((try? JSONEncoder().encode(tenant)) != nil, "a loaded tenant does not encode as JSON for the store")
        let index = DirectoryIndex(tenant)
        Fuzz.check(index.policyProblems.isEmpty, "a loaded tenant has policies the authority cannot read: \(index.policyProblems)")
        for app in tenant.applications {
            Fuzz.check(index.application(appID: app.appId) != nil, "application \(app.appId) is not indexed")
        }
        for user in tenant.users {
            Fuzz.check(index.user(id: user.id) != nil, "user \(user.id) is not indexed")
        }
    }
    return 0
}
