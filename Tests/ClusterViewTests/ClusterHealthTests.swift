import ClusterEvents
import ClusterView
import Gossip
import NodeHealth
import Testing
import GossipCore

/// The cluster merge, as a pure function of member reports.
@Suite("ClusterHealth.merge: the documented rules")
struct ClusterHealthTests {
    static let keys = (0..<5).map { SigningKeyPair(seed: [UInt8](repeating: UInt8($0 + 1), count: 32))!.publicKey }
    static let policy: ClusterHealthPolicy = {
        var policy = ClusterHealthPolicy(staleAfter: .seconds(600))
        policy.minPeers = 2
        return policy
    }()

    /// A report for node `i`: alive with a fresh status following node 0 as leader, 4 peers, 10 keys fully replicated.
    static func report(
        _ i: Int, state: MemberState = .alive, status: StatusLevel = .healthy, age: Duration? = .seconds(5),
        leader: Int? = 0, peers: UInt16 = 4, underReplicated: UInt32 = 0, checks: [StatusProjection.Check]? = nil,
        labels: [String: String] = [:]
    ) -> MemberReport {
        let election = ElectionExtension(
            leaderPrefix: leader.map { keys[$0].prefix } ?? 0, term: 1, claiming: leader == i, heartbeatMillis: 1,
            leadershipChanges: 0, leaderAgeSeconds: 600)
        let replication = ReplicationExtension(
            underReplicated: underReplicated > 0, storedKeys: 10, primaryKeys: 4, underReplicatedKeys: underReplicated,
            averageFactorHundredths: underReplicated > 0 ? 250 : 300, providerRecords: 1, repairedKeys: 0, failures: 0)
        let projection = StatusProjection(
            publicKey: keys[i], generation: 7, version: 3, issuedAtMillis: 0, nodeID: "n\(i)", status: status, message: "",
            uptimeSeconds: 100, softwareVersion: "test",
            checks: checks ?? [.init(name: "disk-space", healthy: true, critical: false, latencyMicros: 10, message: "ok")],
            extensions: [election.encoded, PeersExtension(belowMinimum: peers < 2, connectedPeers: peers).encoded, replication.encoded]
                + [try! NodeLabels(labels).encoded].compactMap { $0 })
        return MemberReport(key: keys[i], state: state, life: Life(generation: 7, incarnation: 0), isSelf: i == 0, status: projection, statusAge: age)
    }

    @Test("five healthy nodes that agree on a leader: healthy, with the figures")
    func allHealthy() {
        let health = ClusterHealth.merge((0..<5).map { Self.report($0) }, policy: Self.policy)
        #expect(health.status == .healthy && health.reasons.isEmpty)
        #expect(health.nodeCount == 5 && health.byStatus == ["healthy": 5] && health.byState == ["alive": 5])
        #expect(health.election.leader == "n0" && health.election.agreement == 1 && health.election.stability == 1)
        #expect(health.peers.min == 4 && health.peers.max == 4 && health.peers.belowMinimum.isEmpty)
        #expect(health.replication.averageFactor == 3 && health.replication.storedKeys == 50 && health.replication.providerRecords == 5)
        #expect(health.observer == "n0")
        #expect(health.verboseText.contains("[+]n0 alive healthy [leader]") && health.verboseText.hasSuffix("cluster healthy\n"))
    }

    @Test("last transitions per node and check; a flapping node or check makes the cluster degraded, with the reason")
    func flapping() {
        var members = (0..<5).map { Self.report($0) }
        members[1].transitions = MemberTransitions(
            lastTransitionMillis: 1_700_000_000_000, flapping: Flapping(sinceMillis: 1_700_000_000_000, changes: 6),
            checks: ["disk-space": CheckTransitions(lastTransitionMillis: 1_699_999_999_000)])
        members[2].transitions = MemberTransitions(
            lastTransitionMillis: 0, checks: ["disk-space": CheckTransitions(lastTransitionMillis: 0, flapping: Flapping(sinceMillis: 0, changes: 5))])
        let health = ClusterHealth.merge(members, policy: Self.policy)
        #expect(health.status == .degraded)
        #expect(health.reasons.contains("n1 is flapping (6 changes since 2023-11-14T22:13:20Z)"), "\(health.reasons)")
        #expect(health.reasons.contains("n2: check disk-space is flapping"))
        let n1 = health.nodes.first { $0.nodeID == "n1" }!
        #expect(n1.lastTransition == "2023-11-14T22:13:20Z")
        #expect(n1.checksLastTransition == ["disk-space": "2023-11-14T22:13:19Z"])
        #expect(n1.flapping?.changes == 6 && n1.flappingChecks == nil)
        #expect(health.nodes.first { $0.nodeID == "n2" }?.flappingChecks == ["disk-space"])
        #expect(health.nodes.first { $0.nodeID == "n3" }?.lastTransition == nil, "no memory: no field")
        #expect(health.verboseText.contains("[+]n1 alive healthy [flapping]"))
        let json = String(decoding: JSONBytes.encode(health), as: UTF8.self)
        #expect(json.contains("\"last_transition\":\"2023-11-14T22:13:20Z\"") && json.contains("\"flapping_checks\":[\"disk-space\"]"))
    }

    @Test("observed peers: each live member counts the live members this node sees; the view counts the fewer of reported and observed")
    func observedPeers() {
        // A status signed before n4 died still says 4 peers; this node sees 3 for each survivor.
        var members = (0..<5).map { Self.report($0) }
        members[4].state = .dead
        members[1].stateAge = .milliseconds(2500)
        let health = ClusterHealth.merge(members, policy: Self.policy)
        for node in health.nodes where node.nodeID != "n4" {
            #expect(node.connectedPeers == 4 && node.observedPeers == 3 && node.effectivePeers == 3, "\(node.nodeID)")
        }
        #expect(health.nodes[4].observedPeers == nil, "a dead member has no observed peers")
        #expect(health.nodes[1].stateAgeSeconds == 2.5)
        #expect(health.peers.min == 3 && health.peers.max == 3)
        // A member that reports fewer peers than this node sees (it cannot reach them) counts its own figure.
        let cut = ClusterHealth.merge([Self.report(0), Self.report(1, peers: 0), Self.report(2)], policy: Self.policy)
        #expect(cut.nodes[1].effectivePeers == 0 && cut.peers.belowMinimum == ["n1"])
    }

    @Test("labels: signed in the status, listed per node and counted by key and value")
    func labels() {
        let members = (0..<4).map { Self.report($0, labels: ["zone": $0 < 3 ? "eu-1" : "us-2", "role": "db"]) } + [Self.report(4)]
        let health = ClusterHealth.merge(members, policy: Self.policy)
        #expect(health.nodes[0].labels == ["zone": "eu-1", "role": "db"] && health.nodes[4].labels == nil)
        #expect(health.byLabel == ["zone": ["eu-1": 3, "us-2": 1], "role": ["db": 4]])
    }

    @Test("a dead node: degraded, listed unknown and stale; a stale status never counts as a pass")
    func deadAndStale() {
        var members = (0..<5).map { Self.report($0) }
        members[3].state = .dead
        members[4].statusAge = .seconds(601)  // refresh overdue
        let health = ClusterHealth.merge(members, policy: Self.policy)
        #expect(health.status == .degraded)
        let n3 = health.nodes.first { $0.nodeID == "n3" }!
        let n4 = health.nodes.first { $0.nodeID == "n4" }!
        #expect(n3.status == .unknown && n3.stale && n3.reportedStatus == .healthy && n3.unreachable)
        #expect(n4.status == .unknown && n4.stale && n4.state == .alive)
        #expect(health.byStatus["unknown"] == 2 && health.byStatus["healthy"] == 3)
        #expect(health.reasons.contains("n3 is dead") && health.reasons.contains("n4: status stale"))
        #expect(health.reasons.contains("n3 reports healthy but is unreachable"))
    }

    @Test("unhealthy at the critical share of bad nodes, or without a leader agreed by a majority")
    func unhealthy() {
        var members = (0..<4).map { Self.report($0) }
        members[2].state = .dead
        members[3] = Self.report(3, status: .unhealthy, checks: [.init(name: "database", healthy: false, critical: true, latencyMicros: 5, message: "down")])
        let half = ClusterHealth.merge(members, policy: Self.policy)
        #expect(half.status == .unhealthy, "2 of 4 bad reaches one half")
        #expect(half.nodes.first { $0.nodeID == "n3" }!.failingChecks == ["database"])

        let split = ClusterHealth.merge([Self.report(0, leader: 0), Self.report(1, leader: 1)], policy: Self.policy)
        #expect(split.status == .unhealthy && split.election.agreement == 0.5)
        let none = ClusterHealth.merge([Self.report(0, leader: nil), Self.report(1, leader: nil)], policy: Self.policy)
        #expect(none.status == .unhealthy && none.election.leader == nil)
    }

    @Test("degraded for a degraded node, a suspect, too few peers, under-replication; left members judge nothing")
    func degradedCauses() {
        let degradedCheck = StatusProjection.Check(name: "dht-enhanced", healthy: true, critical: true, degraded: true, latencyMicros: 9, message: "1 of 3")
        for (members, reason) in [
            ([Self.report(0), Self.report(1, status: .degraded, checks: [degradedCheck]), Self.report(2)], "n1 is degraded (dht-enhanced)"),
            ([Self.report(0), Self.report(1, state: .suspect), Self.report(2)], "n1 is suspect"),
            ([Self.report(0, peers: 1), Self.report(1), Self.report(2)], "below 2 peers: n0"),
            ([Self.report(0, underReplicated: 2), Self.report(1), Self.report(2)], "2 keys under-replicated"),
        ] {
            let health = ClusterHealth.merge(members, policy: Self.policy)
            #expect(health.status == .degraded && health.reasons.contains(reason), "\(health.reasons)")
        }
        var left = (0..<4).map { Self.report($0) }
        left[3].state = .left
        #expect(ClusterHealth.merge(left, policy: Self.policy).status == .healthy)
        let scored = ClusterHealth.merge([Self.report(0), Self.report(1, checks: [degradedCheck, .init(name: "x", healthy: true, critical: false, latencyMicros: 1, message: "")])], policy: Self.policy)
        #expect(scored.nodes[1].score == 0.5 && scored.nodes[1].degradedChecks == ["dht-enhanced"])
    }
}
