#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The gossip protocol as a pure state machine: SWIM membership with Lifeguard-style
/// suspicion, rumour dissemination, anti-entropy, and the signed statuses it carries.
///
/// It does no I/O, starts no timers and reads no clock: every input comes with `now` (a
/// monotonic time since an origin the caller chooses), randomness comes from a seeded generator
/// it owns, and every output is a ``Directive``. The UDP shell and the simulator drive the same code.
public struct GossipCore: Sendable {
    /// What the caller must do.
    public enum Directive: Sendable, Hashable {
        /// Send these datagram bytes to that peer (authenticated for its key when known).
        case send([UInt8], to: Peer)
        /// A member changed state (also when it first appears as alive).
        case memberChanged(PublicKey, MemberState)
        /// A newer status of that member was accepted.
        case statusAccepted(PublicKey)
        /// This node rejoined with a new generation (it had been declared dead); persist it.
        case generationChanged(UInt64)
        /// A pub/sub message arrived for the first time: hand it to the topic's local subscribers.
        /// (A node's own message is delivered when a copy comes back from the network.)
        case delivered(PubSubMessage)
        /// A DHT operation started by this node finished.
        case dhtCompleted(UInt32, DHTOutcome)
        /// The leader this node follows changed (`nil`: none agreed).
        case leaderChanged(PublicKey?)
    }

    /// Where a datagram goes: an address and, when known, the key of the member listening
    /// there (a seed's key is not known before its first answer).
    public struct Peer: Sendable, Hashable {
        public var address: NodeAddress
        public var key: PublicKey?

        public init(address: NodeAddress, key: PublicKey?) {
            self.address = address
            self.key = key
        }
    }

    /// A member as this node sees it.
    public struct Member: Sendable, Hashable {
        public var key: PublicKey
        public var address: NodeAddress
        public var life: Life
        public var state: MemberState
        /// When the state last changed, on the caller's time line.
        public var since: Duration
        /// The member's latest own announcement: alive at `address` in `life`, or left. Relayed
        /// unchanged, with the signature that proves it.
        public var announcement: Announcement

        var peer: Peer { Peer(address: address, key: key) }
    }

    /// Counters for metrics and benchmarks.
    public struct Stats: Sendable, Hashable {
        public var bytesSent = 0
        public var datagramsSent = 0
        public var datagramsReceived = 0
        /// Parts sent, by ``GossipPart/kind``.
        public var partsSent: [String: Int] = [:]
        /// Datagrams and parts dropped, by reason.
        public var dropped: [DropReason: Int] = [:]
        /// Rumours queued for dissemination, by ``GossipPart/kind``.
        public var rumoursQueued: [String: Int] = [:]
    }

    struct PendingProbe: Sendable {
        var key: PublicKey
        var sequence: UInt32
        var sentAt: Duration
        var indirectSent = false
        /// Helpers asked to probe the target, and the nacks they sent back (local health: a
        /// helper's nack that does not come was most likely lost on this node's side).
        var helpersAsked = 0
        var nacks = 0
        /// Claims the helpers sent with their nacks: they confirm this node's suspicion if the
        /// probe fails, and are dropped if it succeeds. (Taken at once, every helper whose own
        /// ping was lost started a suspicion that spread and had to be refuted: at 10 % loss,
        /// 15 kB/s per node of refutations at rest instead of 0.9.)
        var confirmations: [Accusation] = []
    }

    struct Forward: Sendable {
        var requester: Peer
        var sequence: UInt32
        var expires: Duration
        /// The member probed for the requester (its claim goes with the nack).
        var target: PublicKey
    }

    public let settings: GossipSettings
    public let address: NodeAddress
    public var key: PublicKey { keyPair.publicKey }
    public private(set) var life: Life
    public internal(set) var members: MemberTable
    public internal(set) var store: StatusStore
    public internal(set) var stats = Stats()
    public private(set) var hasLeft = false

    let keyPair: SigningKeyPair
    var rng: SplitMix64
    var seeds: [NodeAddress]
    var suspicions: [PublicKey: Suspicion] = [:]
    var accusations = AccusationState()
    /// Alive and suspect members, for O(1) random choice.
    var liveKeys: KeyList { members.liveKeys }
    /// Dead and left members still listed (tombstones).
    var goneKeys: Set<PublicKey> = []
    /// Members whose tombstones expired: their last life and state (so stale gossip cannot
    /// bring them back) and address (to try to reconnect after a partition).
    /// Forgotten after ``GossipSettings/reconnectTimeout`` (from when they died or left).
    var remembered: [PublicKey: (life: Life, state: MemberState, announcement: Announcement, since: Duration)] = [:]
    var nextForgetAt: Duration = .zero
    /// When the next tombstone's grace ends: ``reapTombstones(now:)`` looks at the gone members
    /// only then (`.zero`, at once, after a member is newly gone).
    var nextReapAt: Duration = .zero
    /// ``hasQuorum(now:)``'s last answer and until when it holds; `nil` after a membership change.
    var quorumCache: (quorum: Bool, until: Duration?)?
    /// Keys of members whose tombstones expired and that are still remembered.
    public var rememberedKeys: Set<PublicKey> { Set(remembered.keys) }
    /// When each member was last told that this node holds it dead (``noticeStaleAlive(_:now:into:)``).
    var deathNotices: [PublicKey: Duration] = [:]
    /// Members' numbers in ``members`` in the order they are probed.
    var probeOrder: [UInt32] = []
    var probeIndex = 0
    /// Probes awaiting an ack: the round-robin target's and the ring successor's.
    var pending: [PendingProbe] = []
    /// The ring successor and predecessor (the live members whose keys follow and precede this
    /// node's), cached until membership changes.
    var ringCache: (successor: PublicKey?, predecessor: PublicKey?)?
    var forwards: [UInt32: Forward] = [:]
    var sequence: UInt32 = 0
    var rumours = RumourQueue()
    var nextProbeAt: Duration = .zero
    /// Lifeguard's local health score, 0 (healthy) to ``GossipSettings/localHealthMax``.
    public internal(set) var localHealth = 0
    /// When the last authenticated datagram arrived (from anyone).
    var lastReceivedAt: Duration?
    /// Probe intervals started, for the round-robin target's every-n-th turn.
    var probeRound = 0
    var nextGossipAt: Duration = .zero
    /// When the last rumour round that carried rumours went out, and whether news (a status,
    /// suspicion, death, leave or refutation) was queued since: news goes out in an eager round
    /// at once.
    var lastRoundAt: Duration?
    var newsWaiting = false
    var nextAntiEntropyAt: Duration = .zero
    var nextReconnectAt: Duration = .zero
    /// The digest's hash and since when it has been unchanged, and when the last summary went
    /// to a random member (see ``GossipSettings/antiEntropyQuietAfter``).
    var digestSteady: (hash: UInt64, since: Duration)?
    var lastSummaryAt: Duration?
    var draft: StatusDraft?
    /// The anti-entropy digest, patched for the members changed since it was last read
    /// (``digestChanged``); nil until first read.
    var digestIndex: DigestIndex?
    var digestChanged: Set<PublicKey> = []
    /// When the slow refresh re-signs the status next (jittered ±25 % so that nodes started
    /// together do not refresh in lockstep).
    var nextRefreshAt: Duration = .zero
    var lastSignedAt: Duration = .zero
    /// When a meaningful change that came within the signing interval is to be signed.
    var signingDueAt: Duration?
    var refreshJitter = 1.0
    var pubsub = PubSubState()
    var tree = BroadcastTree()
    var dht = DHTState()
    var election = ElectionState()
    /// This node's own signed announcement of its current life (re-signed when the life changes).
    public private(set) var ownAnnouncement: Announcement
    /// Unix time in seconds at `now == .zero` on the caller's time line: announcements whose
    /// generation is further ahead of the wall clock than ``GossipSettings/maxClockSkew`` are refused.
    let wallClockOrigin: UInt64
    /// The sender of the datagram being handled, and the forged signatures each sender caused
    /// this second (a key holder must not make this node spend its CPU on Ed25519 verifications).
    var receivingFrom: PublicKey?
    var forgeries = ForgeryBudget()

    /// Creates a node. `generation` MUST be larger than any generation this key used before
    /// (the shell persists it); `seed` seeds the core's random generator; `wallClockOrigin` is
    /// the Unix time in seconds at `now == .zero`; `verifier` checks signatures (see
    /// ``SignatureVerifier``); `directory` numbers the members (a node's own unless the caller
    /// shares one, as the simulator does: see ``MemberDirectory``).
    public init(
        keyPair: SigningKeyPair, address: NodeAddress, generation: UInt64, settings: GossipSettings = GossipSettings(),
        trust: TrustPolicy, seeds: [NodeAddress] = [], randomSeed: UInt64, wallClockOrigin: UInt64,
        verifier: SignatureVerifier = .libsodium, directory: MemberDirectory = MemberDirectory()
    ) {
        self.keyPair = keyPair
        self.members = MemberTable(directory: directory)
        self.address = address
        self.life = Life(generation: generation, incarnation: 0)
        self.ownAnnouncement = Announcement.sign(keyPair, life: life, address: address)
        self.wallClockOrigin = wallClockOrigin
        self.settings = settings
        rumours.repairableLimit = settings.repairableRumourLimit
        self.store = StatusStore(trust: trust, verifier: verifier)
        self.seeds = seeds.filter { $0 != address }
        self.rng = SplitMix64(seed: randomSeed)
    }

    // MARK: Inputs

    /// Starts the node: announces itself to the seeds and asks them for the cluster's state.
    public mutating func start(now: Duration) -> [Directive] {
        nextProbeAt = now + settings.probeInterval
        nextGossipAt = now + settings.gossipInterval
        nextAntiEntropyAt = now + settings.antiEntropyInterval
        election.notBefore = now + settings.electionStartDelay
        scheduleRefresh(now: now)
        enqueueSelfAlive()
        return join(seeds, now: now)
    }

    /// Announces this node to `seeds` and asks them for the cluster's state; they replace the
    /// seeds given before (the shell re-resolves them while the node is alone).
    public mutating func join(_ seeds: [NodeAddress], now: Duration) -> [Directive] {
        self.seeds = seeds.filter { $0 != address }
        var out: [Directive] = []
        for seed in self.seeds {
            send([.alive(ownAnnouncement), summaryPart()], to: Peer(address: seed, key: nil), into: &out)
        }
        return out
    }

    /// Leaves gracefully: tells several members at once and stops probing.
    public mutating func leave(now: Duration) -> [Directive] {
        guard !hasLeft else { return [] }
        hasLeft = true
        digestChanged.insert(key)
        ownAnnouncement = Announcement.sign(keyPair, life: life, address: nil)
        let part = GossipPart.left(ownAnnouncement)
        var out: [Directive] = []
        let targets = randomMembers(count: max(settings.fanout * 2, 5), excluding: [])
        for member in targets { send([part], to: member.peer, into: &out) }
        return out
    }

    /// Drives every timer; call it every ``GossipSettings/tickInterval``.
    public mutating func tick(now: Duration) -> [Directive] {
        guard !hasLeft else { return [] }
        var out: [Directive] = []
        probeTimers(now: now, into: &out)
        suspicionTimers(now: now, into: &out)
        if now >= nextAntiEntropyAt {
            nextAntiEntropyAt = now + settings.antiEntropyInterval
            if let peer = randomMembers(count: 1, excluding: []).first {
                // The digest summary, and the ids of recent pub/sub messages (pull repair).
                let parts = [summaryPart()] + [messageIDsPart(reply: false, now: now)].compactMap { $0 }
                if summaryDue(parts, now: now) {
                    lastSummaryAt = now
                    send(parts, to: peer.peer, into: &out)
                }
            } else if !seeds.isEmpty {
                // Alone (for example after a partition or before the seeds answered): retry the seeds.
                let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
                send([.alive(ownAnnouncement), summaryPart()], to: Peer(address: seed, key: nil), into: &out)
            }
        }
        if now >= nextReconnectAt { reconnect(now: now, into: &out) }
        reapTombstones(now: now)
        for (ownSequence, forward) in forwards.sorted(by: { $0.key < $1.key }) where forward.expires <= now {
            // The target did not answer our forwarded ping in time: tell the requester (nack),
            // with this node's own signed suspicion (Lifeguard's independent confirmation).
            forwards[ownSequence] = nil
            var parts: [GossipPart] = [.nack(sequence: forward.sequence)]
            if let target = members[forward.target], !target.state.isGone {
                parts.append(.suspect(ownClaim(.suspect, about: target.key, life: target.life, now: now)))
            }
            send(parts, to: forward.requester, into: &out)
        }
        signWaitingChange(now: now, into: &out)
        if draft != nil, now >= nextRefreshAt {
            // The cluster may have grown since this refresh was scheduled: check the interval
            // for its current size before re-signing.
            let due = lastSignedAt + refreshInterval * refreshJitter
            if now >= due { out += sign(now: now) } else { nextRefreshAt = due }
        }
        servicesTick(now: now, into: &out)
        gossipIfDue(now: now, into: &out)
        return out
    }

    /// Handles one received datagram from `address`, authenticated as sent by the member with
    /// key `sender` (the shell's ``DatagramAuthenticator`` checked it; the simulator's network
    /// is trusted). Malformed input is dropped and counted, never fatal.
    ///
    /// A sender that is not a live member at `address` gets no answer larger than its datagram
    /// and no piggybacked rumours, so nobody can use this node to amplify traffic towards an
    /// address it names; requests that would make this node send more (digests, repairs, DHT,
    /// ping requests) are served to live members only.
    public mutating func receive(_ bytes: [UInt8], from address: NodeAddress, sender: PublicKey, now: Duration) -> [Directive] {
        stats.datagramsReceived += 1
        guard !hasLeft else { return [] }
        guard sender != key else {
            stats.dropped[.ownKey, default: 0] += 1
            return []
        }
        let parts: [GossipPart]
        do {
            parts = try Datagram.decode(bytes)
        } catch {
            stats.dropped[.malformed, default: 0] += 1
            return []
        }
        var out: [Directive] = []
        var replies: [GossipPart] = []
        var catchingUp = false
        let origin = Peer(address: address, key: sender)
        receivingFrom = sender
        defer { receivingFrom = nil }
        noteHeard(sender, now: now)
        lastReceivedAt = now
        var nacked = false
        for part in parts {
            if case .catchUp = part {
                catchingUp = true
                continue
            }
            if case .nack = part { nacked = true }
            if nacked, case .suspect(let claim) = part {
                // A helper's claim beside its nack confirms the probe in progress, if it fails
                // (see PendingProbe.confirmations); it is nothing more.
                if claim.accuser == sender, let index = pending.firstIndex(where: { $0.key == claim.subject }),
                    pending[index].confirmations.count < settings.indirectProbes
                {
                    pending[index].confirmations.append(claim)
                }
                continue
            }
            handle(part, from: origin, now: now, catchingUp: catchingUp, replies: &replies, into: &out)
        }
        if !replies.isEmpty {
            if isLiveMember(origin) {
                sendWithPiggyback(replies, to: origin, into: &out)
            } else if Datagram.encodedSize(replies) <= bytes.count {
                // Rumours still ride along, within the request's size (they speed up mass joins,
                // when members answer each other before they know each other).
                sendWithPiggyback(replies, to: origin, budget: bytes.count, into: &out)
            } else {
                stats.dropped[.replyToStranger, default: 0] += 1
            }
        }
        if members.lifeAndState(of: sender)?.state == .dead || remembered[sender]?.state == .dead {
            // An authenticated datagram from a member held dead: it runs and has not refuted,
            // so it does not know. (Not for a member that left: one that is shutting down may
            // still answer a probe or two, and a left it hears back makes it rejoin.)
            tellHeldGone(sender, now: now, into: &out)
        }
        gossipIfDue(now: now, into: &out)
        return out
    }

    /// Whether `peer` is a live member listening at that address: only such a peer gets
    /// answers larger than its request.
    func isLiveMember(_ peer: Peer) -> Bool {
        guard let peerKey = peer.key, members.isLive(peerKey) else { return false }
        return members.address(of: peerKey) == peer.address
    }

    // MARK: Reading

    /// Members that are alive or suspect, excluding this node.
    public var liveMembers: [Member] { liveKeys.compactMap { members[$0] } }

    /// How many members are alive or suspect, excluding this node.
    public var liveCount: Int { liveKeys.count }

    /// This node's latest signed status.
    public var ownStatus: SignedStatus? { store.statuses[key] }

    /// Rumours waiting to be sent.
    public var pendingRumours: Int { rumours.count }

    // MARK: Probing

    mutating func probeTimers(now: Duration, into out: inout [Directive]) {
        if localHealth > 0, isCutOff(now: now) { localHealth = 0 }
        var index = 0
        while index < pending.count {
            var probe = pending[index]
            if now >= probe.sentAt + scaledByLocalHealth(settings.probeInterval) {
                pending.remove(at: index)
                // Lifeguard: a failed probe whose helpers' nacks did not all come says more about
                // this node than about the target.
                adjustLocalHealth(by: probe.helpersAsked > 0 ? max(0, probe.helpersAsked - probe.nacks) : 1, now: now)
                if let member = members[probe.key], !member.state.isGone {
                    suspect(member, now: now, into: &out)
                    for claim in probe.confirmations {
                        if let good = check(claim, now: now) { accept(good, now: now, into: &out) }
                    }
                }
                continue
            }
            if !probe.indirectSent, now >= probe.sentAt + scaledByLocalHealth(settings.probeTimeout), let target = members[probe.key] {
                probe.indirectSent = true
                // A second direct ping beside the indirect ones (as memberlist's TCP fallback
                // ping): under 10 % loss it makes a false suspicion about five times rarer.
                send([.ping(sequence: probe.sequence)], to: target.peer, into: &out)
                let helpers = randomMembers(count: settings.indirectProbes, excluding: [probe.key])
                for helper in helpers where helper.state == .alive {
                    probe.helpersAsked += 1
                    sendWithPiggyback(
                        [.pingRequest(sequence: probe.sequence, target: target.key, address: target.address)],
                        to: helper.peer, into: &out)
                }
                pending[index] = probe
            }
            index += 1
        }
        guard pending.isEmpty, now >= nextProbeAt else { return }
        probeRound &+= 1
        var targets: [Member] = []
        // Both every interval while any suspicion is open: a node cut off from the cluster then
        // finds all its members gone as fast as with both probes every interval, and a crash is
        // looked at from more places while it is being confirmed.
        let widened = !suspicions.isEmpty
        let roundRobinTurn = !settings.probeRingSuccessor || probeRound % max(1, settings.roundRobinProbeEvery) == 0
        // A round-robin turn lasts half an interval: the ring successor, which it skips, then
        // waits 1.5 s for its next probe instead of 2 s. With whole turns a crash just before one
        // was first suspected 2.9–3.0 s later and dead everywhere after 5.1–5.2 s (3 of 30 seeds
        // at 100 nodes; now 4.3 s at most, ``GossipSettings/roundRobinProbeEvery``).
        let shortTurn = settings.probeRingSuccessor && roundRobinTurn && !widened
        let interval = scaledByLocalHealth(settings.probeInterval)
        nextProbeAt = now + (shortTurn ? interval / 2 : interval)
        if roundRobinTurn || widened, let target = nextProbeTarget() {
            targets.append(target)
        }
        if settings.probeRingSuccessor, !roundRobinTurn || widened, let successor = ringSuccessor(), successor != targets.first?.key,
            let member = members[successor]
        {
            targets.append(member)
        }
        for target in targets {
            sequence &+= 1
            pending.append(PendingProbe(key: target.key, sequence: sequence, sentAt: now))
            var parts: [GossipPart] = [.ping(sequence: sequence)]
            if target.state == .suspect, let suspicion = suspicions[target.key] { parts.append(.suspect(suspicion.first)) }
            sendWithPiggyback(parts, to: target.peer, into: &out)
        }
    }

    /// `duration` scaled by this node's local health: `(score + 1) ×` (see
    /// ``GossipSettings/localHealthMax``).
    func scaledByLocalHealth(_ duration: Duration) -> Duration { duration * (localHealth + 1) }

    /// Whether this node heard nothing at all for two probe intervals: it is cut off, not slow,
    /// so its local health score stays 0 and it still finds its members gone as fast as before
    /// (and stops following a leader it cannot hear).
    func isCutOff(now: Duration) -> Bool { lastReceivedAt.map { now - $0 > settings.probeInterval * 2 } ?? true }

    /// Raises or lowers the local health score (never while cut off: see ``isCutOff(now:)``).
    mutating func adjustLocalHealth(by delta: Int, now: Duration) {
        if delta > 0, isCutOff(now: now) {
            localHealth = 0
            return
        }
        localHealth = min(max(0, settings.localHealthMax), max(0, localHealth + delta))
    }

    /// The live member whose key follows this node's on the ring of keys. Probing it every
    /// interval, besides the round-robin target, bounds the time until a crashed member is first
    /// probed to one interval (random probing alone leaves an exponential tail: at N = 100 about
    /// 1 % of crashes would wait over 4.6 s for their first probe).
    mutating func ringSuccessor() -> PublicKey? { ringNeighbours().successor }

    /// The ring successor and predecessor, from one pass over the live members when membership changed.
    mutating func ringNeighbours() -> (successor: PublicKey?, predecessor: PublicKey?) {
        if let cached = ringCache { return cached }
        var next: PublicKey?
        var previous: PublicKey?
        var lowest: PublicKey?
        var highest: PublicKey?
        for candidate in liveKeys {
            if lowest.map({ candidate < $0 }) ?? true { lowest = candidate }
            if highest.map({ candidate > $0 }) ?? true { highest = candidate }
            if candidate > key, next.map({ candidate < $0 }) ?? true { next = candidate }
            if candidate < key, previous.map({ candidate > $0 }) ?? true { previous = candidate }
        }
        let ring = (successor: next ?? lowest, predecessor: previous ?? highest)
        ringCache = ring
        return ring
    }

    /// Round-robin over a shuffled list of live members, reshuffled after each pass (SWIM's
    /// bounded detection time).
    mutating func nextProbeTarget() -> Member? {
        for _ in 0..<2 {
            while probeIndex < probeOrder.count {
                let number = probeOrder[probeIndex]
                probeIndex += 1
                if let key = members.key(numbered: number), let member = members[key], !member.state.isGone { return member }
            }
            probeOrder = members.liveNumbers
            probeOrder.shuffle(using: &rng)
            probeIndex = 0
            if probeOrder.isEmpty { return nil }
        }
        return nil
    }

    /// Puts a new member at a random place in the probe order, moving the member that was there
    /// to the end: O(1), where inserting moved every later entry (10⁸ insertions of ~5,000 moves
    /// each when 10,000 simulated nodes join). The place is drawn from the whole order, probed
    /// part included, as the insertion did: drawn from the unprobed part only, new members were
    /// probed sooner while they were still joining, and 2,000 simulated nodes took 20.5 s to
    /// converge instead of 15.5 s (seed 1).
    mutating func placeInProbeOrder(_ subject: PublicKey) {
        guard let number = members.number(of: subject) else { return }
        let position = probeOrder.isEmpty ? 0 : Int(rng.next() % UInt64(probeOrder.count + 1))
        if position < probeOrder.count {
            probeOrder.append(probeOrder[position])
            probeOrder[position] = number
        } else {
            probeOrder.append(number)
        }
    }

    // MARK: Suspicion (Lifeguard)

    /// Shortest and longest suspicion timeouts for the current cluster size.
    var suspicionBounds: (min: Duration, max: Duration) {
        let n = Double(max(liveKeys.count + 1, 1))
        let minimum = settings.probeInterval * (settings.suspicionMultiplier * max(1, log10(n)))
        return (minimum, minimum * settings.suspicionMaxMultiplier)
    }

    /// The timeout shrinks from max towards min as independent confirmations arrive.
    func suspicionTimeout(confirmations: Int) -> Duration {
        let (minimum, maximum) = suspicionBounds
        let k = Double(max(settings.suspicionConfirmations, 1))
        let fraction = log(Double(confirmations) + 1) / log(k + 1)
        let timeout = maximum - (maximum - minimum) * min(1, fraction)
        return max(minimum, timeout)
    }

    // MARK: Handling parts

    mutating func handle(
        _ part: GossipPart, from sender: Peer, now: Duration, catchingUp: Bool, replies: inout [GossipPart],
        into out: inout [Directive]
    ) {
        switch part {
        case .ping(let sequence):
            replies.append(.ack(sequence: sequence))
        case .pingRequest(let theirSequence, let target, _):
            // Probe only a live member, at the address this node knows for it (never an address
            // the request names: that made any sender able to point this node at a third party).
            guard isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            guard let member = members[target], !member.state.isGone else {
                stats.dropped[.pingRequestUnknownTarget, default: 0] += 1
                return
            }
            guard forwards.count < settings.maxPendingForwards else {
                stats.dropped[.forwardLimit, default: 0] += 1
                return
            }
            sequence &+= 1
            forwards[sequence] = Forward(
                requester: sender, sequence: theirSequence, expires: now + settings.probeTimeout, target: member.key)
            sendWithPiggyback([.ping(sequence: sequence)], to: member.peer, into: &out)
        case .ack(let sequence):
            noteHeartbeat(sequence, from: sender.key, now: now)
            if let index = pending.firstIndex(where: { $0.sequence == sequence }) {
                pending.remove(at: index)
                adjustLocalHealth(by: -1, now: now)
            } else if let forward = forwards.removeValue(forKey: sequence) {
                send([.ack(sequence: forward.sequence)], to: forward.requester, into: &out)
            }
        case .nack(let sequence):
            // Counted for local health; the helper's signed suspicion follows in the same
            // datagram (see `receive`).
            if let index = pending.firstIndex(where: { $0.sequence == sequence }), pending[index].nacks < pending[index].helpersAsked {
                pending[index].nacks += 1
            }
        case .suspect(let claim):
            receiveAccusations([claim], from: sender, now: now, replies: &replies, into: &out)
        case .dead(let certificate):
            receiveAccusations(certificate.accusations, from: sender, now: now, replies: &replies, into: &out)
        case .alive(let announcement), .left(let announcement):
            let before = members[announcement.key].map { ($0.life, $0.state) }
            apply(announcement, now: now, catchingUp: catchingUp, into: &out)
            noticeStaleAlive(part, now: now, into: &out)
            let after = members[announcement.key].map { ($0.life, $0.state) }
            if announcement.key == sender.key, announcement.state == .alive, isLiveMember(sender),
                before?.0 != after?.0 || before?.1 != after?.1
            {
                // A member announced a new life to this node itself (a join, a restart, a return,
                // a refutation): answer with this node's own announcement, so that it knows who
                // answers its requests (a node takes larger answers from members only). The
                // answer changes nothing here, so it gets no answer back.
                replies.append(.alive(ownAnnouncement))
            }
        case .status(let status):
            accept(status, now: now, rumour: !catchingUp, into: &out)
        case .catchUp:
            break
        case .publish(let message):
            guard let senderKey = sender.key, members.isLive(senderKey) else {
                stats.dropped[.publishFromStranger, default: 0] += 1
                return
            }
            receiveMessage(message, from: senderKey, now: now, catchingUp: catchingUp, into: &out)
        case .loopback(let message):
            guard let senderKey = sender.key, members.isLive(senderKey) else {
                stats.dropped[.publishFromStranger, default: 0] += 1
                return
            }
            guard message.origin == senderKey.prefix else {
                stats.dropped[.loopbackNotFromPublisher, default: 0] += 1
                return
            }
            returnLoopback(message, to: sender, now: now, into: &out)
        case .ihave(let ids):
            guard let senderKey = sender.key, isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            receiveAnnouncement(ids, from: senderKey, now: now, into: &out)
        case .graft(let ids):
            guard let senderKey = sender.key, isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            receiveGraft(ids, from: senderKey, into: &out)
        case .prune:
            if let senderKey = sender.key { receivePrune(from: senderKey) }
        case .messageIDs(let reply, let ids):
            guard isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            answerMessageIDs(ids, reply: reply, from: sender, now: now, replies: &replies, into: &out)
        case .dhtRequest(let request):
            guard let senderKey = sender.key, isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            if let response = answerDHT(request, from: senderKey, now: now) { replies.append(.dhtResponse(response)) }
        case .dhtResponse(let response):
            receiveDHT(response, from: sender, now: now, into: &out)
        case .summary(let hash, let count):
            let (ownHash, ownCount) = summary()
            if hash != ownHash || count != ownCount { replies.append(.buckets(bucketHashes())) }
        case .buckets(let hashes):
            guard isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            let own = bucketHashes()
            var mask: UInt16 = 0
            for index in 0..<16 where index < hashes.count && hashes[index] != own[index] { mask |= 1 << index }
            if mask != 0 { sendDigest(mask: mask, reply: false, to: sender, into: &out) }
        case .digest(let mask, let low, let high, let reply, let entries):
            guard isLiveMember(sender) else {
                stats.dropped[.requestFromStranger, default: 0] += 1
                return
            }
            let theyHaveNews = answerDigest(mask: mask, low: low, high: high, entries: entries, to: sender, now: now, into: &out)
            if !reply && theyHaveNews && low <= high { sendDigest(mask: mask, reply: true, range: low...high, to: sender, into: &out) }
        }
    }

    /// Applies a member's own signed announcement (alive or left) under SWIM's precedence rules
    /// (see ``overrides(_:_:_:_:)``), in the order trust → precedence → signature, so that each
    /// new claim costs one verification and copies of what is known cost none. Only these set a
    /// member's life; suspicions and deaths are signed accusations (``Accusation``).
    mutating func apply(_ announcement: Announcement, now: Duration, catchingUp: Bool = false, into out: inout [Directive]) {
        let subject = announcement.key
        let incomingLife = announcement.life
        let incomingState = announcement.state
        let part: GossipPart = incomingState == .left ? .left(announcement) : .alive(announcement)
        guard subject != key else { return }
        guard store.trust.trusts(subject) else {
            stats.dropped[.untrustedMember, default: 0] += 1
            return
        }
        if incomingLife.generation > wallSeconds(now) &+ UInt64(settings.maxClockSkew.components.seconds) {
            // Generations are start times (Unix seconds); one from the future is forged or broken.
            stats.dropped[.futureGeneration, default: 0] += 1
            return
        }
        if let gone = remembered[subject] {
            guard Self.overrides(incomingLife, incomingState, gone.life, gone.state) else {
                stats.dropped[.rememberedDead, default: 0] += 1
                return
            }
        }
        guard let current = members[subject] else {
            // Unknown member: only an alive announcement (which carries the address) adds it.
            guard let address = announcement.address else { return }
            guard members.count < settings.maxMembers else {
                stats.dropped[.memberLimit, default: 0] += 1
                return
            }
            guard verify(announcement, now: now) else { return }
            remembered[subject] = nil
            members[subject] = Member(
                key: subject, address: address, life: incomingLife, state: .alive, since: now, announcement: announcement)
            trackLiveness(subject, live: true)
            placeInProbeOrder(subject)
            if !catchingUp || incomingLife.incarnation > 0 { queueRumour(part, about: .init(key: subject, isStatus: false)) }
            out.append(.memberChanged(subject, .alive))
            return
        }
        guard Self.overrides(incomingLife, incomingState, current.life, current.state) else {
            // Join announcements fall silent on feedback; deaths, leaves and refutations
            // (incarnation > 0) are time-critical and keep their full retransmit count.
            if incomingLife == current.life && incomingState == .alive && current.state == .alive
                && incomingLife.incarnation == 0
            {
                rumours.noteDuplicate(
                    .init(key: subject, isStatus: false), limit: settings.duplicatesBeforeSilence,
                    minimumTransmits: retransmitLimit / 2)
            }
            return
        }
        guard verify(announcement, now: now) else { return }
        digestChanged.insert(subject)
        var member = current
        member.announcement = announcement
        if let address = announcement.address { member.address = address }
        member.life = incomingLife
        let changed = member.state != incomingState
        member.state = incomingState
        if changed { member.since = now }
        members[subject] = member
        trackLiveness(subject, live: !incomingState.isGone)
        // A refutation (a higher incarnation of the same generation) tells against the accusers;
        // a restart or a leave tells for them.
        let refuted = incomingState == .alive && incomingLife.generation == current.life.generation
        endSuspicion(of: subject, refuted: refuted, now: now)
        if !incomingState.isGone { accusations.evidence[subject] = nil }
        queueRumour(part, about: .init(key: subject, isStatus: false))
        if changed { out.append(.memberChanged(subject, incomingState)) }
    }

    /// Whether `announcement` is signed by its member; counts a forgery. A sender that caused
    /// ``GossipSettings/maxForgeriesPerSecond`` forgeries this second gets no more verifications
    /// until the next (`forgery_budget`): a member's own announcements never fail, so only a
    /// forger is slowed.
    mutating func verify(_ announcement: Announcement, now: Duration) -> Bool {
        if let sender = receivingFrom, !forgeries.allows(sender, now: now, limit: settings.maxForgeriesPerSecond) {
            stats.dropped[.forgeryBudget, default: 0] += 1
            return false
        }
        guard announcement.verify(store.verifier) else {
            if let sender = receivingFrom { forgeries.failed(sender) }
            stats.dropped[.forgedAnnouncement, default: 0] += 1
            return false
        }
        return true
    }

    /// The wall clock in Unix seconds at `now`.
    func wallSeconds(_ now: Duration) -> UInt64 {
        wallClockOrigin &+ UInt64(clamping: max(0, now.components.seconds))
    }

    /// Whether an update in (`life`, `state`) replaces what is known, (`currentLife`, `currentState`).
    ///
    /// A higher generation always wins (a restarted node replaces its old self). Within a
    /// generation, left is final; a death is overridden only by the node's own refutation, an
    /// alive with a higher incarnation (so stale gossip can never resurrect it); otherwise a
    /// higher incarnation wins, and at the same incarnation suspect beats alive and dead or left
    /// beat both.
    public static func overrides(_ life: Life, _ state: MemberState, _ currentLife: Life, _ currentState: MemberState)
        -> Bool
    {
        if life.generation != currentLife.generation { return life.generation > currentLife.generation }
        switch currentState {
        case .left:
            return false
        case .dead:
            return state == .alive ? life.incarnation > currentLife.incarnation
                : state == .left && life.incarnation >= currentLife.incarnation
        case .alive, .suspect:
            if state.isGone { return life.incarnation >= currentLife.incarnation }
            if life.incarnation != currentLife.incarnation { return life.incarnation > currentLife.incarnation }
            return state == .suspect && currentState == .alive
        }
    }

    /// A member announced alive in a life this node holds as dead or left (a tombstone or a
    /// remembered one) is told so directly (``tellHeldGone(_:now:into:)``), so that it refutes
    /// with a higher incarnation (or rejoins with a new generation). Without this, the two sides
    /// of a partition that healed after their tombstones expired would drop each other's
    /// announcements forever (memberlist gets the same from its full state exchange, which
    /// carries the dead; our digests forget them with the tombstones).
    mutating func noticeStaleAlive(_ part: GossipPart, now: Duration, into out: inout [Directive]) {
        guard case .alive(let incoming) = part, let address = incoming.address, incoming.key != key else { return }
        tellHeldGone(incoming.key, ifNotOverriddenBy: incoming.life, at: address, now: now, into: &out)
    }

    /// Tells `subject` that this node holds it dead or left in a life that `life` does not
    /// override, at most once per ``GossipSettings/probeInterval`` ×5: the sender of an
    /// authenticated datagram (it is evidently running) or of a stale announcement. The notice
    /// goes to the address this node holds for it unless `address` is given.
    ///
    /// A node held dead by some members only never hears the rumour of its death when those
    /// members have already spread it among themselves: in the simulator, five nodes whose
    /// fifth was cut off for 10–45 s ended split (two nodes holding everyone alive, three holding
    /// those two dead) in 56 of 60 seeds and durations, and stayed split.
    mutating func tellHeldGone(
        _ subject: PublicKey, ifNotOverriddenBy life: Life? = nil, at address: NodeAddress? = nil, now: Duration,
        into out: inout [Directive]
    ) {
        let held =
            members[subject].map { ($0.life, $0.state, $0.announcement) }
            ?? remembered[subject].map { ($0.life, $0.state, $0.announcement) }
        guard let (heldLife, state, announcement) = held, state.isGone,
            life.map({ !Self.overrides($0, .alive, heldLife, state) }) ?? true,
            let address = address ?? announcement.address,
            deathNotices[subject].map({ now - $0 >= settings.probeInterval * 5 }) ?? true
        else { return }
        if deathNotices.count >= 1024 { deathNotices = deathNotices.filter { now - $0.value < settings.probeInterval * 5 } }
        deathNotices[subject] = now
        let notice: GossipPart
        if state == .left {
            notice = .left(announcement)
        } else if let certificate = deathCertificate(for: subject, now: now) {
            notice = .dead(certificate)
        } else {
            return
        }
        send([notice], to: Peer(address: address, key: subject), into: &out)
    }

    /// Answers gossip about this node: a suspicion or a death is refuted with a higher
    /// incarnation; a "left" this node never sent is answered by rejoining with a new generation
    /// (left is final within a generation).
    mutating func refute(_ incomingLife: Life, _ state: MemberState, now: Duration, into out: inout [Directive]) {
        // Only the current life is refuted: a claim about another one is stale or forged, and a
        // refutation never takes its number from the wire (2⁶⁴−1 there once made it overflow).
        guard incomingLife == life, state != .alive, !hasLeft else { return }
        // Lifeguard: others took this node for failed, most likely because it answered late.
        adjustLocalHealth(by: 1, now: now)
        if state == .left || life.incarnation == UInt64.max {
            guard life.generation < UInt64.max else { return }
            life = Life(generation: life.generation + 1, incarnation: 0)
            out.append(.generationChanged(life.generation))
            if draft != nil { out += sign(now: now) }
        } else {
            life.incarnation += 1
        }
        enqueueSelfAlive()
    }

    mutating func queueRumour(_ part: GossipPart, about subject: RumourQueue.Subject) {
        stats.rumoursQueued[part.kind, default: 0] += 1
        if RumourQueue.isUrgent(part) { newsWaiting = true }
        rumours.enqueue(part, about: subject, relayed: subject.key != key)
    }

    mutating func enqueueSelfAlive() {
        digestChanged.insert(key)
        if ownAnnouncement.life != life { ownAnnouncement = Announcement.sign(keyPair, life: life, address: address) }
        queueRumour(.alive(ownAnnouncement), about: .init(key: key, isStatus: false))
    }

    // MARK: Statuses

    /// Stores `status` if it is trusted, fresh and well signed, and (unless `rumour` is false: an
    /// anti-entropy delta, which the sender's peers most likely have) spreads it as a rumour.
    /// After a 1000-node mass join, relaying the deltas too kept every node's datagrams full of
    /// statuses for ~170 s (BENCHMARKS.md).
    mutating func accept(_ status: SignedStatus, now: Duration, rumour: Bool = true, into out: inout [Directive]) {
        let subject = status.projection.publicKey
        guard subject != key else { return }
        if remembered[subject] != nil {
            stats.dropped[.rememberedDead, default: 0] += 1
            return
        }
        if status.projection.generation > wallSeconds(now) &+ UInt64(settings.maxClockSkew.components.seconds) {
            stats.dropped[.futureGeneration, default: 0] += 1
            return
        }
        if let sender = receivingFrom, !forgeries.allows(sender, now: now, limit: settings.maxForgeriesPerSecond) {
            stats.dropped[.forgeryBudget, default: 0] += 1
            return
        }
        if let rejection = store.offer(status, now: now) {
            if rejection == .tampered, let sender = receivingFrom { forgeries.failed(sender) }
            if rejection == .replayed {
                rumours.noteDuplicate(
                    .init(key: subject, isStatus: true), limit: settings.duplicatesBeforeSilence,
                    minimumTransmits: retransmitLimit / 2)
            }
            return
        }
        digestChanged.insert(subject)
        noteClaim(of: subject, in: status.projection)
        if rumour { queueRumour(.status(status), about: .init(key: subject, isStatus: true)) }
        out.append(.statusAccepted(subject))
        if members[subject] == nil {
            // A status from a member whose announcement has not arrived (in a mass join, signed
            // announcements spread more slowly than statuses): compare digests soon instead of
            // waiting for the next anti-entropy round.
            nextAntiEntropyAt = min(nextAntiEntropyAt, now + settings.gossipInterval)
        }
    }

    // MARK: Dissemination

    var retransmitLimit: Int {
        let n = Double(liveKeys.count + 2)
        return settings.retransmitMultiplier * Int(log10(n).rounded(.up))
    }

    /// Runs a rumour round when the regular one is due, or at once when news is waiting
    /// (eager gossip: each hop then costs a network delay instead of half a gossip interval on
    /// average). Eager rounds are at least ``GossipSettings/eagerGossipSpacing`` apart and push
    /// the next regular round back a whole interval, so each rumour keeps its transmit budget
    /// and a burst of news is batched instead of multiplying datagrams.
    mutating func gossipIfDue(now: Duration, into out: inout [Directive]) {
        guard !hasLeft else { return }
        let eager = settings.eagerGossip && newsWaiting
            && lastRoundAt.map { now - $0 >= settings.eagerGossipSpacing } ?? true
        guard now >= nextGossipAt || eager else { return }
        nextGossipAt = now + settings.gossipInterval
        newsWaiting = false
        // Only a round that carries rumours holds the next eager one back: at rest the regular
        // rounds send nothing, and when they counted, news that came within 50 ms of one waited
        // for the next tick (a quarter of the hops, up to 100 ms each): 32 processes saw a
        // change everywhere within 7–13 ms, or after 60–110 ms when a relay had waited.
        guard !rumours.isEmpty else { return }
        lastRoundAt = now
        gossipRound(fanout: eager ? max(settings.fanout, settings.eagerFanout) : settings.fanout, into: &out)
    }

    mutating func gossipRound(fanout: Int, into out: inout [Directive]) {
        guard !rumours.isEmpty else { return }
        for member in randomMembers(count: fanout, excluding: []) {
            let parts = rumours.take(budget: settings.maxDatagramBytes - Datagram.headerSize, limit: retransmitLimit)
            guard !parts.isEmpty else { return }
            send(parts, to: member.peer, into: &out)
        }
    }

    /// Sends `parts` with as many rumours as still fit in the datagram.
    mutating func sendWithPiggyback(_ parts: [GossipPart], to target: Peer, budget: Int? = nil, into out: inout [Directive]) {
        let used = Datagram.encodedSize(parts)
        let extra = rumours.take(budget: min(budget ?? .max, settings.maxDatagramBytes) - used, limit: retransmitLimit)
        send(parts + extra, to: target, into: &out)
    }

    mutating func send(_ parts: [GossipPart], to target: Peer, into out: inout [Directive]) {
        let bytes = Datagram.encode(parts)
        stats.bytesSent += bytes.count
        stats.datagramsSent += 1
        for part in parts { stats.partsSent[part.kind, default: 0] += 1 }
        out.append(.send(bytes, to: target))
    }

    /// Up to `count` distinct random live members, not in `excluding`.
    mutating func randomMembers(count: Int, excluding: Set<PublicKey>) -> [Member] {
        let available = liveKeys.count
        guard available > 0, count > 0 else { return [] }
        if available <= count + excluding.count {
            var all = liveKeys.filter { !excluding.contains($0) }
            all.shuffle(using: &rng)
            return all.prefix(count).compactMap { members[$0] }
        }
        var chosen: [Member] = []
        var seen: Set<PublicKey> = []
        var attempts = 0
        while chosen.count < count && attempts < count * 8 {
            attempts += 1
            let candidate = liveKeys[Int(rng.next() % UInt64(available))]
            guard !excluding.contains(candidate), seen.insert(candidate).inserted, let member = members[candidate] else {
                continue
            }
            chosen.append(member)
        }
        return chosen
    }

    /// The live member whose key starts with `prefix` (suspicions name suspecters by prefix).
    func member(withPrefix prefix: UInt64) -> Member? {
        members.liveKey(withPrefix: prefix).flatMap { members[$0] }
    }

    /// Keeps ``liveKeys`` in step with a member's state.
    mutating func trackLiveness(_ memberKey: PublicKey, live: Bool) {
        digestChanged.insert(memberKey)
        ringCache = nil
        dht.membershipChanged = true
        election.dirty = true
        quorumCache = nil
        noteCandidacy(of: memberKey)
        if live {
            goneKeys.remove(memberKey)
        } else {
            goneKeys.insert(memberKey)
            nextReapAt = .zero
        }
        if live, !members.isLive(memberKey), members.liveCount == 0 { forgetBurialsMadeAlone() }
        members.setLive(memberKey, live)
    }

    /// A node that could reach no member buried them all on its own evidence, which is only that
    /// it was cut off: when the first member answers again, it stops spreading those deaths as
    /// news (each would make every receiver bury a running member until it refuted). Its view
    /// still holds them dead, and anti-entropy offers them as suspicions, which the accused
    /// refute before any timer runs out. In the simulator (five nodes, one cut off for 15–45 s,
    /// 20 seeds each), 31 of 60 heals declared a running member dead somewhere; none after this.
    mutating func forgetBurialsMadeAlone() {
        for memberKey in goneKeys where members.lifeAndState(of: memberKey)?.state == .dead {
            rumours.remove(.init(key: memberKey, isStatus: false))
        }
    }

    // MARK: Anti-entropy

    /// Every entry this node knows (itself included), sorted by key, with its bucket hashes and summary.
    mutating func digest() -> DigestIndex {
        if var index = digestIndex {
            digestIndex = nil  // `index` alone holds the entries now: patched in place, not copied
            for changed in digestChanged { index.update(changed, to: digestEntry(for: changed)) }
            clearDigestChanges()
            // A change no call site reported shows in the count at least: then it is rebuilt.
            if index.count == members.count + 1 {
                digestIndex = index
                return index
            }
        }
        let index = DigestIndex(members.keys.compactMap(digestEntry(for:)) + [digestEntry(for: key)].compactMap { $0 })
        clearDigestChanges()
        digestIndex = index
        return index
    }

    /// Empties the change set, keeping a small one's storage (a mass join grows it to the whole
    /// membership, 24 bytes a member that a node would otherwise keep for good).
    mutating func clearDigestChanges() {
        digestChanged.removeAll(keepingCapacity: digestChanged.capacity <= 128)
    }

    /// What the digest says about `subject` now: nil for a member this node does not list.
    func digestEntry(for subject: PublicKey) -> DigestEntry? {
        let version = store.versionOf(subject)
        let generation = version?.generation ?? 0
        let statusVersion = version?.version ?? 0
        if subject == key {
            return DigestEntry(
                key: key, life: life, state: hasLeft ? .left : .alive, statusGeneration: generation,
                statusVersion: statusVersion)
        }
        guard let member = members.lifeAndState(of: subject) else { return nil }
        return DigestEntry(
            key: subject, life: member.life, state: member.state, statusGeneration: generation,
            statusVersion: statusVersion)
    }

    mutating func bucketHashes() -> [UInt64] { digest().buckets }

    mutating func summary() -> (UInt64, UInt32) { digest().summary }

    /// Whether an anti-entropy round sends `parts` (the summary first): always while the digest
    /// changes or pub/sub messages are recent, every ``GossipSettings/antiEntropyQuietInterval``
    /// once it has been steady for ``GossipSettings/antiEntropyQuietAfter``.
    mutating func summaryDue(_ parts: [GossipPart], now: Duration) -> Bool {
        guard case .summary(let hash, _) = parts.first else { return true }
        if digestSteady?.hash != hash { digestSteady = (hash, now) }
        guard parts.count == 1, let steady = digestSteady, now - steady.since >= settings.antiEntropyQuietAfter,
            let last = lastSummaryAt
        else { return true }
        return now - last >= settings.antiEntropyQuietInterval
    }

    mutating func summaryPart() -> GossipPart {
        let (hash, count) = summary()
        return .summary(hash: hash, count: count)
    }

    /// Sends every entry in the masked buckets, paged to the datagram budget. The pages cover
    /// contiguous key-prefix ranges from 0 to `UInt64.max`, so the receiver can tell what is missing.
    ///
    /// A reply covers only `range`: the range of the page it answers.
    mutating func sendDigest(
        mask: UInt16, reply: Bool, range: ClosedRange<UInt64> = 0...UInt64.max, to target: Peer, into out: inout [Directive]
    ) {
        let keys = range == 0...UInt64.max
            ? digest().keys(inBuckets: mask)
            : digest().keys(prefixFrom: range.lowerBound, through: range.upperBound).filter { mask & (1 << DigestIndex.bucket($0)) != 0 }
        let entries = keys.compactMap(digestEntry(for:))
        let perPage = max(1, (settings.maxDatagramBytes - Datagram.headerSize - 3 - 21) / DigestEntry.wireSize)
        var start = 0
        var low = range.lowerBound
        repeat {
            let end = min(start + perPage, entries.count)
            let slice = Array(entries[start..<end])
            let high = end == entries.count ? range.upperBound : slice.last!.key.prefix
            send([.digest(buckets: mask, low: low, high: high, reply: reply, entries: slice)], to: target, into: &out)
            guard high < range.upperBound else { break }
            low = high + 1
            start = end
        } while start < entries.count
    }

    /// Pushes what the peer is missing or has older: for entries in its digest where this node
    /// is newer, and for this node's entries in the page's range that the digest lacks. Returns
    /// whether the page holds anything this node lacks or has older: only then does the peer need
    /// this node's digest of the range to push it. (Always sending it made a seed send its whole
    /// digest back to every newcomer, whose digest lists the newcomer alone.)
    @discardableResult
    mutating func answerDigest(
        mask: UInt16, low: UInt64, high: UInt64, entries: [DigestEntry], to target: Peer, now: Duration,
        into out: inout [Directive]
    ) -> Bool {
        let theirs = Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        if let aboutMe = theirs[key] {
            // ``refute(_:_:now:into:)`` answers only a claim about the current life.
            if aboutMe.life > life { stats.dropped[.unannouncedLife, default: 0] += 1 }
            refute(aboutMe.life, aboutMe.state, now: now, into: &out)
        }
        var deltas: [GossipPart] = []
        let keys = digest().keys(prefixFrom: low, through: high).filter { mask & (1 << DigestIndex.bucket($0)) != 0 }
        for mine in keys.compactMap(digestEntry(for:)) {
            guard let their = theirs[mine.key] else {
                deltas += updateParts(for: mine.key, now: now)
                continue
            }
            if Self.overrides(mine.life, mine.state, their.life, their.state) {
                deltas += updateParts(for: mine.key, now: now).filter { if case .status = $0 { false } else { true } }
            }
            if (mine.statusGeneration, mine.statusVersion) > (their.statusGeneration, their.statusVersion),
                let status = store.statuses[mine.key]
            {
                deltas.append(.status(status))
            }
        }
        if !deltas.isEmpty { sendPacked(deltas, to: target, catchUp: true, into: &out) }
        return entries.contains { their in
            guard their.key != key else { return false }
            guard let mine = digestEntry(for: their.key) else { return true }
            return Self.overrides(their.life, their.state, mine.life, mine.state)
                || (their.statusGeneration, their.statusVersion) > (mine.statusGeneration, mine.statusVersion)
        }
    }

    /// The membership update and the status this node holds about `subject`.
    mutating func updateParts(for subject: PublicKey, now: Duration) -> [GossipPart] {
        var parts: [GossipPart] = []
        if subject == key {
            parts.append(hasLeft ? .left(ownAnnouncement) : .alive(ownAnnouncement))
        } else if let member = members.announcementAndState(of: subject) {
            switch member.state {
            case .alive: parts.append(.alive(member.announcement))
            case .suspect:
                parts.append(.alive(member.announcement))
                // The accusers a death needs, so that the receiver can count them.
                for claim in (suspicions[subject]?.accusations ?? []).prefix(settings.accusersForDeath) { parts.append(.suspect(claim)) }
            case .dead:
                if let certificate = deathCertificate(for: subject, now: now) { parts.append(.dead(certificate)) }
            case .left: parts.append(.left(member.announcement))
            }
        }
        if let status = store.statuses[subject] { parts.append(.status(status)) }
        return parts
    }

    /// Sends `parts` in as few datagrams as the budget allows, each led by a catch-up marker if asked.
    mutating func sendPacked(_ parts: [GossipPart], to target: Peer, catchUp: Bool, into out: inout [Directive]) {
        let lead: [GossipPart] = catchUp ? [.catchUp] : []
        let leadSize = Datagram.encodedSize(lead)
        var batch = lead
        var size = leadSize
        for part in parts {
            let partSize = part.encodedSize
            if size + partSize > settings.maxDatagramBytes && batch.count > lead.count {
                send(batch, to: target, into: &out)
                batch = lead
                size = leadSize
            }
            batch.append(part)
            size += partSize
        }
        if batch.count > lead.count { send(batch, to: target, into: &out) }
    }

    /// Talks to one random member believed dead (Serf's reconnect): after a partition heals, this
    /// is how the two sides find each other again — it hears from this node (a summary; with the
    /// announcement on the slow turns), tells it that it is held dead, and whichever side was
    /// buried refutes. Every
    /// ``GossipSettings/reconnectInterval`` while some member died within
    /// ``GossipSettings/reconnectQuickly``, else every ``GossipSettings/reconnectSlowInterval``:
    /// a heal is found within seconds, and a member that crashed for good costs one datagram per
    /// slow interval per node. (Before, a heal waited for an anti-entropy round that chose a dead
    /// member, every 5 s with probability 1/3: five node processes split 2 | 3 were whole again
    /// 5–9 s after the heal, over 10 s in one run of three; now 0.2–2.1 s.)
    ///
    /// The one member tried is drawn without sorting the dead (sorting them by address was 6 % of
    /// a simulated run with 150 dead among 500 nodes): a random 64-bit point, and the member
    /// whose key prefix is nearest it by XOR (key prefixes are uniform, and the choice does not
    /// depend on the order in which the sets are walked, so a seed still gives one run).
    mutating func reconnect(now: Duration, into out: inout [Directive]) {
        let point = rng.next()
        var chosen: (distance: UInt64, key: PublicKey, address: NodeAddress)?
        var latestDeath: Duration?
        func consider(_ memberKey: PublicKey, address: NodeAddress?, since: Duration) {
            latestDeath = max(latestDeath ?? since, since)
            guard let address else { return }
            let distance = memberKey.prefix ^ point
            if let best = chosen, (best.distance, best.key) <= (distance, memberKey) { return }
            chosen = (distance, memberKey, address)
        }
        for memberKey in goneKeys {
            if let member = members[memberKey], member.state == .dead { consider(memberKey, address: member.address, since: member.since) }
        }
        for (memberKey, gone) in remembered where gone.state == .dead {
            consider(memberKey, address: gone.announcement.address, since: gone.since)
        }
        // No candidate yet, or a recent death: look again soon (a member may die any moment).
        let quick = latestDeath.map { now - $0 < settings.reconnectQuickly } ?? true
        nextReconnectAt = now + (quick ? settings.reconnectInterval : settings.reconnectSlowInterval)
        guard let chosen else { return }
        // Any authenticated datagram from a member held dead makes the receiver tell it so
        // (``tellHeldGone(_:now:into:)``), so the summary alone (≈ 60 bytes on the wire) heals;
        // the slow reconnects add this node's announcement (≈ 190 bytes) for a receiver that
        // forgot it altogether.
        let parts: [GossipPart] = quick ? [summaryPart()] : [.alive(ownAnnouncement), summaryPart()]
        send(parts, to: Peer(address: chosen.address, key: chosen.key), into: &out)
    }

    // MARK: Tombstones

    /// Moves the tombstones whose grace ended to ``remembered``, and forgets remembered members
    /// after the reconnect timeout. Called every tick, it looks at the gone members only when
    /// the earliest grace ends (``nextReapAt``): scanning them every tick was 4 % of a simulated
    /// run with 150 dead among 500 nodes.
    mutating func reapTombstones(now: Duration) {
        if now >= nextForgetAt {
            // Remembered members are forgotten after the reconnect timeout (swept once per grace period).
            nextForgetAt = now + settings.tombstoneGrace
            let before = remembered.count
            remembered = remembered.filter { now - $0.value.since < settings.reconnectTimeout }
            if remembered.count != before { quorumCache = nil }
        }
        guard now >= nextReapAt else { return }
        nextReapAt = now + settings.tombstoneGrace
        for memberKey in goneKeys {
            guard let member = members[memberKey] else { continue }
            guard now - member.since >= settings.tombstoneGrace else {
                nextReapAt = min(nextReapAt, member.since + settings.tombstoneGrace)
                continue
            }
            quorumCache = nil
            goneKeys.remove(memberKey)
            members[memberKey] = nil
            digestChanged.insert(memberKey)
            remembered[memberKey] = (member.life, member.state, member.announcement, member.since)
            store.remove(memberKey)
            rumours.remove(.init(key: memberKey, isStatus: false))
            rumours.remove(.init(key: memberKey, isStatus: true))
        }
    }
}

/// Forged signatures per sender within the current second (see ``GossipCore/verify(_:now:)``).
struct ForgeryBudget: Sendable {
    var windowStart: Duration?
    var failures: [PublicKey: Int] = [:]

    /// Whether `sender` may still cause a signature verification this second.
    mutating func allows(_ sender: PublicKey, now: Duration, limit: Int) -> Bool {
        if windowStart.map({ now - $0 >= .seconds(1) }) ?? true {
            windowStart = now
            failures.removeAll(keepingCapacity: true)
        }
        return failures[sender, default: 0] < limit
    }

    mutating func failed(_ sender: PublicKey) { failures[sender, default: 0] += 1 }
}
