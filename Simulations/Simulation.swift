import GossipCore
import HeapModule

/// Runs the real ``Gossip/GossipCore`` (real codec, real Ed25519 signing) for many nodes under a
/// virtual clock and a seeded, lossy, partitionable in-memory network. Nothing here touches a
/// socket or a real clock; the same configuration and seed give the same run.
public final class Simulation {
    /// The network and cluster to simulate.
    public struct Configuration: Sendable {
        public var nodes: Int
        public var seed: UInt64
        /// Probability that a datagram is lost, 0–1, outside bursts.
        public var loss: Double
        /// Bursty loss (Gilbert–Elliott): each link enters a burst with this probability per
        /// datagram and leaves it with `burstExit`; inside a burst `burstLoss` applies.
        public var burstEnter: Double
        public var burstExit: Double
        public var burstLoss: Double
        /// One-way latency: `latency` plus up to `jitter`, fixed per link plus per-datagram noise.
        public var latency: Duration
        public var jitter: Duration
        /// Protocol settings of every node.
        public var settings: GossipSettings
        /// How many seed nodes newcomers join through (the first ones).
        public var seedCount: Int
        /// Members that lie (``Simulation/liars``): each signs claims that random members are
        /// suspect and dead, `liarClaimsPerSecond` of each, and sends them to random members,
        /// with a forged claim (another member's key, its own signature) and an outsider's.
        public var liars: Int = 0
        public var liarClaimsPerSecond: Int = 10
        /// Ordered pairs of nodes (random, fixed by the seed) where the first cannot reach the
        /// second at all while the second reaches the first: one-way faults.
        public var oneWayCuts: Int = 0

        public init(nodes: Int, seed: UInt64 = 1, loss: Double = 0) {
            self.nodes = nodes
            self.seed = seed
            self.loss = loss
            self.burstEnter = 0
            self.burstExit = 0.5
            self.burstLoss = 0
            self.latency = .milliseconds(1)
            self.jitter = .milliseconds(2)
            self.settings = GossipSettings()
            self.seedCount = 3
        }
    }

    struct Event: Comparable {
        enum Kind {
            case tick(Int)
            /// Node `i`'s broadcast-tree repair, due before its next tick (see ``GossipCore/nextRepairAt``).
            case repair(Int)
            /// Datagram bytes to node `to` from node `from`.
            case deliver(to: Int, [UInt8], from: Int)
        }
        var time: Duration
        var order: UInt64
        var kind: Kind

        static func < (lhs: Event, rhs: Event) -> Bool { (lhs.time, lhs.order) < (rhs.time, rhs.order) }
        static func == (lhs: Event, rhs: Event) -> Bool { lhs.time == rhs.time && lhs.order == rhs.order }
    }

    /// One simulated node.
    public struct Node {
        public var core: GossipCore
        public let keyPair: SigningKeyPair
        public var up = true
        public var bytesSent = 0
        public var generation: UInt64 = 1
        var statusCounter = 0
    }

    /// The simulated wall clock at time zero (Unix seconds): generations (1, 2, …) are far behind it.
    public static let wallClockOrigin: UInt64 = 1_800_000_000

    public let configuration: Configuration
    public private(set) var now: Duration = .zero
    public private(set) var nodes: [Node] = []
    public let addresses: [NodeAddress]
    private var index: [NodeAddress: Int] = [:]
    private var keyIndex: [PublicKey: Int] = [:]
    private var events = Heap<Event>()
    private var order: UInt64 = 0
    private var rng: SplitMix64
    private var burst: [Int: Bool] = [:]
    private var group: [Int]?
    /// One libsodium check per distinct signature for all the nodes (see ``SharedSignatureChecks``).
    private let signatureChecks = SharedSignatureChecks()
    /// One member directory for all the nodes (see ``MemberDirectory``).
    private let directory: MemberDirectory
    /// Called every ``pulseEvents`` events, for progress lines from within a long step (at
    /// 10,000 nodes a 500-ms step of the join takes minutes of wall clock).
    public var pulse: ((Simulation) -> Void)?
    public static let pulseEvents = 65_536
    private var eventsHandled = 0
    /// Each node's earliest scheduled ``Event/Kind/repair(_:)``.
    private var repairAt: [Int: Duration] = [:]
    /// Called with (sender, receiver, bytes) for every datagram sent, before loss: for tests
    /// and debugging.
    public var tap: ((Int, Int, [UInt8]) -> Void)?
    /// Every time a node declared a running node dead in its current generation: (time,
    /// observer, victim). Exact, unlike sampling ``falselyDead``.
    public private(set) var falseDeathEvents: [(time: Duration, observer: Int, victim: Int)] = []
    /// victim → observers that declared it dead, with the generation they buried (a later change
    /// of the victim's state at that observer takes it out).
    private var deadViews: [Int: [Int: UInt64]] = [:]
    /// The nodes that lie (see ``Configuration/liars``): the ones just before the last (the
    /// crash phase's victim).
    public let liars: Set<Int>
    /// Links cut one way (``Configuration/oneWayCuts``), as `from * nodes + to`.
    public let cutLinks: Set<Int>
    /// A key no member holds: the liars' claims in its name come from outside the cluster.
    private let outsider = SigningKeyPair(seed: [UInt8](repeating: 0xEE, count: 32))!
    /// Datagrams lost to loss, partitions and crashed receivers.
    public private(set) var lost = 0
    public private(set) var delivered = 0
    /// Pub/sub messages handed to each node's subscribers: message id → nodes.
    /// When each of those deliveries happened (in the order they did).
    public private(set) var messageDeliveryTimes: [UInt64: [Duration]] = [:]
    public private(set) var messageDeliveries: [UInt64: Set<Int>] = [:]
    /// How each node's DHT operations ended, by node and operation id.
    public private(set) var dhtOutcomes: [Int: [UInt32: DHTOutcome]] = [:]

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        var rng = SplitMix64(seed: configuration.seed)
        addresses = (0..<configuration.nodes).map { NodeAddress(host: "10.\($0 / 65536).\($0 / 256 % 256).\($0 % 256)", port: 7946) }
        for (i, address) in addresses.enumerated() { index[address] = i }
        let seeds = Array(addresses.prefix(max(1, min(configuration.seedCount, configuration.nodes))))
        var keyPairs: [(SigningKeyPair, randomSeed: UInt64)] = []
        for _ in 0..<configuration.nodes {
            let seedBytes = (0..<4).flatMap { _ in withUnsafeBytes(of: rng.next()) { Array($0) } }
            keyPairs.append((SigningKeyPair(seed: seedBytes)!, rng.next()))
        }
        let n = configuration.nodes
        liars = Set((0..<min(configuration.liars, max(0, n - 1))).map { n - 2 - $0 }.filter { $0 >= 0 })
        var cuts = Set<Int>()
        while cuts.count < min(configuration.oneWayCuts, n * (n - 1) / 2) {
            let from = Int(rng.next() % UInt64(n))
            let to = Int(rng.next() % UInt64(n))
            if from != to, !cuts.contains(to * n + from) { cuts.insert(from * n + to) }
        }
        cutLinks = cuts
        // One directory for all: every key, announcement and address held once (see MemberDirectory).
        directory = MemberDirectory(numbering: keyPairs.map(\.0.publicKey))
        self.rng = rng
        for (i, (keyPair, randomSeed)) in keyPairs.enumerated() {
            keyIndex[keyPair.publicKey] = i
            let core = GossipCore(
                keyPair: keyPair, address: addresses[i], generation: 1, settings: configuration.settings,
                trust: .any, seeds: seeds, randomSeed: randomSeed, wallClockOrigin: Self.wallClockOrigin,
                verifier: signatureChecks.verifier, directory: directory)
            nodes.append(Node(core: core, keyPair: keyPair))
        }
    }

    /// Starts every node at a random instant within the first `spread`, each publishing a first status.
    public func start(spread: Duration = .milliseconds(500), withStatus: Bool = true) {
        for i in nodes.indices {
            let at = spread * Double(rng.next() % 1000) / 1000
            schedule(.tick(i), at: at)
            startNode(i, at: at, withStatus: withStatus)
        }
    }

    private func startNode(_ i: Int, at time: Duration, withStatus: Bool) {
        let saved = now
        now = time
        carryOut(nodes[i].core.start(now: time), from: i)
        if withStatus { publish(i, status: .healthy) }
        now = saved
    }

    /// Publishes a new status draft for node `i` (a different message each call, so it is a meaningful change).
    public func publish(_ i: Int, status: StatusLevel) {
        nodes[i].statusCounter += 1
        let draft = StatusDraft(
            issuedAtMillis: UInt64(now / .milliseconds(1)),
            nodeID: "node-\(i)", status: status, message: "change \(nodes[i].statusCounter)", uptimeSeconds: 0,
            softwareVersion: "sim",
            checks: [
                .init(name: "disk-space", healthy: true, critical: false, latencyMicros: 100, message: "ok"),
                .init(name: "memory-usage", healthy: true, critical: false, latencyMicros: 80, message: "ok"),
            ])
        carryOut(nodes[i].core.publish(draft, now: now), from: i)
    }

    /// Publishes `draft` as node `i`'s status (issued now, by the virtual clock).
    public func publish(_ i: Int, draft: StatusDraft) {
        var draft = draft
        draft.issuedAtMillis = UInt64(now / .milliseconds(1))
        carryOut(nodes[i].core.publish(draft, now: now), from: i)
    }

    /// Stops node `i` without a word (its datagrams in flight are still delivered).
    public func crash(_ i: Int) {
        nodes[i].up = false
    }

    /// Restarts a crashed node with the same key and a new generation.
    public func restart(_ i: Int) {
        nodes[i].generation += 1
        let seeds = Array(addresses.prefix(max(1, min(configuration.seedCount, configuration.nodes)))).filter { $0 != addresses[i] }
        nodes[i].core = GossipCore(
            keyPair: nodes[i].keyPair, address: addresses[i], generation: nodes[i].generation,
            settings: configuration.settings, trust: .any, seeds: seeds, randomSeed: rng.next(),
            wallClockOrigin: Self.wallClockOrigin, verifier: signatureChecks.verifier, directory: directory)
        nodes[i].up = true
        schedule(.tick(i), at: now + configuration.settings.tickInterval)
        startNode(i, at: now, withStatus: true)
    }

    /// Node `i` leaves gracefully.
    public func leave(_ i: Int) {
        carryOut(nodes[i].core.leave(now: now), from: i)
        nodes[i].up = false
    }

    /// Splits the network: datagrams cross only between nodes with the same group number.
    public func partition(_ groupOf: (Int) -> Int) {
        group = nodes.indices.map(groupOf)
    }

    /// Heals every partition.
    public func heal() {
        group = nil
    }

    /// Advances virtual time by `duration`, calling `observe` after every `step`.
    public func run(for duration: Duration, step: Duration? = nil, observe: (Simulation) -> Void = { _ in }) {
        let end = now + duration
        var nextObservation = step.map { now + $0 }
        while let event = events.min, event.time <= end {
            if let at = nextObservation, event.time > at {
                now = at
                observe(self)
                nextObservation = at + step!
                continue
            }
            _ = events.popMin()
            now = event.time
            eventsHandled += 1
            if eventsHandled % Self.pulseEvents == 0 { pulse?(self) }
            switch event.kind {
            case .tick(let i):
                guard nodes[i].up else { continue }
                carryOut(nodes[i].core.tick(now: now), from: i)
                if liars.contains(i) { lie(i) }
                schedule(.tick(i), at: now + configuration.settings.tickInterval)
            case .repair(let i):
                if repairAt[i] == now { repairAt[i] = nil }
                guard nodes[i].up else { continue }
                carryOut(nodes[i].core.repairTick(now: now), from: i)
            case .deliver(let i, let bytes, let from):
                guard nodes[i].up else {
                    lost += 1
                    continue
                }
                delivered += 1
                // The simulated network is trusted: it hands over the sender's key, as the
                // shell's DatagramAuthenticator does after checking the envelope.
                let sender = nodes[from].keyPair.publicKey
                carryOut(nodes[i].core.receive(bytes, from: addresses[from], sender: sender, now: now), from: i)
            }
        }
        while let at = nextObservation, at <= end {
            now = at
            observe(self)
            nextObservation = at + step!
        }
        now = end
    }

    /// Advances virtual time until `condition` holds (checked every `step`) or `limit` passes;
    /// returns how long it took, or `nil` when the limit passed first.
    public func runUntil(limit: Duration, step: Duration = .milliseconds(100), _ condition: (Simulation) -> Bool)
        -> Duration?
    {
        let start = now
        while now - start < limit {
            run(for: step)
            if condition(self) { return now - start }
        }
        return nil
    }

    // MARK: Services

    /// Node `i` stores `value` under `key` on the key's replicas; returns the operation id (see ``dhtOutcome(_:at:)``).
    @discardableResult
    public func dhtPut(_ i: Int, key: String, value: [UInt8], ttl: Duration = .seconds(3600)) -> UInt32 {
        let (id, directives) = nodes[i].core.dhtPut(
            key: key, value: value, version: UInt64(now / .milliseconds(1)), ttl: ttl, now: now)
        carryOut(directives, from: i)
        return id
    }

    /// Node `i` publishes `payload` on `topic`; returns the message id (see ``messageDeliveries``).
    @discardableResult
    public func publishMessage(
        _ i: Int, topic: String = "sim", payload: [UInt8] = Array("hello".utf8), reach: PubSubReach = .cluster
    ) throws(PubSubError) -> UInt64 {
        let (id, directives) = try nodes[i].core.publishMessage(topic: topic, payload: payload, reach: reach, now: now)
        carryOut(directives, from: i)
        return id
    }

    /// Node `i` reads `key`, from other replicas only when `remoteOnly`.
    @discardableResult
    public func dhtGet(_ i: Int, key: String, remoteOnly: Bool = true) -> UInt32 {
        let (id, directives) = nodes[i].core.dhtGet(key: key, remoteOnly: remoteOnly, now: now)
        carryOut(directives, from: i)
        return id
    }

    /// How node `i`'s DHT operation `id` ended, or `nil` while it runs.
    public func dhtOutcome(_ id: UInt32, at i: Int) -> DHTOutcome? { dhtOutcomes[i]?[id] }

    /// Running nodes that hold an unexpired value under `key`.
    public func holders(ofKey key: String) -> [Int] {
        nodes.indices.filter { nodes[$0].up && nodes[$0].core.holds(key, now: now) }
    }

    /// The leader every running node follows, when they all follow the same one.
    public var agreedLeader: Int? {
        let up = nodes.indices.filter { nodes[$0].up }
        guard let first = up.first, let leader = nodes[first].core.electionView.leader,
            up.allSatisfy({ nodes[$0].core.electionView.leader == leader })
        else { return nil }
        return keyIndex[leader]
    }

    private func carryOut(_ directives: [GossipCore.Directive], from i: Int) {
        // As the node's shell does: wake for the broadcast tree's next repair, between ticks.
        if let due = nodes[i].core.nextRepairAt, repairAt[i].map({ due < $0 }) ?? true {
            repairAt[i] = max(due, now)
            schedule(.repair(i), at: max(due, now))
        }
        for directive in directives {
            if case .dhtCompleted(let id, let outcome) = directive {
                dhtOutcomes[i, default: [:]][id] = outcome
            }
            if case .delivered(let message) = directive {
                if messageDeliveries[message.id, default: []].insert(i).inserted {
                    messageDeliveryTimes[message.id, default: []].append(now)
                }
            }
            if case .memberChanged(let key, let state) = directive, let j = keyIndex[key] {
                let generation = nodes[i].core.members[key]?.life.generation
                if state == .dead, nodes[j].up, generation == nodes[j].core.life.generation {
                    falseDeathEvents.append((now, i, j))
                }
                if state == .dead, let generation {
                    deadViews[j, default: [:]][i] = generation
                } else if deadViews[j]?.removeValue(forKey: i) != nil, deadViews[j]?.isEmpty == true {
                    deadViews[j] = nil
                }
            }
            guard case .send(let bytes, let target) = directive else { continue }
            // Counted with the authentication envelope a real node with a trust list adds (33 bytes).
            nodes[i].bytesSent += bytes.count + DatagramAuthenticator.taggedOverhead
            guard let j = index[target.address] else { continue }
            // A real node opens only envelopes tagged for its own key (a ping names no target).
            if let key = target.key, key != nodes[j].keyPair.publicKey { continue }
            tap?(i, j, bytes)
            if let group, group[i] != group[j] {
                lost += 1
                continue
            }
            if cutLinks.contains(i * configuration.nodes + j) {
                lost += 1
                continue
            }
            if dropped(from: i, to: j) {
                lost += 1
                continue
            }
            let linkDelay = Double(StableLink.hash(i, j) % 1000) / 1000
            let noise = Double(rng.next() % 1000) / 1000
            let delay = configuration.latency + configuration.jitter * ((linkDelay + noise) / 2)
            schedule(.deliver(to: j, bytes, from: i), at: now + delay)
        }
    }

    /// One tick of liar `i`: claims that random members are suspect and dead, signed by the liar
    /// and sent to random members; a claim in another member's name, signed by the liar (a
    /// forgery); and one signed by a key from outside the cluster.
    private func lie(_ i: Int) {
        let n = configuration.nodes
        let perTick = Double(configuration.liarClaimsPerSecond) * (configuration.settings.tickInterval / .seconds(1))
        let claims = Int(perTick) + (Double(rng.next() % 1000) / 1000 < perTick - perTick.rounded(.down) ? 1 : 0)
        let wall = Self.wallClockOrigin * 1000 + UInt64(now / .milliseconds(1))
        for _ in 0..<claims {
            let j = Int(rng.next() % UInt64(n))
            guard j != i, let life = nodes[i].core.members[nodes[j].keyPair.publicKey]?.life else { continue }
            let subject = nodes[j].keyPair.publicKey
            let suspicion = Accusation.sign(nodes[i].keyPair, .suspect, subject: subject, life: life, issuedAt: wall)
            let death = Accusation.sign(nodes[i].keyPair, .dead, subject: subject, life: life, issuedAt: wall)
            let honest = nodes[Int(rng.next() % UInt64(n))].keyPair.publicKey
            var forged = Datagram.encode([.suspect(suspicion)])
            if honest != nodes[i].keyPair.publicKey, honest != subject {
                // The accuser's key sits after the part header (3), the subject (32) and its life (16).
                forged.replaceSubrange((1 + 3 + 48)..<(1 + 3 + 80), with: honest.bytes)
            }
            let outsiders = Accusation.sign(outsider, .suspect, subject: subject, life: life, issuedAt: wall)
            let lies: [[UInt8]] = [
                Datagram.encode([.suspect(suspicion), .dead(DeathCertificate(subject: subject, life: life, accusations: [death])!)]),
                forged,
                Datagram.encode([.suspect(outsiders)]),
            ]
            for datagram in lies {
                let to = Int(rng.next() % UInt64(n))
                guard to != i else { continue }
                carryOut([.send(datagram, to: GossipCore.Peer(address: addresses[to], key: nodes[to].keyPair.publicKey))], from: i)
            }
        }
    }

    private func dropped(from i: Int, to j: Int) -> Bool {
        let c = configuration
        var probability = c.loss
        if c.burstEnter > 0 {
            let link = i * c.nodes + j
            var inBurst = burst[link] ?? false
            let roll = Double(rng.next() % 1_000_000) / 1_000_000
            inBurst = inBurst ? roll >= c.burstExit : roll < c.burstEnter
            burst[link] = inBurst
            if inBurst { probability = max(probability, c.burstLoss) }
        }
        guard probability > 0 else { return false }
        return Double(rng.next() % 1_000_000) / 1_000_000 < probability
    }

    private func schedule(_ kind: Event.Kind, at time: Duration) {
        order += 1
        events.insert(Event(time: time, order: order, kind: kind))
    }

    // MARK: Observations

    /// The index of the node with `key`.
    public func nodeIndex(of key: PublicKey) -> Int? { keyIndex[key] }

    /// How many running nodes (other than `i`) hold node `i`'s latest signed status.
    public func holders(ofLatestStatusOf i: Int) -> Int {
        guard let latest = nodes[i].core.ownStatus?.projection else { return 0 }
        let key = nodes[i].keyPair.publicKey
        var count = 0
        for j in nodes.indices where j != i && nodes[j].up {
            if let held = nodes[j].core.store.versionOf(key), held == (latest.generation, latest.version) { count += 1 }
        }
        return count
    }

    /// How many running nodes (other than `i`) see node `i` in `state` (counting a member they do not know as not).
    public func observers(of i: Int, in state: MemberState) -> Int {
        let key = nodes[i].keyPair.publicKey
        return nodes.indices.filter { $0 != i && nodes[$0].up && nodes[$0].core.members[key]?.state == state }.count
    }

    /// How many running nodes see `i` as dead or left, or no longer list it at all.
    /// Accusations signed and verified by all the nodes so far.
    public var accusationsSignedAndVerified: (signed: Int, verified: Int) {
        nodes.reduce((0, 0)) { ($0.0 + $1.core.accusationsSigned, $0.1 + $1.core.accusationsVerified) }
    }

    /// Honest running nodes that hold every liar for an unreliable accuser.
    public var nodesNamingEveryLiar: Int {
        nodes.indices.filter { i in
            nodes[i].up && !liars.contains(i)
                && liars.allSatisfy { nodes[i].core.accuserRecords[nodes[$0].keyPair.publicKey]?.isUnreliable == true }
        }.count
    }

    public func nodesThatBuried(_ i: Int) -> Int {
        let key = nodes[i].keyPair.publicKey
        return nodes.indices.filter { j in
            j != i && nodes[j].up && (nodes[j].core.members[key].map { $0.state.isGone } ?? true)
        }.count
    }

    /// Running nodes.
    public var upCount: Int { nodes.filter(\.up).count }

    /// Running nodes that count every other running node as live (the join's progress; cheap).
    public var fullViewCount: Int {
        let up = upCount
        return nodes.filter { $0.up && $0.core.liveCount >= up - 1 }.count
    }

    /// Whether every running node lists every other running node as alive and holds its latest status.
    public var isConverged: Bool {
        let up = nodes.indices.filter { nodes[$0].up }
        // Cheap first: every running node must count every other one as live.
        guard up.allSatisfy({ nodes[$0].core.liveCount >= up.count - 1 }) else { return false }
        for i in up {
            let core = nodes[i].core
            for j in up where j != i {
                let key = nodes[j].keyPair.publicKey
                guard core.members[key]?.state == .alive else { return false }
                if let latest = nodes[j].core.ownStatus?.projection {
                    guard let held = core.store.versionOf(key), held == (latest.generation, latest.version) else { return false }
                }
            }
        }
        return true
    }

    /// Running nodes that some running node sees as dead in their current generation (false
    /// deaths). Kept from the nodes' own reports of member changes: scanning every node's members
    /// costs N² (10⁸ members at 10,000 nodes, seconds per look).
    public var falselyDead: Int {
        deadViews.filter { victim, observers in
            nodes[victim].up && observers.contains { observer, generation in
                nodes[observer].up && generation == nodes[victim].core.life.generation
            }
        }.count
    }

    /// Total bytes sent by all nodes.
    public var totalBytesSent: Int { nodes.reduce(0) { $0 + $1.bytesSent } }

    /// Parts sent by all nodes, by ``Gossip/GossipPart/kind``.
    public var totalPartsSent: [String: Int] {
        nodes.reduce(into: [:]) { total, node in total.merge(node.core.stats.partsSent, uniquingKeysWith: +) }
    }
}

/// A fixed pseudo-random number per ordered node pair (the link's own latency).
enum StableLink {
    static func hash(_ i: Int, _ j: Int) -> UInt64 {
        var generator = SplitMix64(seed: UInt64(i) &* 1_000_003 &+ UInt64(j))
        return generator.next()
    }
}
