import Crypto
import DeputyCore
import Foundation
import Yams

/// Every problem found in a tenant file, each with `file:line`. The authority never starts with a
/// file that has one.
public struct TenantFileError: Error, Sendable, CustomStringConvertible {
    public struct Problem: Sendable, Equatable {
        public var line: Int?
        public var path: String
        public var message: String
    }
    public var file: String
    public var problems: [Problem]

    public var description: String {
        let lines = problems.map { p in
            let location = p.line.map { "\(file):\($0)" } ?? file
            return "\(location): \(p.path.isEmpty ? "" : "\(p.path): ")\(p.message)"
        }
        return "The tenant file \(file) has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n" + lines.joined(separator: "\n")
    }
}

/// The result of loading a tenant file: directories ready for the store (secrets hashed, service
/// principals created, appId references resolved) plus the plain-text demo passwords, which are
/// hashed off the start-up path by `PasswordHasher`.
public struct LoadedTenantFile: Sendable {
    public var tenants: [TenantDirectory]
    /// (tenant id, user id) → plain-text password from the file.
    public var plainPasswords: [PasswordKey: String]
    /// SHA-256 of the file's bytes (to tell whether the store was seeded from this file).
    public var fingerprint: String

    public struct PasswordKey: Hashable, Sendable {
        public var tenantID: String
        public var userID: String
    }
}

/// Reads and validates tenant files (YAML, Graph-shaped objects; see docs/tenant-file.md).
public enum TenantFileLoader {
    /// Loads a tenant file from disk.
    public static func load(path: String) throws(TenantFileError) -> LoadedTenantFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TenantFileError(file: path, problems: [.init(line: nil, path: "", message: "cannot read the file (does it exist?)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TenantFileError(file: path, problems: [.init(line: nil, path: "", message: "the file is not UTF-8 text")])
        }
        return try load(yaml: text, fileName: path)
    }

    /// Loads a tenant file from text. `fileName` is used in messages.
    public static func load(yaml: String, fileName: String) throws(TenantFileError) -> LoadedTenantFile {
        let fingerprint = Base64URL.encode(SHA256.hash(data: Data(yaml.utf8)))
        let node: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else {
                throw TenantFileError(
                    file: fileName,
                    problems: [.init(line: nil, path: "", message: "the file is empty; expected a mapping with 'tenants:' (or 'tenant:')")])
            }
            node = n
        } catch let e as TenantFileError {
            throw e
        } catch {
            throw TenantFileError(
                file: fileName, problems: [.init(line: yamlErrorLine(error), path: "", message: "not valid YAML: \(error)")])
        }
        var marks: [String: Int] = [:]
        var budget = maximumNodes
        guard collectMarks(node, path: "", into: &marks, budget: &budget) else {
            // YAML aliases (§3.2.2.2) let a few hundred bytes stand for millions of nodes.
            throw TenantFileError(
                file: fileName,
                problems: [
                    .init(
                        line: nil, path: "",
                        message: "the file expands to more than \(maximumNodes) values (aliases of aliases?); a tenant file is far smaller")
                ])
        }
        // JSON (RFC 8259 §6), and so Graph and the store, has no infinity or NaN: refused before
        // anything reads the numbers.
        var nonFinite: [TenantFileError.Problem] = []
        findNonFiniteNumbers(node, path: "", verbatimJSON: false, problems: &nonFinite)
        if !nonFinite.isEmpty { throw TenantFileError(file: fileName, problems: nonFinite) }

        // The file holds either `tenants: [...]` or one tenant's mapping at the top.
        let isList = node.mapping?["tenants"] != nil
        let documents: [TenantDirectory]
        do {
            let decoder = YAMLDecoder()
            if isList {
                documents = try decoder.decode(TenantFileDocument.self, from: node).tenants
            } else {
                documents = [try decoder.decode(TenantDirectory.self, from: node)]
            }
        } catch let error as DecodingError {
            var problems = [decodingProblem(error, marks: marks, prefix: isList ? "" : nil)]
            // A missing required field is often a misspelt one: name the misspelling at its own line.
            if case .keyNotFound(let key, let ctx) = error, case .mapping(let m)? = self.node(node, at: ctx.codingPath) {
                let path = pathString(ctx.codingPath)
                for (k, _) in m {
                    guard let name = k.string, name != key.stringValue,
                        editDistance(name.lowercased(), key.stringValue.lowercased()) <= min(3, max(1, key.stringValue.count / 3))
                    else { continue }
                    problems.append(
                        .init(line: k.mark?.line, path: path, message: "unknown field '\(name)' (did you mean '\(key.stringValue)'?)"))
                }
            }
            throw TenantFileError(file: fileName, problems: problems)
        } catch {
            throw TenantFileError(file: fileName, problems: [.init(line: nil, path: "", message: "\(error)")])
        }

        var problems: [TenantFileError.Problem] = []
        // Unknown fields: compare the input's keys with what the model re-encodes. The store saves
        // the same encoding, so a file that does not encode is refused.
        do {
            let encoded = try JSONValue.fromEncodable(
                isList ? AnyEncodable(TenantFileDocument(tenants: documents)) : AnyEncodable(documents[0]))
            findUnknownKeys(node, encoded, path: "", marks: marks, problems: &problems)
        } catch {
            problems.append(.init(line: nil, path: "", message: "the directory does not convert to JSON for the store: \(error)"))
        }
        let prefix = isList ? "tenants" : nil
        var validator = DirectoryValidator(marks: marks)
        for (i, doc) in documents.enumerated() {
            validator.validate(doc, path: prefix.map { "\($0)[\(i)]" } ?? "")
        }
        validator.validateAcrossTenants(documents, prefix: prefix)
        problems += validator.problems
        if !problems.isEmpty {
            throw TenantFileError(file: fileName, problems: problems.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        var plain: [LoadedTenantFile.PasswordKey: String] = [:]
        let prepared = documents.map { prepare($0, plainPasswords: &plain) }
        return LoadedTenantFile(tenants: prepared, plainPasswords: plain, fingerprint: fingerprint)
    }

    struct TenantFileDocument: Codable { var tenants: [TenantDirectory] }

    // MARK: - Preparing for the store

    /// Derives a stable GUID-shaped id from a name (for generated service principals and grants).
    static func derivedID(_ parts: String...) -> String {
        let digest = Array(SHA256.hash(data: Data(parts.joined(separator: "|").utf8)))
        var b = Array(digest.prefix(16))
        b[6] = (b[6] & 0x0F) | 0x50
        b[8] = (b[8] & 0x3F) | 0x80
        let hex = b.map { String(format: "%02x", $0) }.joined()
        let h = Array(hex)
        return "\(String(h[0..<8]))-\(String(h[8..<12]))-\(String(h[12..<16]))-\(String(h[16..<20]))-\(String(h[20..<32]))"
    }

    /// Hashes client secrets, creates missing service principals, resolves appId references and
    /// takes plain-text passwords out of the directory.
    static func prepare(_ input: TenantDirectory, plainPasswords: inout [LoadedTenantFile.PasswordKey: String]) -> TenantDirectory {
        var d = input
        // Agent ID objects are kept inline, as Graph returns them: blueprints among the
        // applications, agent identities among the service principals, agent users among the users.
        for var blueprint in d.agentIdentityBlueprints {
            blueprint.odataType = AgentODataType.blueprint
            d.applications.append(blueprint)
        }
        for agent in d.agentIdentities { d.servicePrincipals.append(agent.servicePrincipal) }
        for var user in d.agentUsers {
            user.odataType = AgentODataType.agentUser
            d.users.append(user)
        }
        d.agentIdentityBlueprints = []
        d.agentIdentities = []
        d.agentUsers = []
        for i in d.users.indices {
            if let pw = d.users[i].password {
                plainPasswords[.init(tenantID: d.tenant.id, userID: d.users[i].id)] = pw
                d.users[i].password = nil
            }
        }
        for i in d.applications.indices {
            if d.applications[i].id == nil { d.applications[i].id = derivedID("application", d.tenant.id, d.applications[i].appId) }
            if var creds = d.applications[i].passwordCredentials {
                for j in creds.indices {
                    if let secret = creds[j].secretText {
                        creds[j].hashedSecret = ClientSecret.hash(secret)
                        creds[j].hint = creds[j].hint ?? String(secret.prefix(3))
                        creds[j].secretText = nil
                    }
                    if creds[j].keyId == nil { creds[j].keyId = derivedID("secret", d.applications[i].appId, String(j)) }
                }
                d.applications[i].passwordCredentials = creds
            }
        }
        // A policy without an id (a Graph POST body) is stored with the id it is evaluated under.
        for i in d.conditionalAccessPolicies.indices {
            if let policy = try? ConditionalAccessPolicy.parse(d.conditionalAccessPolicies[i]) {
                d.conditionalAccessPolicies[i] = policy.json
            }
        }
        for app in d.applications where !d.servicePrincipals.contains(where: { $0.appId == app.appId }) {
            d.servicePrincipals.append(
                ServicePrincipal(
                    id: derivedID("servicePrincipal", d.tenant.id, app.appId), appId: app.appId, displayName: app.displayName,
                    accountEnabled: true, appRoleAssignmentRequired: false))
        }
        let spByAppID = Dictionary(d.servicePrincipals.map { ($0.appId, $0.id) }, uniquingKeysWith: { a, _ in a })
        func resolve(_ id: String) -> String { spByAppID[id] ?? id }
        for i in d.oauth2PermissionGrants.indices {
            d.oauth2PermissionGrants[i].clientId = resolve(d.oauth2PermissionGrants[i].clientId)
            d.oauth2PermissionGrants[i].resourceId = resolve(d.oauth2PermissionGrants[i].resourceId)
            if d.oauth2PermissionGrants[i].id == nil {
                let g = d.oauth2PermissionGrants[i]
                d.oauth2PermissionGrants[i].id = derivedID("grant", g.clientId, g.resourceId, g.principalId ?? "all")
            }
        }
        for i in d.appRoleAssignments.indices {
            d.appRoleAssignments[i].resourceId = resolve(d.appRoleAssignments[i].resourceId)
            let principal = d.appRoleAssignments[i].principalId
            if spByAppID[principal] != nil, !d.users.contains(where: { $0.id == principal }) {
                d.appRoleAssignments[i].principalId = resolve(principal)
            }
            if d.appRoleAssignments[i].principalType == nil {
                let p = d.appRoleAssignments[i].principalId
                d.appRoleAssignments[i].principalType =
                    d.users.contains { $0.id == p } ? "User" : d.groups.contains { $0.id == p } ? "Group" : "ServicePrincipal"
            }
            if d.appRoleAssignments[i].id == nil {
                let a = d.appRoleAssignments[i]
                d.appRoleAssignments[i].id = derivedID("appRoleAssignment", a.principalId, a.resourceId, a.appRoleId)
            }
        }
        return d
    }

    // MARK: - Locations

    /// The most values (after aliases are expanded) a tenant file may hold: a tenant of 5,000
    /// users and their applications is well under it.
    static let maximumNodes = 250_000

    /// Records the line of every path; false when the expanded file has more than `budget` values.
    static func collectMarks(_ node: Node, path: String, into marks: inout [String: Int], budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        if let line = node.mark?.line { marks[path] = line }
        switch node {
        case .mapping(let m):
            for (k, v) in m {
                guard let key = k.string else { continue }
                let p = path.isEmpty ? key : "\(path).\(key)"
                if let line = k.mark?.line { marks[p] = line }
                guard collectMarks(v, path: p, into: &marks, budget: &budget) else { return false }
            }
        case .sequence(let s):
            for (i, v) in s.enumerated() {
                guard collectMarks(v, path: "\(path)[\(i)]", into: &marks, budget: &budget) else { return false }
            }
        default: break
        }
        return true
    }

    /// The fields kept as JSON values (`JSONValue`), which read any plain scalar that Swift reads as
    /// a `Double` as a number, `nan` and `inf` included.
    static let verbatimJSONKeys: Set<String> = ["conditionalAccessPolicies", "namedLocations", "jwks"]

    /// Plain scalars that are numbers JSON cannot hold: YAML's `.inf`, `-.inf` and `.nan` (YAML 1.2
    /// §10.2.1.4, the core schema's float), a float too large for a `Double`, and, inside the
    /// fields kept as JSON values, anything else read as a non-finite `Double` (`nan`, `inf`).
    /// Quoted scalars are text.
    static func findNonFiniteNumbers(_ node: Node, path: String, verbatimJSON: Bool, problems: inout [TenantFileError.Problem]) {
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .plain || scalar.style == .any, let number = Double.construct(from: scalar), !number.isFinite,
                verbatimJSON || node.tag.rawValue == Yams.Tag.Name.float.rawValue
            else { return }
            problems.append(
                .init(
                    line: scalar.mark?.line, path: path,
                    message: "'\(scalar.string)' is not a finite number, which JSON and Graph require (quote it if it is text)"))
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let p = path.isEmpty ? name : "\(path).\(name)"
                findNonFiniteNumbers(value, path: p, verbatimJSON: verbatimJSON || verbatimJSONKeys.contains(name), problems: &problems)
            }
        case .sequence(let sequence):
            for (i, value) in sequence.enumerated() {
                findNonFiniteNumbers(value, path: "\(path)[\(i)]", verbatimJSON: verbatimJSON, problems: &problems)
            }
        default: break
        }
    }

    static func pathString(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
        return out
    }

    static func line(for path: String, marks: [String: Int]) -> Int? {
        var p = path
        while !p.isEmpty {
            if let l = marks[p] { return l }
            if let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) { p = String(p[..<cut]) } else { break }
        }
        return marks[""]
    }

    static func decodingProblem(_ error: DecodingError, marks: [String: Int], prefix: String?) -> TenantFileError.Problem {
        switch error {
        case .keyNotFound(let key, let ctx):
            let path = pathString(ctx.codingPath)
            return .init(line: line(for: path, marks: marks), path: path, message: "the required field '\(key.stringValue)' is missing")
        case .typeMismatch(let type, let ctx):
            let path = pathString(ctx.codingPath)
            return .init(line: line(for: path, marks: marks), path: path, message: "expected \(describe(type)) (\(ctx.debugDescription))")
        case .valueNotFound(let type, let ctx):
            let path = pathString(ctx.codingPath)
            return .init(line: line(for: path, marks: marks), path: path, message: "expected \(describe(type)), found nothing")
        case .dataCorrupted(let ctx):
            let path = pathString(ctx.codingPath)
            return .init(line: line(for: path, marks: marks), path: path, message: ctx.debugDescription)
        @unknown default:
            return .init(line: nil, path: "", message: "\(error)")
        }
    }

    /// The node at a coding path.
    static func node(_ root: Node, at codingPath: [any CodingKey]) -> Node? {
        var current: Node? = root
        for key in codingPath {
            if let i = key.intValue, case .sequence(let seq)? = current {
                current = i < seq.count ? seq[i] : nil
            } else if case .mapping(let m)? = current {
                current = m[key.stringValue]
            } else {
                return nil
            }
        }
        return current
    }

    /// Levenshtein distance, for "did you mean" hints.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a)
        let y = Array(b)
        var row = Array(0...y.count)
        for i in 1...max(x.count, 1) where !x.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(y.count, 1) where !y.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (x[i - 1] == y[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return x.isEmpty ? y.count : row[y.count]
    }

    static func describe(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.contains("Sequence") || name.hasPrefix("Array") { return "a list" }
        if name.contains("Scalar") { return "a single value" }
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is Date.Type: return "a date (ISO 8601)"
        default: return "a mapping"
        }
    }

    static func yamlErrorLine(_ error: any Error) -> Int? {
        let text = "\(error)"
        // Yams renders marks as "line:column" inside its description.
        if let r = text.range(of: #"\b(\d+):(\d+)"#, options: .regularExpression) {
            return Int(text[r].split(separator: ":")[0])
        }
        return nil
    }

    static func findUnknownKeys(
        _ node: Node, _ encoded: JSONValue, path: String, marks: [String: Int], problems: inout [TenantFileError.Problem]
    ) {
        switch (node, encoded) {
        case (.mapping(let m), .object(let o)):
            for (k, v) in m {
                guard let key = k.string else { continue }
                let p = path.isEmpty ? key : "\(path).\(key)"
                if let child = o[key] {
                    // Verbatim JSON (policies) is checked by its own engine.
                    if key == "conditionalAccessPolicies" || key == "namedLocations" { continue }
                    findUnknownKeys(v, child, path: p, marks: marks, problems: &problems)
                } else if v.null == nil && !(key == "password" || key == "secretText") {
                    let known = o.keys.sorted().joined(separator: ", ")
                    problems.append(
                        .init(
                            line: k.mark?.line, path: path,
                            message: "unknown field '\(key)' (fields in use here: \(known); see docs/tenant-file.md)"))
                }
            }
        case (.sequence(let s), .array(let a)):
            for (i, v) in s.enumerated() where i < a.count {
                findUnknownKeys(v, a[i], path: "\(path)[\(i)]", marks: marks, problems: &problems)
            }
        default: break
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

extension JSONValue {
    /// Encodes any Encodable value to a JSON tree.
    static func fromEncodable(_ value: some Encodable) throws -> JSONValue {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        return try JSONDecoder().decode(JSONValue.self, from: enc.encode(value))
    }
}
