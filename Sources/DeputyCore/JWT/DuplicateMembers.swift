/// Finds a member name that appears twice in one JSON object, at any depth.
///
/// RFC 7519 §4: "The Claim Names within a JWT Claims Set MUST be unique; JWT parsers MUST either
/// reject JWTs with duplicate Claim Names or use a JSON parser that returns only the lexically
/// last duplicate member name." Deputy rejects them: two parsers of one token (this one and
/// jwt-kit's, or a resource's and its gateway's) must never disagree on which `aud` counts.
/// Foundation's decoders do not report duplicates, so this scans the bytes (already known to be
/// valid JSON) once, keeping one set of names per open object.
enum DuplicateMembers {
    static func first(in bytes: some Collection<UInt8>) -> String? {
        var objects: [Set<[UInt8]>] = []
        /// For each open container: true for an object (so the next string at its level may be a key).
        var containers: [Bool] = []
        var expectingKey = false
        var inString = false
        var escaped = false
        var current: [UInt8] = []
        var lastString: [UInt8]? = nil
        for b in bytes {
            if inString {
                if escaped {
                    escaped = false
                    current.append(b)
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                    current.append(b)
                } else if b == UInt8(ascii: "\"") {
                    inString = false
                    lastString = current
                } else {
                    current.append(b)
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""):
                inString = true
                current = []
                lastString = nil
            case UInt8(ascii: "{"):
                containers.append(true)
                objects.append([])
                expectingKey = true
            case UInt8(ascii: "["):
                containers.append(false)
                expectingKey = false
            case UInt8(ascii: "}"):
                containers.removeLast()
                objects.removeLast()
                expectingKey = false
            case UInt8(ascii: "]"):
                containers.removeLast()
            case UInt8(ascii: ":"):
                if expectingKey, let key = lastString, !objects.isEmpty {
                    if !objects[objects.count - 1].insert(key).inserted { return String(decoding: key, as: UTF8.self) }
                }
                expectingKey = false
                lastString = nil
            case UInt8(ascii: ","):
                expectingKey = containers.last ?? false
            default:
                break
            }
        }
        return nil
    }
}
