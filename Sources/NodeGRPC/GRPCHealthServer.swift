import GRPCCore
// The transport's core (`HTTP2ServerTransport.Custom`, its listener and connection configurators),
// re-exported by this product; on Linux the product adds nothing else. Its Posix product would
// build TLS support through swift-certificates and a second BoringSSL (swift-crypto): a fresh
// debug build took 7:48 with it against 4:55 without (BENCHMARKS.md "Session 20"), for a
// plaintext listener that ``PlaintextListener`` provides in 20 lines.
import GRPCNIOTransportHTTP2TransportServices
import Logging
import Metrics
import NIOCore
import NIOPosix
import NodeHealth
import NodeHealthHTTP
import ServiceLifecycle
import Synchronization

/// The node's gRPC server: `grpc.health.v1.Health` (``HealthService``) on `host:port`, run as a
/// service of the node's `ServiceGroup`. Its ``board`` is refreshed on every change of the
/// health manager's status and, every ``Configuration/clusterInterval``, with the cluster view's
/// status: one computation per change for the whole node, however many clients watch.
///
/// It runs on an event loop of its own, so that gRPC traffic (a flood of streams, a malformed
/// frame, a client that never reads) cannot delay the HTTP probes, and it holds a client to
/// small requests and a bounded number of streams.
public final class GRPCHealthServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 picks a free port (``port`` tells which once listening).
        public var port: Int
        /// How often the `cluster` service's status is read again. Default 1 s.
        public var clusterInterval: Duration = .seconds(1)
        /// Concurrent streams one HTTP/2 connection may open. Default 128 (a dashboard watching
        /// every check of a node needs a few dozen). Each open stream costs the server's one
        /// event loop: at 1024, 8 connections holding 8000 half-open streams kept a fresh `Check`
        /// waiting 0.8 s in a debug build, and over 5 s beside the other system tests.
        public var maxStreamsPerConnection = 128
        /// Connections held at once; at the cap the oldest is closed for a newcomer, so a flood of
        /// idle connections can neither exhaust the node's descriptors nor keep a probe out.
        /// Default 128 (a kubelet, a proxy or two and some dashboards).
        public var maxConnections = 128

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    public let board = ServingStatusBoard()
    private let configuration: Configuration
    private let health: HealthManager
    private let cluster: (@Sendable () async -> HealthStatus?)?
    private let logger: Logger
    private let limiter: ConnectionLimiter
    private let bound = Mutex<Int?>(nil)
    private let clusterStatus = Mutex<HealthStatus?>(nil)

    /// `cluster` reads the cluster view's status (nil: no `cluster` service).
    public init(
        configuration: Configuration, health: HealthManager, cluster: (@Sendable () async -> HealthStatus?)?, logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.configuration = configuration
        self.limiter = ConnectionLimiter(limit: configuration.maxConnections, server: .grpc, metrics: metrics)
        self.health = health
        self.cluster = cluster
        self.logger = logger
    }

    /// The server could not listen (a port in use, an address not of this host).
    public struct ListenError: Error, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var underlying: any Error
        public var description: String { ListenFailure.describe(host: host, port: port, what: "gRPC", underlying) }
    }

    /// The port the server listens on, once it does.
    public var port: Int? { bound.withLock { $0 } }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        var limits = HTTP2ServerTransport.Custom<PlaintextListener>.Config.defaults
        // A health request is a service name: 4 KiB is ample. Each open Watch holds its request, so
        // this bounds what the caps let clients make the node keep: 128 connections × 128 streams ×
        // 4 KiB = 64 MiB (at 64 KiB, as first set, it was 1 GiB).
        limits.rpc.maxRequestPayloadSize = 4 * 1024
        limits.http2.maxConcurrentStreams = configuration.maxStreamsPerConnection
        limits.connection.maxIdleTime = .seconds(300)
        let transport = HTTP2ServerTransport.Custom(
            listenerFactory: PlaintextListener(
                host: configuration.host, port: configuration.port, eventLoopGroup: group, limiter: limiter),
            config: limits)
        let server = GRPCServer(transport: transport, services: [HealthService(board: board)])
        refresh()
        do {
            try await serve(server, transport: transport)
        } catch where port == nil {
            throw ListenError(host: configuration.host, port: configuration.port, underlying: error)
        }
    }

    private func serve(
        _ server: GRPCServer<HTTP2ServerTransport.Custom<PlaintextListener>>,
        transport: HTTP2ServerTransport.Custom<PlaintextListener>
    ) async throws {
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask {
                try await withGracefulShutdownHandler {
                    try await server.serve()
                } onGracefulShutdown: {
                    // Every service NOT_SERVING at once (as /health/ready turns 503), the watchers
                    // told, then the server drains.
                    self.board.shutDown()
                    server.beginGracefulShutdown()
                }
            }
            tasks.addTask {
                // nil when the listener never bound (the serve task throws the reason).
                guard let address = await transport.listeningAddress else { return }
                let port = address.ipv4?.port ?? address.ipv6?.port ?? self.configuration.port
                self.bound.withLock { $0 = port }
                self.logger.notice("grpc ready", metadata: ["grpc": "\(self.configuration.host):\(port)", "service": "grpc.health.v1.Health"])
                // The feeds end when the graceful shutdown begins.
                await withDiscardingTaskGroup { feeds in
                    feeds.addTask { for await _ in self.health.updates() { self.refresh() } }
                    if let cluster = self.cluster {
                        feeds.addTask {
                            while !Task.isCancelled {
                                let status = await cluster()
                                self.clusterStatus.withLock { $0 = status }
                                self.refresh()
                                try? await Task.sleep(for: self.configuration.clusterInterval)
                            }
                        }
                    }
                    try? await gracefulShutdown()
                    feeds.cancelAll()
                }
            }
        }
    }

    private func refresh() {
        board.update(ServingStatusBoard.statuses(of: health.status(), cluster: clusterStatus.withLock { $0 }))
    }
}

/// Listens on `host:port` in plain text: the listening channel and each accepted connection are
/// set up by the transport's own configurators (HTTP/2, gRPC stream handling, limits), and each
/// connection counted by `limiter`.
struct PlaintextListener: HTTP2ServerTransport.ListenerFactory {
    let host: String
    let port: Int
    let eventLoopGroup: any EventLoopGroup
    let limiter: ConnectionLimiter

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { listenerConfigurator.configure(channel: $0) }
            .bind(host: host, port: port) { channel in
                limiter.track(channel)
                return connectionConfigurator.configure(channel: channel, tls: .none)
            }
    }
}
