import ClusterEvents
import ClusterView
import GossipCore

/// Something an operator is told about: a node or a check that is unhealthy, dead or flapping,
/// the cluster degraded or unhealthy, or leadership flapping. Its ``id`` stays the same for as
/// long as the same thing is wrong, so it is notified once when it opens, again only when its
/// ``status`` changes, and once when it resolves.
public struct Incident: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case node, check, cluster, leadership
    }

    public var kind: Kind
    /// The member it is about (node and check incidents): its id, and its key's fingerprint.
    public var node: String?
    public var fingerprint: String?
    public var check: String?
    /// What is wrong: `dead`, `unhealthy`, `flapping` (node, check, leadership), `degraded` or
    /// `unhealthy` (cluster).
    public var status: String
    /// Why, in words (the cluster's reasons, or the node's failing checks).
    public var reasons: [String]

    public init(kind: Kind, node: String? = nil, fingerprint: String? = nil, check: String? = nil, status: String, reasons: [String] = []) {
        self.kind = kind
        self.node = node
        self.fingerprint = fingerprint
        self.check = check
        self.status = status
        self.reasons = reasons
    }

    /// Stable identity: the kind and what it is about (a member by its key, which a restart
    /// keeps), not its status.
    public var id: String {
        switch kind {
        case .node: "node/\(fingerprint ?? node ?? "?")"
        case .check: "check/\(fingerprint ?? node ?? "?")/\(check ?? "?")"
        case .cluster: "cluster"
        case .leadership: "leadership"
        }
    }

    /// One line for people: `node-3 is dead`, `check dht on node-3 is flapping`.
    public var summary: String {
        switch kind {
        case .node: "\(node ?? "?") is \(status)"
        case .check: "check \(check ?? "?") on \(node ?? "?") is \(status)"
        case .cluster: "the cluster is \(status)"
        case .leadership: "leadership is \(status)"
        }
    }

    /// Leadership changes within 15 minutes from which leadership counts as flapping (as the
    /// `ClusterLeaderFlapping` alert: more than 3).
    public static let leadershipFlapChanges = 4

    /// The incidents `health` shows. A check incident is raised only while its node has none of
    /// its own (a node unhealthy because of its check is one incident, not two), except for a
    /// flapping check. Left members raise nothing; stale ones raise nothing of their own (the
    /// cluster incident names them).
    public static func incidents(in health: ClusterHealth) -> [String: Incident] {
        var out: [String: Incident] = [:]
        func add(_ incident: Incident) { out[incident.id] = incident }
        for node in health.nodes where node.state != .left {
            let failing = node.failingChecks
            var nodeStatus: String?
            if node.state == .dead {
                nodeStatus = "dead"
            } else if node.flapping != nil {
                nodeStatus = "flapping"
            } else if !node.stale, node.status == .unhealthy {
                nodeStatus = "unhealthy"
            }
            if let nodeStatus {
                add(
                    Incident(
                        kind: .node, node: node.nodeID, fingerprint: node.fingerprint, status: nodeStatus,
                        reasons: failing.map { "failing: \($0)" } + (node.message.map { $0.isEmpty ? [] : [$0] } ?? [])))
            }
            let flapping = Set(node.flappingChecks ?? [])
            for check in flapping.sorted() {
                add(Incident(kind: .check, node: node.nodeID, fingerprint: node.fingerprint, check: check, status: "flapping"))
            }
            guard nodeStatus == nil, !node.stale else { continue }
            for check in failing where !flapping.contains(check) {
                add(Incident(kind: .check, node: node.nodeID, fingerprint: node.fingerprint, check: check, status: "unhealthy"))
            }
        }
        if health.status != .healthy {
            add(Incident(kind: .cluster, status: health.status.rawValue, reasons: health.reasons))
        }
        if let changes = health.election.recentChanges, changes >= leadershipFlapChanges {
            add(
                Incident(
                    kind: .leadership, status: "flapping",
                    reasons: ["\(changes) leadership changes within 15 minutes; leader now \(health.election.leader ?? "none")"]))
        }
        return out
    }
}
