// swift-tools-version: 6.2
import PackageDescription

/// Strict settings for every target of ours (docs/ARCHITECTURE.md, conventions). Warnings become errors when CI is set, so a
/// warning never lands, while a local edit-build loop stays quick to iterate.
var strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
if Context.environment["CI"] != nil || Context.environment["KIROKU_STRICT"] != nil {
    strictSettings.append(.treatAllWarnings(as: .error))
}

let package = Package(
    name: "kiroku",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kiroku-agent", targets: ["kiroku-agent"]),
        .executable(name: "kiroku-hub", targets: ["kiroku-hub"]),
        .executable(name: "kirokuctl", targets: ["kirokuctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // The wire format: events, canonical JSON, hash chain, sync messages, receipts, error codes.
        .target(
            name: "KirokuProtocol",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: strictSettings
        ),
        // The municipality's private CA: issuing, listing and revoking certificates.
        .target(
            name: "KirokuPKI",
            dependencies: [
                "KirokuProtocol",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The terminal side: durable journal, ingestion socket, sync client. No Hummingbird, no postgres-nio.
        .target(
            name: "KirokuAgent",
            dependencies: [
                "KirokuProtocol", "KirokuClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // zlib's inflate, called directly by the hub so that a truncated or trailing-garbage body is refused.
        .target(name: "CKirokuZlib", linkerSettings: [.linkedLibrary("z")]),
        // The central side: mTLS server, consolidated store, query API, metrics.
        .target(
            name: "KirokuHub",
            dependencies: [
                "CKirokuZlib",
                "KirokuProtocol",
                "KirokuPKI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The mutual-TLS HTTPS client that agents and people use to talk to the hub.
        .target(
            name: "KirokuClient",
            dependencies: [
                "KirokuProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // What people use: the hub API client and the table / JSON Lines / CSV renderers of kirokuctl.
        .target(
            name: "KirokuControl",
            dependencies: [
                "KirokuProtocol", "KirokuClient", "KirokuPKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kiroku-agent",
            dependencies: [
                "KirokuAgent", "KirokuProtocol", "KirokuPKI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kiroku-hub",
            dependencies: [
                "KirokuHub", "KirokuProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "kirokuctl",
            dependencies: [
                "KirokuClient", "KirokuControl", "KirokuPKI", "KirokuProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Benchmarks/run.sh builds this in release; it prints each figure beside a baseline of the same run.
        .executableTarget(
            name: "kiroku-bench",
            dependencies: [
                "KirokuAgent", "KirokuClient", "KirokuControl", "KirokuHub", "KirokuPKI", "KirokuProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/Sources/kiroku-bench",
            swiftSettings: strictSettings
        ),
        // Scripts/fuzz.sh: libFuzzer (coverage-guided) or a seeded mutator over Fuzz/corpus.
        .executableTarget(
            name: "kiroku-fuzz",
            dependencies: ["KirokuProtocol"],
            path: "Fuzz/Sources/kiroku-fuzz",
            swiftSettings: strictSettings
        ),
        // What the test targets share: temporary folders, the built programs, hub and agent processes, a PKI
        // made by the test, socket producers, `eventually`.
        .target(
            name: "KirokuTestSupport",
            dependencies: [
                "KirokuAgent", "KirokuHub", "KirokuPKI", "KirokuProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/KirokuTestSupport",
            swiftSettings: strictSettings
        ),
        // The wire format on its own: canonical JSON, events, vectors, the Merkle log, the parsers and fuzzing.
        .testTarget(
            name: "KirokuProtocolTests",
            dependencies: [
                "KirokuControl", "KirokuHub", "KirokuProtocol", "KirokuTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The agent alone, in process: the sync cursor, the journal, epoch bisection.
        .testTarget(
            name: "KirokuAgentTests",
            dependencies: ["KirokuAgent", "KirokuProtocol", "KirokuTestSupport"],
            swiftSettings: strictSettings
        ),
        // The hub's record and judgement: ingest, the rules and findings on a store in process; the
        // findings' commands, incidents and contractors against a hub.
        .testTarget(
            name: "KirokuHubTests",
            dependencies: [
                "KirokuClient", "KirokuControl", "KirokuHub", "KirokuProtocol", "KirokuTestSupport",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // To turn a record back into one of an earlier version (the upgrade tests).
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // Components together: hub and agents as processes, real clients, the console, hardening.
        .testTarget(
            name: "KirokuTests",
            dependencies: [
                "KirokuProtocol", "KirokuPKI", "KirokuAgent", "KirokuHub", "KirokuControl", "KirokuClient",
                "KirokuTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The minutes-long fault suite: kill -9, cut connections, restores, clocks, full disks, 200 agents.
        .testTarget(
            name: "KirokuFaultTests",
            dependencies: [
                "KirokuAgent", "KirokuClient", "KirokuControl", "KirokuHub", "KirokuProtocol", "KirokuTestSupport",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
