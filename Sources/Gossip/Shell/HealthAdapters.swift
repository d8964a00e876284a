#if canImport(FoundationEssentials)
import GossipCore
import FoundationEssentials
#else
import Foundation
#endif
import NodeHealth

/// The pub/sub adapter over the cluster's own gossip pub/sub.
public struct GossipPubSubAdapter: PubSubInterface {
    public let node: GossipNode

    public init(node: GossipNode) {
        self.node = node
    }

    public func subscribeToTopic(_ topic: String, handler: @escaping @Sendable ([UInt8]) -> Void) async throws {
        await node.subscribe(topic: topic) { handler($0.payload) }
    }

    public func publishToTopic(_ topic: String, data: [UInt8]) async throws {
        try await node.publish(topic: topic, payload: data)
    }

    /// Sends the probe's message to a few random members and back (``PubSubReach/loopback``), so
    /// that a probe costs the same in a cluster of 5 or of 1000.
    public func publishProbe(_ topic: String, data: [UInt8]) async throws {
        try await node.publish(topic: topic, payload: data, reach: .loopback)
    }
}

/// Why a DHT operation failed, as the adapters throw it.
public struct DHTError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
}

/// The DHT adapter over the cluster's own DHT. Values live ``defaultTTL``; keys under
/// `health-test/` (the active probe's) live ``probeTTL`` and are read from a remote replica, so
/// the probe proves a round trip.
public struct GossipDHTAdapter: DHTInterface {
    public let node: GossipNode
    public var defaultTTL: Duration
    public var probeTTL: Duration

    public init(node: GossipNode, defaultTTL: Duration = .seconds(3600), probeTTL: Duration = .seconds(300)) {
        self.node = node
        self.defaultTTL = defaultTTL
        self.probeTTL = probeTTL
    }

    private static func isProbeKey(_ key: String) -> Bool { key.hasPrefix("health-test/") }

    /// Throws ``DHTInvalidRequest`` unless `key` has 1 to ``DHTRequest/maxKeyBytes`` bytes and
    /// `value` at most ``DHTRequest/maxValueBytes``.
    static func validate(_ key: String, value: [UInt8] = []) throws(DHTInvalidRequest) {
        guard !key.isEmpty, key.utf8.count <= DHTRequest.maxKeyBytes else {
            throw DHTInvalidRequest("a key has 1 to \(DHTRequest.maxKeyBytes) bytes")
        }
        guard value.count <= DHTRequest.maxValueBytes else {
            throw DHTInvalidRequest("a value has at most \(DHTRequest.maxValueBytes) bytes (this one \(value.count))")
        }
    }

    public func putValue(_ key: String, value: [UInt8]) async throws {
        try Self.validate(key, value: value)
        let outcome = await node.dhtPut(key: key, value: value, ttl: Self.isProbeKey(key) ? probeTTL : defaultTTL)
        guard case .stored = outcome else { throw DHTError(description: Self.describe(outcome)) }
    }

    public func getValue(_ key: String) async throws -> [UInt8] {
        try Self.validate(key)
        let outcome = await node.dhtGet(key: key, remoteOnly: Self.isProbeKey(key))
        switch outcome {
        case .value(let value): return value
        case .notFound: throw DHTKeyNotFound(key: key)
        default: throw DHTError(description: Self.describe(outcome))
        }
    }

    static func describe(_ outcome: DHTOutcome) -> String {
        switch outcome {
        case .stored(let replicas): "stored on \(replicas) replicas"
        case .value: "found"
        case .providers(let list): "\(list.count) providers"
        case .notFound: "key not found on any replica"
        case .failed(let reason): reason
        }
    }
}

/// The election, replication and connectivity figures of a ``GossipNode`` for the enhanced checks.
public struct GossipHealthAdapters: ElectionInterface, ReplicationInterface, PeerConnectivityInterface {
    public let node: GossipNode

    public init(node: GossipNode) {
        self.node = node
    }

    public func electionSnapshot() async -> ElectionSnapshot {
        guard let (view, leaderID, now) = await node.election() else {
            return ElectionSnapshot(
                leader: nil, term: 0, isLeader: false, heartbeatLatency: nil, lastHeartbeatAge: nil,
                leadershipChanges: 0, lastLeadershipChange: nil, adminUptime: .zero)
        }
        let wallNow = Date()
        let lastChange = view.lastChangeAt.map { wallNow.addingTimeInterval(-(now - $0).milliseconds / 1000) }
        return ElectionSnapshot(
            leader: leaderID, term: view.term, isLeader: view.isLeader, heartbeatLatency: view.heartbeatRTT,
            lastHeartbeatAge: view.isLeader ? .zero : view.lastHeartbeatAt.map { now - $0 },
            leadershipChanges: Int64(view.leadershipChanges), lastLeadershipChange: view.leadershipChanges > 0 ? lastChange : nil,
            adminUptime: view.leaderSince.map { now - $0 } ?? .zero)
    }

    public func replicationSnapshot(resetPeak: Bool) async -> ReplicationSnapshot {
        guard let (figures, stats, now) = await node.replication(resetPeak: resetPeak) else {
            return ReplicationSnapshot(
                storedKeys: 0, primaryKeys: 0, targetFactor: 0, averageFactor: 0, underReplicatedKeys: 0,
                providerRecords: 0, failures: 0, attempts: 0, repairedKeys: 0, peakUnderReplicated: 0)
        }
        return ReplicationSnapshot(
            storedKeys: figures.stored, primaryKeys: figures.primary, targetFactor: figures.target,
            averageFactor: figures.averageFactor, underReplicatedKeys: figures.underReplicated,
            providerRecords: figures.providers, failures: Int64(stats.requestsFailed),
            attempts: Int64(stats.requestsSent), repairedKeys: Int64(stats.repairedKeys),
            peakUnderReplicated: stats.peakUnderReplicated, underReplicationEpisodes: Int64(stats.underReplicationEpisodes),
            lastUnderReplication: stats.lastEpisode.map { episode in
                UnderReplicationEpisode(
                    peakKeys: episode.peakKeys, began: Date().addingTimeInterval(-(now - episode.began).milliseconds / 1000),
                    repairedAfter: episode.ended.map { $0 - episode.began })
            })
    }

    public func connectedPeers() async -> Int {
        await node.liveCount()
    }

}

/// The node's own work queue as the task manager the `task-manager` check reads: the probe runs counted by `tracker`
/// plus the DHT repair copies `node` has in flight, completed and failed.
public struct GossipTaskManager: WorkTracking {
    public let node: GossipNode
    public let workTracker: WorkTracker
    /// Repair copies in flight that count as a full queue's worth of work.
    public static let repairCapacity = 64

    public init(node: GossipNode, tracker: WorkTracker = WorkTracker()) {
        self.node = node
        self.workTracker = tracker
    }

    public func taskSnapshot() async -> TaskSnapshot {
        var snapshot = await workTracker.taskSnapshot()
        guard let repairs = await node.repairWork() else { return snapshot }
        snapshot.active += repairs.inFlight
        snapshot.completed += Int64(repairs.succeeded)
        snapshot.failed += Int64(repairs.failed)
        snapshot.capacity += Self.repairCapacity
        return snapshot
    }
}
