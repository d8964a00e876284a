/// Tunables of the gossip protocol; each documents its default and the reason for it.
public struct GossipSettings: Sendable, Hashable {
    /// How often the shell MUST call ``GossipCore/tick(now:)``. Default 100 ms; every timer
    /// below is rounded up to this granularity.
    public var tickInterval: Duration = .milliseconds(100)
    /// Time between two SWIM probes started by this node. Default 1 s.
    public var probeInterval: Duration = .seconds(1)
    /// How long a direct ping waits for its ack before indirect probes go out. Default 400 ms.
    public var probeTimeout: Duration = .milliseconds(400)
    /// The highest local health score (Lifeguard's local health multiplier): a node that finds
    /// itself slow — helpers' nacks it should have had did not come, or it had to refute a
    /// suspicion of itself — probes every `(score + 1) × probeInterval` with a
    /// `(score + 1) × probeTimeout`, and each probe answered in time lowers the score by one.
    /// A starved node then accuses less. Default 8, as memberlist; 0 turns it off.
    public var localHealthMax: Int = 8
    /// Members asked to probe an unresponsive target on our behalf. Default 3.
    public var indirectProbes: Int = 3
    /// Whether probes go to the ring successor (the live member whose key follows this node's),
    /// so that every member is probed within about one interval and a crash is noticed that fast;
    /// without it every probe goes to the round-robin target (SWIM's). Default true.
    public var probeRingSuccessor: Bool = true
    /// With ring-successor probes, every this many turns the round-robin target is probed
    /// instead of the successor, so that every member is also probed from other places; while a
    /// suspicion is open, both are probed every interval. About one probe a second keeps a node at
    /// rest near 2 datagrams a second: with both every interval, pings and acks were ~196 of a
    /// node's 224 B/s (64 processes, BENCHMARKS.md). A round-robin turn lasts half an interval, so
    /// a crashed member waits at most 1.5 s for its predecessor's next probe. Default 8: 8 probes
    /// per 7.5 s. (Whole turns every 4th left crashes up to 2 s unprobed: dead everywhere after
    /// 5.1–5.2 s in 3 of 30 seeds at 100 nodes; now 4.3 s at most, for +4.7 % bytes at rest.)
    public var roundRobinProbeEvery: Int = 8
    /// The shortest suspicion timeout is `suspicionMultiplier × max(1, log10(N)) × probeInterval`
    /// (2 s at N = 100). Default 1.
    public var suspicionMultiplier: Double = 1
    /// The longest suspicion timeout, with no independent confirmation, is this many times the
    /// shortest (Lifeguard). Default 6, as memberlist: a lone false suspicion gets 12 s at
    /// N = 100 to be refuted, while a real crash, confirmed by other probers about once a
    /// second, still times out near the shortest.
    public var suspicionMaxMultiplier: Double = 6
    /// Independent confirmations after which a suspicion times out at the shortest timeout. Default 3.
    public var suspicionConfirmations: Int = 3
    /// Distinct trusted members that must have signed a suspicion of a member's life before it is
    /// dead (fewer when fewer members could accuse: see `GossipCore.accusersNeeded`). Default 3.
    public var accusersForDeath: Int = 3
    /// How long a signed suspicion or death claim is taken after it was signed (older ones are
    /// replays). Above the longest suspicion timeout at 10,000 members (24 s). Default 60 s.
    public var accusationLifetime: Duration = .seconds(60)
    /// The window over which each accuser's refuted claims are counted (a record shows the
    /// current and the previous one). Default 10 minutes.
    public var accountabilityWindow: Duration = .seconds(600)
    /// Time between two rounds of rumour gossip. Default 200 ms.
    public var gossipInterval: Duration = .milliseconds(200)
    /// Whether news (a new status, a suspicion, death, leave or refutation) goes out in a rumour
    /// round at once instead of waiting for the next regular round. Each rumour keeps the same
    /// transmit budget; it only leaves earlier. Default true.
    public var eagerGossip: Bool = true
    /// The least time between a rumour round that carried rumours and an eager one, so that a
    /// burst of news is batched into few datagrams (a regular round with nothing to send does
    /// not count). Default 50 ms.
    public var eagerGossipSpacing: Duration = .milliseconds(50)
    /// Random members an eager round sends to. Every node that gets news passes it on at once to
    /// this many members, so about e^-eagerFanout of the nodes miss that first wave and wait for
    /// a regular round (200 ms later): with 3, about 5 %, so most changes in a 32-node cluster
    /// had a straggler; with 6, about 0.25 %. The rumour's transmit budget is the same; more of
    /// it is spent at once. Default 6.
    public var eagerFanout: Int = 6
    /// Random members each rumour round sends to. Default 3.
    public var fanout: Int = 3
    /// Each rumour is sent `retransmitMultiplier × ceil(log10(N + 1))` times. Default 4.
    public var retransmitMultiplier: Int = 4
    /// A node stops spreading a rumour once this many copies of it came back from others
    /// (the cluster has it) after it used half its retransmit budget. Applies to statuses and
    /// join announcements, never to suspicions, deaths or refutations. Default 3.
    public var duplicatesBeforeSilence: Int = 3
    /// Most statuses and join announcements a node holds to relay at once; past it the oldest is
    /// dropped, and the anti-entropy digest brings it to whoever still lacks it. A few changes at a
    /// time never come near it; after a mass join it bounds how long the news keeps datagrams full
    /// (about this many rumours × their retransmit budget). Default 64.
    public var repairableRumourLimit: Int = 64
    /// Time between two anti-entropy summaries sent to one random member. Default 5 s.
    public var antiEntropyInterval: Duration = .seconds(5)
    /// Once this node's digest has not changed for ``antiEntropyQuietAfter`` (and no pub/sub
    /// message is recent), its summaries go out every ``antiEntropyQuietInterval`` instead: at rest
    /// there is nothing to repair, and a change anywhere makes the members that learn it send
    /// every ``antiEntropyInterval`` again, so a node that missed it is still found within seconds.
    /// At 1000 nodes a summary every 5 s was ~11 of a node's ~104 B/s at rest. Defaults 30 s and 15 s.
    public var antiEntropyQuietAfter: Duration = .seconds(30)
    public var antiEntropyQuietInterval: Duration = .seconds(15)
    /// How long dead and left members stay listed (tombstones) before they are forgotten;
    /// their life stays remembered so stale gossip cannot bring them back. Default 60 s.
    public var tombstoneGrace: Duration = .seconds(60)
    /// How long a member whose tombstone expired stays remembered (Serf's `ReconnectTimeout`):
    /// its life keeps stale gossip from bringing it back, and a dead member's address is tried
    /// now and then so that the two sides of a healed partition find each other. After this it is
    /// forgotten; if it ever comes back it joins like a new member. This bounds the memory a
    /// node spends on departed members, which matters in open trust mode, where every restart
    /// with a fresh key is a new member. Default 24 hours (Serf's default).
    public var reconnectTimeout: Duration = .seconds(86_400)
    /// How often a node talks to one member it holds dead (see ``GossipCore/reconnect(now:into:)``)
    /// while some member died within ``reconnectQuickly``. Default 2 s.
    public var reconnectInterval: Duration = .seconds(2)
    /// How long after the latest death reconnects stay quick. Default 5 minutes.
    public var reconnectQuickly: Duration = .seconds(300)
    /// How often a node talks to one member it holds dead otherwise (Serf's reconnect interval). Default 30 s.
    public var reconnectSlowInterval: Duration = .seconds(30)
    /// A status whose figures moved but nothing meaningful changed is re-signed about this
    /// often at the least (jittered by ±25 %; see ``statusRefreshPerMember`` for larger
    /// clusters), so that its age also tells how fresh it is. Default 5 minutes.
    public var statusRefreshInterval: Duration = .seconds(300)
    /// The refresh interval grows with the cluster: it is at least this much per member
    /// (N × 60 s: 5 min up to 5 members, 32 min at 32, 100 min at 100), so that relaying everyone's
    /// refreshes costs each node about the same few tens of bytes per second at any size (a
    /// refresh reaches every node, so the cluster-wide cost is N² / interval). Liveness never
    /// waits for a refresh: it comes from membership. Default 60 s.
    public var statusRefreshPerMember: Duration = .seconds(60)
    /// Least time between two signed versions of this node's status: a meaningful change within
    /// it waits for its end, and is signed then with whatever else changed meanwhile. Bad news (a
    /// worse level) and a leadership claim won or given up are signed at once. A starting node's checks
    /// complete one by one while its election view follows the members that arrive: at 128 node
    /// processes each signed a median of 10 versions in its first 11 s, each a rumour to everyone.
    /// Default 1 s.
    public var statusSigningInterval: Duration = .seconds(1)
    /// Largest datagram the core produces, in bytes, before its envelope. Default 1400 − 57 − 41:
    /// room for the authentication envelope (sender key, counter, tag; 33 bytes with a trust list,
    /// 57 at worst) and the optional cluster key's marker, nonce and tag within 1400 bytes. It SHOULD stay at least 1200, so that the
    /// largest signed status (1100-byte payload, signature, framing) fits.
    public var maxDatagramBytes: Int = 1302

    /// How far apart members' wall clocks may be. A datagram whose counter (the sender's clock)
    /// is further than this from the receiver's clock is refused, and so is an announcement or
    /// status whose generation (its start time, Unix seconds) lies further ahead. Default 30 s;
    /// whole seconds.
    public var maxClockSkew: Duration = .seconds(30)

    /// Most members a node holds (live, suspect, dead or left); announcements of further new
    /// members are dropped (`member_limit`). Default 16 384.
    public var maxMembers: Int = 16_384

    /// Most ping requests a node forwards at once; further ones are dropped (`forward_limit`).
    /// Default 256.
    public var maxPendingForwards: Int = 256

    /// Forged signatures (announcements, statuses) one sender may make a node check per second;
    /// past that, its signed claims are dropped unchecked until the next second
    /// (`forgery_budget`). An Ed25519 verification costs ~75 µs: 16 a second is ~0.1 % of a core
    /// per forger. Default 16.
    public var maxForgeriesPerSecond: Int = 16

    /// Pub/sub: most messages remembered at once (for de-duplication), in all and per
    /// publisher; a message beyond either is dropped, not delivered (`pubsub_memory_full`,
    /// `pubsub_publisher_limit`). Defaults 16 384 and 1024: a flood from one publisher costs at
    /// most ~1 MB of memory and never stops the others.
    public var pubSubMaxMessages: Int = 16_384
    public var pubSubMaxPerPublisher: Int = 1024

    /// DHT: most keys stored, in all and per member that wrote them (`dht_full`,
    /// `dht_writer_limit`: the request is answered `rejected`). Defaults 10 000 and 2 500: values
    /// are at most 1024 bytes, so the store stays within ~13 MB.
    public var dhtMaxKeys: Int = 10_000
    public var dhtMaxKeysPerWriter: Int = 2_500
    /// DHT: the longest time to live a request may ask for, and the most provider records per
    /// key and in all. Defaults 24 h, 64 and 10 000.
    public var dhtMaxTTL: Duration = .seconds(86_400)
    public var dhtMaxProvidersPerKey: Int = 64
    public var dhtMaxProviders: Int = 10_000

    /// Pub/sub's broadcast tree: the neighbours each node picks (others that pick it add up to as
    /// many again); messages go in full along the eager ones. Default 4.
    public var pubSubTreeDegree: Int = 4
    /// Pub/sub's broadcast tree: how long an announced message may take to arrive before this
    /// node asks the announcer for it: above the gap between an announcement and the tree's copy
    /// (a few link latencies), far below the pull repair's seconds. The node wakes for it between
    /// ticks. At 5 % loss on every link of 100 simulated nodes (seed 7, 100 messages), 100, 30 and
    /// 15 ms gave a median delivery to all of 130, 60 and 45 ms with 1.36, 1.30 and 1.40 copies per
    /// message per node; shorter asks for copies still on their way in slower networks. Default 30 ms.
    public var pubSubGraftTimeout: Duration = .milliseconds(30)
    /// Pub/sub: relays stop after this many hops. Default 16.
    public var pubSubHopLimit: Int = 16
    /// Pub/sub: the random members a loopback message (the pub/sub probe's) goes to and comes
    /// back from. Default 2: the probe passes when either brings it back, so one member that died
    /// unnoticed does not fail it, and it costs 4 datagrams whatever the cluster's size.
    public var pubSubLoopbackRelays: Int = 2
    /// Pub/sub: a loopback message not back after this long is sent again to other relays, up to
    /// ``pubSubLoopbackSends`` sends in all. Default 1 s: a relay drops the message of a node it
    /// does not yet hold as a live member (right after a join, for example), and the probe waits
    /// 10 s, so a few retries turn a join-time race into a slower success instead of a timeout.
    public var pubSubLoopbackRetryInterval: Duration = .seconds(1)
    /// Pub/sub: how many times in all a loopback message is sent out (the first send included). Default 4.
    public var pubSubLoopbackSends: Int = 4
    /// Pub/sub: how long a message id is remembered to drop copies. Default 60 s.
    public var pubSubMemory: Duration = .seconds(60)
    /// Pub/sub pull repair: messages seen this recently are offered in anti-entropy exchanges
    /// (their ids) and sent to a member that lacks them. Default 20 s.
    public var pubSubRepairWindow: Duration = .seconds(20)
    /// DHT: replicas per key (R). Default 3.
    public var dhtReplicas: Int = 3
    /// DHT: how long a request waits for its answer before it is retried. Default 500 ms.
    public var dhtRequestTimeout: Duration = .milliseconds(500)
    /// DHT: tries per request (the first and the retries). Default 3.
    public var dhtAttempts: Int = 3
    /// DHT: how long after a membership change the repair runs (changes in a burst are handled
    /// together). Default 1 s.
    public var dhtRepairDelay: Duration = .seconds(1)
    /// DHT: how often the repair checks, besides after membership changes. Default 10 s.
    public var dhtRepairInterval: Duration = .seconds(10)
    /// DHT: a new value is not judged under-replicated before this age (its copies are on their
    /// way). Default 2 s.
    public var dhtSettleTime: Duration = .seconds(2)
    /// Keys under-replicated for longer than this are a meaningful change of the status (the
    /// repair is failing); shorter dips are figures. Default 5 s.
    public var underReplicationGrace: Duration = .seconds(5)
    /// Followers ping the leader this often at least (the heartbeat). Default 5 s.
    public var leaderHeartbeatInterval: Duration = .seconds(5)
    /// …and at least this much per live member, so the leader's load stays bounded. Default 20 ms.
    public var leaderHeartbeatPerMember: Duration = .milliseconds(20)
    /// No election before this long after start, so a node that is joining learns the cluster
    /// (and its leader) before it could elect itself. Default 3 s.
    public var electionStartDelay: Duration = .seconds(3)
    /// A member that died this recently still counts toward the election's majority (see
    /// ``GossipCore/hasQuorum(now:)``); after that it counts as gone for good. Default 10 minutes.
    public var electionQuorumMemory: Duration = .seconds(600)
    /// Fewer live peers than this is a meaningful change of the status. Default 2.
    public var minPeers: Int = 2

    public init() {}
}
