#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import ClusterNotify
import ClusterView
import Gossip
import GossipCore
import Hummingbird
import Logging
import Metrics
import NodeHealth
import NodeHealthHTTP
import NodeGRPC
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The version this build reports as `version` in `/health`.
public enum ProductVersion {
    public static let current = "0.1.0"
}

/// One whole node: the health manager with its checks, gossip, the cluster monitor, the HTTP
/// routes of every module and the services that run them, built from a ``NodeConfiguration``.
///
/// `chorus-cluster-health node` turns its flags into a configuration and calls ``run()``; tests
/// build nodes in process on port 0 and reach the same wiring through ``router`` or over HTTP.
public struct ChorusNode: Sendable {
    public let configuration: NodeConfiguration
    public let manager: HealthManager
    public let gossip: GossipNode
    public let monitor: ClusterMonitor
    /// The event history, when ``NodeConfiguration/History/path`` is set.
    public let history: EventRecorder?
    /// Last transitions and flapping, fed by gossip's observations; feeds ``history``.
    public let memory: ClusterMemory
    /// Webhook notifications, when ``NodeConfiguration/Notifications/webhooks`` has any.
    public let notifier: Notifier?
    /// The gRPC health server, when ``NodeConfiguration/grpc`` is set.
    public let grpc: GRPCHealthServer?
    /// The enhanced checks, when ``NodeConfiguration/enhancedChecks`` is on.
    public let enhanced: EnhancedHealthChecks?
    /// Every route the node serves (health, cluster, admin with a token, `/metrics`), as the
    /// responder the HTTP server hands requests to; tests call it in process.
    public let responder: RouterResponder<BasicRequestContext>
    private let logger: Logger
    private let metricsFactory: HelpfulPrometheusFactory

    /// A configuration that names a check that does not exist.
    public struct UnknownCheck: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "--check-interval \(name)=...: no check of that name" }
    }

    /// The help text of every metric a node exports (the Prometheus exposition needs one per metric).
    public static let metricHelp = HealthMetricNames.help.merging(GossipMetricNames.help) { a, _ in a }
        .merging(ClusterMetricNames.help) { a, _ in a }.merging(HistoryMetricNames.help) { a, _ in a }
        .merging(ClusterMemory.MetricNames.help) { a, _ in a }.merging(NotificationMetricNames.help) { a, _ in a }

    /// Builds the node: registers the checks, opens nothing yet (``run()`` binds the sockets).
    /// - Parameter metrics: the registry every part of the node records into and `/metrics`
    ///   exposes; each node in a process can have its own.
    public init(configuration: NodeConfiguration, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) async throws {
        self.configuration = configuration
        self.logger = configuration.makeLogger("chorus.node")
        let factory = HelpfulPrometheusFactory(registry: metrics, help: Self.metricHelp)
        self.metricsFactory = factory
        let manager = HealthManager(
            settings: .init(
                nodeID: configuration.nodeID, version: configuration.version,
                shutdownOnCriticalFailure: configuration.shutdownOnCriticalFailure,
                startupGrace: configuration.startupGrace, drainDelay: configuration.drainDelay,
                logger: configuration.makeLogger("chorus.health"), metricsFactory: factory))
        try await manager.register(.createDiskSpaceCheck(path: configuration.checks.diskPath, threshold: configuration.checks.diskThreshold))
        try await manager.register(.createMemoryCheck(threshold: configuration.checks.memoryThreshold))
        var history: EventRecorder?
        if let path = configuration.history.path {
            var settings = EventRecorder.Settings(path: path, observer: configuration.nodeID)
            settings.retention = configuration.history.retention
            settings.maxEvents = configuration.history.maxEvents
            history = EventRecorder(
                settings: settings, logger: configuration.makeLogger("chorus.history"), metricsFactory: factory,
                wallMillis: Self.wallMillis)
        }
        var gossipConfiguration = configuration.gossip
        gossipConfiguration.logger = configuration.makeLogger("chorus.gossip")
        gossipConfiguration.metricsFactory = factory
        let memory = ClusterMemory(
            policy: configuration.flapping, metricsFactory: factory, wallMillis: Self.wallMillis,
            sink: { [history] events in history?.record(events) })
        gossipConfiguration.observe = { memory.observe($0) }
        let gossip = GossipNode(configuration: gossipConfiguration, health: manager)

        // One adapter over the cluster's DHT, for the DHT probe and the admin endpoint.
        let dht = GossipDHTAdapter(node: gossip)
        var enhanced: EnhancedHealthChecks?
        if configuration.enhancedChecks {
            let adapters = GossipHealthAdapters(node: gossip)
            enhanced = try await EnhancedHealthChecks(
                manager: manager, election: adapters, dht: dht,
                pubsub: GossipPubSubAdapter(node: gossip), replication: adapters, connectivity: adapters,
                tasks: GossipTaskManager(node: gossip), config: configuration.checks, metricsFactory: factory)
        }
        for (name, interval) in configuration.checkIntervals.sorted(by: { $0.key < $1.key }) {
            guard var check = await manager.check(named: name) else { throw UnknownCheck(name: name) }
            check.interval = interval
            try await manager.register(check)
        }

        let monitor = ClusterMonitor(node: gossip, memory: memory, minPeers: configuration.checks.minPeers, factory: factory)
        var groups = [
            HealthHTTP.routes(manager: manager, enhanced: enhanced),
            ClusterHTTP.routes(node: gossip, monitor: monitor),
            Self.metricsRoutes(metrics) { await gossip.recordMemberGauges() },
        ]
        if let history {
            groups.append(EventsHTTP.routes(recorder: history, memory: memory, observer: configuration.nodeID, wallMillis: Self.wallMillis))
        }
        if let token = configuration.adminToken {
            groups.append(AdminHTTP.routes(manager: manager, token: token, dht: dht))
        }
        self.manager = manager
        self.gossip = gossip
        self.monitor = monitor
        self.grpc = configuration.grpc.map { grpc in
            var settings = GRPCHealthServer.Configuration(host: grpc.host, port: grpc.port)
            settings.clusterInterval = .seconds(1)
            settings.maxConnections = grpc.maxConnections
            return GRPCHealthServer(
                configuration: settings, health: manager, cluster: { await monitor.latestStatus() },
                logger: configuration.makeLogger("chorus.grpc"), metrics: factory)
        }
        self.enhanced = enhanced
        self.history = history
        self.memory = memory
        self.notifier = Self.makeNotifier(configuration, gossip: gossip, monitor: monitor, history: history, factory: factory)
        self.responder = NodeRoutes.router(serving: groups).buildResponder()
    }

    /// The notifier of `configuration`, if it names webhooks: the monitor's view, sent while
    /// `gossip` leads, recorded in the DHT and in `history`.
    static func makeNotifier(
        _ configuration: NodeConfiguration, gossip: GossipNode, monitor: ClusterMonitor, history: EventRecorder?,
        factory: any MetricsFactory
    ) -> Notifier? {
        let notifications = configuration.notifications
        guard !notifications.webhooks.isEmpty else { return nil }
        let host = configuration.http.host == "0.0.0.0" ? (configuration.gossip.advertise?.host ?? "127.0.0.1") : configuration.http.host
        var settings = Notifier.Settings(
            webhooks: notifications.webhooks,
            dashboard: notifications.dashboard ?? "http://\(host):\(configuration.http.port)/cluster", sender: configuration.nodeID)
        settings.trust = notifications.trust
        settings.template = notifications.template
        settings.policy = notifications.policy
        settings.initialBackoff = notifications.initialBackoff
        return Notifier(
            settings: settings, store: DHTLedgerStore(node: gossip), logger: configuration.makeLogger("chorus.notify"),
            metricsFactory: factory, wallMillis: wallMillis, record: { history?.record($0) },
            isLeader: { await gossip.election()?.view.isLeader ?? false }, source: { await monitor.serve().health })
    }

    /// The wall clock in Unix milliseconds (event times).
    static let wallMillis: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    /// `GET /metrics`: the Prometheus text exposition of `registry`, after `beforeEmit` has
    /// recorded what is computed only when read.
    static func metricsRoutes(
        _ registry: PrometheusCollectorRegistry, beforeEmit: @escaping @Sendable () async -> Void = {}
    ) -> NodeRoutes<BasicRequestContext> {
        let routes = NodeRoutes(context: BasicRequestContext.self)
        routes.get("/metrics") { _, _ in
            await beforeEmit()
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return routes
    }

    /// The HTTP server on ``NodeConfiguration/HTTP``, with the connection limit and idle timeout.
    /// `onRunning` gets the port it listens on (useful with port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>>
    {
        let http = configuration.http
        let limiter = ConnectionLimiter(limit: http.maxConnections, metrics: metricsFactory)
        return Application(
            responder: responder,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [limiter.handler()],
                    idleTimeout: .milliseconds(Int64(http.idleTimeout / .milliseconds(1))))),
            configuration: .init(address: .hostname(http.host, port: http.port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: configuration.makeLogger("chorus.http"))
    }

    /// The node's services in the order they start: HTTP first (probes answer `starting` at
    /// once), then gossip, the manager, the cluster monitor and gRPC. Gossip and the manager take the
    /// whole group down when they fail (a critical check with shutdown-on-critical, a bind error).
    public func services(onHTTPRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> [ServiceGroupConfiguration.ServiceConfiguration]
    {
        [
            .init(service: application(onRunning: onHTTPRunning)),
            .init(service: gossip, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: manager, failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: monitor),
        ] + (grpc.map { [.init(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup)] } ?? [])
            + (notifier.map { [.init(service: $0)] } ?? []) + (history.map { [.init(service: $0)] } ?? [])
    }

    /// Runs the node until SIGTERM or SIGINT (or `gracefulShutdownSignals`), then shuts it down
    /// gracefully: the probes answer 503, the node tells the cluster it leaves, the server closes
    /// after the drain delay. Throws ``HealthManager/CriticalCheckFailure`` when a critical check
    /// stopped it, a bind error when a port is taken.
    public func run(
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        onHTTPRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services(onHTTPRunning: onHTTPRunning), gracefulShutdownSignals: gracefulShutdownSignals,
                logger: logger))
        try await group.run()
    }
}
