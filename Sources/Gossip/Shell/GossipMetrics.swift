import GossipCore
import Metrics
import Synchronization

/// Metric names of the gossip layer, with their help texts (for the Prometheus exposition).
public enum GossipMetricNames {
    public static let datagramsSent = "chorus_gossip_datagrams_sent_total"
    public static let bytesSent = "chorus_gossip_bytes_sent_total"
    public static let datagramsReceived = "chorus_gossip_datagrams_received_total"
    public static let bytesReceived = "chorus_gossip_bytes_received_total"
    public static let dropped = "chorus_gossip_dropped_total"
    public static let statusesAccepted = "chorus_gossip_statuses_accepted_total"
    public static let members = "chorus_gossip_members"
    public static let statusAge = "chorus_gossip_member_status_age_seconds"
    public static let pubSubPublished = "chorus_pubsub_messages_published_total"
    public static let pubSubDelivered = "chorus_pubsub_messages_delivered_total"
    public static let socketReopened = "chorus_gossip_socket_reopened_total"
    public static let accuserAccusations = "chorus_gossip_accuser_recent_accusations"
    public static let accuserRefuted = "chorus_gossip_accuser_recent_refuted"
    public static let accuserConfirmed = "chorus_gossip_accuser_recent_confirmed"
    public static let accuserUnreliable = "chorus_gossip_accuser_unreliable"
    public static let accusationsSigned = "chorus_gossip_accusations_signed_total"
    public static let accusationsVerified = "chorus_gossip_accusations_verified_total"
    public static let suspicionsExpired = "chorus_gossip_suspicions_expired_total"
    public static let localHealth = "chorus_gossip_local_health"

    public static let help: [String: String] = [
        datagramsSent: "Datagrams sent, by the type of their first part.",
        bytesSent: "Bytes sent (after sealing), by the type of the datagram's first part.",
        datagramsReceived: "Datagrams received and opened, by the type of their first part.",
        bytesReceived: "Bytes received, by the type of the datagram's first part.",
        dropped: "Datagrams, parts and statuses dropped, by reason.",
        statusesAccepted: "Signed statuses accepted (verified and newer), this node's own included.",
        members: "Members by state, as this node sees them (itself included, as alive).",
        statusAge: "Seconds since this node accepted the member's latest status.",
        pubSubPublished: "Pub/sub messages this node published.",
        pubSubDelivered: "Pub/sub messages handed to this node's subscribers (its own once echoed back).",
        socketReopened: "Times the gossip socket closed under the node (a read error) and was bound again.",
        accuserAccusations: "Signed accusations (suspect or dead) this node accepted from the member over the last 10-20 minutes.",
        accuserRefuted: "Of those, how many the accused refuted (it was alive).",
        accuserConfirmed: "Of those, how many the accused's death, leave or restart confirmed.",
        accuserUnreliable: "1 while the member's accusations keep being refuted (3 or more, over twice its confirmed ones): they weigh nothing here.",
        accusationsSigned: "Accusations this node signed.",
        accusationsVerified: "Distinct accusations by others whose signature this node verified.",
        suspicionsExpired: "Suspicions ended without a verdict because every claim behind them had expired (60 s).",
        localHealth: "This node's local health score (Lifeguard): 0 healthy, up to 8; its probes wait (score + 1) times as long.",
    ]
}

/// The gossip shell's metrics (swift-metrics), created lazily per label set.
final class GossipMetrics: Sendable {
    private let factory: any MetricsFactory
    private let counters = Mutex<[String: Counter]>([:])
    private let gauges = Mutex<[String: Gauge]>([:])
    /// The member labels each per-member gauge has now, by metric name.
    private let memberLabels = Mutex<[String: Set<String>]>([:])
    /// Drops by reason since start, also readable without a metrics backend.
    let droppedTotals = Mutex<[String: Int]>([:])
    /// Times the socket was bound again since start.
    let reopenedTotal = Atomic<Int>(0)

    private let localHealthGauge: Gauge

    init(factory: any MetricsFactory) {
        self.factory = factory
        localHealthGauge = Gauge(label: GossipMetricNames.localHealth, dimensions: [], factory: factory)
    }

    func localHealth(_ score: Int) { localHealthGauge.record(score) }

    /// The part kind of a datagram's first part (its type byte follows the version byte).
    static func kind(ofDatagram bytes: [UInt8]) -> String {
        guard bytes.count > 1 else { return "empty" }
        return GossipPart.kind(ofTypeCode: bytes[1]) ?? "unknown"
    }

    func sent(kind: String, bytes: Int) {
        counter(GossipMetricNames.datagramsSent, ("type", kind)).increment()
        counter(GossipMetricNames.bytesSent, ("type", kind)).increment(by: bytes)
    }

    func received(kind: String, bytes: Int) {
        counter(GossipMetricNames.datagramsReceived, ("type", kind)).increment()
        counter(GossipMetricNames.bytesReceived, ("type", kind)).increment(by: bytes)
    }

    func dropped(_ reason: String, count: Int = 1) {
        droppedTotals.withLock { $0[reason, default: 0] += count }
        counter(GossipMetricNames.dropped, ("reason", reason)).increment(by: count)
    }

    func socketReopened() {
        reopenedTotal.add(1, ordering: .relaxed)
        counter(GossipMetricNames.socketReopened, nil).increment()
    }

    func published() {
        counter(GossipMetricNames.pubSubPublished, nil).increment()
    }

    func delivered() {
        counter(GossipMetricNames.pubSubDelivered, nil).increment()
    }

    func statusAccepted() {
        counter(GossipMetricNames.statusesAccepted, nil).increment()
    }

    func members(_ byState: [MemberState: Int]) {
        for state in MemberState.allCases {
            gauge(GossipMetricNames.members, ("state", state.description)).record(byState[state, default: 0])
        }
    }

    /// Sets the status age of each member (by node id) and removes members no longer listed.
    func statusAges(_ ages: [String: Double]) { memberGauges(GossipMetricNames.statusAge, ages) }

    /// Per accuser (by node id): its recent accusations, refuted and confirmed ones, and whether
    /// it is unreliable; only accusers with recent accusations are listed.
    func accusers(_ records: [String: AccuserRecord]) {
        memberGauges(GossipMetricNames.accuserAccusations, records.mapValues { Double($0.recentAccusations) })
        memberGauges(GossipMetricNames.accuserRefuted, records.mapValues { Double($0.recentRefuted) })
        memberGauges(GossipMetricNames.accuserConfirmed, records.mapValues { Double($0.recentConfirmed) })
        memberGauges(GossipMetricNames.accuserUnreliable, records.mapValues { $0.isUnreliable ? 1 : 0 })
    }

    /// Counts the accusations signed and verified, and the suspicions that expired, since the last
    /// call (each figure is the core's total).
    func accusations(signed: Int, verified: Int, expired: Int) {
        for (name, total) in [
            (GossipMetricNames.accusationsSigned, signed), (GossipMetricNames.accusationsVerified, verified),
            (GossipMetricNames.suspicionsExpired, expired),
        ] {
            let delta = accusationTotals.withLock { totals in
                defer { totals[name] = total }
                return total - totals[name, default: 0]
            }
            if delta > 0 { counter(name, nil).increment(by: delta) }
        }
    }

    private let accusationTotals = Mutex<[String: Int]>([:])

    /// One gauge of `name` per member (label `node_id`), removing the members no longer given.
    private func memberGauges(_ name: String, _ values: [String: Double]) {
        let gone = memberLabels.withLock { all in
            let gone = all[name, default: []].subtracting(values.keys)
            all[name] = Set(values.keys)
            return gone
        }
        for label in gone {
            let removed = gauges.withLock { $0.removeValue(forKey: name + "|" + label) }
            removed?.destroy()
        }
        for (label, value) in values { gauge(name, ("node_id", label)).record(value) }
    }

    private func counter(_ name: String, _ dimension: (String, String)?) -> Counter {
        let id = name + "|" + (dimension?.1 ?? "")
        return counters.withLock { counters in
            if let existing = counters[id] { return existing }
            let counter = Counter(label: name, dimensions: dimension.map { [$0] } ?? [], factory: factory)
            counters[id] = counter
            return counter
        }
    }

    private func gauge(_ name: String, _ dimension: (String, String)) -> Gauge {
        let id = name + "|" + dimension.1
        return gauges.withLock { gauges in
            if let existing = gauges[id] { return existing }
            let gauge = Gauge(label: name, dimensions: [dimension], factory: factory)
            gauges[id] = gauge
            return gauge
        }
    }
}
