/// Signed accusations: how a member becomes suspect and dead (``Accusation``, ``DeathCertificate``).
///
/// Every suspicion names its accusers, each by a claim it signed itself; a member becomes dead
/// only when ``GossipCore/accusersNeeded(excluding:now:)`` distinct trusted accusers, each
/// weighing one, signed a claim about its current life and the suspicion timeout (shortened by
/// every accuser past the first, as Lifeguard's confirmations) ran out. No single member, and no
/// outsider, can take a node out of the cluster: one member accusing everybody, constantly,
/// makes suspicions that the accused refute, and its refuted claims are counted against it
/// (``AccuserRecord``) until they weigh nothing.
struct Suspicion: Sendable {
    var life: Life
    var start: Duration
    /// The signed claims about `life`, one per accuser, in the order they arrived (the first is
    /// attached when the suspicion is shown to the suspect).
    var accusations: [Accusation]

    var first: Accusation { accusations[0] }

    func holds(_ accuser: PublicKey) -> Bool { accusations.contains { $0.accuser == accuser } }
}

/// What one accuser's claims came to, as this node saw them.
public struct AccuserRecord: Sendable, Hashable {
    public init() {}
    /// Distinct claims accepted from it (about a subject's life each), since this node started.
    public var accusations = 0
    /// Claims whose subject refuted them (it was alive), and claims whose subject died, left or
    /// restarted (it was not).
    public var refuted = 0
    public var confirmed = 0
    /// The same three over the current and the previous ``GossipSettings/accountabilityWindow``.
    public var recentAccusations = 0
    public var recentRefuted = 0
    public var recentConfirmed = 0
    var previous = (accusations: 0, refuted: 0, confirmed: 0)

    /// Whether its recent claims were mostly refuted (at least three, more than twice as many as
    /// were confirmed): it cannot reach members that others reach, or it lies. Its claims then
    /// weigh nothing: they start no suspicion, count towards no death and are not relayed.
    public var isUnreliable: Bool { recentRefuted >= 3 && recentRefuted > 2 * recentConfirmed }

    mutating func roll() {
        recentAccusations -= previous.accusations
        recentRefuted -= previous.refuted
        recentConfirmed -= previous.confirmed
        previous = (recentAccusations, recentRefuted, recentConfirmed)
    }

    public static func == (lhs: AccuserRecord, rhs: AccuserRecord) -> Bool {
        (lhs.accusations, lhs.refuted, lhs.confirmed, lhs.recentAccusations, lhs.recentRefuted, lhs.recentConfirmed)
            == (rhs.accusations, rhs.refuted, rhs.confirmed, rhs.recentAccusations, rhs.recentRefuted, rhs.recentConfirmed)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(accusations)
        hasher.combine(refuted)
        hasher.combine(confirmed)
    }
}

/// Per-accuser records, the claims this node signed itself, and the evidence behind the deaths it holds.
struct AccusationState: Sendable {
    var records: [PublicKey: AccuserRecord] = [:]
    var nextRollAt: Duration?
    /// This node's own claims, by subject: signed once per subject's life and verdict, re-signed
    /// when half of ``GossipSettings/accusationLifetime`` has passed.
    var ownClaims: [PublicKey: (claim: Accusation, signedAt: Duration)] = [:]
    /// The accusations that made this node hold a member dead (kept with its tombstone).
    var evidence: [PublicKey: [Accusation]] = [:]
    /// When each member was last heard from directly (an authenticated datagram it sent).
    var lastHeard: [PublicKey: Duration] = [:]
    /// Claims signed by this node, for benchmarks.
    var signed = 0
    /// Claims verified, for benchmarks.
    var verified = 0
    /// Suspicions ended because every claim behind them expired (see ``GossipCore/expire(_:of:now:into:)``).
    var expired = 0
}

extension GossipCore {
    /// What each accuser's claims came to (see ``AccuserRecord``).
    public var accuserRecords: [PublicKey: AccuserRecord] { accusations.records }
    /// Claims this node signed and verified since it started.
    public var accusationsSigned: Int { accusations.signed }
    public var accusationsVerified: Int { accusations.verified }
    /// Suspicions that ended because every claim behind them expired.
    public var suspicionsExpired: Int { accusations.expired }
    /// When `member` was last heard from directly (an authenticated datagram it sent), if it is live.
    public func lastHeard(from member: PublicKey) -> Duration? { accusations.lastHeard[member] }

    /// The accusers of each member this node holds suspect.
    public var suspicionAccusers: [PublicKey: [PublicKey]] { suspicions.mapValues { $0.accusations.map(\.accuser) } }

    /// How many distinct accusers a death needs: ``GossipSettings/accusersForDeath``, or fewer
    /// when fewer members could accuse — this node and the live members other than `subject`,
    /// leaving out those suspected for longer than the longest suspicion timeout (they most
    /// likely crashed too: five nodes of which three crashed at once still bury them).
    /// `longSuspected` is ``longSuspectedCount(now:)``, counted once per tick by a caller that
    /// asks for every suspicion (counting it per suspicion made a tick O(S²)).
    func accusersNeeded(excluding subject: PublicKey, now: Duration, longSuspected: Int? = nil) -> Int {
        let all = longSuspected ?? longSuspectedCount(now: now)
        let subjectIsLong = suspicions[subject].map { now - $0.start > suspicionBounds.max } ?? false
        let others = liveKeys.count - (members.isLive(subject) ? 1 : 0) - (all - (subjectIsLong ? 1 : 0))
        return max(1, min(settings.accusersForDeath, 1 + max(0, others)))
    }

    /// Suspicions older than the longest suspicion timeout: their subjects are most likely gone
    /// and could not accuse anyone.
    func longSuspectedCount(now: Duration) -> Int {
        let longest = suspicionBounds.max
        return suspicions.values.reduce(0) { $0 + (now - $1.start > longest ? 1 : 0) }
    }

    /// The accusers of `suspicion` whose claims weigh (this node's own always does).
    func weight(of suspicion: Suspicion) -> Int {
        suspicion.accusations.reduce(0) { $0 + ($1.accuser == key || !isUnreliable($1.accuser) ? 1 : 0) }
    }

    func isUnreliable(_ accuser: PublicKey) -> Bool { accusations.records[accuser]?.isUnreliable ?? false }

    /// This node's own claim about `subject` in `life`, signed once (re-signed when older than
    /// half the accusation lifetime, so that it stays fresh wherever it is relayed).
    mutating func ownClaim(_ verdict: Accusation.Verdict, about subject: PublicKey, life: Life, now: Duration) -> Accusation {
        if let held = accusations.ownClaims[subject], held.claim.verdict == verdict, held.claim.life == life,
            now - held.signedAt < settings.accusationLifetime / 2
        {
            return held.claim
        }
        let claim = Accusation.sign(keyPair, verdict, subject: subject, life: life, issuedAt: wallMilliseconds(now))
        accusations.signed += 1
        accusations.ownClaims[subject] = (claim, now)
        return claim
    }

    /// The wall clock in Unix milliseconds at `now`.
    func wallMilliseconds(_ now: Duration) -> UInt64 {
        let (seconds, attoseconds) = now.components
        return wallClockOrigin &* 1000 &+ UInt64(clamping: max(0, seconds)) &* 1000 &+ UInt64(clamping: max(0, attoseconds / 1_000_000_000_000_000))
    }

    /// Checks a received claim in the order trust → binding → freshness → signature, so that a
    /// copy of a claim already held costs no verification and a forger is slowed by the
    /// forgery budget. Returns the claim when it is new and good; drops and counts it otherwise.
    mutating func check(_ claim: Accusation, now: Duration) -> Accusation? {
        guard store.trust.trusts(claim.accuser), store.trust.trusts(claim.subject) else {
            stats.dropped[.untrustedAccuser, default: 0] += 1
            return nil
        }
        guard claim.accuser != claim.subject else {
            stats.dropped[.misboundAccusation, default: 0] += 1
            return nil
        }
        if claim.subject != key {
            guard let held = members.lifeAndState(of: claim.subject) else { return nil }
            guard claim.life <= held.life else {
                stats.dropped[.unannouncedLife, default: 0] += 1
                return nil
            }
            // About an earlier life (refuted since) or already held: nothing to check.
            if claim.life < held.life || suspicions[claim.subject]?.holds(claim.accuser) == true { return nil }
            if held.state.isGone { return nil }
        } else if claim.life != life {
            if claim.life > life { stats.dropped[.unannouncedLife, default: 0] += 1 }
            return nil
        }
        if claim.accuser == key { return nil }
        // A member whose tombstone expired still counts: after a long partition, its notice that
        // it holds this node dead is what makes this node refute and the two sides meet again.
        guard members[claim.accuser] != nil || remembered[claim.accuser] != nil else {
            stats.dropped[.misboundAccusation, default: 0] += 1
            return nil
        }
        let wall = wallMilliseconds(now)
        let lifetime = accusationLifetimeMillis
        let skew = UInt64(settings.maxClockSkew.components.seconds) * 1000
        guard claim.issuedAt <= wall &+ skew else {
            stats.dropped[.futureAccusation, default: 0] += 1
            return nil
        }
        guard wall < lifetime || claim.issuedAt >= wall - lifetime else {
            stats.dropped[.staleAccusation, default: 0] += 1
            return nil
        }
        if let sender = receivingFrom, !forgeries.allows(sender, now: now, limit: settings.maxForgeriesPerSecond) {
            stats.dropped[.forgeryBudget, default: 0] += 1
            return nil
        }
        accusations.verified += 1
        guard claim.verify(store.verifier) else {
            if let sender = receivingFrom { forgeries.failed(sender) }
            stats.dropped[.forgedAccusation, default: 0] += 1
            return nil
        }
        return claim
    }

    /// A good claim about another member's current life: it starts a suspicion or joins the one
    /// held, unless its accuser is unreliable (then it is only counted against it).
    mutating func accept(_ claim: Accusation, now: Duration, into out: inout [Directive]) {
        record(claim.accuser, now: now) {
            $0.accusations += 1
            $0.recentAccusations += 1
        }
        guard claim.accuser == key || !isUnreliable(claim.accuser), var member = members[claim.subject] else { return }
        if var suspicion = suspicions[claim.subject] {
            suspicion.accusations.append(claim)
            suspicions[claim.subject] = suspicion
            queueRumour(.suspect(claim), about: .init(key: claim.subject, isStatus: false, confirmer: claim.accuser.prefix))
            return
        }
        guard member.state == .alive || member.state == .suspect else { return }
        member.state = .suspect
        member.since = now
        members[claim.subject] = member
        trackLiveness(claim.subject, live: true)
        suspicions[claim.subject] = Suspicion(life: claim.life, start: now, accusations: [claim])
        if claim.accuser != key {
            // Heard from others: ask the suspect itself, with the suspicion attached. An alive
            // suspect answers with its refutation at once, so this node's timer cannot run out
            // on a refutation that happened to miss it (under loss, the rumour of a refutation
            // misses about one node in 10⁴, which over thousands of false suspicions made a
            // false death). Not a probe: its ack is ignored.
            sequence &+= 1
            send([.ping(sequence: sequence), .suspect(claim)], to: member.peer, into: &out)
        }
        queueRumour(.suspect(claim), about: .init(key: claim.subject, isStatus: false))
        out.append(.memberChanged(claim.subject, .suspect))
    }

    /// This node suspects `member` after a failed probe: it signs its claim and tells the member
    /// at once, so that it can refute before the rumour has spread (Lifeguard's buddy system
    /// does the same on later pings).
    mutating func suspect(_ member: Member, now: Duration, into out: inout [Directive]) {
        guard member.state == .alive || member.state == .suspect, suspicions[member.key]?.holds(key) != true else { return }
        let claim = ownClaim(.suspect, about: member.key, life: member.life, now: now)
        accept(claim, now: now, into: &out)
        send([.suspect(claim)], to: member.peer, into: &out)
    }

    /// A suspicion or a death certificate arrived. About this node: a good claim about its
    /// current life is refuted, and the sender is answered directly. About another member: each
    /// new, good claim is taken as that accuser's.
    mutating func receiveAccusations(
        _ claims: [Accusation], from sender: Peer, now: Duration, replies: inout [GossipPart], into out: inout [Directive]
    ) {
        for claim in claims {
            guard let good = check(claim, now: now) else {
                if claim.subject == key, claim.life < life {
                    // The sender holds an older life of this node: it missed a refutation, and
                    // nobody else holds that suspicion, so its timer would run out.
                    replies.append(.alive(ownAnnouncement))
                    return
                }
                continue
            }
            if good.subject == key {
                if good.accuser == sender.key, isUnreliable(good.accuser) {
                    // Straight from an accuser whose claims keep being refuted: nobody who agrees
                    // holds it, and refuting each would let it make this node spread a new life
                    // as often as it likes. A member that relays it asks for the refutation.
                    record(good.accuser, now: now) {
                        $0.accusations += 1
                        $0.recentAccusations += 1
                    }
                    return
                }
                record(good.accuser, now: now) {
                    $0.accusations += 1
                    $0.recentAccusations += 1
                    $0.refuted += 1
                    $0.recentRefuted += 1
                }
                refute(good.life, .suspect, now: now, into: &out)
                let refutation = GossipPart.alive(ownAnnouncement)
                replies.append(refutation)
                if let accuser = members[good.accuser], accuser.address != sender.address, members.isLive(good.accuser) {
                    // The accuser's timer runs out first: tell it directly too.
                    send([refutation], to: accuser.peer, into: &out)
                }
                return
            }
            accept(good, now: now, into: &out)
        }
    }

    /// Each tick: a suspicion with enough weighing accusers whose timeout ran out makes the member
    /// dead. A member this node heard from directly within the shortest timeout is not buried on
    /// others' word: it is asked again, with the claim attached, and the timer starts over (at
    /// a partition's heal, members that never lost each other adopted the other side's verdicts).
    mutating func suspicionTimers(now: Duration, into out: inout [Directive]) {
        rollAccountability(now: now)
        guard !suspicions.isEmpty else { return }
        let longSuspected = longSuspectedCount(now: now)
        for (memberKey, suspicion) in suspicions.sorted(by: { $0.key < $1.key }) {
            if now - suspicion.start >= settings.accusationLifetime, isExpired(suspicion, now: now) {
                expire(suspicion, of: memberKey, now: now, into: &out)
                continue
            }
            let weight = weight(of: suspicion)
            guard weight >= accusersNeeded(excluding: memberKey, now: now, longSuspected: longSuspected),
                now - suspicion.start >= suspicionTimeout(confirmations: weight - 1)
            else { continue }
            guard var member = members[memberKey], member.state == .suspect, member.life == suspicion.life else {
                suspicions[memberKey] = nil
                continue
            }
            if let heard = accusations.lastHeard[memberKey], now - heard < suspicionBounds.min {
                suspicions[memberKey]?.start = now
                sequence &+= 1
                send([.ping(sequence: sequence), .suspect(suspicion.first)], to: member.peer, into: &out)
                continue
            }
            member.state = .dead
            member.since = now
            members[memberKey] = member
            trackLiveness(memberKey, live: false)
            endSuspicion(of: memberKey, refuted: false, now: now)
            accusations.evidence[memberKey] = suspicion.accusations
            if let certificate = deathCertificate(for: memberKey, now: now) {
                queueRumour(.dead(certificate), about: .init(key: memberKey, isStatus: false))
            }
            out.append(.memberChanged(memberKey, .dead))
        }
    }

    /// ``GossipSettings/accusationLifetime`` in milliseconds (claims carry wall-clock milliseconds).
    var accusationLifetimeMillis: UInt64 { UInt64(clamping: max(0, settings.accusationLifetime.components.seconds)) &* 1000 }

    /// Whether every claim behind `suspicion` is past ``GossipSettings/accusationLifetime``.
    func isExpired(_ suspicion: Suspicion, now: Duration) -> Bool {
        let lifetime = accusationLifetimeMillis
        let wall = wallMilliseconds(now)
        return suspicion.accusations.allSatisfy { $0.issuedAt &+ lifetime <= wall }
    }

    /// A suspicion whose claims all expired without enough accusers for a death: nothing valid
    /// holds the member suspect any more, so it is alive again here (if it is gone, its probers
    /// suspect it afresh with new claims). Without this a suspicion could last for good: 128
    /// node processes on 2 cores kept members suspect for minutes on one accuser's claim, which
    /// the suspect, seeing it only once it was stale, dropped as a replay instead of refuting.
    /// Neither for nor against the accusers: nobody showed the member alive or dead.
    mutating func expire(_ suspicion: Suspicion, of subject: PublicKey, now: Duration, into out: inout [Directive]) {
        suspicions[subject] = nil
        guard var member = members[subject], member.state == .suspect, member.life == suspicion.life else { return }
        member.state = .alive
        member.since = now
        members[subject] = member
        accusations.expired += 1
        out.append(.memberChanged(subject, .alive))
    }

    /// The claims behind a death this node holds: its own, signed now if need be, and the fresh
    /// ones it kept, up to ``DeathCertificate/maxAccusations``.
    mutating func deathCertificate(for subject: PublicKey, now: Duration) -> DeathCertificate? {
        guard let held = members.lifeAndState(of: subject) ?? remembered[subject].map({ ($0.life, $0.state) }), held.state == .dead
        else { return nil }
        let own = ownClaim(.dead, about: subject, life: held.life, now: now)
        let lifetime = accusationLifetimeMillis
        let wall = wallMilliseconds(now)
        let kept = (accusations.evidence[subject] ?? []).filter { $0.accuser != key && $0.life == held.life && $0.issuedAt &+ lifetime > wall }
        return DeathCertificate(subject: subject, life: held.life, accusations: [own] + kept)
    }

    /// A suspicion ends: each of its accusers is told against (`refuted`: the member was alive)
    /// or for (it died, left or restarted).
    mutating func endSuspicion(of subject: PublicKey, refuted: Bool, now: Duration) {
        guard let suspicion = suspicions.removeValue(forKey: subject) else { return }
        for claim in suspicion.accusations {
            record(claim.accuser, now: now) {
                if refuted {
                    $0.refuted += 1
                    $0.recentRefuted += 1
                } else {
                    $0.confirmed += 1
                    $0.recentConfirmed += 1
                }
            }
        }
    }

    /// Notes a datagram from `sender` (for ``suspicionTimers(now:)``), for live members only.
    mutating func noteHeard(_ sender: PublicKey, now: Duration) {
        guard members.isLive(sender) else { return }
        accusations.lastHeard[sender] = now
    }

    /// Forgets what is kept about a member no longer listed.
    mutating func forgetAccusations(about subject: PublicKey) {
        accusations.evidence[subject] = nil
        accusations.ownClaims[subject] = nil
        accusations.lastHeard[subject] = nil
    }

    private mutating func record(_ accuser: PublicKey, now: Duration, _ change: (inout AccuserRecord) -> Void) {
        if accusations.nextRollAt == nil { accusations.nextRollAt = now + settings.accountabilityWindow }
        change(&accusations.records[accuser, default: AccuserRecord()])
    }

    private mutating func rollAccountability(now: Duration) {
        guard let due = accusations.nextRollAt, now >= due else { return }
        accusations.nextRollAt = now + settings.accountabilityWindow
        for accuser in Array(accusations.records.keys) {
            accusations.records[accuser]?.roll()
            // Records of members no longer known, with nothing recent, go.
            if members[accuser] == nil, remembered[accuser] == nil, accusations.records[accuser]?.recentAccusations == 0 {
                accusations.records[accuser] = nil
            }
        }
    }
}
