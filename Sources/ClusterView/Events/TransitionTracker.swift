import DequeModule
import Gossip
import GossipCore
import NodeHealth

/// When a member and each of its checks last changed, as this node observed it, and whether
/// they flap (see ``TransitionTracker/transitions(of:)``).
public struct MemberTransitions: Sendable, Hashable {
    /// The last change of its membership state or of its status level, or when this node first
    /// saw it (Unix milliseconds, this node's clock).
    public var lastTransitionMillis: Int64
    public var flapping: Flapping?
    /// By check name.
    public var checks: [String: CheckTransitions]

    public init(lastTransitionMillis: Int64, flapping: Flapping? = nil, checks: [String: CheckTransitions] = [:]) {
        self.lastTransitionMillis = lastTransitionMillis
        self.flapping = flapping
        self.checks = checks
    }
}

/// When one check of a member last changed level, and whether it flaps.
public struct CheckTransitions: Sendable, Hashable {
    public var lastTransitionMillis: Int64
    public var flapping: Flapping?

    public init(lastTransitionMillis: Int64, flapping: Flapping? = nil) {
        self.lastTransitionMillis = lastTransitionMillis
        self.flapping = flapping
    }
}

/// Turns what the gossip node observes into the transitions worth recording — a member's state,
/// a restart, a member's overall status and each of its checks, the leader, and flapping — and
/// remembers when each member and check last changed. Pure: the time comes with each call, so
/// tests drive it deterministically.
///
/// Work is per observation, never per member per tick: a status compares its checks with the
/// previous status of the same member only, and ``expire(at:)`` looks only at the subjects that
/// flap and at the members that died or left. The first status seen of a member records its
/// overall level and its checks that are not healthy (a node that starts among 1000 records
/// about 1000 events, not one per check).
public struct TransitionTracker: Sendable {
    struct CheckMemory: Sendable {
        var level: CheckLevel
        var since: Int64
        var flap = FlapState()
    }

    struct Member: Sendable {
        var name: String?
        var state: MemberState?
        /// From the latest status; `nil` before one and after the member died or left (a
        /// returning member's first status is recorded as a first sight).
        var generation: UInt64?
        var level: StatusLevel?
        var checks: [String: CheckMemory] = [:]
        /// The last change of state or level, or the first sight.
        var since: Int64
        /// Whether it was up (not dead or gone, not unhealthy) at the last change: flapping counts
        /// changes between up and down, so one restart (suspect, dead, alive, starting, healthy)
        /// is two changes, not five. A suspicion is not down: on a loaded machine members are
        /// suspected and refute it, and a node restarted once turned "flapping" for ten minutes
        /// in the process tests when suspicions counted.
        var up: Bool?
        var flap = FlapState()
        /// When it died or left, while it is gone.
        var goneAt: Int64?
    }

    public let policy: FlapPolicy
    var members: [PublicKey: Member] = [:]
    var leader: (key: PublicKey?, name: String?)?
    /// The subjects flapping now: the only ones ``expire(at:)`` looks at.
    private(set) var flapping: Set<FlapSubject> = []
    /// Members that died or left, oldest first: forgotten a window later unless they came back
    /// or flap, so churn (new keys every restart) does not grow the memory.
    var gone: Deque<(at: Int64, key: PublicKey)> = []

    public init(policy: FlapPolicy = FlapPolicy()) {
        self.policy = policy
    }

    /// The events `observation` makes, observed at `millis` (Unix milliseconds).
    public mutating func events(for observation: GossipNode.Observation, at millis: Int64) -> [ClusterEvent] {
        switch observation {
        case .member(let key, let nodeID, let state, let life):
            var member = members[key] ?? Member(since: millis)
            if let nodeID { member.name = nodeID }
            let before = member.state
            guard before != state else {
                members[key] = member
                return []
            }
            member.state = state
            var out = [
                ClusterEvent(
                    observedAtMillis: millis, node: member.name ?? key.fingerprint, nodeKey: key, kind: .member,
                    from: before?.description, to: state.description,
                    message: "\(before.map { "\($0) → " } ?? "")\(state) (life \(life))")
            ]
            if state == .left || state == .dead {
                // Gone members' statuses are not kept: a returning one is announced afresh.
                member.generation = nil
                member.level = nil
                for name in member.checks.keys { flapping.remove(.check(key, name)) }
                member.checks = [:]
                member.goneAt = millis
                gone.append((millis, key))
            } else {
                member.goneAt = nil
            }
            if before != nil {
                changed(&member, key: key, at: millis, into: &out)
            } else {
                member.up = Self.isUp(member)
            }
            members[key] = member
            return out
        case .status(let status):
            return events(for: status, at: millis)
        case .leader(let key, let nodeID, let term):
            if let key, let nodeID { members[key, default: Member(since: millis)].name = nodeID }
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
        var member = members[key] ?? Member(since: millis)
        member.name = p.nodeID
        let first = member.level == nil
        var out: [ClusterEvent] = []
        func event(_ kind: EventKind, check: String? = nil, from: String?, to: String, message: String) {
            out.append(
                ClusterEvent(
                    observedAtMillis: millis, node: p.nodeID, nodeKey: key, kind: kind, check: check, from: from, to: to,
                    message: message, signedStatus: status))
        }
        var memberChanged = false
        if let previous = member.generation, p.generation > previous {
            event(.member, from: "generation \(previous)", to: "restarted", message: "restarted: generation \(previous) → \(p.generation)")
            memberChanged = true
        }
        member.generation = p.generation
        if member.level != p.status {
            event(.status, from: member.level?.rawValue, to: p.status.rawValue, message: p.message)
            memberChanged = memberChanged || !first
            member.level = p.status
        }
        var checks: [String: CheckMemory] = [:]
        checks.reserveCapacity(p.checks.count)
        for check in p.checks where checks[check.name] == nil {
            let level = CheckLevel(check)
            guard var memory = member.checks[check.name] else {
                checks[check.name] = CheckMemory(level: level, since: millis)
                if !first || level != .healthy {
                    event(.check, check: check.name, from: nil, to: level.rawValue, message: check.message)
                }
                continue
            }
            if memory.level != level {
                event(.check, check: check.name, from: memory.level.rawValue, to: level.rawValue, message: check.message)
                memory.level = level
                memory.since = millis
                if memory.flap.change(at: millis, policy: policy) {
                    flapping.insert(.check(key, check.name))
                    out.append(flapEvent(member: p.nodeID, key: key, check: check.name, memory.flap.flapping, at: millis))
                }
            }
            checks[check.name] = memory
        }
        for name in member.checks.keys.sorted() where checks[name] == nil {
            event(.check, check: name, from: member.checks[name]?.level.rawValue, to: "removed", message: "no longer reported")
            flapping.remove(.check(key, name))
        }
        member.checks = checks
        if memberChanged {
            changed(&member, key: key, at: millis, into: &out)
        } else {
            member.up = Self.isUp(member)  // a first sight counts nothing
        }
        members[key] = member
        return out
    }

    /// A change of the member's state or level at `millis`: its last transition, and its
    /// flapping when it went from up to down or back.
    private mutating func changed(_ member: inout Member, key: PublicKey, at millis: Int64, into out: inout [ClusterEvent]) {
        member.since = millis
        let up = Self.isUp(member)
        defer { member.up = up }
        guard let before = member.up, before != up else { return }
        if member.flap.change(at: millis, policy: policy) {
            flapping.insert(.member(key))
            out.append(flapEvent(member: member.name ?? key.fingerprint, key: key, check: nil, member.flap.flapping, at: millis))
        }
    }

    static func isUp(_ member: Member) -> Bool {
        member.state != .dead && member.state != .left && member.level != .unhealthy
    }

    private func flapEvent(member: String, key: PublicKey, check: String?, _ flapping: Flapping?, at millis: Int64) -> ClusterEvent {
        let what = check.map { "check \($0)" } ?? "status"
        return ClusterEvent(
            observedAtMillis: millis, node: member, nodeKey: key, kind: .flapping, check: check, from: "stable", to: "flapping",
            message: "\(what) changed \(flapping?.changes ?? policy.threshold) times within \(DurationText.format(policy.window))")
    }

    /// The events time makes at `millis`: subjects quiet for the window are stable again, and
    /// members gone for a window (and not flapping) are forgotten. Looks only at those.
    public mutating func expire(at millis: Int64) -> [ClusterEvent] {
        var out: [ClusterEvent] = []
        for subject in flapping {
            let key = subject.key
            guard var member = members[key] else {
                flapping.remove(subject)
                continue
            }
            let name = member.name ?? key.fingerprint
            switch subject {
            case .member:
                guard member.flap.isQuiet(at: millis, policy: policy), let ended = member.flap.settle() else { continue }
                out.append(settledEvent(member: name, key: key, check: nil, ended, at: millis))
            case .check(_, let check):
                guard var memory = member.checks[check] else {
                    flapping.remove(subject)
                    continue
                }
                guard memory.flap.isQuiet(at: millis, policy: policy), let ended = memory.flap.settle() else { continue }
                member.checks[check] = memory
                out.append(settledEvent(member: name, key: key, check: check, ended, at: millis))
            }
            flapping.remove(subject)
            members[key] = member
        }
        while let first = gone.first, millis &- first.at >= policy.windowMillis {
            gone.removeFirst()
            guard let member = members[first.key], member.goneAt == first.at else { continue }
            if member.flap.flapping != nil {
                gone.append((millis, first.key))  // looked at again a window later
            } else {
                members[first.key] = nil
            }
        }
        return out
    }

    private func settledEvent(member: String, key: PublicKey, check: String?, _ ended: Flapping, at millis: Int64) -> ClusterEvent {
        ClusterEvent(
            observedAtMillis: millis, node: member, nodeKey: key, kind: .flapping, check: check, from: "flapping", to: "stable",
            message: "quiet for \(DurationText.format(policy.window)) after \(ended.changes) changes")
    }

    /// When `key` and its checks last changed and whether they flap; `nil` for a member this node
    /// has not seen (or forgot).
    public func transitions(of key: PublicKey) -> MemberTransitions? {
        guard let member = members[key] else { return nil }
        return MemberTransitions(
            lastTransitionMillis: member.since, flapping: member.flap.flapping,
            checks: member.checks.mapValues { CheckTransitions(lastTransitionMillis: $0.since, flapping: $0.flap.flapping) })
    }

    /// How many members and how many checks flap now.
    public var flappingCounts: (members: Int, checks: Int) {
        var counts = (members: 0, checks: 0)
        for subject in flapping {
            if case .member = subject { counts.members += 1 } else { counts.checks += 1 }
        }
        return counts
    }

    func name(of key: PublicKey) -> String { members[key]?.name ?? key.fingerprint }
}
