#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import Gossip
import GossipCore
import Metrics
import NodeHealth
import ServiceLifecycle
import Synchronization

/// Metric names of the cluster view, with their help texts.
public enum ClusterMetricNames {
    public static let nodes = "chorus_cluster_nodes"
    public static let members = "chorus_cluster_members"
    public static let status = "chorus_cluster_status"
    public static let staleNodes = "chorus_cluster_stale_nodes"
    public static let leadershipChanges = "chorus_cluster_leadership_changes"
    public static let electionAgreement = "chorus_cluster_election_agreement"
    public static let replicationFactor = "chorus_cluster_replication_factor"
    public static let underReplicatedKeys = "chorus_cluster_under_replicated_keys"

    public static let help: [String: String] = [
        nodes: "Nodes by the status the cluster counts for them (stale ones as unknown), in this node's view.",
        members: "Members by membership state (alive, suspect, dead, left), in this node's view.",
        status: "1 for the cluster's merged status, 0 for the others.",
        staleNodes: "Nodes whose latest status is stale (refresh overdue, or the node is dead or gone).",
        leadershipChanges: "The most leadership changes any live node has counted since it started.",
        electionAgreement: "Share of the live nodes that follow the leader most of them follow.",
        replicationFactor: "Average replication factor of the DHT's keys (weighted by each primary's keys).",
        underReplicatedKeys: "DHT keys with fewer live replicas than the target, summed over the nodes.",
    ]
}

/// Samples the cluster view every few seconds: keeps the cluster gauges current and a bounded
/// history of the cluster's status for the dashboard.
public actor ClusterMonitor: Service {
    /// One point of the history.
    public struct Entry: Codable, Sendable, Hashable {
        public var time: String
        public var status: String
        public var healthy: Int
        public var degraded: Int
        public var unhealthy: Int
        public var unknown: Int
        public var nodes: Int
        public var leader: String?
        public var reason: String?
    }

    /// Where the view comes from: a node's merge, or any other (benchmarks, tests).
    private let source: @Sendable () async -> ClusterHealth
    private let memory: ClusterMemory?
    private let interval: Duration
    private let limit: Int
    private let factory: any MetricsFactory
    private var entries: [Entry] = []
    private var lastEntryAt: ContinuousClock.Instant?
    /// The leadership-change count over the last ``changeWindow``: (when, count).
    private var changeSamples: [(at: ContinuousClock.Instant, changes: Int)] = []
    /// The window of ``ClusterHealth/Election/recentChanges``.
    public static let changeWindow: Duration = .seconds(900)
    /// Requests for a new snapshot, made by requests that found theirs aging; ``run()`` serves them.
    private nonisolated let refreshRequests: AsyncStream<Void>
    private nonisolated let refreshSink: AsyncStream<Void>.Continuation

    /// Watches the cluster as `node` sees it, with the last transitions and flapping `memory`
    /// keeps (which each sample lets settle: see ``ClusterMemory/expire()``).
    public init(
        node: GossipNode, memory: ClusterMemory? = nil, minPeers: Int = 2, interval: Duration = .seconds(2), limit: Int = 300,
        factory: (any MetricsFactory)? = nil
    ) {
        self.init(interval: interval, limit: limit, factory: factory, memory: memory) {
            await Self.clusterHealth(of: node, memory: memory, minPeers: minPeers)
        }
    }

    /// The cluster as `node` sees it, merged under `policy` (stale after twice the refresh
    /// interval for the cluster's size unless `policy` says otherwise).
    static func clusterHealth(of node: GossipNode, memory: ClusterMemory?, minPeers: Int = 2) async -> ClusterHealth {
        let views = await node.memberViews()
        var policy = ClusterHealthPolicy(staleAfter: await node.refreshInterval() * 2)
        policy.minPeers = minPeers
        let transitions = memory?.transitions(of: views.map(\.key)) ?? [:]
        let reports = views.map {
            MemberReport(
                key: $0.key, state: $0.state, life: $0.life, isSelf: $0.isSelf, status: $0.projection, statusAge: $0.statusAge,
                transitions: transitions[$0.key], stateAge: $0.stateAge, accusations: $0.accusations, suspectedBy: $0.suspectedBy,
                heardAge: $0.heardAge)
        }
        return ClusterHealth.merge(reports, policy: policy)
    }

    /// Watches the view `source` merges (lets `memory` settle on each sample).
    public init(
        interval: Duration = .seconds(2), limit: Int = 300, factory: (any MetricsFactory)? = nil, memory: ClusterMemory? = nil,
        source: @escaping @Sendable () async -> ClusterHealth
    ) {
        self.source = source
        self.memory = memory
        (refreshRequests, refreshSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.interval = interval
        self.limit = max(1, limit)
        self.factory = factory ?? MetricsSystem.factory
    }

    /// Samples every ``interval`` and makes the snapshots that requests ask for, until cancelled
    /// or the graceful shutdown begins.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in self.refreshRequests { _ = await self.refresh() }
                }
                // Nodes started together would sample in step: at 128 processes on 2 cores, ~200
                // threads became runnable at once every 2 s, acks came late and members were
                // falsely suspected. The first sample is at once; the second after a random part
                // of the interval, so that the nodes' samples spread over it.
                await self.sample()
                try? await Task.sleep(for: self.interval * Double.random(in: 0..<1))
                while !Task.isCancelled {
                    await self.sample()
                    try? await Task.sleep(for: self.interval)
                }
                group.cancelAll()
            }
        }
    }

    /// The history, oldest first: an entry when the status, the counts or the leader changed,
    /// and at least one a minute.
    public func history() -> [Entry] { entries }

    /// The cluster's status in the latest snapshot (at most one sample interval old), without
    /// asking for a new one: for readers that poll (the gRPC `cluster` service, every second),
    /// which through ``serve()`` would make each node merge the whole view every second besides
    /// its own samples. `nil` before the first sample.
    public func latestStatus() -> HealthStatus? { snapshot?.health.status }

    /// A merged view ready to serve: the merge and when it was made; its JSON document and
    /// `?verbose` text are made when a request first reads them. The monitor merges every 2 s on
    /// every node whether anyone looks or not: making the document each time was 7 % of 128
    /// forming node processes' CPU (perf, BENCHMARKS.md session 21).
    public struct Snapshot: Sendable {
        public let health: ClusterHealth
        public let at: ContinuousClock.Instant
        private let rendered: Rendered

        init(health: ClusterHealth, at: ContinuousClock.Instant, documents: LatestDocument) {
            self.health = health
            self.at = at
            rendered = Rendered(documents: documents)
        }

        /// The `/cluster/health` document, made from the latest one made before (its unchanged
        /// entries are reused and its revision continues).
        public var document: ClusterHealthDocument { rendered.document(of: health, at: at) }
        public var verbose: String { rendered.verbose(of: health) }
    }

    /// A snapshot's document and text, made once (two requests racing may both make them; either is kept).
    final class Rendered: Sendable {
        private let made = Mutex<(document: ClusterHealthDocument?, verbose: String?)>((nil, nil))
        private let documents: LatestDocument

        init(documents: LatestDocument) { self.documents = documents }

        func document(of health: ClusterHealth, at: ContinuousClock.Instant) -> ClusterHealthDocument {
            if let document = made.withLock({ $0.document }) { return document }
            let previous = documents.latest()
            let document = ClusterHealthDocument(health: health, previous: previous, wallMillis: Int64(Date().timeIntervalSince1970 * 1000))
            document.prepare(like: previous)
            made.withLock { $0.document = document }
            documents.offer(document, at: at)
            return document
        }

        func verbose(of health: ClusterHealth) -> String {
            if let text = made.withLock({ $0.verbose }) { return text }
            let text = health.verboseText
            made.withLock { $0.verbose = text }
            return text
        }
    }

    /// The newest document made, which the next one builds on (entries, revision).
    final class LatestDocument: Sendable {
        private let newest = Mutex<(document: ClusterHealthDocument, at: ContinuousClock.Instant)?>(nil)

        func latest() -> ClusterHealthDocument? { newest.withLock { $0?.document } }

        func offer(_ document: ClusterHealthDocument, at: ContinuousClock.Instant) {
            newest.withLock { if $0.map({ $0.at < at }) ?? true { $0 = (document, at) } }
        }
    }

    private nonisolated let documents = LatestDocument()

    /// A snapshot younger than this is served as it is.
    public static let freshFor: Duration = .milliseconds(250)
    /// An older one, up to this age, is served while a new one is made in the background.
    public static let servableFor: Duration = .seconds(2)
    private var snapshot: Snapshot?
    private var refreshing = false

    /// What `GET /cluster/health` serves: a snapshot at most ``freshFor`` old, or one at most
    /// ``servableFor`` old while ``run()`` makes the next (a request never waits on another's
    /// merge), or, without either, a new one. At 1000 nodes a merge and its JSON take
    /// tens of milliseconds (BENCHMARKS.md): the first request to read a snapshot's document
    /// makes it, the others take microseconds.
    public nonisolated func serve() async -> Snapshot {
        if let snapshot = await cached(now: .now) { return snapshot }
        return await refresh()
    }

    private func cached(now: ContinuousClock.Instant) -> Snapshot? {
        guard let snapshot else { return nil }
        let age = now - snapshot.at
        if age < Self.freshFor { return snapshot }
        guard age < Self.servableFor else { return nil }
        if !refreshing {
            refreshing = true
            refreshSink.yield()
        }
        return snapshot
    }

    /// Merges a new snapshot (on the caller's task) and keeps it.
    @discardableResult
    public nonisolated func refresh() async -> Snapshot {
        let made = Snapshot(health: await current(), at: .now, documents: documents)
        await keep(made)
        return made
    }

    private func keep(_ made: Snapshot) {
        if snapshot.map({ $0.at < made.at }) ?? true { snapshot = made }
        refreshing = false
    }

    /// The cluster view now, with the leadership changes within the window (the merge runs on
    /// the caller's task, not on this actor, and changes nothing here).
    public nonisolated func current() async -> ClusterHealth {
        var health = await source()
        let floor = await changeFloor() ?? health.election.leadershipChanges
        health.election.recentChanges = max(0, health.election.leadershipChanges - floor)
        return health
    }

    private func changeFloor() -> Int? { changeSamples.map(\.changes).min() }

    /// Merges the view now, updates the gauges and the history; returns the merge.
    @discardableResult
    public func sample() async -> ClusterHealth {
        memory?.expire()
        // One merge serves the snapshot for requests, the change window, the gauges and the history.
        let health = await refresh().health
        let sampledAt = ContinuousClock.now
        changeSamples.removeAll { sampledAt - $0.at > Self.changeWindow }
        // The count is a maximum over live nodes: it can drop when the node that counted most
        // dies, hence the floor at 0 in current().
        changeSamples.append((sampledAt, health.election.leadershipChanges))
        let statuses = HealthStatus.allCases.map(\.rawValue) + ["unknown"]
        for status in statuses {
            gauge(ClusterMetricNames.nodes, "status", status).record(health.byStatus[status] ?? 0)
        }
        for status in HealthStatus.allCases {
            gauge(ClusterMetricNames.status, "status", status.rawValue).record(health.status == status ? 1 : 0)
        }
        for state in MemberState.allCases {
            gauge(ClusterMetricNames.members, "state", state.description).record(health.byState[state.description] ?? 0)
        }
        gauge(ClusterMetricNames.staleNodes).record(health.nodes.filter(\.stale).count)
        gauge(ClusterMetricNames.leadershipChanges).record(health.election.leadershipChanges)
        gauge(ClusterMetricNames.electionAgreement).record(health.election.agreement)
        // NaN without keys: "no data", which no threshold alert mistakes for a low factor.
        gauge(ClusterMetricNames.replicationFactor).record(health.replication.averageFactor ?? .nan)
        gauge(ClusterMetricNames.underReplicatedKeys).record(health.replication.underReplicatedKeys)

        let entry = Entry(
            time: TimeFormatting.rfc3339(Date()), status: health.status.rawValue, healthy: health.byStatus["healthy"] ?? 0,
            degraded: health.byStatus["degraded"] ?? 0, unhealthy: health.byStatus["unhealthy"] ?? 0,
            unknown: health.byStatus["unknown"] ?? 0, nodes: health.nodeCount, leader: health.election.leader,
            reason: health.reasons.first)
        let now = ContinuousClock.now
        let last = entries.last
        let changed = last.map { previous in
            var a = previous
            var b = entry
            (a.time, a.reason, b.time, b.reason) = ("", nil, "", nil)
            return a != b
        } ?? true
        if changed || lastEntryAt.map({ now - $0 >= .seconds(60) }) ?? true {
            entries.append(entry)
            lastEntryAt = now
            if entries.count > limit { entries.removeFirst(entries.count - limit) }
        }
        return health
    }

    private func gauge(_ label: String, _ key: String? = nil, _ value: String? = nil) -> Gauge {
        Gauge(label: label, dimensions: key.map { [($0, value ?? "")] } ?? [], factory: factory)
    }
}
