// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "chorus-cluster-health",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NodeHealth", targets: ["NodeHealth"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .library(name: "ClusterView", targets: ["ClusterView"]),
        .executable(name: "chorus-cluster-health", targets: ["chorus-cluster-health"]),
    ],
    dependencies: [
        // Without the default traits: no full Foundation (smaller, leaner binary) and no swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        .target(
            name: "NodeHealth",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(
            name: "Gossip",
            dependencies: [
                "CSodium", "NodeHealth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // The protocol core is exercised at 1000 nodes in the simulation tests: optimise it
            // in debug builds too, so those tests take seconds.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        .target(
            name: "ClusterView",
            dependencies: [
                "Gossip", "NodeHealth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Simulations",
            dependencies: [
                "Gossip", "NodeHealth",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Simulations",
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        .executableTarget(
            name: "chorus-cluster-health",
            dependencies: [
                "NodeHealth", "Gossip", "ClusterView", "Simulations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "probe-bench-server",
            dependencies: [
                "NodeHealth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/probe-bench-server"
        ),
        .executableTarget(
            name: "cluster-view-bench",
            dependencies: ["ClusterView", "Gossip", "NodeHealth", "Simulations", .product(name: "Hummingbird", package: "hummingbird")],
            path: "Benchmarks/cluster-view-bench"
        ),
        .executableTarget(
            name: "services-bench",
            dependencies: ["Gossip", "NodeHealth", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/services-bench"
        ),
        .executableTarget(
            name: "auth-bench",
            dependencies: ["Gossip"],
            path: "Benchmarks/auth-bench"
        ),
        // Child processes for the tests (posix_spawn; Foundation's Process.run crashes now and then on Linux).
        .target(name: "ChildProcesses", path: "Tests/ChildProcesses"),
        .testTarget(
            name: "GossipTests",
            dependencies: [
                "Gossip", "NodeHealth", "ClusterView", "ChildProcesses",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulations", "Gossip", "NodeHealth"]
        ),
        .testTarget(
            name: "NodeHealthTests",
            dependencies: [
                "NodeHealth", "Gossip", "ChildProcesses",
                "chorus-cluster-health",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The ordo-one micro-benchmarks build only when asked for (`CHORUS_BENCHMARKS=1 swift package
// --disable-sandbox benchmark --target GossipBenchmarks`): a plain build, `make test` and CI never
// build the benchmark package, its plugins and its malloc interposer.
if Context.environment["CHORUS_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "GossipBenchmarks",
            dependencies: [
                "Gossip", "NodeHealth",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/GossipBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
