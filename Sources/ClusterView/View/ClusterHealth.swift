#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import Gossip
import GossipCore
import NodeHealth
import Synchronization

/// What one node knows of one member: its membership state and life, and the verified
/// projection of its latest signed status with that status's age.
public struct MemberReport: Sendable, Hashable {
    public var key: PublicKey
    public var state: MemberState
    public var life: Life
    public var isSelf: Bool
    /// The latest verified status, and how long ago this node accepted it (signed it, for itself).
    public var status: StatusProjection?
    public var statusAge: Duration?
    /// How long its membership state has held in this node's view.
    public var stateAge: Duration?
    /// When it and its checks last changed and whether they flap, as this node observed it
    /// (``ClusterMemory``); `nil` without a memory.
    public var transitions: MemberTransitions?
    /// What its accusations of other members came to, as this node saw them (`nil`: it made none).
    public var accusations: AccuserRecord?
    /// The members whose signed suspicions of it this node holds.
    public var suspectedBy: [PublicKey]
    /// Time since this node last heard from it directly (`nil`: not while it was live).
    public var heardAge: Duration?

    public init(
        key: PublicKey, state: MemberState, life: Life, isSelf: Bool, status: StatusProjection?, statusAge: Duration?,
        transitions: MemberTransitions? = nil, stateAge: Duration? = nil, accusations: AccuserRecord? = nil,
        suspectedBy: [PublicKey] = [], heardAge: Duration? = nil
    ) {
        self.accusations = accusations
        self.suspectedBy = suspectedBy
        self.heardAge = heardAge
        self.key = key
        self.state = state
        self.life = life
        self.isSelf = isSelf
        self.status = status
        self.statusAge = statusAge
        self.transitions = transitions
        self.stateAge = stateAge
    }
}

/// What one member's accusations of others came to (``AccuserRecord``), as `/cluster/health` and
/// `/cluster/members` show it.
public struct AccusationSummary: Codable, Sendable, Hashable {
    /// Over the current and the previous accountability window (10 minutes each by default).
    public var recent: Int
    public var refuted: Int
    public var confirmed: Int
    /// Since the observer started.
    public var total: Int
    public var refutedTotal: Int
    /// Most of its recent accusations were refuted: they weigh nothing.
    public var unreliable: Bool

    public init(_ record: AccuserRecord) {
        recent = record.recentAccusations
        refuted = record.recentRefuted
        confirmed = record.recentConfirmed
        total = record.accusations
        refutedTotal = record.refuted
        unreliable = record.isUnreliable
    }

    enum CodingKeys: String, CodingKey {
        case recent, refuted, confirmed, total, unreliable
        case refutedTotal = "refuted_total"
    }
}

/// The rules' parameters.
public struct ClusterHealthPolicy: Sendable, Hashable {
    /// A status older than this is stale: its refresh is overdue. Nodes re-sign at least every
    /// refresh interval (max(5 min, N × 60 s), ± 25 %), so the node passes twice that.
    public var staleAfter: Duration
    /// The share of members (those that did not leave) dead, unhealthy or unknown at which the
    /// cluster is unhealthy. Default one half.
    public var criticalShare: Double = 0.5
    /// Peers each node should have. Default 2.
    public var minPeers: Int = 2
    /// How long a leader must have led for the election to count as fully stable. Default 5 min.
    public var stableAfter: Duration = .seconds(300)
    /// A suspect member this node heard from directly within this long is reachable, and its
    /// accusers' fault is one-way or their own. Default 2 s (two probe intervals).
    public var heardRecently: Duration = .seconds(2)

    public init(staleAfter: Duration) {
        self.staleAfter = staleAfter
    }
}

/// The cluster as one node sees it: the merge of the verified statuses and its membership view.
public struct ClusterHealth: Codable, Sendable, Hashable {
    /// One member.
    public struct Node: Codable, Sendable, Hashable {
        public var nodeID: String
        public var fingerprint: String
        public var isSelf: Bool
        /// Membership state in this node's view: alive, suspect, dead, left.
        public var state: MemberState
        public var generation: UInt64
        /// Version of the latest status held, and its age.
        public var version: UInt64?
        public var statusAgeSeconds: Double?
        /// The status the member reported, and the one the cluster counts: `unknown` when the
        /// status is stale (refresh overdue, or the member is dead or gone), never a pass.
        public var reportedStatus: StatusLevel?
        /// The member's own description of its status (the reason of a maintenance, for one).
        public var message: String?
        public var status: NodeStatus
        public var stale: Bool
        public var failingChecks: [String]
        public var degradedChecks: [String]
        /// Share of its checks passing and not degraded (nil without a status).
        public var score: Double?
        public var leader: String?
        public var term: UInt64?
        /// Live peers the member reported in its signed status (as of `status_age_seconds` ago).
        public var connectedPeers: Int?
        public var belowMinPeers: Bool?
        /// What this node measures itself, now: the live members besides this one in its own
        /// membership (nil when the member is dead or left), and how long the member's state has held.
        public var observedPeers: Int? = nil
        public var stateAgeSeconds: Double? = nil
        /// RFC 3339: when the member signed the status held (its own clock).
        public var statusIssuedAt: String? = nil
        /// The member's labels (signed in its status), absent when it has none.
        public var labels: [String: String]? = nil
        /// Reports healthy while this node cannot reach it (suspect or dead here).
        public var unreachable: Bool
        /// RFC 3339: the last change of its membership state or status level this node observed,
        /// or when it first saw the member (like a Kubernetes condition's `lastTransitionTime`).
        public var lastTransition: String? = nil
        /// Each check's last change of level, the same way, by check name.
        public var checksLastTransition: [String: String]? = nil
        /// Set while its status flaps (see ``FlapPolicy``).
        public var flapping: FlappingBody? = nil
        /// Its checks that flap, by name (absent when none).
        public var flappingChecks: [String]? = nil
        /// What its accusations of other members came to, as the observer saw them.
        public var accusations: AccusationSummary? = nil
        /// Who signed the suspicions of it that the observer holds (a suspect member only).
        public var suspectedBy: [String]? = nil
        /// Its checks as it signed them, fresh statuses only. Not in the JSON document (its
        /// failing and degraded checks are): the `application/health+json` answer's measurements.
        public var checks: [StatusProjection.Check]? = nil

        enum CodingKeys: String, CodingKey, CaseIterable {
            case nodeID = "node_id", fingerprint, isSelf = "self", state, generation, version
            case statusAgeSeconds = "status_age_seconds", reportedStatus = "reported_status", message, status, stale
            case failingChecks = "failing_checks", degradedChecks = "degraded_checks", score, leader, term
            case connectedPeers = "connected_peers", belowMinPeers = "below_min_peers", unreachable
            case lastTransition = "last_transition", checksLastTransition = "checks_last_transition", flapping
            case flappingChecks = "flapping_checks", observedPeers = "observed_peers", stateAgeSeconds = "state_age_seconds"
            case statusIssuedAt = "status_issued_at", labels, accusations, suspectedBy = "suspected_by"
        }

        /// The peers the view counts for the member: the fewer of what it reported and what this
        /// node observes, so that neither a status signed before a death nor a member that cannot
        /// reach others shows more peers than there are.
        /// Nil for a member that is dead or left (what it last reported is history).
        public var effectivePeers: Int? {
            guard let observed = observedPeers else { return nil }
            return connectedPeers.map { min($0, observed) } ?? observed
        }
    }

    /// That something flaps: since when (RFC 3339) and how many changes since it began to.
    public struct FlappingBody: Codable, Sendable, Hashable {
        public var since: String
        public var changes: Int

        init(_ flapping: Flapping) {
            since = TimeFormatting.rfc3339(millis: flapping.sinceMillis)
            changes = flapping.changes
        }
    }

    public struct Election: Codable, Sendable, Hashable {
        public var leader: String?
        public var term: UInt64?
        /// Share of the live members with a fresh status that follow `leader`.
        public var agreement: Double
        /// The most leadership changes any live member has counted, and the leader's time in office.
        public var leadershipChanges: Int
        /// Leadership changes within the last ``ClusterMonitor/changeWindow`` (15 min), as the
        /// observing node's monitor saw the count grow; nil from a bare merge.
        public var recentChanges: Int?
        public var leaderAgeSeconds: Int?
        /// agreement × min(1, leader age / stableAfter).
        public var stability: Double

        enum CodingKeys: String, CodingKey {
            case leader, term, agreement, stability
            case leadershipChanges = "leadership_changes", leaderAgeSeconds = "leader_age_seconds"
            case recentChanges = "changes_last_15m"
        }
    }

    public struct Peers: Codable, Sendable, Hashable {
        /// Over the live members with a fresh status, each counted by ``Node/effectivePeers``.
        public var min: Int?
        public var average: Double?
        public var max: Int?
        public var minimum: Int
        public var belowMinimum: [String]

        enum CodingKeys: String, CodingKey { case min, average, max, minimum = "required", belowMinimum = "below_minimum" }
    }

    public struct Replication: Codable, Sendable, Hashable {
        /// Mean replication factor of the keys, weighted by each primary's key count.
        public var averageFactor: Double?
        public var underReplicatedKeys: Int
        public var storedKeys: Int
        public var providerRecords: Int

        enum CodingKeys: String, CodingKey {
            case averageFactor = "average_factor", underReplicatedKeys = "under_replicated_keys"
            case storedKeys = "stored_keys", providerRecords = "provider_records"
        }
    }

    /// A member's status as the merged view judges it: the level it signed, or `unknown` when
    /// its status is missing or stale, or it is dead or left.
    public enum NodeStatus: String, Codable, Sendable, Hashable, CaseIterable {
        case healthy, degraded, unhealthy, starting, stopping, unknown

        public init(_ level: StatusLevel) {
            switch level {
            case .healthy: self = .healthy
            case .degraded: self = .degraded
            case .unhealthy: self = .unhealthy
            case .starting: self = .starting
            case .stopping: self = .stopping
            }
        }
    }

    public var status: HealthStatus
    /// Why the cluster is not healthy (empty when it is).
    public var reasons: [String]
    /// The node whose view this is.
    public var observer: String
    public var nodeCount: Int
    public var byStatus: [String: Int]
    public var byState: [String: Int]
    /// Nodes by label: key → value → count.
    public var byLabel: [String: [String: Int]]
    public var election: Election
    public var peers: Peers
    public var replication: Replication
    public var nodes: [Node]

    enum CodingKeys: String, CodingKey {
        case status, reasons, observer, election, peers, replication, nodes
        case nodeCount = "node_count", byStatus = "by_status", byState = "by_state", byLabel = "by_label"
    }

    /// Merges `members` (this node's view, itself included) under `policy`. The rules:
    ///
    /// - A member's status is **stale** when it is older than ``ClusterHealthPolicy/staleAfter``,
    ///   missing, or the member is dead or left; a stale member counts as `unknown`.
    /// - **Unhealthy** when the dead, unhealthy and unknown members reach
    ///   ``ClusterHealthPolicy/criticalShare`` of those that did not leave, or when no leader is
    ///   followed by more than half of the live members with a fresh status.
    /// - Otherwise **degraded** when any member is suspect, dead, stale, degraded, unhealthy,
    ///   starting or stopping, has fewer peers than the minimum, reports under-replicated keys, or
    ///   reports healthy while this node cannot reach it, or flaps (its status or one of its checks).
    /// - Otherwise **healthy**. Members that left gracefully are listed but judge nothing.
    public static func merge(_ members: [MemberReport], policy: ClusterHealthPolicy) -> ClusterHealth {
        // Names once (a fingerprint is hex-encoded on each use).
        let named = members.map { (member: $0, name: $0.status?.nodeID ?? $0.key.fingerprint) }.sorted { $0.name < $1.name }
        let nameByPrefix = Dictionary(named.map { ($0.member.key.prefix, $0.name) }, uniquingKeysWith: { a, _ in a })
        func name(ofPrefix prefix: UInt64) -> String? {
            guard prefix != 0 else { return nil }
            return nameByPrefix[prefix] ?? String(prefix, radix: 16)
        }

        var nodes: [Node] = []
        var reasons: [String] = []
        var votes: [UInt64: Int] = [:]
        var voters = 0
        var maxChanges = 0
        var peerCounts: [Int] = []
        var belowMinimum: [String] = []
        var replication = Replication(averageFactor: nil, underReplicatedKeys: 0, storedKeys: 0, providerRecords: 0)
        var factorSum = 0.0
        var primaries = 0
        var leaderAges: [UInt64: Int] = [:]
        var terms: [UInt64: UInt64] = [:]
        /// Suspect members that the observer heard from directly a moment ago.
        var oneWay: Set<String> = []
        let live = members.count { $0.state == .alive || $0.state == .suspect }

        for (member, memberName) in named {
            let projection = member.status
            let gone = member.state == .dead || member.state == .left
            let overdue = member.statusAge.map { $0 > policy.staleAfter } ?? true
            let stale = projection == nil || overdue || gone
            let reported = projection?.status
            let effective = stale ? NodeStatus.unknown : reported.map(NodeStatus.init) ?? .unknown
            let checks = projection?.checks ?? []
            let failing = checks.filter { !$0.healthy }.map(\.name)
            let degraded = checks.filter { $0.healthy && $0.degraded }.map(\.name)
            let score = checks.isEmpty ? nil : Double(checks.filter { $0.healthy && !$0.degraded }.count) / Double(checks.count)
            let election = projection.flatMap(ElectionExtension.init)
            let peers = projection.flatMap(PeersExtension.init)
            let unreachable = (member.state == .suspect || member.state == .dead) && reported == .healthy
                && !member.isSelf
            let transitions = member.transitions
            let flappingChecks = transitions?.checks.filter { $0.value.flapping != nil }.keys.sorted() ?? []
            let labels = projection.map { NodeLabels($0).dictionary } ?? [:]
            nodes.append(
                Node(
                    nodeID: memberName, fingerprint: member.key.fingerprint, isSelf: member.isSelf,
                    state: member.state, generation: member.life.generation, version: projection?.version,
                    statusAgeSeconds: member.statusAge.map { ($0.milliseconds).rounded() / 1000 }, reportedStatus: reported,
                    message: projection?.message, status: effective, stale: stale, failingChecks: failing, degradedChecks: degraded,
                    score: score.map { ($0 * 1000).rounded() / 1000 }, leader: election.flatMap { name(ofPrefix: $0.leaderPrefix) },
                    term: election?.term, connectedPeers: peers.map { Int($0.connectedPeers) }, belowMinPeers: peers?.belowMinimum,
                    observedPeers: gone ? nil : live - 1, stateAgeSeconds: member.stateAge.map { ($0.milliseconds).rounded() / 1000 },
                    statusIssuedAt: projection.map { TimeFormatting.rfc3339(millis: $0.issuedAtMillis) },
                    labels: labels.isEmpty ? nil : labels,
                    unreachable: unreachable, lastTransition: transitions.map { TransitionTimes.rfc3339($0.lastTransitionMillis) },
                    checksLastTransition: transitions.map { $0.checks.mapValues { TransitionTimes.rfc3339($0.lastTransitionMillis) } },
                    flapping: transitions?.flapping.map(FlappingBody.init), flappingChecks: flappingChecks.isEmpty ? nil : flappingChecks,
                    accusations: member.accusations.map(AccusationSummary.init),
                    suspectedBy: member.suspectedBy.isEmpty ? nil : member.suspectedBy.map { nameByPrefix[$0.prefix] ?? $0.fingerprint },
                    checks: stale ? nil : checks))
            if member.state == .suspect, let heard = member.heardAge, heard < policy.heardRecently {
                oneWay.insert(memberName)
            }

            // Figures count from live members with a fresh status only.
            guard !stale, !gone else { continue }
            if let election {
                voters += 1
                maxChanges = max(maxChanges, Int(election.leadershipChanges))
                if election.leaderPrefix != 0 {
                    votes[election.leaderPrefix, default: 0] += 1
                    terms[election.leaderPrefix] = max(terms[election.leaderPrefix] ?? 0, election.term)
                }
                // The age was current when the status was signed: add the status's own age.
                if election.claiming {
                    leaderAges[member.key.prefix] = Int(election.leaderAgeSeconds) + Int((member.statusAge ?? .zero).components.seconds)
                }
            }
            if let counted = nodes[nodes.count - 1].effectivePeers {
                peerCounts.append(counted)
                if counted < policy.minPeers { belowMinimum.append(memberName) }
            }
            if let figures = projection.flatMap(ReplicationExtension.init) {
                replication.underReplicatedKeys += Int(figures.underReplicatedKeys)
                replication.storedKeys += Int(figures.storedKeys)
                replication.providerRecords += Int(figures.providerRecords)
                factorSum += figures.averageFactor * Double(figures.primaryKeys)
                primaries += Int(figures.primaryKeys)
            }
        }
        if primaries > 0 { replication.averageFactor = (factorSum / Double(primaries) * 100).rounded() / 100 }

        // Election: the leader most live members follow.
        let top = votes.max { ($0.value, $1.key) < ($1.value, $0.key) }
        let agreement = voters == 0 ? 0 : Double(top?.value ?? 0) / Double(voters)
        let leaderAge = top.flatMap { leaderAges[$0.key] }
        let stability = agreement * min(1, Double(leaderAge ?? 0) / max(1, Double(policy.stableAfter.components.seconds)))
        let election = Election(
            leader: top.flatMap { name(ofPrefix: $0.key) }, term: top.flatMap { terms[$0.key] },
            agreement: (agreement * 1000).rounded() / 1000, leadershipChanges: maxChanges, recentChanges: nil, leaderAgeSeconds: leaderAge,
            stability: (stability * 1000).rounded() / 1000)
        let peers = Peers(
            min: peerCounts.min(), average: peerCounts.isEmpty ? nil : (Double(peerCounts.reduce(0, +)) / Double(peerCounts.count) * 100).rounded() / 100,
            max: peerCounts.max(), minimum: policy.minPeers, belowMinimum: belowMinimum)

        // The verdict.
        let judged = nodes.filter { $0.state != .left }
        let bad = judged.filter { $0.state == .dead || $0.status == .unhealthy || $0.status == .unknown }
        var status = HealthStatus.healthy
        if !judged.isEmpty && Double(bad.count) >= policy.criticalShare * Double(judged.count) {
            status = .unhealthy
            reasons.append("\(bad.count) of \(judged.count) nodes dead, unhealthy or unknown: \(bad.map(\.nodeID).joined(separator: ", "))")
        }
        if agreement <= 0.5 {
            status = .unhealthy
            reasons.append(voters == 0 ? "no live node reports an election view" : "no leader agreed by a majority (\(election.leader ?? "none") has \(Int(agreement * 100)) %)")
        }
        var concerns: [String] = []
        let observer = named.first(where: \.member.isSelf)?.name ?? ""
        for node in judged {
            let accusers = (node.suspectedBy ?? []).joined(separator: ", ")
            if oneWay.contains(node.nodeID) {
                // Not "down": this node hears from it, so the accusers' fault is theirs or the path's.
                concerns.append("\(accusers.isEmpty ? "some members" : accusers) cannot reach \(node.nodeID) while \(observer) can (a one-way or local fault)")
            } else if node.state == .suspect, !accusers.isEmpty {
                concerns.append("\(node.nodeID) is suspect (accused by \(accusers))")
            } else if node.state != .alive {
                concerns.append("\(node.nodeID) is \(node.state)")
            } else if node.stale {
                concerns.append("\(node.nodeID): status stale")
            } else if node.status != .healthy {
                let checks = node.failingChecks + node.degradedChecks
                let why = checks.isEmpty ? (node.message.map { $0.isEmpty ? "" : ": \($0)" } ?? "") : " (\(checks.joined(separator: ", ")))"
                concerns.append("\(node.nodeID) is \(node.status)" + why)
            }
            if node.unreachable { concerns.append("\(node.nodeID) reports healthy but is unreachable") }
            if let flapping = node.flapping {
                concerns.append("\(node.nodeID) is flapping (\(flapping.changes) changes since \(flapping.since))")
            }
            for check in node.flappingChecks ?? [] { concerns.append("\(node.nodeID): check \(check) is flapping") }
            if let accusations = node.accusations, accusations.unreliable {
                concerns.append(
                    "\(node.nodeID) cannot reach members that others reach, or lies: \(accusations.refuted) of its \(accusations.recent) "
                        + "recent accusations were refuted; its accusations weigh nothing")
            }
        }
        if !belowMinimum.isEmpty { concerns.append("below \(policy.minPeers) peers: \(belowMinimum.joined(separator: ", "))") }
        if replication.underReplicatedKeys > 0 { concerns.append("\(replication.underReplicatedKeys) keys under-replicated") }
        if !concerns.isEmpty {
            if status == .healthy { status = .degraded }
            reasons += concerns
        }
        return ClusterHealth(
            status: status, reasons: reasons, observer: observer,
            nodeCount: nodes.count, byStatus: Dictionary(grouping: nodes, by: \.status.rawValue).mapValues(\.count),
            byState: Dictionary(grouping: nodes, by: \.state.description).mapValues(\.count),
            byLabel: nodes.reduce(into: [:]) { counts, node in
                for (key, value) in node.labels ?? [:] { counts[key, default: [:]][value, default: 0] += 1 }
            }, election: election, peers: peers,
            replication: replication, nodes: nodes)
    }

    /// The plain-text form (`?verbose`), in the style of kube-apiserver's `/readyz?verbose`.
    public var verboseText: String {
        var lines = nodes.map { node -> String in
            let ok = node.status == .healthy && node.state == .alive
            var line = "[\(ok ? "+" : "-")]\(node.nodeID) \(node.state) \(node.status)"
            if node.stale { line += " (stale)" }
            let checks = node.failingChecks.map { "failing: \($0)" } + node.degradedChecks.map { "degraded: \($0)" }
            if !checks.isEmpty { line += " " + checks.joined(separator: ", ") }
            if election.leader == node.nodeID { line += " [leader]" }
            if node.flapping != nil { line += " [flapping]" }
            if node.accusations?.unreliable == true { line += " [accusations refuted]" }
            if let checks = node.flappingChecks { line += " flapping: " + checks.joined(separator: ", ") }
            return line
        }
        lines.append("election: leader \(election.leader ?? "none"), agreement \(Int(election.agreement * 100)) %, \(election.leadershipChanges) changes")
        lines += reasons.map { "reason: \($0)" }
        lines.append("cluster \(status.rawValue)")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Transition times (this node's clock, Unix milliseconds) as RFC 3339, remembered: every 2-s
/// sample formats each member's and each of its checks' last transition again, the same times
/// over and over (3.7 % of 128 forming node processes' CPU, perf, BENCHMARKS.md session 21).
enum TransitionTimes {
    private static let memo = Mutex<[Int64: String]>([:])
    /// Most times remembered; past it the memo starts over (a few per member and check).
    static let limit = 16_384

    static func rfc3339(_ millis: Int64) -> String {
        if let known = memo.withLock({ $0[millis] }) { return known }
        let text = TimeFormatting.rfc3339(millis: millis)
        memo.withLock { memo in
            if memo.count >= limit { memo.removeAll(keepingCapacity: true) }
            memo[millis] = text
        }
        return text
    }
}
