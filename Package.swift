// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "chorus-cluster-health",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "GossipCore", targets: ["GossipCore"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .library(name: "NodeHealth", targets: ["NodeHealth", "NodeHealthHTTP"]),
        .library(name: "ClusterView", targets: ["ClusterView", "ClusterEvents", "ClusterNotify"]),
        .library(name: "ChorusNode", targets: ["ChorusNode"]),
        .executable(name: "chorus-cluster-health", targets: ["chorus-cluster-health"]),
    ],
    dependencies: [
        // Without the default traits: no full Foundation (smaller, leaner binary) and no swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // TLS for https:// webhooks and CLI URLs (BoringSSL inside: about 40 s of a clean build, BENCHMARKS.md).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // SQLite for the event history (needs libsqlite3-dev; `make` installs it when missing).
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // gzip for /cluster/health (system zlib; needs zlib1g-dev, which `make` installs when missing).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // gRPC health checking v1 (Kubernetes' gRPC probes, Envoy, client load balancers).
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // MARK: The gossip protocol
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // The pure protocol: state machines that take `now` and return directives, the codec,
        // signed statuses and announcements, the libsodium wrapper. No I/O, no clock, no NIO: the
        // simulator, the fuzzer and the tests drive it exactly as the shell does.
        .target(
            name: "GossipCore",
            dependencies: ["CSodium"],
            path: "Sources/Gossip/Core"
        ),
        // The NIO shell that runs the core on a UDP socket: key files, address resolution, metrics.
        .target(
            name: "Gossip",
            dependencies: [
                "GossipCore", "NodeHealth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/Gossip/Shell"
        ),

        // MARK: Node health
        // The health manager, its checks and the adapters the enhanced checks probe.
        .target(
            name: "NodeHealth",
            dependencies: [
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Sources/NodeHealth/Manager"
        ),
        // The node's HTTP: the probe and admin route collections, JSON errors, connection limits,
        // and the plain HTTP client the CLI talks to nodes with.
        .target(
            name: "NodeHealthHTTP",
            dependencies: [
                // GossipCore for the one `host:port` parser and libsodium's constant-time compare.
                "NodeHealth", "GossipCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/NodeHealth/HTTP"
        ),
        // gRPC health checking v1 (Check, List, Watch) over the node's health and the cluster
        // view: the service and the code generated from Protos/ (scripts/generate-grpc.sh).
        .target(
            name: "NodeGRPC",
            dependencies: [
                "NodeHealth", "NodeHealthHTTP",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2TransportServices", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/NodeGRPC"
        ),
        // Test kit (not a product): in-memory adapters and an in-process router client.
        .target(
            name: "NodeHealthTesting",
            dependencies: [
                "NodeHealth", "NodeHealthHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/NodeHealth/Testing"
        ),

        // MARK: The cluster view
        // The merged view of every node's health, the dashboard and the cluster's HTTP endpoints.
        .target(
            name: "ClusterView",
            dependencies: [
                "GossipCore", "Gossip", "NodeHealth", "NodeHealthHTTP", "ClusterEvents",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/ClusterView/View",
            // The console's static files, embedded in the binary (no Foundation bundle, no file at run time).
            resources: [.embedInCode("Console/console.html"), .embedInCode("Console/console.css"), .embedInCode("Console/console.js")]
        ),
        // The event history: the transitions a node observes, in SQLite through GRDB.
        .target(
            name: "ClusterEvents",
            dependencies: [
                "GossipCore", "Gossip", "NodeHealth",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/ClusterView/Events"
        ),

        // Test kit (not a product): a cluster of statuses signed in process, for benchmarks and console tests.
        .target(
            name: "ClusterViewTesting",
            dependencies: ["ClusterView", "ClusterEvents", "GossipCore"],
            path: "Sources/ClusterView/Testing"
        ),

        // Notifications: incidents from the cluster view, sent by the leader to webhooks, recorded in the DHT.
        .target(
            name: "ClusterNotify",
            dependencies: [
                "ClusterView", "ClusterEvents", "Gossip", "GossipCore", "NodeHealth", "NodeHealthHTTP",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/ClusterView/Notify"
        ),

        // MARK: The node and the command line
        // One whole node (manager, gossip, cluster monitor, routes, services) from a configuration value.
        .target(
            name: "ChorusNode",
            dependencies: [
                "NodeHealth", "NodeHealthHTTP", "GossipCore", "Gossip", "ClusterView", "ClusterEvents", "ClusterNotify", "NodeGRPC",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Sources/chorus-cluster-health/Node"
        ),
        .executableTarget(
            name: "chorus-cluster-health",
            dependencies: [
                "ChorusNode", "NodeHealth", "NodeHealthHTTP", "GossipCore", "Gossip", "ClusterView", "ClusterEvents", "ClusterNotify", "NodeGRPC",
                "Simulations",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/chorus-cluster-health/CLI"
        ),

        // MARK: The simulator
        .target(
            name: "Simulations",
            dependencies: [
                "GossipCore",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            path: "Simulations"
        ),

        // MARK: Tests: one target per module, and the system tests
        // Helpers the test targets share: child processes (posix_spawn; Foundation's Process.run
        // crashes now and then on Linux), polling, raw sockets.
        .target(name: "TestSupport", dependencies: ["GossipCore"], path: "Tests/TestSupport"),
        .testTarget(name: "GossipCoreTests", dependencies: ["GossipCore", "TestSupport"]),
        .testTarget(
            name: "NodeGRPCTests",
            dependencies: ["NodeGRPC", "NodeHealth", .product(name: "GRPCCore", package: "grpc-swift-2")]),
        .testTarget(
            name: "GossipTests",
            dependencies: [
                "GossipCore", "Gossip", "ClusterView", "NodeHealth", "NodeHealthTesting", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "NodeHealthTests",
            dependencies: [
                "NodeHealth", "NodeHealthTesting", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "NodeHealthHTTPTests",
            dependencies: [
                "NodeHealth", "NodeHealthHTTP", "NodeHealthTesting", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "ClusterViewTests",
            dependencies: ["ClusterView", "ClusterViewTesting", "ClusterEvents", "GossipCore", "Gossip", "NodeHealth", "NodeHealthHTTP",
                "NodeHealthTesting", "TestSupport", .product(name: "CompressNIO", package: "compress-nio"), .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .testTarget(
            name: "ClusterNotifyTests",
            dependencies: [
                "ClusterNotify", "ClusterView", "ClusterEvents", "GossipCore", "Gossip", "NodeHealth", "NodeHealthHTTP",
                "NodeHealthTesting", "TestSupport",
            ]
        ),
        .testTarget(
            name: "ClusterEventsTests",
            dependencies: [
                "ClusterEvents", "GossipCore", "Gossip", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "ChorusNodeTests",
            dependencies: [
                "ChorusNode", "NodeHealth", "NodeHealthHTTP", "NodeHealthTesting", "GossipCore", "Gossip", "ClusterView", "ClusterEvents",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The simulation suite, a Swift Testing runner of its own built in release (see its main.swift).
        .executableTarget(name: "simulation-tests", dependencies: ["Simulations", "GossipCore"], path: "Tests/SimulationTests"),
        // Whole processes, network namespaces, the browser, Kubernetes manifests and the CLI.
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "chorus-cluster-health", "GossipCore", "Gossip", "NodeHealth", "NodeHealthHTTP", "NodeHealthTesting",
                "ClusterView", "ClusterViewTesting", "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The benchmarks exist only when asked for (`make bench-*` sets CHORUS_BENCHMARKS=1; the ordo-one
// micro-benchmarks: `CHORUS_BENCHMARKS=1 swift package --disable-sandbox benchmark --target
// GossipBenchmarks`): a plain build, `make test` and CI never build the benchmark programs, the
// benchmark package, its plugins or its malloc interposer.
if Context.environment["CHORUS_BENCHMARKS"] != nil {
    package.targets += [
        .executableTarget(
            name: "probe-bench-server",
            dependencies: [
                "NodeHealth", "NodeHealthHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/probe-bench-server"
        ),
        .executableTarget(
            name: "cluster-view-bench",
            dependencies: ["ClusterView", "ClusterViewTesting", "GossipCore", "NodeHealthHTTP", "Simulations"],
            path: "Benchmarks/cluster-view-bench"
        ),
        .executableTarget(
            name: "services-bench",
            dependencies: ["GossipCore", "Gossip", "NodeHealth", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/services-bench"
        ),
        .executableTarget(
            name: "history-bench",
            dependencies: [
                "ClusterEvents", "ClusterView", "GossipCore", "NodeHealth", "NodeHealthHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/history-bench"
        ),
        .executableTarget(
            name: "auth-bench",
            dependencies: ["GossipCore"],
            path: "Benchmarks/auth-bench"
        ),
    ]
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "GossipBenchmarks",
            dependencies: [
                "GossipCore",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/GossipBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
