import ClusterEvents
import ClusterView
import GossipCore
import Synchronization

/// A cluster of `count` nodes whose statuses are signed here with real Ed25519 keys, as a node
/// holding them would report them: nine checks with messages, the election, peer, replication and
/// label extensions; about 2 % unhealthy, 3 % degraded, 1 % dead, 0.5 % stale (its status a day
/// old), 0.5 % flapping, in four zones. Made in about a
/// second for 1000 nodes, where the simulator takes minutes: for benchmarks of the view and for
/// tests of the console. Changes re-sign the node's status at the next version.
public final class SignedClusterFixture: Sendable {
    public let count: Int
    public let keys: [SigningKeyPair]
    private struct State {
        var statuses: [SignedStatus]
        var states: [MemberState]
        var tampered: Set<Int> = []
    }
    private let state: Mutex<State>
    private let start = ContinuousClock.now

    public static let checkNames = [
        "disk-space", "memory-usage", "pubsub-enhanced", "dht-enhanced", "election-health", "replication-health",
        "p2p-connectivity", "resource-health", "task-manager",
    ]

    public init(count: Int, seed: UInt64 = 1) throws {
        self.count = count
        var random = SplitMix64(seed: seed)
        keys = (0..<count).map { i in
            SigningKeyPair(seed: (0..<32).map { UInt8(truncatingIfNeeded: (i &+ Int(seed) &* 7919) >> ($0 % 4 * 8)) ^ UInt8($0) })!
        }
        var statuses: [SignedStatus] = []
        var states: [MemberState] = []
        for i in 0..<count {
            let roll = random.next() % 100
            let level: StatusLevel = roll < 2 ? .unhealthy : roll < 5 ? .degraded : .healthy
            statuses.append(try Self.sign(keys[i], index: i, count: count, leader: keys[0].publicKey, level: level, version: 1, random: &random))
            states.append(i > 0 && i % 100 == 50 ? .dead : .alive)
        }
        state = Mutex(State(statuses: statuses, states: states))
    }

    /// The node id of node `index`: `node-INDEX`.
    public static func id(_ index: Int) -> String { "node-\(index)" }

    static func sign(
        _ key: SigningKeyPair, index: Int, count: Int, leader: PublicKey, level: StatusLevel, version: UInt64,
        random: inout SplitMix64
    ) throws -> SignedStatus {
        let checks = checkNames.enumerated().map { c, name in
            let failing = level == .unhealthy && c == 3
            return StatusProjection.Check(
                name: name, healthy: !failing, critical: c < 2, degraded: level == .degraded && c == 2,
                latencyMicros: UInt32(random.next() % 5000),
                message: failing ? "put k7: 1 of 3 replicas answered" : "ok in \(random.next() % 100) ms")
        }
        // Everyone follows node 0.
        var extensions = [
            ElectionExtension(
                leaderPrefix: leader.prefix, term: 4, claiming: index == 0, heartbeatMillis: 2, leadershipChanges: 1, leaderAgeSeconds: 900
            ).encoded,
            PeersExtension(belowMinimum: false, connectedPeers: UInt16(clamping: count - 1)).encoded,
            ReplicationExtension(
                underReplicated: false, storedKeys: 30, primaryKeys: 10, underReplicatedKeys: 0, averageFactorHundredths: 300,
                providerRecords: 2, repairedKeys: 0, failures: 0).encoded,
        ]
        extensions += [try NodeLabels(["zone": "zone-\(index % 4)", "rack": "r\(index % 20)"]).encoded].compactMap { $0 }
        let projection = StatusProjection(
            publicKey: key.publicKey, generation: 1_800_000_000, version: version, issuedAtMillis: 1_800_000_000_000 + version * 1000,
            nodeID: id(index), status: level,
            message: level == .healthy ? "All health checks passing" : "dht-enhanced: put k7: 1 of 3 replicas answered",
            uptimeSeconds: 86_400, softwareVersion: "0.1.0", checks: checks, extensions: extensions)
        return try SignedStatus.sign(projection, with: key)
    }

    /// The members as node 0 reports them: ages grow with the time since the fixture was made.
    public func members() -> [MemberReport] {
        let elapsed = ContinuousClock.now - start
        let (statuses, states) = state.withLock { ($0.statuses, $0.states) }
        return (0..<count).map { i -> MemberReport in
            let statusAge: Duration = .seconds(Int64(i % 200 == 120 ? 90_000 : i % 240)) + elapsed
            let stateAge: Duration = .seconds(Int64(600 + i % 3000)) + elapsed
            let flapping = i % 200 == 170 ? Flapping(sinceMillis: 1_800_000_000_000, changes: 6) : nil
            return MemberReport(
                key: keys[i].publicKey, state: states[i], life: Life(generation: 1_800_000_000, incarnation: 0), isSelf: i == 0,
                status: statuses[i].projection, statusAge: statusAge,
                transitions: MemberTransitions(lastTransitionMillis: 1_800_000_000_000 + Int64(i) * 1000, flapping: flapping),
                stateAge: stateAge)
        }
    }

    /// Re-signs node `index`'s status at `level`, the next version.
    public func set(_ index: Int, to level: StatusLevel) throws {
        var random = SplitMix64(seed: UInt64(index))
        let version = state.withLock { $0.statuses[index].projection.version } + 1
        let signed = try Self.sign(
            keys[index], index: index, count: count, leader: keys[0].publicKey, level: level, version: version, random: &random)
        state.withLock { $0.statuses[index] = signed }
    }

    /// From now on node `index`'s signed status is served with one byte of its message altered
    /// (the signature left as it was), as a man in the middle would.
    public func tamper(_ index: Int) { state.withLock { _ = $0.tampered.insert(index) } }

    /// The signed status the view endpoints serve for `id` (a node id).
    public func signedStatus(_ id: String) -> SignedStatus? {
        guard id.hasPrefix("node-"), let index = Int(id.dropFirst(5)), (0..<count).contains(index) else { return nil }
        let (signed, tampered) = state.withLock { ($0.statuses[index], $0.tampered.contains(index)) }
        guard tampered else { return signed }
        var payload = signed.payload
        // The last byte is inside the last extension's value (the labels): still decodes, no longer verifies.
        payload[payload.count - 1] ^= 0x01
        return (try? SignedStatus(payload: payload, signature: signed.signature)) ?? signed
    }

    /// The view endpoints' source: these statuses, these keys trusted.
    public var source: ClusterHTTP.Source {
        let keys = Set(keys.map(\.publicKey))
        return ClusterHTTP.Source(signedStatus: { [self] in signedStatus($0) }, trust: { .keys(keys) })
    }

    /// A monitor over this cluster's view (stale after a day: these statuses never refresh).
    public func monitor(interval: Duration = .seconds(2)) -> ClusterMonitor {
        ClusterMonitor(interval: interval) { [self] in
            ClusterHealth.merge(members(), policy: ClusterHealthPolicy(staleAfter: .seconds(86_400)))
        }
    }
}
