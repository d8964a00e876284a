import Gossip
import GossipCore
import Metrics
import Synchronization

/// What a node remembers of the cluster while it runs, with or without an event history: when
/// each member and each of its checks last changed and which of them flap (``TransitionTracker``
/// under a lock), for `/cluster/health`; the events that makes go to a sink (the
/// ``EventRecorder``, the notifier).
///
/// ``observe(_:)`` is called synchronously by the gossip node for each observation and returns at
/// once; ``expire()`` is called by the cluster monitor every few seconds and looks only at the
/// subjects that flap and the members that are gone.
public final class ClusterMemory: Sendable {
    /// Metric names, with their help texts.
    public enum MetricNames {
        public static let flapping = "chorus_cluster_flapping"
        public static let help: [String: String] = [
            flapping: "Members (subject=node) and checks (subject=check) flapping now, in this node's view (see --flap-threshold)."
        ]
    }

    private let tracker: Mutex<TransitionTracker>
    private let wallMillis: @Sendable () -> Int64
    private let sink: @Sendable ([ClusterEvent]) -> Void
    private let flappingNodes: Gauge
    private let flappingChecks: Gauge

    /// - Parameters:
    ///   - sink: takes the events each observation makes, in order, under the memory's lock: it
    ///     must return at once (``EventRecorder/record(_:)`` appends to a buffer).
    public init(
        policy: FlapPolicy = FlapPolicy(), metricsFactory: (any MetricsFactory)? = nil,
        wallMillis: @escaping @Sendable () -> Int64, sink: @escaping @Sendable ([ClusterEvent]) -> Void = { _ in }
    ) {
        tracker = Mutex(TransitionTracker(policy: policy))
        self.wallMillis = wallMillis
        self.sink = sink
        let factory = metricsFactory ?? MetricsSystem.factory
        flappingNodes = Gauge(label: MetricNames.flapping, dimensions: [("subject", "node")], factory: factory)
        flappingChecks = Gauge(label: MetricNames.flapping, dimensions: [("subject", "check")], factory: factory)
        flappingNodes.record(0)
        flappingChecks.record(0)
    }

    public var policy: FlapPolicy { tracker.withLock { $0.policy } }

    /// Takes one observation of the gossip node.
    public func observe(_ observation: GossipNode.Observation) {
        let now = wallMillis()
        tracker.withLock { tracker in
            let events = tracker.events(for: observation, at: now)
            deliver(events, counts: tracker.flappingCounts)
        }
    }

    /// Settles the subjects quiet for the flap window and forgets members gone for one.
    public func expire() {
        let now = wallMillis()
        tracker.withLock { tracker in
            let events = tracker.expire(at: now)
            deliver(events, counts: tracker.flappingCounts)
        }
    }

    private func deliver(_ events: [ClusterEvent], counts: (members: Int, checks: Int)) {
        guard !events.isEmpty else { return }
        sink(events)
        if events.contains(where: { $0.kind == .flapping }) {
            flappingNodes.record(counts.members)
            flappingChecks.record(counts.checks)
        }
    }

    /// The transitions of each of `keys` this node knows of, under one lock.
    public func transitions(of keys: some Sequence<PublicKey>) -> [PublicKey: MemberTransitions] {
        tracker.withLock { tracker in
            var out: [PublicKey: MemberTransitions] = [:]
            for key in keys {
                if let transitions = tracker.transitions(of: key) { out[key] = transitions }
            }
            return out
        }
    }
}
