#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Metrics
import Synchronization

/// The enhanced checks' settings, with their documented defaults, plus the thresholds left to
/// the implementation (documented here).
public struct HealthConfig: Sendable, Hashable {
    /// Default 30 s.
    public var pubSubProbeInterval: Duration = .seconds(30)
    /// Default 60 s.
    public var dhtProbeInterval: Duration = .seconds(60)
    /// Default 15 s.
    public var electionProbeInterval: Duration = .seconds(15)
    /// How long the pub/sub loopback waits for its message. Default 10 s.
    public var pubSubProbeTimeout: Duration = .seconds(10)
    /// Default 20 s.
    public var dhtProbeTimeout: Duration = .seconds(20)
    /// Default 5 s.
    public var electionProbeTimeout: Duration = .seconds(5)
    /// Consecutive failed probes after which an enhanced check fails (before that it reports
    /// degraded). Default 3.
    public var maxFailedProbes: Int = 3
    /// A component scoring at least this is healthy. Default 0.95.
    public var healthyThreshold: Double = 0.95
    /// A component scoring at least this (and below ``healthyThreshold``) is degraded; below it,
    /// it fails. Default 0.75.
    public var degradedThreshold: Double = 0.75
    /// History entries kept per component. Default 1000.
    public var maxHistoryEntries: Int = 1000
    /// How often the history is cleaned; each cleanup drops entries older than this. Default 1 h.
    public var historyCleanupInterval: Duration = .seconds(3600)
    public var enablePubSubProbes = true
    public var enableDHTProbes = true
    public var enableElectionProbes = true
    public var enableReplicationProbes = true

    // Settings of our own:
    /// `replication-health` interval. Default 120 s.
    public var replicationInterval: Duration = .seconds(120)
    /// `p2p-connectivity` interval. Default 30 s.
    public var connectivityInterval: Duration = .seconds(30)
    /// `resource-health` interval. Default 60 s.
    public var resourceInterval: Duration = .seconds(60)
    /// `task-manager` interval. Default 30 s.
    public var taskInterval: Duration = .seconds(30)
    /// `task-manager` judges the success rate of the tasks that finished within this window
    /// (since start while the node is younger), so a node that recovered from an outage is
    /// judged by how it does now, not forever by its lifetime totals. Default 5 minutes.
    public var taskSuccessWindow: Duration = .seconds(300)
    /// Fewest connected peers for `p2p-connectivity` to pass. Default 2 (a three-node cluster).
    public var minPeers: Int = 2
    /// A leader not heard from for longer than this makes `election-health` degraded. Default 10 s.
    public var maxHeartbeatAge: Duration = .seconds(10)
    /// `election-health` judges stability by the leadership changes within this window (since
    /// start while the node is younger, the first election forgiven), so a node is not degraded
    /// for the rest of its life by a partition it saw heal. Default 10 minutes.
    public var electionStabilityWindow: Duration = .seconds(600)
    /// Weight of the newest probe in a probe component's score (an exponential moving average of
    /// successes). Default 0.3: one failure drops a perfect score to 0.7, and five successes
    /// bring it back above 0.95.
    public var scoreSmoothing: Double = 0.3
    /// `resource-health` thresholds (usage ratios 0.0 to 1.0). Defaults 0.90.
    public var cpuThreshold: Double = 0.90
    public var memoryThreshold: Double = 0.90
    public var diskThreshold: Double = 0.90
    /// A check that finds no peers waits this long for one before it reports (a starting node
    /// finds its peers within a second or two). Default 3 s.
    public var peerWait: Duration = .seconds(3)
    /// The file system `resource-health` measures. Default `/`.
    public var diskPath: String = "/"

    public init() {}

    /// The documented defaults.
    public static func defaultHealthConfig() -> HealthConfig { HealthConfig() }
}

/// The enhanced checks' figures.
public struct HealthMetrics: Sendable, Hashable {
    public var systemHealthScore: Double = 1
    public var lastFullHealthCheck: Date?
    public var totalHealthChecks: Int64 = 0
    public var failedHealthChecks: Int64 = 0

    public var pubSubHealthScore: Double = 1
    public var pubSubProbeLatency: Duration = .zero
    public var pubSubSuccessRate: Double = 1
    public var pubSubLastSuccess: Date?
    public var pubSubConsecutiveFails = 0

    public var dhtHealthScore: Double = 1
    public var dhtProbeLatency: Duration = .zero
    public var dhtSuccessRate: Double = 1
    public var dhtLastSuccess: Date?
    public var dhtConsecutiveFails = 0
    public var dhtReplicationStatus: ReplicationSnapshot?

    public var electionHealthScore: Double = 1
    public var electionStability: Double = 1
    public var heartbeatLatency: Duration = .zero
    public var leadershipChanges: Int64 = 0
    public var lastLeadershipChange: Date?
    public var adminUptime: Duration = .zero

    public var p2pConnectedPeers = 0
    public var p2pConnectivityScore: Double = 1
    public var networkLatency: Duration = .zero

    public var cpuUsage: Double = 0
    public var memoryUsage: Double = 0
    public var diskUsage: Double = 0

    public var activeTasks = 0
    public var queuedTasks = 0
    public var taskSuccessRate: Double = 1

    public init() {}
}

/// One entry of a component's history.
public struct HealthHistoryEntry: Sendable, Hashable {
    public var timestamp: Date
    public var healthy: Bool
    public var degraded: Bool
    public var score: Double
    public var latency: Duration
    public var message: String
}

/// The enhanced checks: seven checks with success rates, consecutive failures,
/// latencies, component and system scores, bounded history and a summary.
///
/// | check | component | critical | interval |
/// |---|---|---|---|
/// | `pubsub-enhanced` | pubsub | yes | ``HealthConfig/pubSubProbeInterval`` (30 s) |
/// | `dht-enhanced` | dht | yes | ``HealthConfig/dhtProbeInterval`` (60 s) |
/// | `election-health` | election | no | ``HealthConfig/electionProbeInterval`` (15 s) |
/// | `replication-health` | replication | no | 120 s |
/// | `p2p-connectivity` | p2p | yes | 30 s |
/// | `resource-health` | resources | no | 60 s |
/// | `task-manager` | tasks | no | 30 s |
///
/// Levels: a component whose latest run failed reports **degraded** until it failed
/// ``HealthConfig/maxFailedProbes`` times in a row, then **fails** (so a brief outage degrades
/// the node and only a lasting one makes a critical check fail). A passing run whose component
/// score is below ``HealthConfig/healthyThreshold`` is degraded (recovering). Each result carries
/// `details.score` and, when degraded, `details.level = "degraded"`. A node without peers skips
/// its pub/sub and DHT probes (degraded: nobody to probe through), and `p2p-connectivity` stays
/// degraded while the node never had a peer (a first node waiting for the cluster); only a node
/// that lost every peer fails it.
public final class EnhancedHealthChecks: Sendable {
    /// The components, in the order the summary lists them.
    public static let components = ["pubsub", "dht", "election", "replication", "p2p", "resources", "tasks"]

    private struct Component {
        var score = 1.0
        var consecutiveFails = 0
        var lastSuccess: Date?
        var lastLatency: Duration = .zero
        var history: [HealthHistoryEntry] = []
    }

    private struct State {
        var components: [String: Component] = [:]
        var lastCheck: Date?
        var lastCleanup: Date
        var cpuSample: SystemProbes.CPUTimes?
        var metrics = HealthMetrics()
        var hadPeers = false
        /// The task manager's counters at each `task-manager` run within the window, oldest first
        /// (the first one at or before the window's start is the baseline).
        var taskSamples: [(at: ContinuousClock.Instant, completed: Int64, failed: Int64)] = []
        /// The leadership-change count at each `election-health` run within its window, the same way.
        var electionSamples: [(at: ContinuousClock.Instant, changes: Int64)] = []
    }

    public let config: HealthConfig
    public let nodeID: String
    private let manager: HealthManager
    private let pubsub: PubSubProbeInbox?
    private let dht: (any DHTInterface)?
    private let election: (any ElectionInterface)?
    private let replication: (any ReplicationInterface)?
    private let connectivity: (any PeerConnectivityInterface)?
    private let tasks: (any TaskManagerInterface)?
    private let state: Mutex<State>
    private let gauges: [String: Gauge]

    /// Creates the enhanced checks and registers them with `manager`. A check whose subsystem is `nil`, or whose probes the config
    /// disables, is not registered; `resource-health` always is.
    public init(
        manager: HealthManager, election: (any ElectionInterface)?, dht: (any DHTInterface)?,
        pubsub: (any PubSubInterface)?, replication: (any ReplicationInterface)?,
        connectivity: (any PeerConnectivityInterface)? = nil, tasks: (any TaskManagerInterface)? = nil,
        config: HealthConfig = HealthConfig(), metricsFactory: (any MetricsFactory)? = nil
    ) async throws {
        self.manager = manager
        self.nodeID = manager.settings.nodeID
        self.config = config
        self.pubsub = pubsub.map { PubSubProbeInbox(adapter: $0) }
        self.dht = dht
        self.election = election
        self.replication = replication
        self.connectivity = connectivity
        self.tasks = tasks
        self.state = Mutex(State(lastCleanup: Date()))
        let factory = metricsFactory ?? manager.settings.metricsFactory ?? MetricsSystem.factory
        self.gauges = Dictionary(
            uniqueKeysWithValues: Self.components.map {
                ($0, Gauge(label: HealthMetricNames.componentHealthScore, dimensions: [("component", $0)], factory: factory))
            })
        for check in checks() { try await manager.register(check) }
    }

    /// The check definitions this instance registers.
    private func checks() -> [HealthCheck] {
        var out: [HealthCheck] = []
        if pubsub != nil && config.enablePubSubProbes {
            out.append(
                HealthCheck(
                    name: "pubsub-enhanced", description: "Pub/sub loopback with success rate and latency",
                    interval: config.pubSubProbeInterval, timeout: config.pubSubProbeTimeout + config.peerWait + .seconds(2), critical: true
                ) { [self] _ in await runPubSub() })
        }
        if dht != nil && config.enableDHTProbes {
            out.append(
                HealthCheck(
                    name: "dht-enhanced", description: "DHT put/get with integrity and replication",
                    interval: config.dhtProbeInterval, timeout: config.dhtProbeTimeout, critical: true
                ) { [self] _ in await runDHT() })
        }
        if election != nil && config.enableElectionProbes {
            out.append(
                HealthCheck(
                    name: "election-health", description: "Leader, heartbeat and leadership stability",
                    interval: config.electionProbeInterval, timeout: config.electionProbeTimeout, critical: false
                ) { [self] _ in await runElection() })
        }
        if replication != nil && config.enableReplicationProbes {
            out.append(
                HealthCheck(
                    name: "replication-health", description: "Replication factor, failures and provider records",
                    interval: config.replicationInterval, timeout: .seconds(10), critical: false
                ) { [self] _ in await runReplication() })
        }
        if connectivity != nil {
            out.append(
                HealthCheck(
                    name: "p2p-connectivity", description: "Connected peers against the minimum",
                    interval: config.connectivityInterval, timeout: .seconds(5), critical: true
                ) { [self] _ in await runConnectivity() })
        }
        out.append(
            HealthCheck(
                name: "resource-health", description: "CPU, memory and disk usage against thresholds",
                interval: config.resourceInterval, timeout: .seconds(5), critical: false
            ) { [self] _ in runResources() })
        if tasks != nil {
            out.append(
                HealthCheck(
                    name: "task-manager", description: "Active and queued tasks, success rate, capacity",
                    interval: config.taskInterval, timeout: .seconds(5), critical: false
                ) { [self] _ in await runTasks() })
        }
        return out
    }

    // MARK: The seven checks

    /// Runs the pub/sub loopback once and records it. With a connectivity source and no peers,
    /// the probe is skipped and reported degraded (a lone node has nobody to probe through).
    public func runPubSub() async -> CheckResult {
        guard let pubsub else { return .fail("no pub/sub configured") }
        if let lone = await loneNodeResult("pubsub", probe: "pub/sub loopback") { return lone }
        let outcome = await tracked { await ActiveProbes.pubSubLoopback(inbox: pubsub, nodeID: nodeID, wait: config.pubSubProbeTimeout) }
        return recordProbe("pubsub", outcome)
    }

    /// Runs the DHT put/get once and records it, with the replication figures alongside.
    public func runDHT() async -> CheckResult {
        guard let dht else { return .fail("no DHT configured") }
        if let lone = await loneNodeResult("dht", probe: "DHT put/get") { return lone }
        var outcome = await tracked { await ActiveProbes.dhtPutGet(adapter: dht, nodeID: nodeID) }
        if let replication {
            let figures = await replication.replicationSnapshot(resetPeak: false)
            state.withLock { $0.metrics.dhtReplicationStatus = figures }
            outcome.details["replication_factor"] = .double(rounded(figures.averageFactor))
            outcome.details["under_replicated_keys"] = .integer(figures.underReplicatedKeys)
        }
        return recordProbe("dht", outcome)
    }

    /// Runs a probe as a task of the node's own work queue when the task manager keeps one (``WorkTracking``).
    private func tracked(_ probe: () async -> ProbeOutcome) async -> ProbeOutcome {
        guard let tracker = (tasks as? any WorkTracking)?.workTracker else { return await probe() }
        return await tracker.run(probe, succeeded: \.succeeded)
    }

    /// A node that never had a peer skips its probes (degraded: nothing to probe through yet); a
    /// node that had peers and lost them (cut off) runs them, and they fail.
    private func loneNodeResult(_ component: String, probe: String) async -> CheckResult? {
        guard let connectivity else { return nil }
        let peers = await waitForPeers(connectivity)
        guard !notePeers(peers), peers == 0 else { return nil }
        return recordFigure(
            component, ok: true, score: 0, degraded: true, message: "No peers: \(probe) skipped",
            details: ["outcome": "skipped", "connected_peers": 0])
    }

    /// `election-health`: a leader agreed, heard from recently, and stable over
    /// ``HealthConfig/electionStabilityWindow`` (`now` is for tests).
    public func runElection(now: ContinuousClock.Instant = .now) async -> CheckResult {
        guard let election else { return .fail("no election configured") }
        var snapshot = await election.electionSnapshot()
        // A starting node elects within a few seconds: give it most of the timeout before judging.
        let deadline = ContinuousClock.now + max(.zero, config.electionProbeTimeout - .seconds(1))
        while snapshot.leader == nil && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            snapshot = await election.electionSnapshot()
        }
        // Stability: each leadership change within the window costs 0.1 (floor 0); while the node
        // is younger than the window, its first change (joining a cluster that had a leader) is free.
        let window = max(.milliseconds(1), config.electionStabilityWindow)
        let (recent, windowed) = state.withLock { state -> (Int64, Bool) in
            var samples = state.electionSamples
            if let last = samples.last, last.changes > snapshot.leadershipChanges { samples = [] }
            samples.append((now, snapshot.leadershipChanges))
            if let baseline = samples.lastIndex(where: { $0.at <= now - window }) { samples.removeFirst(baseline) }
            state.electionSamples = samples
            let windowed = samples[0].at <= now - window
            return windowed ? (snapshot.leadershipChanges - samples[0].changes, true) : (max(0, snapshot.leadershipChanges - 1), false)
        }
        let stability = max(0, 1 - 0.1 * Double(recent))
        let span = windowed ? "in the last \(TimeFormatting.goDuration(window))" : "since start"
        var details: [String: JSONValue] = [
            "term": .integer(snapshot.term), "is_leader": .bool(snapshot.isLeader),
            "leadership_changes": .integer(snapshot.leadershipChanges),
            "admin_uptime": .string(TimeFormatting.goDuration(snapshot.adminUptime)),
            "stability": .double(rounded(stability)), "window_changes": .integer(recent),
            "window": .string(TimeFormatting.goDuration(window)),
        ]
        if let leader = snapshot.leader { details["leader"] = .string(leader) }
        if let latency = snapshot.heartbeatLatency { details["heartbeat_latency_ms"] = .double(rounded(latency.milliseconds)) }
        if let age = snapshot.lastHeartbeatAge { details["last_heartbeat_ms"] = .double(rounded(age.milliseconds)) }
        if let change = snapshot.lastLeadershipChange { details["last_leadership_change"] = .string(TimeFormatting.rfc3339(change)) }
        state.withLock {
            $0.metrics.electionStability = stability
            $0.metrics.heartbeatLatency = snapshot.heartbeatLatency ?? .zero
            $0.metrics.leadershipChanges = snapshot.leadershipChanges
            $0.metrics.lastLeadershipChange = snapshot.lastLeadershipChange
            $0.metrics.adminUptime = snapshot.adminUptime
        }
        guard let leader = snapshot.leader else {
            return recordFigure("election", ok: false, score: 0, message: "No leader agreed", details: details)
        }
        let stale = !snapshot.isLeader && (snapshot.lastHeartbeatAge.map { $0 > config.maxHeartbeatAge } ?? true)
        let score = stability * (stale ? 0.5 : 1)
        let role = snapshot.isLeader ? "this node leads" : "leader \(leader)"
        if stale {
            return recordFigure(
                "election", ok: true, score: score, degraded: true,
                message: "Election: \(role), term \(snapshot.term), but no heartbeat from it recently", details: details)
        }
        return recordFigure(
            "election", ok: true, score: score,
            message: "Election: \(role), term \(snapshot.term), \(recent) leadership changes \(span)",
            details: details)
    }

    public func runReplication() async -> CheckResult {
        guard let replication else { return .fail("no replication configured") }
        let figures = await replication.replicationSnapshot(resetPeak: true)
        state.withLock { $0.metrics.dhtReplicationStatus = figures }
        var details: [String: JSONValue] = [
            "stored_keys": .integer(figures.storedKeys), "primary_keys": .integer(figures.primaryKeys),
            "target_factor": .integer(figures.targetFactor),
            "average_replication_factor": .double(rounded(figures.averageFactor)),
            "under_replicated_keys": .integer(figures.underReplicatedKeys),
            "peak_under_replicated_keys": .integer(figures.peakUnderReplicated),
            "repaired_keys": .integer(figures.repairedKeys), "provider_records": .integer(figures.providerRecords),
            "failures": .integer(figures.failures), "failure_rate": .double(rounded(figures.failureRate)),
            "under_replication_episodes": .integer(figures.underReplicationEpisodes),
        ]
        if let episode = figures.lastUnderReplication {
            details["last_under_replication"] = .object([
                "peak_keys": .integer(episode.peakKeys), "began": .string(TimeFormatting.rfc3339(episode.began)),
                "repaired_after_seconds": episode.repairedAfter.map { .double(rounded($0.milliseconds / 1000)) } ?? .null,
            ])
        }
        let covered = figures.primaryKeys == 0 ? 1 : 1 - Double(figures.underReplicatedKeys) / Double(figures.primaryKeys)
        let score = max(0, covered * (1 - figures.failureRate))
        let factor = "average factor \(Self.twoDecimals(figures.averageFactor)) of \(figures.targetFactor)"
        if figures.underReplicatedKeys > 0 {
            return recordFigure(
                "replication", ok: true, score: score, degraded: true,
                message: "\(figures.underReplicatedKeys) of \(figures.primaryKeys) keys under-replicated (\(factor)); repair under way",
                details: details)
        }
        if figures.failureRate > 1 - config.degradedThreshold {
            return recordFigure(
                "replication", ok: true, score: score, degraded: true,
                message: "Replication failure rate \(Self.twoDecimals(figures.failureRate * 100))% (\(factor))",
                details: details)
        }
        var message = figures.primaryKeys == 0
            ? "No keys to replicate as primary (\(figures.storedKeys) held)"
            : "All \(figures.primaryKeys) keys fully replicated (\(factor))"
        if figures.peakUnderReplicated > 0 {
            message += "; repaired after \(figures.peakUnderReplicated) keys were under-replicated"
            if let after = figures.lastUnderReplication?.repairedAfter {
                message += " (in \(Self.twoDecimals(after.milliseconds / 1000)) s)"
            }
        }
        return recordFigure("replication", ok: true, score: score, message: message, details: details)
    }

    /// The connected peers, waiting up to ``HealthConfig/peerWait`` for ``HealthConfig/minPeers``
    /// of them (a node that is starting or rejoining finds its peers within a second or two).
    private func waitForPeers(_ connectivity: any PeerConnectivityInterface) async -> Int {
        let deadline = ContinuousClock.now + config.peerWait
        var peers = await connectivity.connectedPeers()
        while peers < max(1, config.minPeers) && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            peers = await connectivity.connectedPeers()
        }
        return peers
    }

    /// Whether this node had peers before; records that it has some now when `peers` > 0.
    private func notePeers(_ peers: Int) -> Bool {
        state.withLock { state -> Bool in
            defer { if peers > 0 { state.hadPeers = true } }
            return state.hadPeers
        }
    }

    public func runConnectivity() async -> CheckResult {
        guard let connectivity else { return .fail("no connectivity source configured") }
        let peers = await waitForPeers(connectivity)
        let minimum = max(1, config.minPeers)
        let score = min(1, Double(peers) / Double(minimum))
        state.withLock {
            $0.metrics.p2pConnectedPeers = peers
            $0.metrics.p2pConnectivityScore = score
        }
        let details: [String: JSONValue] = [
            "connected_peers": .integer(peers), "min_peers": .integer(config.minPeers),
            "connectivity_score": .double(rounded(score)),
        ]
        let hadPeers = notePeers(peers)
        if peers == 0 && !hadPeers {
            // Never had a peer: waiting for the cluster (the first node of a new one), not broken.
            return recordFigure(
                "p2p", ok: true, score: 0, degraded: true, message: "No peers yet: waiting to join the cluster",
                details: details)
        }
        if peers == 0 {
            return recordFigure("p2p", ok: false, score: 0, message: "No peers connected: lost every peer", details: details)
        }
        if peers < config.minPeers {
            return recordFigure(
                "p2p", ok: true, score: score, degraded: true,
                message: "\(peers) peers connected, below the minimum of \(config.minPeers)", details: details)
        }
        return recordFigure("p2p", ok: true, score: score, message: "\(peers) peers connected", details: details)
    }

    public func runResources() -> CheckResult {
        var details: [String: JSONValue] = [:]
        var over: [String] = []
        var usages: [Double] = []
        let cpu: Double? = {
            guard let now = try? SystemProbes.cpuTimes() else { return nil }
            let previous = state.withLock { s -> SystemProbes.CPUTimes? in
                defer { s.cpuSample = now }
                return s.cpuSample
            }
            return previous.map { now.usage(since: $0) }
        }()
        if let cpu {
            details["cpu"] = .double(rounded(cpu))
            usages.append(cpu)
            if cpu >= config.cpuThreshold { over.append("CPU \(percent(cpu))") }
        }
        let memory = (try? SystemProbes.memoryUsage())?.usageRatio
        if let memory {
            details["memory"] = .double(rounded(memory))
            usages.append(memory)
            if memory >= config.memoryThreshold { over.append("memory \(percent(memory))") }
        }
        let disk = (try? SystemProbes.diskUsage(path: config.diskPath))?.usageRatio
        if let disk {
            details["disk"] = .double(rounded(disk))
            usages.append(disk)
            if disk >= config.diskThreshold { over.append("disk \(percent(disk))") }
        }
        details["thresholds"] = .object([
            "cpu": .double(config.cpuThreshold), "memory": .double(config.memoryThreshold), "disk": .double(config.diskThreshold),
        ])
        state.withLock {
            $0.metrics.cpuUsage = cpu ?? $0.metrics.cpuUsage
            $0.metrics.memoryUsage = memory ?? $0.metrics.memoryUsage
            $0.metrics.diskUsage = disk ?? $0.metrics.diskUsage
        }
        guard !usages.isEmpty else {
            return recordFigure("resources", ok: false, score: 0, message: "Cannot read CPU, memory or disk usage", details: details)
        }
        // Score: 1 while every usage is under its threshold, else the share of resources that are.
        let score = 1 - Double(over.count) / Double(usages.count)
        if !over.isEmpty {
            return recordFigure(
                "resources", ok: true, score: score, degraded: true,
                message: "Above threshold: " + over.joined(separator: ", "), details: details)
        }
        let parts = [("CPU", cpu), ("memory", memory), ("disk", disk)].compactMap { name, value in
            value.map { "\(name) \(percent($0))" }
        }
        return recordFigure("resources", ok: true, score: score, message: "Resources OK: " + parts.joined(separator: ", "), details: details)
    }

    /// `task-manager`: load against capacity, and the success rate of the tasks that finished
    /// within ``HealthConfig/taskSuccessWindow`` (`now` is for tests).
    public func runTasks(now: ContinuousClock.Instant = .now) async -> CheckResult {
        guard let tasks else { return .fail("no task manager configured") }
        let snapshot = await tasks.taskSnapshot()
        let window = max(.milliseconds(1), config.taskSuccessWindow)
        let (completed, failed, windowed) = state.withLock { state -> (Int64, Int64, Bool) in
            var samples = state.taskSamples
            if let last = samples.last, last.completed > snapshot.completed || last.failed > snapshot.failed {
                samples = []  // a different (or reset) task manager: start over
            }
            samples.append((now, snapshot.completed, snapshot.failed))
            if let baseline = samples.lastIndex(where: { $0.at <= now - window }) { samples.removeFirst(baseline) }
            state.taskSamples = samples
            let windowed = samples[0].at <= now - window
            let base = windowed ? (samples[0].completed, samples[0].failed) : (0, 0)
            let counts = (snapshot.completed - base.0, snapshot.failed - base.1)
            state.metrics.activeTasks = snapshot.active
            state.metrics.queuedTasks = snapshot.queued
            state.metrics.taskSuccessRate = Self.rate(counts)
            return (counts.0, counts.1, windowed)
        }
        let rate = Self.rate((completed, failed))
        let details: [String: JSONValue] = [
            "active_tasks": .integer(snapshot.active), "queued_tasks": .integer(snapshot.queued),
            "completed_tasks": .integer(snapshot.completed), "failed_tasks": .integer(snapshot.failed),
            "capacity": .integer(snapshot.capacity), "success_rate": .double(rounded(rate)),
            "window_completed": .integer(completed), "window_failed": .integer(failed),
            "window": .string(TimeFormatting.goDuration(window)),
        ]
        let full = snapshot.active >= snapshot.capacity && snapshot.queued > 0
        let score = rate * (full ? 0.5 : 1)
        let summary = "\(snapshot.active) active, \(snapshot.queued) queued of capacity \(snapshot.capacity), "
            + "success rate \(percent(rate)) " + (windowed ? "over the last \(TimeFormatting.goDuration(window))" : "since start")
        if full || rate < config.degradedThreshold {
            return recordFigure("tasks", ok: true, score: score, degraded: true, message: "Tasks struggling: " + summary, details: details)
        }
        return recordFigure("tasks", ok: true, score: score, message: "Tasks: " + summary, details: details)
    }

    /// completed / (completed + failed), 1 when nothing finished.
    private static func rate(_ counts: (completed: Int64, failed: Int64)) -> Double {
        counts.completed + counts.failed == 0 ? 1 : Double(counts.completed) / Double(counts.completed + counts.failed)
    }

    // MARK: Recording

    /// Records a probe (pub/sub, DHT): the score is a moving average of successes.
    private func recordProbe(_ name: String, _ outcome: ProbeOutcome) -> CheckResult {
        let now = Date()
        return state.withLock { state -> CheckResult in
            var component = state.components[name] ?? Component()
            let alpha = min(1, max(0, config.scoreSmoothing))
            component.score = (1 - alpha) * component.score + alpha * (outcome.succeeded ? 1 : 0)
            component.lastLatency = outcome.latency
            if outcome.succeeded {
                component.consecutiveFails = 0
                component.lastSuccess = now
            } else {
                component.consecutiveFails += 1
            }
            var result = outcome.result
            result.details[CheckResult.scoreKey] = .double(rounded(component.score))
            result.details["consecutive_failures"] = .integer(component.consecutiveFails)
            if !outcome.succeeded && component.consecutiveFails < config.maxFailedProbes {
                result = .degraded(
                    result.message + " (\(component.consecutiveFails) of \(config.maxFailedProbes) failures before failing)",
                    details: result.details)
                result.latency = outcome.latency
            } else if outcome.succeeded && component.score < config.healthyThreshold {
                result = .degraded(result.message + " (recovering, score \(Self.twoDecimals(component.score)))", details: result.details)
                result.latency = outcome.latency
            }
            let rate = Self.append(&component, result: result, now: now, limit: config.maxHistoryEntries)
            result.details["success_rate"] = .double(rounded(rate))
            state.components[name] = component
            Self.updateProbeMetrics(&state.metrics, name: name, component: component, rate: rate)
            finish(&state, now: now)
            return result
        }
    }

    /// Records a figure check: `ok` false counts as a failure (degraded until maxFailedProbes in a row).
    private func recordFigure(
        _ name: String, ok: Bool, score: Double, degraded: Bool = false, message: String, details: [String: JSONValue]
    ) -> CheckResult {
        let now = Date()
        return state.withLock { state -> CheckResult in
            var component = state.components[name] ?? Component()
            component.score = min(1, max(0, score))
            if ok {
                component.consecutiveFails = 0
                component.lastSuccess = now
            } else {
                component.consecutiveFails += 1
            }
            var details = details
            details[CheckResult.scoreKey] = .double(rounded(component.score))
            var result: CheckResult
            if !ok && component.consecutiveFails >= config.maxFailedProbes {
                result = .fail(message, details: details)
            } else if !ok {
                result = .degraded(
                    message + " (\(component.consecutiveFails) of \(config.maxFailedProbes) failures before failing)",
                    details: details)
            } else if degraded || component.score < config.degradedThreshold {
                result = .degraded(message, details: details)
            } else {
                result = .pass(message, details: details)
            }
            _ = Self.append(&component, result: result, now: now, limit: config.maxHistoryEntries)
            state.components[name] = component
            switch name {
            case "election": state.metrics.electionHealthScore = component.score
            case "p2p": state.metrics.p2pConnectivityScore = component.score
            default: break
            }
            finish(&state, now: now)
            return result
        }
    }

    private static func append(_ component: inout Component, result: CheckResult, now: Date, limit: Int) -> Double {
        component.history.append(
            HealthHistoryEntry(
                timestamp: now, healthy: result.healthy, degraded: result.degraded, score: component.score,
                latency: result.latency, message: result.message))
        if component.history.count > max(1, limit) { component.history.removeFirst(component.history.count - max(1, limit)) }
        let passed = component.history.filter { $0.healthy && !$0.degraded }.count
        return Double(passed) / Double(component.history.count)
    }

    private static func updateProbeMetrics(_ metrics: inout HealthMetrics, name: String, component: Component, rate: Double) {
        if name == "pubsub" {
            metrics.pubSubHealthScore = component.score
            metrics.pubSubProbeLatency = component.lastLatency
            metrics.pubSubSuccessRate = rate
            metrics.pubSubLastSuccess = component.lastSuccess
            metrics.pubSubConsecutiveFails = component.consecutiveFails
            metrics.networkLatency = component.lastLatency
        } else {
            metrics.dhtHealthScore = component.score
            metrics.dhtProbeLatency = component.lastLatency
            metrics.dhtSuccessRate = rate
            metrics.dhtLastSuccess = component.lastSuccess
            metrics.dhtConsecutiveFails = component.consecutiveFails
        }
    }

    /// After each run: gauges, the last-check time, and the history cleanup when it is due.
    private func finish(_ state: inout State, now: Date) {
        state.lastCheck = now
        for (name, component) in state.components { gauges[name]?.record(component.score) }
        if now.timeIntervalSince(state.lastCleanup) >= Double(config.historyCleanupInterval.components.seconds) {
            Self.cleanup(&state, now: now, retention: config.historyCleanupInterval)
        }
    }

    private static func cleanup(_ state: inout State, now: Date, retention: Duration) {
        state.lastCleanup = now
        let cutoff = now.addingTimeInterval(-Double(retention.components.seconds))
        for name in state.components.keys {
            state.components[name]!.history.removeAll { $0.timestamp < cutoff }
        }
    }

    /// Drops history entries older than ``HealthConfig/historyCleanupInterval`` now (it also
    /// happens by itself once per interval).
    public func cleanupHistory(now: Date = Date()) {
        state.withLock { Self.cleanup(&$0, now: now, retention: config.historyCleanupInterval) }
    }

    // MARK: Reading

    /// A component's history, oldest first.
    public func history(of component: String) -> [HealthHistoryEntry] {
        state.withLock { $0.components[component]?.history ?? [] }
    }

    /// The component scores measured so far.
    public func componentScores() -> [String: Double] {
        state.withLock { $0.components.mapValues(\.score) }
    }

    /// The enhanced checks' figures now.
    public func healthMetrics() -> HealthMetrics {
        let (total, failed) = manager.runCounts
        let score = manager.systemScore
        return state.withLock {
            var metrics = $0.metrics
            metrics.systemHealthScore = score
            metrics.lastFullHealthCheck = $0.lastCheck
            metrics.totalHealthChecks = total
            metrics.failedHealthChecks = failed
            return metrics
        }
    }

    /// The summary in its documented shape: `status`, `overall_score`,
    /// `last_check`, `total_checks`, `component_scores`, `key_metrics` (`connected_peers`,
    /// `active_tasks`, `admin_uptime` as a Go duration, `leadership_changes`,
    /// `resource_utilization` with `cpu`, `memory`, `disk`).
    public func healthSummary() -> JSONValue {
        let metrics = healthMetrics()
        let scores = componentScores()
        var componentScores: [String: JSONValue] = [:]
        for (name, score) in scores { componentScores[name] = .double(rounded(score)) }
        return .object([
            "status": .string(manager.currentStatus.status.rawValue),
            "overall_score": .double(rounded(metrics.systemHealthScore)),
            "last_check": metrics.lastFullHealthCheck.map { .string(TimeFormatting.rfc3339($0)) } ?? .null,
            "total_checks": .integer(metrics.totalHealthChecks),
            "component_scores": .object(componentScores),
            "key_metrics": .object([
                "connected_peers": .integer(metrics.p2pConnectedPeers),
                "active_tasks": .integer(metrics.activeTasks),
                "admin_uptime": .string(TimeFormatting.goDuration(metrics.adminUptime)),
                "leadership_changes": .integer(metrics.leadershipChanges),
                "resource_utilization": .object([
                    "cpu": .double(rounded(metrics.cpuUsage)), "memory": .double(rounded(metrics.memoryUsage)),
                    "disk": .double(rounded(metrics.diskUsage)),
                ]),
            ]),
        ])
    }

    static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int64((value * 100).rounded())
        let fraction = hundredths.magnitude % 100
        return "\(hundredths < 0 ? "-" : "")\(hundredths.magnitude / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
