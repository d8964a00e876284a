import ClusterEvents
import ClusterNotify
import Gossip
import GossipCore
import Logging
import NodeHealth
import NodeHealthHTTP

/// Everything that makes one node: what `chorus-cluster-health node`'s flags say, as a value.
public struct NodeConfiguration: Sendable {
    /// The HTTP server.
    public struct HTTP: Sendable {
        /// Address to listen on. Default 0.0.0.0.
        public var host = "0.0.0.0"
        /// Port; 0 picks a free one. Default 8081.
        public var port = 8081
        /// Most connections held at once; at the cap the longest-idle one is closed for a newcomer.
        public var maxConnections = 512
        /// An idle connection is closed after this long. Default 30 s.
        public var idleTimeout: Duration = .seconds(30)

        public init() {}
    }

    /// The event history (``ClusterEvents/EventRecorder``).
    public struct History: Sendable {
        /// The SQLite file; `nil` keeps no history (and serves no `/cluster/events`).
        public var path: String?
        /// Events older than this are pruned. Default 7 days.
        public var retention: Duration = .seconds(7 * 86_400)
        /// At most this many events are kept. Default 1 000 000.
        public var maxEvents = 1_000_000
        public init() {}
    }

    /// The node's id in its status (default: the host name).
    public var nodeID: String
    /// The software version the status reports.
    public var version = ProductVersion.current
    public var http = HTTP()
    /// The gRPC health service (`grpc.health.v1.Health`).
    public struct GRPC: Sendable {
        public var host = "0.0.0.0"
        /// 0 picks a free port (the log line `grpc ready` says which).
        public var port = 9081
        /// Connections held at once (the oldest closed for a newcomer at the cap).
        public var maxConnections = 128
        public init() {}
    }
    /// The gRPC server, `nil` for none (the library's default; `node` turns it on, `--grpc-port`).
    public var grpc: GRPC?
    public var history = History()
    /// Webhook notifications (``ClusterNotify/Notifier``).
    public struct Notifications: Sendable {
        /// `http://` or `https://` URLs; none: no notifications.
        public var webhooks: [String] = []
        /// What `https://` webhooks' certificates must chain to; `nil`: the system's trust store.
        public var trust: TLSTrust?
        public var template = NotificationTemplate.standard
        public var policy = NotificationPolicy()
        /// The link in each notification; `nil`: this node's `/cluster` at its HTTP address.
        public var dashboard: String?
        /// The first wait between retries (doubled after each); tests shorten it.
        public var initialBackoff: Duration = .seconds(1)
        public init() {}
    }

    public var notifications = Notifications()
    /// When a member or a check counts as flapping in `/cluster/health`.
    public var flapping = FlapPolicy()
    /// The gossip layer: key, generation, trust, addresses.
    public var gossip: GossipNode.Configuration
    /// Thresholds and intervals of the checks: disk and memory for the two basic checks (the
    /// enhanced `resource-health` uses the same), `minPeers` for connectivity and the cluster view.
    public var checks = HealthConfig()
    /// Register the seven enhanced checks (pub/sub and DHT probes, election, replication,
    /// connectivity, resources, tasks). Default on.
    public var enhancedChecks = true
    /// Checks to run at other intervals than their defaults, by name.
    public var checkIntervals: [String: Duration] = [:]
    /// Shut the node down when a critical check fails. Default on.
    public var shutdownOnCriticalFailure = true
    /// How long after start a failing critical check does not shut the node down
    /// (``HealthManager/Settings/startupGrace``). Default 5 minutes.
    public var startupGrace: Duration = .seconds(300)
    /// How long the probes answer 503 before the server closes on shutdown. Default 0.
    public var drainDelay: Duration = .zero
    /// The bearer token of the admin endpoints; without one they are not served.
    public var adminToken: String?
    /// Makes the logger of each part (`chorus.node`, `chorus.health`, `chorus.gossip`, `chorus.http`).
    public var makeLogger: @Sendable (String) -> Logger = { Logger(label: $0) }

    public init(nodeID: String, gossip: GossipNode.Configuration) {
        self.nodeID = nodeID
        self.gossip = gossip
    }
}
