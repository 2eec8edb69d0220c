import DeputyAuthority
import DeputyCore
import Foundation
import FuzzSupport

/// Fuzzes the reader of Microsoft Graph's `conditionalAccessPolicy` JSON (Microsoft Learn,
/// "conditionalAccessPolicy resource type"), which the tenant file, `deputy policy apply` and the
/// Graph API share: the bytes are decoded as a `JSONValue`, then read by
/// `ConditionalAccessPolicy.parse(_:position:)`. The same JSON is also read as a named location
/// (`NamedLocation.parse(_:)`, Graph's `ipNamedLocation`), which policies refer to and tenant
/// files carry beside them.
///
/// Checks, beyond "does not crash or hang":
/// - a policy that does not read throws a ``PolicyError`` with a message;
/// - a policy that reads has a GUID id and a display name, and its stored form (`json`, with the
///   id derived for a body without one) reads back as the same policy.
@main
enum FuzzPolicyMain {
    static func main() { Fuzz.main(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let json = try? JSONDecoder().decode(JSONValue.self, from: Fuzz.bytes(data, size)) else { return 0 }
    do {
        let policy = try ConditionalAccessPolicy.parse(json, position: "#1")
        Fuzz.log("read policy \(policy.id) '\(policy.displayName)': \(policy.state), controls \(policy.grantControls)")
        Fuzz.check(UUID(uuidString: policy.id) != nil, "policy id \(policy.id) is not a GUID")
        Fuzz.check(!policy.displayName.isEmpty, "a policy without a display name")
        do {
            let again = try ConditionalAccessPolicy.parse(policy.json, position: "#1")
            Fuzz.check(
                again == policy && again.id == policy.id && again.state == policy.state && again.users == policy.users
                    && again.applications == policy.applications && again.clientApplications == policy.clientApplications
                    && again.grantControls == policy.grantControls && again.requireAllControls == policy.requireAllControls
                    && again.signInFrequency == policy.signInFrequency,
                "the stored form of policy \(policy.id) reads back differently")
        } catch {
            Fuzz.check(false, "the stored form of policy \(policy.id) does not read back: \(error)")
        }
    } catch {
        Fuzz.log("policy rejected: \(error)")
        Fuzz.check(!error.message.isEmpty, "a PolicyError without a message")
        _ = error.description
    }
    do {
        let location = try NamedLocation.parse(json)
        Fuzz.log("read named location \(location.id) with \(location.ranges.count) ranges")
        _ = location.contains("10.1.2.3")
        _ = location.contains("2001:db8::1")
        _ = location.contains(nil)
    } catch {
        Fuzz.log("named location rejected: \(error)")
    }
    return 0
}
