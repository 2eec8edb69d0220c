// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for Deputy's parsers of untrusted input, in a package of their own so the main
// build stays fast. Build and run them with `Fuzz/run [seconds-per-target]` (see Fuzz/README.md):
// the script passes `-sanitize=fuzzer` to every Swift module, so the code under test is
// instrumented for coverage, and links libFuzzer, whose `main` calls each target's
// `LLVMFuzzerTestOneInput` (through `LLVMFuzzerRunDriver`, see Sources/CLibFuzzer).

/// The same upcoming features as the main package.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The fuzz targets and the main package's modules each one reaches.
let fuzzTargets: [(name: String, modules: [String])] = [
    ("FuzzForm", ["DeputyCore"]),
    ("FuzzClaims", ["DeputyCore"]),
    ("FuzzChallenge", ["DeputyCore"]),
    ("FuzzJWT", ["DeputyCore"]),
    ("FuzzJSON", ["DeputyCore"]),
    ("FuzzTenantFile", ["DeputyCore", "DeputyAuthority"]),
    ("FuzzPolicy", ["DeputyCore", "DeputyAuthority"]),
]

let package = Package(
    name: "deputy-fuzz",
    platforms: [.macOS(.v15)],
    // `name:` so that the products resolve whatever the clone's folder is called.
    dependencies: [.package(name: "deputy", path: "..")],
    targets: [
        // libFuzzer's driver, declared for Swift.
        .target(name: "CLibFuzzer"),
        // Helpers shared by the targets: the input as text, property checks, the entry point.
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], swiftSettings: swiftSettings),
    ]
        + fuzzTargets.map { target in
            .executableTarget(
                name: target.name,
                dependencies: ["FuzzSupport"] + target.modules.map { .product(name: $0, package: "deputy") },
                swiftSettings: swiftSettings
            )
        }
)
