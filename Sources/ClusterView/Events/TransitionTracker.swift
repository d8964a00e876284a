import Gossip
import GossipCore

/// Turns what the gossip node observes into the transitions worth recording: a member's state,
/// a restart, a member's overall status and each of its checks, the leader. Pure: the time comes
/// with each observation, so tests drive it deterministically.
///
/// Work is per observation, never per member per tick: a status compares its checks with the
/// previous status of the same member only. The first status seen of a member records its
/// overall level and its checks that are not healthy (a node that starts among 1000 records
/// about 1000 events, not one per check).
public struct TransitionTracker: Sendable {
    struct Seen: Sendable {
        var generation: UInt64
        var level: StatusLevel
        var checks: [String: CheckLevel]
    }

    var states: [PublicKey: MemberState] = [:]
    var seen: [PublicKey: Seen] = [:]
    var leader: (key: PublicKey?, name: String?)?
    /// Names of members from their statuses, for events about members without one in hand.
    var names: [PublicKey: String] = [:]

    public init() {}

    /// The events `observation` makes, observed at `millis` (Unix milliseconds).
    public mutating func events(for observation: GossipNode.Observation, at millis: Int64) -> [ClusterEvent] {
        switch observation {
        case .member(let key, let nodeID, let state, let life):
            if let nodeID { names[key] = nodeID }
            let before = states[key]
            states[key] = state
            guard before != state else { return [] }
            if state == .left || state == .dead {
                // Gone members are not kept: a returning one is announced alive again.
                seen[key] = nil
            }
            return [
                ClusterEvent(
                    observedAtMillis: millis, node: name(of: key), nodeKey: key, kind: .member, from: before?.description,
                    to: state.description, message: "\(before.map { "\($0) → " } ?? "")\(state) (life \(life))")
            ]
        case .status(let status):
            return events(for: status, at: millis)
        case .leader(let key, let nodeID, let term):
            if let key, let nodeID { names[key] = nodeID }
            let name = key.map { nodeID ?? self.name(of: $0) }
            if let leader, leader.key == key { return [] }
            defer { leader = (key, name) }
            return [
                ClusterEvent(
                    observedAtMillis: millis, node: name ?? "none", nodeKey: key, kind: .leader,
                    from: leader.map { $0.name ?? "none" }, to: name ?? "none",
                    message: key == nil ? "no leader agreed (term \(term))" : "leader \(name ?? "?"), term \(term)")
            ]
        }
    }

    mutating func events(for status: SignedStatus, at millis: Int64) -> [ClusterEvent] {
        let p = status.projection
        let key = p.publicKey
        names[key] = p.nodeID
        let checks = Dictionary(p.checks.map { ($0.name, CheckLevel($0)) }, uniquingKeysWith: { a, _ in a })
        let previous = seen[key]
        seen[key] = Seen(generation: p.generation, level: p.status, checks: checks)
        var out: [ClusterEvent] = []
        func event(_ kind: EventKind, check: String? = nil, from: String?, to: String, message: String) {
            out.append(
                ClusterEvent(
                    observedAtMillis: millis, node: p.nodeID, nodeKey: key, kind: kind, check: check, from: from, to: to,
                    message: message, signedStatus: status))
        }
        if let previous, p.generation > previous.generation {
            event(.member, from: "generation \(previous.generation)", to: "restarted", message: "restarted: generation \(previous.generation) → \(p.generation)")
        }
        if previous?.level != p.status {
            event(.status, from: previous?.level.rawValue, to: p.status.rawValue, message: p.message)
        }
        for check in p.checks {
            let level = CheckLevel(check)
            let before = previous?.checks[check.name]
            guard before != level, previous != nil || level != .healthy else { continue }
            event(.check, check: check.name, from: before?.rawValue, to: level.rawValue, message: check.message)
        }
        if let previous {
            for name in previous.checks.keys.sorted() where checks[name] == nil {
                event(.check, check: name, from: previous.checks[name]?.rawValue, to: "removed", message: "no longer reported")
            }
        }
        return out
    }

    func name(of key: PublicKey) -> String { names[key] ?? key.fingerprint }
}
