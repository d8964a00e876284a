#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

// The adapters: the health checks talk to the node's subsystems through these
// interfaces, so an application can plug in its own pub/sub, DHT, election, replication,
// connectivity and task manager. `Gossip` adapts its own implementations; the mocks below stand
// in for them in tests.

/// Topic publish/subscribe, as the pub/sub probe uses it.
public protocol PubSubInterface: Sendable {
    /// Subscribes `handler` to `topic`; it receives each message's payload bytes.
    func subscribeToTopic(_ topic: String, handler: @escaping @Sendable ([UInt8]) -> Void) async throws
    /// Publishes `data` to every subscriber of `topic` in the cluster.
    func publishToTopic(_ topic: String, data: [UInt8]) async throws
    /// Publishes the loopback probe's message: it must leave this node and come back to its
    /// subscribers through other nodes, but need not reach every node (the cluster's own pub/sub
    /// sends it to a few members and back, so a probe's cost does not grow with the cluster). The
    /// default publishes to the whole cluster.
    func publishProbe(_ topic: String, data: [UInt8]) async throws
}

extension PubSubInterface {
    public func publishProbe(_ topic: String, data: [UInt8]) async throws {
        try await publishToTopic(topic, data: data)
    }

    /// Publishes `value` encoded as JSON.
    public func publishToTopic(_ topic: String, json value: JSONValue) async throws {
        try await publishToTopic(topic, data: JSONBytes.encode(value))
    }
}

/// A key-value store spread over the cluster.
public protocol DHTInterface: Sendable {
    /// Stores `value` under `key`. Honours task cancellation.
    func putValue(_ key: String, value: [UInt8]) async throws
    /// Reads the value under `key`; throws when it cannot be found (``DHTKeyNotFound`` when
    /// every replica answered that it holds no such key, another error when it could not ask).
    func getValue(_ key: String) async throws -> [UInt8]
}

/// What a ``DHTInterface`` throws for a key or value it does not take (empty or too long).
public struct DHTInvalidRequest: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What ``DHTInterface/getValue(_:)`` throws when the key is on no replica.
public struct DHTKeyNotFound: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public init(key: String) { self.key = key }
    public var description: String { "key not found on any replica: \(key)" }
}

/// What the election reports, as the election check reads it.
public struct ElectionSnapshot: Sendable, Hashable {
    /// The leader's node id, `nil` while none is agreed.
    public var leader: String?
    /// The leader's term: it grows with every change of leadership.
    public var term: UInt64
    /// Whether this node is the leader.
    public var isLeader: Bool
    /// The latest round-trip time of a heartbeat with the leader; zero on the leader itself.
    public var heartbeatLatency: Duration?
    /// How long ago the leader was last heard from; `nil` before it ever was.
    public var lastHeartbeatAge: Duration?
    /// Leadership changes this node has seen since it started.
    public var leadershipChanges: Int64
    /// When leadership last changed, `nil` if never.
    public var lastLeadershipChange: Date?
    /// How long the current leader has held leadership, as far as this node knows.
    public var adminUptime: Duration

    public init(
        leader: String?, term: UInt64, isLeader: Bool, heartbeatLatency: Duration?, lastHeartbeatAge: Duration?,
        leadershipChanges: Int64, lastLeadershipChange: Date?, adminUptime: Duration
    ) {
        self.leader = leader
        self.term = term
        self.isLeader = isLeader
        self.heartbeatLatency = heartbeatLatency
        self.lastHeartbeatAge = lastHeartbeatAge
        self.leadershipChanges = leadershipChanges
        self.lastLeadershipChange = lastLeadershipChange
        self.adminUptime = adminUptime
    }
}

/// The election manager as the election check sees it.
public protocol ElectionInterface: Sendable {
    func electionSnapshot() async -> ElectionSnapshot
}

/// Replication figures, as the replication check reads them.
public struct ReplicationSnapshot: Sendable, Hashable {
    /// Keys this node holds a replica of.
    public var storedKeys: Int
    /// Keys for which this node is the primary (first) replica.
    public var primaryKeys: Int
    /// The target number of replicas per key (R, bounded by the cluster size).
    public var targetFactor: Int
    /// Mean number of confirmed live replicas over this node's primary keys (targetFactor when none).
    public var averageFactor: Double
    /// Primary keys with fewer confirmed live replicas than the target.
    public var underReplicatedKeys: Int
    /// Provider records this node stores.
    public var providerRecords: Int
    /// Failed replication and put attempts since start.
    public var failures: Int64
    /// Replication attempts since start (the denominator of the failure rate).
    public var attempts: Int64
    /// Keys re-replicated by repair since start.
    public var repairedKeys: Int64
    /// The most under-replicated keys seen since the figures were last read by the replication check.
    public var peakUnderReplicated: Int
    /// Stretches of time with keys under-replicated, since start.
    public var underReplicationEpisodes: Int64
    /// The latest of them (`nil` before any): it outlives the check's window, so an operator (or
    /// a test) sees that keys were under-replicated and how long the repair took.
    public var lastUnderReplication: UnderReplicationEpisode?

    public init(
        storedKeys: Int, primaryKeys: Int, targetFactor: Int, averageFactor: Double, underReplicatedKeys: Int,
        providerRecords: Int, failures: Int64, attempts: Int64, repairedKeys: Int64, peakUnderReplicated: Int,
        underReplicationEpisodes: Int64 = 0, lastUnderReplication: UnderReplicationEpisode? = nil
    ) {
        self.underReplicationEpisodes = underReplicationEpisodes
        self.lastUnderReplication = lastUnderReplication
        self.storedKeys = storedKeys
        self.primaryKeys = primaryKeys
        self.targetFactor = targetFactor
        self.averageFactor = averageFactor
        self.underReplicatedKeys = underReplicatedKeys
        self.providerRecords = providerRecords
        self.failures = failures
        self.attempts = attempts
        self.repairedKeys = repairedKeys
        self.peakUnderReplicated = peakUnderReplicated
    }

    /// failures / attempts, 0 when nothing was attempted.
    public var failureRate: Double { attempts == 0 ? 0 : Double(failures) / Double(attempts) }
}

/// A stretch of time during which some of a node's primary keys had fewer confirmed replicas
/// than the target: from the first figures that showed it to the first that showed none.
public struct UnderReplicationEpisode: Sendable, Hashable {
    /// The most keys under-replicated at once during the episode.
    public var peakKeys: Int
    /// When it began.
    public var began: Date
    /// How long until every key had its replicas again; `nil` while it lasts.
    public var repairedAfter: Duration?

    public init(peakKeys: Int, began: Date, repairedAfter: Duration?) {
        self.peakKeys = peakKeys
        self.began = began
        self.repairedAfter = repairedAfter
    }
}

/// The replication manager as the replication check sees it.
public protocol ReplicationInterface: Sendable {
    /// The current figures. `resetPeak` starts a new window for ``ReplicationSnapshot/peakUnderReplicated``.
    func replicationSnapshot(resetPeak: Bool) async -> ReplicationSnapshot
}

/// Peer connectivity as the connectivity check sees it.
public protocol PeerConnectivityInterface: Sendable {
    /// Peers this node currently reaches (alive members, not counting itself).
    func connectedPeers() async -> Int
}

/// A task manager's counters, as the task check reads them.
public struct TaskSnapshot: Sendable, Hashable {
    public var active: Int
    public var queued: Int
    public var completed: Int64
    public var failed: Int64
    /// Most tasks that may run at once.
    public var capacity: Int

    public init(active: Int, queued: Int, completed: Int64, failed: Int64, capacity: Int) {
        self.active = active
        self.queued = queued
        self.completed = completed
        self.failed = failed
        self.capacity = capacity
    }

    /// completed / (completed + failed), 1 when nothing finished yet.
    public var successRate: Double {
        completed + failed == 0 ? 1 : Double(completed) / Double(completed + failed)
    }
}

/// A task manager as the task check sees it.
public protocol TaskManagerInterface: Sendable {
    func taskSnapshot() async -> TaskSnapshot
}

/// A task manager that runs the enhanced checks' probes through a ``WorkTracker`` (so they count
/// as the node's work).
public protocol WorkTracking: TaskManagerInterface {
    var workTracker: WorkTracker { get }
}

/// A task manager for the node's own work (probe runs, DHT repairs): wrap each piece of work in
/// ``run(_:)`` and the counters follow. Work beyond ``capacity`` waits its turn in the queue.
public final class WorkTracker: WorkTracking {
    public var workTracker: WorkTracker { self }

    private struct Counters {
        var active = 0
        var queued = 0
        var completed: Int64 = 0
        var failed: Int64 = 0
    }

    private let counters = Mutex(Counters())
    public let capacity: Int

    public init(capacity: Int = 16) {
        self.capacity = max(1, capacity)
    }

    /// Runs `work`, counting it as active while it runs; a thrown error counts as a failure
    /// (and is rethrown). `succeeded` decides for work that reports failure by its result.
    public func run<T: Sendable>(
        _ work: () async throws -> T, succeeded: (T) -> Bool = { _ in true }
    ) async rethrows -> T {
        counters.withLock { $0.active += 1 }
        do {
            let value = try await work()
            let ok = succeeded(value)
            counters.withLock {
                $0.active -= 1
                if ok { $0.completed += 1 } else { $0.failed += 1 }
            }
            return value
        } catch {
            counters.withLock {
                $0.active -= 1
                $0.failed += 1
            }
            throw error
        }
    }

    /// Counts work waiting to start (for queues outside ``run(_:succeeded:)``).
    public func setQueued(_ count: Int) {
        counters.withLock { $0.queued = max(0, count) }
    }

    /// Records a finished piece of work that did not go through ``run(_:succeeded:)``.
    public func record(succeeded: Bool) {
        counters.withLock { if succeeded { $0.completed += 1 } else { $0.failed += 1 } }
    }

    public func taskSnapshot() async -> TaskSnapshot {
        counters.withLock {
            TaskSnapshot(active: $0.active, queued: $0.queued, completed: $0.completed, failed: $0.failed, capacity: capacity)
        }
    }
}
