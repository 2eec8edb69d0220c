// swift-tools-version: 6.1
import PackageDescription

/// Settings shared by every target: Swift 6 language mode plus the upcoming features the model
/// codebases (Hummingbird, jwt-kit) turn on.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Library modules import internally unless a file says `public import` (SE-0409): what a
/// module re-exposes of its dependencies is a decision, written where the public API needs it.
let libraryModuleSettings = swiftSettings + [.enableUpcomingFeature("InternalImportsByDefault")]

let package = Package(
    name: "deputy",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DeputyCore", targets: ["DeputyCore"]),
        .library(name: "DeputyTokenValidation", targets: ["DeputyTokenValidation"]),
        .library(name: "DeputyTokenAcquisition", targets: ["DeputyTokenAcquisition"]),
        .library(name: "DeputyHummingbird", targets: ["DeputyHummingbird"]),
        .library(name: "DeputyMCP", targets: ["DeputyMCP"]),
        .library(name: "DeputySamples", targets: ["DeputySamples"]),
        // The embedded Contoso demo tenant (ports, secrets, manifest); the engine does not know it.
        .library(name: "DeputyDemo", targets: ["DeputyDemo"]),
        .library(name: "DeputyAuthority", targets: ["DeputyAuthority"]),
        // Each store backend is its own product, so nobody links GRDB or postgres-nio by accident.
        .library(name: "DeputyAuthoritySQLite", targets: ["DeputyAuthoritySQLite"]),
        .library(name: "DeputyAuthorityPostgres", targets: ["DeputyAuthorityPostgres"]),
        // The storage contract as checks, for a backend written outside this package.
        .library(name: "DeputyAuthorityStoreTesting", targets: ["DeputyAuthorityStoreTesting"]),
        // PostgreSQL plumbing shared by the store and the distributed OBO token cache.
        .library(name: "DeputyPostgres", targets: ["DeputyPostgres"]),
        .library(name: "DeputyTokenAcquisitionPostgres", targets: ["DeputyTokenAcquisitionPostgres"]),
        .library(name: "DeputyAuthorityServer", targets: ["DeputyAuthorityServer"]),
        // Logs, metrics and traces for Hummingbird services (what `deputy` serves with).
        .library(name: "DeputyObservability", targets: ["DeputyObservability"]),
        .executable(name: "deputy", targets: ["deputy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The PostgreSQL store (DeputyAuthorityPostgres) and the distributed OBO token cache.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Base32 for TOTP secrets (already in the graph through jwt-kit).
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        // `swift package generate-documentation` for the libraries' DocC catalogues (CI builds them).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The official MCP SDK: the MCP server (Server + StatelessHTTPServerTransport) and client.
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        // Observability: the metrics and tracing APIs (Hummingbird and AsyncHTTPClient already use
        // them), Prometheus exposition for `/metrics`, and OTLP over HTTP for traces (gRPC left out).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // The system's OpenSSL libcrypto (Debian: libssl-dev), used only to sign tokens (RS256):
        // see Sources/DeputyAuthority/Keys/OpenSSLSigner.swift for why.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "DeputyCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyTokenValidation",
            dependencies: [
                "DeputyCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyTokenAcquisition",
            dependencies: [
                "DeputyCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyHummingbird",
            dependencies: [
                "DeputyCore", "DeputyTokenValidation", "DeputyTokenAcquisition",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyMCP",
            dependencies: [
                "DeputyCore", "DeputyHummingbird", "DeputyTokenValidation", "DeputyTokenAcquisition",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyAuthority",
            dependencies: [
                "DeputyCore",
                "DeputyTokenValidation",
                "COpenSSL",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyAuthoritySQLite",
            dependencies: ["DeputyAuthority", "DeputyCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyPostgres",
            dependencies: [
                "DeputyCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyAuthorityPostgres",
            dependencies: [
                "DeputyAuthority", "DeputyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyTokenAcquisitionPostgres",
            dependencies: [
                "DeputyTokenAcquisition", "DeputyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyAuthorityStoreTesting",
            dependencies: ["DeputyAuthority"],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyDemo",
            dependencies: ["DeputyCore"],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputySamples",
            dependencies: [
                "DeputyDemo", "DeputyCore", "DeputyTokenValidation", "DeputyTokenAcquisition", "DeputyHummingbird", "DeputyAuthority",
                "DeputyMCP", "DeputyObservability",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The SPA's files, compiled into the binary (no bundle to find at run time).
            resources: [
                .embedInCode("SPA/Assets/index.html"), .embedInCode("SPA/Assets/app.js"), .embedInCode("SPA/Assets/style.css"),
            ],
            swiftSettings: swiftSettings
        ),
        // `deputy audit`: the delegation rules as checks of anyone's middle tier against `deputy up`.
        .target(
            name: "DeputyAudit",
            dependencies: [
                "DeputyCore", "DeputyAuthority", "DeputyMCP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: libraryModuleSettings
        ),
        .target(
            name: "DeputyObservability",
            dependencies: [
                "DeputyCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DeputyAuthorityServer",
            dependencies: [
                "DeputyCore",
                "DeputyAuthority",
                "DeputyObservability",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "deputy",
            dependencies: [
                "DeputyCore",
                "DeputyAuthority", "DeputyAuthoritySQLite", "DeputyAuthorityPostgres", "DeputyPostgres",
                "DeputyAuthorityServer",
                "DeputySamples", "DeputyDemo", "DeputyMCP", "DeputyHummingbird", "DeputyTokenAcquisition", "DeputyTokenValidation",
                "DeputyAudit", "DeputyObservability",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "DeputyBenchmarks",
            dependencies: [
                "DeputyAuthority", "DeputyTokenValidation", "DeputyTokenAcquisition", "DeputyHummingbird", "DeputySamples", "DeputyDemo",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Benchmarks/DeputyBenchmarks",
            swiftSettings: swiftSettings
        ),
        // Helpers shared by the test targets: live servers on loopback, a scripted interactive sign-in.
        .target(
            name: "DeputyTestSupport",
            dependencies: [
                "DeputyDemo", "DeputyCore", "DeputyAuthority", "DeputyAuthorityServer", "DeputyAuthoritySQLite", "DeputyAuthorityPostgres",
                "DeputyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Tests/DeputyTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyAuditTests",
            dependencies: [
                "DeputyAudit", "DeputyDemo", "DeputyCore", "DeputyAuthority", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyCoreTests",
            dependencies: ["DeputyCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyTokenValidationTests",
            dependencies: [
                "DeputyDemo",
                "DeputyCore", "DeputyTokenValidation", "DeputyAuthority", .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyAuthorityTests",
            dependencies: [
                "DeputyDemo",
                "DeputyTestSupport",
                "DeputyCore", "DeputyAuthority", "DeputyAuthoritySQLite", "DeputyAuthorityPostgres", "DeputyAuthorityStoreTesting",
                "DeputyPostgres", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyTokenAcquisitionTests",
            dependencies: [
                "DeputyDemo",
                "DeputyTestSupport",
                "DeputyCore", "DeputyTokenAcquisition", "DeputyAuthority", "DeputyAuthorityServer",
                "DeputyTokenAcquisitionPostgres", "DeputyPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyHummingbirdTests",
            dependencies: [
                "DeputyCore", "DeputyHummingbird", "DeputyTokenValidation", "DeputyTokenAcquisition", "DeputyAuthority",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputySamplesTests",
            dependencies: [
                "DeputyDemo",
                "DeputyTestSupport",
                "DeputyCore", "DeputySamples", "DeputyHummingbird", "DeputyTokenValidation", "DeputyAuthority", "DeputyMCP",
                "DeputyTokenAcquisition", "DeputyObservability", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyMCPTests",
            dependencies: [
                "DeputyDemo",
                "DeputyTestSupport", "DeputyCore", "DeputyMCP", "DeputyHummingbird", "DeputyTokenValidation", "DeputyAuthority",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeputyAuthorityServerTests",
            dependencies: [
                "DeputyDemo",
                "DeputyCore", "DeputyAuthority", "DeputyAuthorityServer", "DeputyTokenValidation",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
