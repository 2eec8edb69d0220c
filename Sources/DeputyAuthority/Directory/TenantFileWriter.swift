import DeputyCore
public import Foundation
import Yams

/// Writes tenants as a tenant file (`tenants: [...]`) that ``TenantFileLoader`` loads back to the
/// same directories: the store's state after runtime changes (consents, Graph writes, critical
/// events), for a diff, a backup or a new data directory.
///
/// Users keep their bcrypt hashes and TOTP secrets and applications their hashed client secrets,
/// as the store holds them (never the plain values, which the store never had): the file is as
/// sensitive as the store itself.
public enum TenantFileWriter {
    /// The YAML of a tenant file holding `directories`.
    public static func yaml(_ directories: [TenantDirectory]) throws -> String {
        let encoder = YAMLEncoder()
        // Sorted keys: two exports of the same store are the same text (policies are JSON objects).
        encoder.options.sortKeys = true
        let header = """
            # Deputy tenant file, exported from a store: load it with `deputy authority serve --tenant FILE`.
            # It holds password hashes, TOTP secrets and client-secret hashes: keep it as private as the store.

            """
        return header + (try encoder.encode(Document(tenants: directories)))
    }

    struct Document: Encodable { var tenants: [TenantDirectory] }
}
