/// Election state: whom this node follows, the claims it has seen, and heartbeats to the leader.
struct ElectionState: Sendable {
    var leader: PublicKey?
    var term: UInt64 = 0
    var claiming = false
    /// Members whose latest status claims leadership, with the claim's term.
    var claims: [PublicKey: UInt64] = [:]
    var maxTermSeen: UInt64 = 0
    var changes = 0
    var lastLeader: PublicKey?
    var lastChangeAt: Duration?
    var leaderSince: Duration?
    var heartbeatSequence: UInt32?
    var heartbeatSentAt: Duration = .zero
    /// Resends of the pending heartbeat (a lost ping or ack is tried again, ``GossipCore/heartbeatAttempts``).
    var heartbeatResends = 0
    var lastHeartbeatAt: Duration?
    var heartbeatRTT: Duration?
    var nextHeartbeatAt: Duration = .zero
    var dirty = true
    var nextExtensionCheckAt: Duration = .zero
    /// No election before this time (set at start).
    var notBefore: Duration = .zero
    /// Whether this node saw a majority of the cluster at the last evaluation.
    var hadQuorum = true
    /// The oldest alive, non-suspect member besides this node (``GossipCore/otherCandidate()``),
    /// valid while `candidateKnown`.
    var candidate: PublicKey?
    var candidateKnown = false
}

/// The election as this node sees it.
public struct ElectionView: Sendable, Hashable {
    /// The leader this node follows; `nil` before any.
    public var leader: PublicKey?
    public var term: UInt64
    public var isLeader: Bool
    /// Leadership changes seen (from one claiming leader to another; the first election is not a change).
    public var leadershipChanges: Int
    /// When leadership last changed and since when the current leader leads, on the core's time line.
    public var lastChangeAt: Duration?
    public var leaderSince: Duration?
    /// The latest heartbeat round trip to the leader and when it was.
    public var heartbeatRTT: Duration?
    public var lastHeartbeatAt: Duration?
}

extension GossipCore {
    /// The election as this node sees it.
    ///
    /// The rule (documented in `docs/wire-format.md`): a node follows the live member (alive or
    /// suspect) whose latest signed status claims leadership with the highest term, the older
    /// life (smaller generation, then key prefix) winning ties; while no live member claims, the
    /// candidate is the oldest alive, non-suspect member (this node included), and a node that is
    /// the candidate claims with a term one above any term it has seen. An incumbent keeps its
    /// leadership while it is suspect; only its death, departure, or a higher claim ends it.
    /// Only a node that sees a majority of the cluster (``hasQuorum(now:)``) claims or keeps a
    /// claim; without one and without a live claimant, it follows nobody (a node cut off the
    /// network neither leads nor unseats the leader when it comes back).
    public var electionView: ElectionView {
        ElectionView(
            leader: election.leader, term: election.term, isLeader: election.leader == key && election.claiming,
            leadershipChanges: election.changes, lastChangeAt: election.lastChangeAt, leaderSince: election.leaderSince,
            heartbeatRTT: election.leader == key ? .zero : election.heartbeatRTT,
            lastHeartbeatAt: election.leader == key ? nil : election.lastHeartbeatAt)
    }

    /// Notes a member's claim (or its absence) from its newly accepted status.
    mutating func noteClaim(of member: PublicKey, in projection: StatusProjection) {
        let view = ElectionExtension(projection)
        if let view { election.maxTermSeen = max(election.maxTermSeen, view.term) }
        let claim = view.flatMap { $0.claiming && $0.leaderPrefix == member.prefix ? $0.term : nil }
        if election.claims[member] != claim {
            election.claims[member] = claim
            election.dirty = true
        }
    }

    func lifeOf(_ member: PublicKey) -> Life? {
        member == key ? life : members.lifeAndState(of: member)?.life
    }

    /// Whether `a` wins over `b` as leader: higher term, then older life, then smaller key prefix.
    func outranks(_ a: (PublicKey, UInt64), _ b: (PublicKey, UInt64)) -> Bool {
        if a.1 != b.1 { return a.1 > b.1 }
        let ga = lifeOf(a.0)?.generation ?? .max
        let gb = lifeOf(b.0)?.generation ?? .max
        if ga != gb { return ga < gb }
        return a.0.prefix < b.0.prefix
    }

    /// Whether this node sees a majority of the cluster: itself and its live members (alive or
    /// suspect) against those plus the members that died within
    /// ``GossipSettings/electionQuorumMemory`` (members that left do not count).
    ///
    /// Asked on every tick, answered from ``quorumCache``: the count runs over the gone and the
    /// remembered members, and a node that outlived a third of a 500-node simulation counted its
    /// 150 dead members ten times a second (9 % of the run; BENCHMARKS.md, session 24). The answer
    /// can change only when a member's liveness changes or a tombstone moves (both clear the
    /// cache) or when a counted death ages out of the memory (when the cache expires).
    mutating func hasQuorum(now: Duration) -> Bool {
        if let cached = quorumCache, cached.until.map({ now < $0 }) ?? true { return cached.quorum }
        let counted = countQuorum(now: now)
        quorumCache = counted
        return counted.quorum
    }

    /// The count behind ``hasQuorum(now:)``, and when its answer may next change by itself: the
    /// earliest moment a counted death ages out (`nil`: only a membership change can change it).
    func countQuorum(now: Duration) -> (quorum: Bool, until: Duration?) {
        let memory = settings.electionQuorumMemory
        let seen = 1 + liveKeys.count
        var recentlyDead = 0
        var until: Duration?
        func count(_ state: MemberState, since: Duration) {
            guard state == .dead, now - since < memory else { return }
            recentlyDead += 1
            until = min(until ?? since + memory, since + memory)
        }
        // Stops once the dead outnumber the seen: the answer is no until one of them ages out.
        for member in goneKeys where recentlyDead < seen {
            if let known = members[member] { count(known.state, since: known.since) }
        }
        for entry in remembered.values where recentlyDead < seen { count(entry.state, since: entry.since) }
        return (seen > recentlyDead, until)
    }

    mutating func evaluateElection(now: Duration, into out: inout [Directive]) {
        guard now >= election.notBefore else { return }
        let quorum = hasQuorum(now: now)
        let incumbentValid = election.leader.map { leader in
            leader == key ? election.claiming && quorum : (members.isLive(leader) && election.claims[leader] != nil)
        } ?? false
        guard election.dirty || !incumbentValid || election.hadQuorum != quorum else { return }
        election.dirty = false
        election.hadQuorum = quorum
        var best: (PublicKey, UInt64)?
        for (member, term) in election.claims where members.isLive(member) {
            if best == nil || outranks((member, term), best!) { best = (member, term) }
        }
        if election.claiming && !quorum { election.claiming = false }  // cut off from most of the cluster: step down
        if election.claiming, best == nil || outranks((key, election.term), best!) { best = (key, election.term) }
        var next: PublicKey?
        var term: UInt64
        if let best {
            (next, term) = best
            if election.claiming && next != key { election.claiming = false }  // a stronger claim: step down
        } else if !quorum {
            // No live claimant and no majority in sight: follow nobody, claim nothing.
            next = nil
            term = election.maxTermSeen
        } else {
            // No live claimant: the oldest alive, non-suspect member is the candidate.
            var candidate = key
            if let other = otherCandidate(), outranks((other, 0), (candidate, 0)) { candidate = other }
            next = candidate
            if candidate == key {
                election.claiming = true
                // Terms come from other members' statuses: saturate rather than trap at 2⁶⁴−1.
                let highest = max(election.maxTermSeen, election.term)
                term = highest < UInt64.max ? highest + 1 : highest
                election.maxTermSeen = term
            } else {
                term = election.maxTermSeen
            }
        }
        election.term = term
        if next != election.leader {
            election.leader = next
            election.heartbeatSequence = nil
            election.heartbeatRTT = nil
            election.lastHeartbeatAt = nil
            election.nextHeartbeatAt = now
            election.nextExtensionCheckAt = now  // a leader change is meaningful: re-sign at once
            out.append(.leaderChanged(next))
        }
        // A change of leadership is counted between claimants: a candidate followed before its
        // claim arrives, or no leader while cut off, is not a change of its own.
        guard let next, next != election.lastLeader, next == key ? election.claiming : election.claims[next] != nil else { return }
        if election.lastLeader != nil { election.changes += 1 }
        election.lastLeader = next
        election.lastChangeAt = now
        election.leaderSince = now
    }

    /// The oldest alive, non-suspect member besides this node, or nil. Kept as members change
    /// (``noteCandidacy(of:)``) and found by a scan only after the candidate itself changed:
    /// scanning every member at every evaluation — and every membership change calls for one —
    /// was 45 % of `simulate --nodes 1000 --serve`'s time (perf, release build).
    mutating func otherCandidate() -> PublicKey? {
        if !election.candidateKnown {
            var best: PublicKey?
            for member in liveKeys where members.lifeAndState(of: member)?.state == .alive {
                if best == nil || outranks((member, 0), (best!, 0)) { best = member }
            }
            election.candidate = best
            election.candidateKnown = true
        }
        return election.candidate
    }

    /// Keeps ``otherCandidate()`` current after `member` changed (state, life, or joined).
    mutating func noteCandidacy(of member: PublicKey) {
        guard election.candidateKnown else { return }
        if member == election.candidate {
            // Its state or its life (a restart's newer generation ranks lower) changed: look again.
            election.candidateKnown = false
        } else if members.lifeAndState(of: member)?.state == .alive, election.candidate.map({ outranks((member, 0), ($0, 0)) }) ?? true {
            election.candidate = member
        }
    }

    /// Attempts per heartbeat: a ping whose ack has not come within the probe timeout is sent
    /// again, up to twice. With one unretried ping every 5 s, 20 % loss each way lost a heartbeat
    /// round trip 36 % of the time, and two in a row (13 %) made `election-health` report "no
    /// heartbeat recently" while membership kept the leader alive: a five-node cluster flipped
    /// between healthy and degraded 8–9 times per node in 5 minutes. Three attempts lose a round
    /// 4.7 % of the time, and two rounds in a row 0.2 %.
    static let heartbeatAttempts = 3

    /// Pings the leader now and then; its ack is the heartbeat.
    mutating func heartbeat(now: Duration, into out: inout [Directive]) {
        guard let leader = election.leader, leader != key, let member = members[leader], !member.state.isGone else { return }
        if election.heartbeatSequence != nil, election.heartbeatResends < Self.heartbeatAttempts - 1,
            now - election.heartbeatSentAt >= settings.probeTimeout, now < election.nextHeartbeatAt
        {
            election.heartbeatResends += 1
        } else {
            guard now >= election.nextHeartbeatAt else { return }
            // Jittered ±25 %: the followers adopt a new leader at about the same moment, and
            // heartbeats in step made the leader's acks wake every follower at once (128 processes
            // on 2 cores: ~200 threads runnable in one second every 5 s, and late acks elsewhere).
            let interval = max(settings.leaderHeartbeatInterval, settings.leaderHeartbeatPerMember * liveKeys.count)
            election.nextHeartbeatAt = now + interval * nextJitter()
            election.heartbeatResends = 0
        }
        sequence &+= 1
        election.heartbeatSequence = sequence
        election.heartbeatSentAt = now
        send([.ping(sequence: sequence)], to: member.peer, into: &out)
    }

    /// An ack: the heartbeat when it answers the latest ping. Any other ack from the leader while
    /// a heartbeat is pending (a late answer to an earlier attempt, or to a membership probe) shows
    /// it alive too, but while attempts are left the heartbeat stays pending so that its own ack
    /// still measures the round trip: when the leader is also this node's ring successor, both
    /// pings leave in the same tick every 5 s, and the probe's ack, handled first, kept the round
    /// trip unmeasured for good.
    mutating func noteHeartbeat(_ ackSequence: UInt32, from sender: PublicKey?, now: Duration) {
        guard let pending = election.heartbeatSequence else { return }
        if pending == ackSequence {
            election.heartbeatRTT = now - election.heartbeatSentAt
            election.heartbeatSequence = nil
            election.lastHeartbeatAt = now
        } else if let sender, sender == election.leader {
            election.lastHeartbeatAt = now
            // No attempt is left this round: nothing more to wait for.
            if election.heartbeatResends >= Self.heartbeatAttempts - 1 { election.heartbeatSequence = nil }
        }
    }

    /// Everything the services need each tick: pub/sub memory and broadcast tree, DHT timers and repair, the
    /// election and its heartbeat, and a re-sign when the extensions changed meaningfully.
    mutating func servicesTick(now: Duration, into out: inout [Directive]) {
        sweepMessages(now: now)
        retryLoopbacks(now: now, into: &out)
        treeTick(now: now, into: &out)
        dhtTimers(now: now, into: &out)
        evaluateElection(now: now, into: &out)
        heartbeat(now: now, into: &out)
        guard now >= election.nextExtensionCheckAt else { return }
        // Once a second, from one computation of the replication figures (O(keys × members)):
        // the DHT's under-replication bookkeeping, then a re-sign if the extensions changed meaningfully.
        election.nextExtensionCheckAt = now + .seconds(1)
        let figures = replicationFigures(now: now)
        noteReplication(figures, now: now)
        resignIfExtensionsChanged(now: now, figures: figures, into: &out)
    }
}
