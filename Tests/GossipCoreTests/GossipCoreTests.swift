import Testing
import GossipCore

/// A few cores wired by hand: datagrams are delivered only when the test says so.
struct Harness {
    var cores: [GossipCore]
    var keys: [SigningKeyPair]
    var now: Duration = .zero
    /// Datagrams sent and not yet delivered: (from, to, bytes).
    var inFlight: [(Int, Int, [UInt8])] = []
    var events: [(Int, GossipCore.Directive)] = []
    /// Nodes whose incoming datagrams are dropped.
    var deaf: Set<Int> = []
    /// Links (from, to) that lose everything: one-way faults and partitions.
    var cut: Set<[Int]> = []
    /// The largest datagram any core produced.
    var largestDatagram = 0
    /// Every datagram sent, decoded: (from, to, time, parts).
    var sent: [(from: Int, to: Int, at: Duration, parts: [GossipPart])] = []

    init(count: Int, trust: ((Int) -> TrustPolicy)? = nil, settings: GossipSettings = GossipSettings()) {
        keys = (0..<count).map { SigningKeyPair(seed: [UInt8](repeating: UInt8($0 + 1), count: 32))! }
        let publicKeys = Set(keys.map(\.publicKey))
        cores = (0..<count).map { i in
            GossipCore(
                keyPair: SigningKeyPair(seed: [UInt8](repeating: UInt8(i + 1), count: 32))!,
                address: Harness.address(i), generation: 1, settings: settings,
                trust: trust?(i) ?? .keys(publicKeys), seeds: i == 0 ? [] : [Harness.address(0)], randomSeed: UInt64(i), wallClockOrigin: Harness.wallClock)
        }
    }

    /// `count` nodes, started and joined (3 s of ticks).
    static func joined(_ count: Int, settings: GossipSettings = GossipSettings()) -> Harness {
        var h = Harness(count: count, settings: settings)
        h.start()
        h.advance(.seconds(3))
        return h
    }

    /// The wall clock at time zero for every core (Unix seconds): generations 1, 2, … are in its past.
    static let wallClock: UInt64 = 1_800_000_000

    static func address(_ i: Int) -> NodeAddress { NodeAddress(host: "10.0.0.\(i + 1)", port: 7946) }
    func index(of address: NodeAddress) -> Int? { Int(address.host.split(separator: ".").last!)! - 1 }
    func key(_ i: Int) -> PublicKey { keys[i].publicKey }

    mutating func collect(_ directives: [GossipCore.Directive], from i: Int) {
        for directive in directives {
            if case .send(let bytes, let target) = directive, let j = index(of: target.address) {
                largestDatagram = max(largestDatagram, bytes.count)
                sent.append((i, j, now, (try? Datagram.decode(bytes)) ?? []))
                inFlight.append((i, j, bytes))
            } else {
                events.append((i, directive))
            }
        }
    }

    /// Delivers everything in flight (and what that causes) until the network is quiet.
    mutating func settle(maxRounds: Int = 50) {
        for _ in 0..<maxRounds where !inFlight.isEmpty {
            let batch = inFlight
            inFlight = []
            for (from, to, bytes) in batch where !deaf.contains(to) && to < cores.count && !cut.contains([from, to]) {
                let out = cores[to].receive(bytes, from: Harness.address(from), sender: key(from), now: now)
                collect(out, from: to)
            }
        }
    }

    mutating func start(_ indices: Range<Int>? = nil) {
        for i in indices ?? cores.indices { collect(cores[i].start(now: now), from: i) }
        settle()
    }

    /// Advances time in ticks of 100 ms, delivering after each tick.
    mutating func advance(_ duration: Duration, skip: Set<Int> = []) {
        let end = now + duration
        while now < end {
            now += .milliseconds(100)
            for i in cores.indices where !skip.contains(i) { collect(cores[i].tick(now: now), from: i) }
            settle()
        }
    }

    func state(of j: Int, at i: Int) -> MemberState? { cores[i].members[key(j)]?.state }

    /// The wall clock at `now` in Unix milliseconds, as the cores read it.
    var wallMilliseconds: UInt64 { Harness.wallClock * 1000 + UInt64(now.components.seconds) * 1000 + UInt64(now.components.attoseconds / 1_000_000_000_000_000) }

    /// Member `i`'s signed claim about member `j` in `life` (as member `j` holds its own unless
    /// given), issued now unless `issuedAt` is given.
    func claim(_ verdict: Accusation.Verdict = .suspect, by i: Int, about j: Int, life: Life? = nil, issuedAt: UInt64? = nil) -> Accusation {
        Accusation.sign(keys[i], verdict, subject: key(j), life: life ?? cores[j].life, issuedAt: issuedAt ?? wallMilliseconds)
    }

    /// A death certificate about member `j` in `life`, signed by `accusers`.
    func certificate(by accusers: [Int], about j: Int, life: Life? = nil, issuedAt: UInt64? = nil) -> DeathCertificate {
        DeathCertificate(subject: key(j), life: life ?? cores[j].life, accusations: accusers.map { claim(.dead, by: $0, about: j, life: life, issuedAt: issuedAt) })!
    }

    static func draft(_ message: String, healthy: Bool = true) -> StatusDraft {
        StatusDraft(
            issuedAtMillis: 0, nodeID: "n", status: healthy ? .healthy : .degraded,
            message: message, uptimeSeconds: 1, softwareVersion: "t",
            checks: [.init(name: "disk", healthy: healthy, critical: false, latencyMicros: 5, message: "fine")])
    }
}

@Suite("Gossip core: membership transitions and rules")
struct GossipCoreTests {
    @Test("nodes join through a seed and list each other as alive")
    func join() {
        var h = Harness(count: 4)
        h.start()
        h.advance(.seconds(3))
        for i in 0..<4 {
            for j in 0..<4 where j != i { #expect(h.state(of: j, at: i) == .alive, "\(j) at \(i)") }
        }
        #expect(h.events.contains { $0.0 == 1 && $0.1 == .memberChanged(h.key(2), .alive) })
    }

    @Test("a node that stops answering is suspected, then declared dead, and its tombstone expires")
    func suspectDeadReap() {
        var settings = GossipSettings()
        settings.tombstoneGrace = .seconds(10)
        var h = Harness(count: 4, settings: settings)
        h.start()
        h.advance(.seconds(3))
        h.deaf = [3]
        var sawSuspect = false
        for _ in 0..<100 {
            h.advance(.milliseconds(100), skip: [3])
            if (0..<3).contains(where: { h.state(of: 3, at: $0) == .suspect }) { sawSuspect = true }
            if (0..<3).allSatisfy({ h.state(of: 3, at: $0) == .dead }) { break }
        }
        #expect(sawSuspect, "dead only after suspect")
        #expect((0..<3).allSatisfy { h.state(of: 3, at: $0) == .dead })
        h.advance(.seconds(11), skip: [3])
        #expect((0..<3).allSatisfy { h.cores[$0].members[h.key(3)] == nil }, "tombstone reaped after the grace period")
    }

    @Test("a suspected node refutes with a higher incarnation and stays alive")
    func refutation() {
        var h = Harness(count: 3)
        h.start()
        h.advance(.seconds(2))
        let life = h.cores[0].members[h.key(2)]!.life
        // Node 1 claims node 2 is suspect; node 2 hears it and refutes.
        let rumour = Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life))])
        h.collect(h.cores[0].receive(rumour, from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        #expect(h.state(of: 2, at: 0) == .suspect)
        h.collect(h.cores[2].receive(rumour, from: Harness.address(1), sender: h.key(1), now: h.now), from: 2)
        #expect(h.cores[2].life.incarnation == life.incarnation + 1)
        h.advance(.seconds(2))
        #expect(h.state(of: 2, at: 0) == .alive)
        #expect(h.cores[0].members[h.key(2)]!.life.incarnation == life.incarnation + 1)
    }

    @Test("precedence: generation first; left final; dead only yields to a newer refutation")
    func precedence() {
        typealias L = Life
        let g1i1 = L(generation: 1, incarnation: 1)
        let g1i2 = L(generation: 1, incarnation: 2)
        let g2i0 = L(generation: 2, incarnation: 0)
        #expect(GossipCore.overrides(g1i2, .alive, g1i1, .alive))
        #expect(!GossipCore.overrides(g1i1, .alive, g1i1, .alive))
        #expect(GossipCore.overrides(g1i1, .suspect, g1i1, .alive), "suspect beats alive at the same incarnation")
        #expect(!GossipCore.overrides(g1i1, .alive, g1i1, .suspect))
        #expect(GossipCore.overrides(g1i2, .alive, g1i1, .suspect), "refutation")
        #expect(GossipCore.overrides(g1i1, .dead, g1i1, .suspect))
        #expect(!GossipCore.overrides(g1i1, .dead, g1i2, .alive), "an old death does not kill a refuted node")
        #expect(!GossipCore.overrides(g1i1, .alive, g1i1, .dead), "stale alive cannot resurrect")
        #expect(GossipCore.overrides(g1i2, .alive, g1i1, .dead), "the node's own refutation can")
        #expect(!GossipCore.overrides(g1i2, .suspect, g1i1, .dead))
        #expect(!GossipCore.overrides(g1i2, .alive, g1i1, .left), "left is final within a generation")
        #expect(GossipCore.overrides(g2i0, .alive, g1i2, .left), "a restart replaces the old self")
        #expect(GossipCore.overrides(g2i0, .alive, g1i2, .dead))
        #expect(!GossipCore.overrides(g1i2, .alive, g2i0, .alive), "an old generation never wins")
    }

    @Test("graceful leave: members see it as left at once, stale alive gossip cannot bring it back, and after the reconnect timeout it is forgotten")
    func leave() {
        var settings = GossipSettings()
        settings.tombstoneGrace = .seconds(5)
        settings.reconnectTimeout = .seconds(30)
        var h = Harness(count: 4, settings: settings)
        h.start()
        h.advance(.seconds(3))
        let oldLife = h.cores[0].members[h.key(3)]!.life
        h.collect(h.cores[3].leave(now: h.now), from: 3)
        h.settle()
        h.advance(.milliseconds(600), skip: [3])
        #expect((0..<3).allSatisfy { h.state(of: 3, at: $0) == .left })
        h.advance(.seconds(6), skip: [3])
        #expect(h.cores[0].members[h.key(3)] == nil, "forgotten after the grace period")
        // A stale alive from before the leave is ignored thanks to the remembered set.
        let stale = Datagram.encode([.alive(Announcement.sign(h.keys[3], life: oldLife, address: Harness.address(3)))])
        _ = h.cores[0].receive(stale, from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(h.cores[0].members[h.key(3)] == nil)
        #expect(h.cores[0].stats.dropped[.rememberedDead] == 1)
        h.advance(.seconds(15), skip: [3])
        #expect((0..<3).allSatisfy { h.cores[$0].rememberedKeys.contains(h.key(3)) }, "remembered until the reconnect timeout")
        h.advance(.seconds(12), skip: [3])
        #expect((0..<3).allSatisfy { h.cores[$0].rememberedKeys.isEmpty }, "forgotten 30 s after it left")
        // Forgotten means no memory at all: the old life is news again, as from a new member.
        _ = h.cores[0].receive(stale, from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(h.cores[0].members[h.key(3)]?.state == .alive)
        #expect(h.cores[0].stats.dropped[.rememberedDead] == 1)
    }

    @Test("a restarted node (new generation) replaces its old self and its old status")
    func restart() throws {
        var settings = GossipSettings()
        settings.electionStartDelay = .seconds(100_000)  // no election re-signs: versions stay countable
        var h = Harness(count: 3, settings: settings)
        h.start()
        h.collect(h.cores[2].publish(Harness.draft("first"), now: h.now), from: 2)
        h.advance(.seconds(3))
        #expect(h.cores[0].store.versionOf(h.key(2))! == (1, 1))
        h.cores[2] = GossipCore(
            keyPair: h.keys[2], address: Harness.address(2), generation: 2, settings: settings,
            trust: .keys(Set(h.keys.map(\.publicKey))),
            seeds: [Harness.address(0)], randomSeed: 77, wallClockOrigin: Harness.wallClock)
        h.collect(h.cores[2].start(now: h.now), from: 2)
        h.collect(h.cores[2].publish(Harness.draft("second"), now: h.now), from: 2)
        h.settle()
        h.advance(.seconds(3))
        #expect(h.cores[0].members[h.key(2)]!.life.generation == 2)
        // Version 1 was signed alone; joining crossed the minimum-peers threshold, a meaningful change.
        #expect(h.cores[0].store.versionOf(h.key(2))!.generation == 2)
        #expect(h.cores[0].store.statuses[h.key(2)]!.projection.message == "second")
    }

    @Test("changes within a second of the last signed version are signed together at its end; stopping is signed at once")
    func signingInterval() {
        var settings = GossipSettings()
        settings.electionStartDelay = .seconds(100_000)  // no election re-signs: versions stay countable
        var h = Harness(count: 2, settings: settings)
        h.start()
        h.advance(.seconds(5))
        func signed() -> (version: UInt64, message: String) {
            let own = h.cores[1].ownStatus!.projection
            return (own.version, own.message)
        }
        h.collect(h.cores[1].publish(Harness.draft("first"), now: h.now), from: 1)
        let first = signed()
        #expect(first.message == "first")
        h.advance(.milliseconds(200))
        h.collect(h.cores[1].publish(Harness.draft("second"), now: h.now), from: 1)
        h.advance(.milliseconds(200))
        h.collect(h.cores[1].publish(Harness.draft("third"), now: h.now), from: 1)
        #expect(signed().version == first.version)
        h.advance(.milliseconds(700))
        #expect(signed().version == first.version + 1 && signed().message == "third")
        #expect(h.cores[0].store.statuses[h.key(1)]?.projection.message == "third")
        // A change that comes back to the signed version before the interval ends is not signed.
        h.collect(h.cores[1].publish(Harness.draft("fourth"), now: h.now), from: 1)
        h.collect(h.cores[1].publish(Harness.draft("third"), now: h.now), from: 1)
        h.advance(.seconds(2))
        #expect(signed().version == first.version + 1)
        // Long after the last version: at once. And stopping never waits.
        h.collect(h.cores[1].publish(Harness.draft("fifth"), now: h.now), from: 1)
        #expect(signed().version == first.version + 2)
        var stopping = Harness.draft("stopping")
        stopping.status = .stopping
        h.collect(h.cores[1].publish(stopping, now: h.now), from: 1)
        #expect(signed().version == first.version + 3)
    }

    @Test("an untrusted key never enters the view, nor does its status")
    func untrusted() {
        let outsider = 3
        var h = Harness(count: 4, trust: { i in i == outsider ? .any : .keys([]) })
        // Trust lists of 0...2 hold each other but not the outsider.
        let trusted = Set((0..<3).map { SigningKeyPair(seed: [UInt8](repeating: UInt8($0 + 1), count: 32))!.publicKey })
        for i in 0..<3 {
            h.cores[i] = GossipCore(
                keyPair: h.keys[i], address: Harness.address(i), generation: 1, trust: .keys(trusted),
                seeds: i == 0 ? [] : [Harness.address(0)], randomSeed: UInt64(i), wallClockOrigin: Harness.wallClock)
        }
        h.start()
        h.collect(h.cores[outsider].publish(Harness.draft("let me in"), now: h.now), from: outsider)
        h.advance(.seconds(6))
        for i in 0..<3 {
            #expect(h.cores[i].members[h.key(outsider)] == nil)
            #expect(h.cores[i].store.statuses[h.key(outsider)] == nil)
        }
        #expect((h.cores[0].stats.dropped[.untrustedMember] ?? 0) > 0)
    }

    @Test("malformed datagrams are dropped and counted")
    func hostileDatagrams() {
        var h = Harness(count: 2)
        h.start()
        var core = h.cores[0]
        let garbage: [[UInt8]] = [[], [1], [9, 9, 9], [1, 1, 0, 50, 0], Array(repeating: 0xff, count: 1500)]
        for bytes in garbage { #expect(core.receive(bytes, from: Harness.address(1), sender: h.key(1), now: .zero).isEmpty) }
        #expect(core.stats.dropped[.malformed] == garbage.count)
        var generator = SplitMix64(seed: 5)
        for _ in 0..<2000 {
            let bytes = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = core.receive([1] + bytes, from: Harness.address(1), sender: h.key(1), now: .zero)
        }
    }

    @Test("a status is republished on meaningful changes only; figures wait for the slow refresh")
    func republishRules() {
        var settings = GossipSettings()
        settings.statusRefreshInterval = .seconds(60)
        settings.statusRefreshPerMember = .seconds(1)
        settings.electionStartDelay = .seconds(100_000)  // no election re-signs: versions stay countable
        var h = Harness(count: 2, settings: settings)
        h.start()
        h.collect(h.cores[0].publish(Harness.draft("all good"), now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.version == 1)
        var figures = Harness.draft("all good")
        figures.checks[0].latencyMicros = 999
        figures.uptimeSeconds = 50
        h.collect(h.cores[0].publish(figures, now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.version == 1, "latency and uptime alone do not republish")
        h.collect(h.cores[0].publish(Harness.draft("disk full", healthy: false), now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.version == 2, "a failing check republishes at once")
        h.collect(h.cores[0].publish(Harness.draft("disk full", healthy: false), now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.version == 2)
        h.advance(.seconds(44))
        #expect(h.cores[0].ownStatus?.projection.version == 2, "no refresh before 75 % of the interval")
        h.advance(.seconds(32))
        #expect(h.cores[0].ownStatus?.projection.version == 3, "the slow refresh re-signs the figures (60 s ± 25 %)")
        #expect(h.cores[1].store.versionOf(h.key(0))! == (1, 3))
    }

    @Test("the refresh interval grows with the cluster: at least 60 s per member")
    func refreshScalesWithSize() {
        var h = Harness(count: 8)
        h.start()
        h.advance(.seconds(3))
        #expect(h.cores[0].refreshInterval == .seconds(480), "8 members × 60 s")
        var small = GossipSettings()
        small.statusRefreshPerMember = .seconds(10)
        var s = Harness(count: 3, settings: small)
        s.start()
        s.advance(.seconds(3))
        #expect(s.cores[0].refreshInterval == .seconds(300), "never below statusRefreshInterval")
    }

    @Test("a node holds and spreads its own status even when its trust list omits its own key")
    func ownStatusWithoutSelfTrust() {
        var h = Harness(count: 2)
        let others = Set([h.key(1)])
        h.cores[0] = GossipCore(
            keyPair: h.keys[0], address: Harness.address(0), generation: 1, trust: .keys(others), randomSeed: 1, wallClockOrigin: Harness.wallClock)
        h.start()
        h.collect(h.cores[0].publish(Harness.draft("mine"), now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.message == "mine")
        h.advance(.seconds(2))
        #expect(h.cores[1].store.statuses[h.key(0)]?.projection.message == "mine")
    }

    @Test("no datagram exceeds the budget, even when many statuses are queued")
    func datagramBudget() {
        var settings = GossipSettings()
        settings.maxDatagramBytes = 600
        var h = Harness(count: 8, settings: settings)
        h.start()
        for i in 0..<8 { h.collect(h.cores[i].publish(Harness.draft(String(repeating: "x", count: 150)), now: h.now), from: i) }
        h.advance(.seconds(8))
        #expect(h.largestDatagram <= 600)
        #expect(h.largestDatagram > 300, "the budget was actually used")
        #expect((0..<8).allSatisfy { i in (0..<8).allSatisfy { j in i == j || h.cores[i].store.versionOf(h.key(j)) != nil } })
    }

    @Test("a failed probe: a second direct ping, helpers nack, and the nacks confirm the suspicion")
    func nacksConfirm() throws {
        var h = Harness(count: 6)
        h.start()
        h.advance(.seconds(3))
        h.sent = []
        h.deaf = [5]
        var suspectedAt: Duration?
        var prober = -1
        while suspectedAt == nil && h.now < .seconds(20) {
            h.advance(.milliseconds(100), skip: [5])
            // The prober's own claim (helpers send theirs with their nacks, before it).
            let first = h.sent.first { sent in
                sent.parts.contains { if case .suspect(let claim) = $0 { claim.subject == h.key(5) && claim.accuser == h.key(sent.from) && sent.to == 5 } else { false } }
            }
            if let first { (suspectedAt, prober) = (h.now, first.from) }
        }
        let start = try #require(suspectedAt)
        // The prober pinged twice with one sequence (the second beside the ping requests).
        let pings = h.sent.filter { $0.from == prober && $0.to == 5 }.flatMap(\.parts).compactMap { part -> UInt32? in
            if case .ping(let sequence) = part { sequence } else { nil }
        }
        #expect(Dictionary(grouping: pings, by: { $0 }).values.contains { $0.count == 2 })
        // Helpers nacked with their own signed suspicions, and the prober relays them as confirmations.
        let nackers = Set(h.sent.filter { $0.to == prober }
            .filter { $0.parts.contains { if case .nack = $0 { true } else { false } } }.map(\.from))
        #expect(nackers.count >= 2, "\(nackers)")
        h.advance(.milliseconds(300), skip: [5])
        let confirmers = Set(h.sent.filter { $0.from == prober }.flatMap(\.parts).compactMap { part -> PublicKey? in
            if case .suspect(let claim) = part, claim.subject == h.key(5) { claim.accuser } else { nil }
        })
        #expect(confirmers.isSuperset(of: Set(nackers.map { h.key($0) })))
        // With three confirmations the suspicion lasts the shortest timeout: 1 s at N = 6.
        while h.state(of: 5, at: prober) == .suspect { h.advance(.milliseconds(100), skip: [5]) }
        #expect(h.state(of: 5, at: prober) == .dead)
        #expect(h.now - start <= .milliseconds(1100), "\(h.now - start)")
    }

    @Test("every node probes its ring successor seven turns in eight, a round-robin target in the eighth (a turn of half an interval)")
    func ringSuccessorProbed() {
        var h = Harness(count: 6)
        h.start()
        h.advance(.seconds(2))
        h.sent = []
        h.advance(.seconds(40))
        let order = (0..<6).sorted { h.key($0) < h.key($1) }
        for (position, i) in order.enumerated() {
            let successor = order[(position + 1) % order.count]
            let pings = h.sent.filter { $0.from == i }
                .filter { $0.parts.contains { if case .ping = $0 { true } else { false } } }
            // Cycles of 7.5 s: 7 successor turns of 1 s and a round-robin turn of 0.5 s, so ~37
            // successor turns in 40 s, the round-robin turns that fall on the successor, and 8
            // heartbeats when the successor leads.
            let toSuccessor = pings.filter { $0.to == successor }.count
            #expect((34...47).contains(toSuccessor), "\(i) → \(successor): \(toSuccessor)")
            // ~5 round-robin turns, one pass over the 5 others: every other member is probed
            // from here too. A follower also pings the leader every 5 s (8 more).
            let others = Set(pings.map(\.to)).subtracting([successor])
            let roundRobin = pings.count - toSuccessor
            #expect((3...15).contains(roundRobin) && others.count == 4, "\(i): \(roundRobin) pings to \(others)")
        }
    }

    @Test("anti-entropy summaries go every 5 s while the digest changes, every 15 s once it has been steady for 30 s")
    func antiEntropyQuietsDown() {
        var h = Harness(count: 4)
        h.start()
        func summaries(from i: Int, in window: Range<Duration>) -> Int {
            h.sent.filter { $0.from == i && window.contains($0.at) }
                .filter { $0.parts.contains { if case .summary = $0 { true } else { false } } }.count
        }
        h.advance(.seconds(90))
        // Joined at once: steady from the start, quiet after 30 s.
        #expect((5...7).contains(summaries(from: 1, in: Duration.zero..<Duration.seconds(30))))
        #expect((3...4).contains(summaries(from: 1, in: Duration.seconds(30)..<Duration.seconds(90))))
        // A change anywhere (node 3 publishes a status) makes node 1 summarize every 5 s again.
        h.collect(h.cores[3].publish(Harness.draft("news"), now: h.now), from: 3)
        h.settle()
        let changed = h.now
        h.advance(.seconds(30))
        #expect((5...7).contains(summaries(from: 1, in: changed..<h.now)))
    }

    @Test("anti-entropy deltas are applied, but their join announcements and statuses are not spread again")
    func catchUpNotRumoured() throws {
        var h = Harness(count: 3)
        h.start()
        h.advance(.seconds(5))
        let stranger = SigningKeyPair(seed: [UInt8](repeating: 77, count: 32))!
        let other = SigningKeyPair(seed: [UInt8](repeating: 78, count: 32))!
        var core = GossipCore(
            keyPair: h.keys[0], address: Harness.address(0), generation: 2, trust: .any, randomSeed: 1, wallClockOrigin: Harness.wallClock)
        _ = core.start(now: .zero)
        let before = core.pendingRumours
        let life = Life(generation: 1, incarnation: 0)
        _ = core.receive(
            Datagram.encode([.catchUp, .alive(Announcement.sign(stranger, life: life, address: NodeAddress(host: "10.0.0.9", port: 1)))]),
            from: Harness.address(1), sender: h.key(1), now: .zero)
        #expect(core.members[stranger.publicKey]?.state == .alive)
        #expect(core.pendingRumours == before)
        _ = core.receive(
            Datagram.encode([.alive(Announcement.sign(other, life: life, address: NodeAddress(host: "10.0.0.10", port: 1)))]),
            from: Harness.address(1), sender: h.key(1), now: .zero)
        #expect(core.members[other.publicKey]?.state == .alive)
        #expect(core.pendingRumours == before + 1, "a rumoured join announcement is relayed")

        // Statuses likewise: a delta's status is stored (and offered in the digest), a rumoured one relayed.
        let delta = try SignedStatus.sign(sampleProjection(stranger), with: stranger)
        var out = core.receive(Datagram.encode([.catchUp, .status(delta)]), from: Harness.address(1), sender: h.key(1), now: .zero)
        #expect(out.contains { if case .statusAccepted(stranger.publicKey) = $0 { true } else { false } })
        #expect(core.pendingRumours == before + 1)
        let rumoured = try SignedStatus.sign(sampleProjection(other), with: other)
        out = core.receive(Datagram.encode([.status(rumoured)]), from: Harness.address(1), sender: h.key(1), now: .zero)
        #expect(out.contains { if case .statusAccepted(other.publicKey) = $0 { true } else { false } })
        #expect(core.pendingRumours == before + 2, "a rumoured status is relayed")
    }

    /// Four joined nodes; node 1 relays node 0's suspicion of node 3 to `receiver`. Returns the
    /// harness (with `sent` holding what followed) and node 3's life before.
    static func relayedSuspicion(to receiver: Int) -> (Harness, Life) {
        var h = Harness(count: 4)
        h.start()
        h.advance(.seconds(3))
        let life = h.cores[3].life
        let rumour = Datagram.encode([.suspect(h.claim(by: 0, about: 3, life: life))])
        h.sent = []
        h.collect(h.cores[receiver].receive(rumour, from: Harness.address(1), sender: h.key(1), now: h.now), from: receiver)
        return (h, life)
    }

    @Test("a refutation goes straight back to the relay and to the first suspecter")
    func refutationToAccuser() {
        // Node 1 relays node 0's suspicion of node 3, to node 3 itself.
        let (h, life) = Self.relayedSuspicion(to: 3)
        #expect(h.cores[3].life.incarnation == life.incarnation + 1)
        let refuted = { (target: Int) in
            h.sent.contains { sent in
                sent.from == 3 && sent.to == target
                    && sent.parts.contains { if case .alive(let a) = $0 { a.key == h.key(3) && a.life > life } else { false } }
            }
        }
        #expect(refuted(1), "to the relay")
        #expect(refuted(0), "to the accuser")
    }

    @Test("a node that hears a suspicion asks the suspect itself, and gets the refutation straight back")
    func suspicionVerifiedWithSuspect() {
        let setup = Self.relayedSuspicion(to: 2)
        var h = setup.0
        let life = setup.1
        #expect(h.state(of: 3, at: 2) == .suspect)
        let asked = h.sent.contains { $0.from == 2 && $0.to == 3 && $0.parts.contains { if case .suspect = $0 { true } else { false } } }
        #expect(asked, "node 2 pings node 3 with the suspicion")
        h.settle()
        #expect(h.state(of: 3, at: 2) == .alive, "the refutation came straight back")
        #expect(h.cores[2].members[h.key(3)]!.life.incarnation == life.incarnation + 1)
    }

    @Test("news goes out at once: a new status is forwarded hop by hop without waiting for a round")
    func eagerGossip() {
        var h = Harness(count: 12)
        h.start()
        h.advance(.seconds(6))
        #expect(h.cores.allSatisfy { $0.liveCount == 11 }, "\(h.cores.map(\.liveCount)) \(h.cores[5].stats.dropped)")
        // No time passes: the status must reach others through eager rounds alone.
        h.now += .milliseconds(60)
        h.collect(h.cores[0].publish(Harness.draft("maintenance", healthy: false), now: h.now), from: 0)
        let first = h.sent.filter { $0.from == 0 && $0.at == h.now }.count
        #expect(first >= 3, "the publisher sends to fanout members at once")
        h.settle()
        let holders = h.cores.indices.filter { h.cores[$0].store.statuses[h.key(0)]?.projection.message == "maintenance" }
        #expect(holders.count >= 9, "most nodes have it before any tick: \(holders.count)")

        // The same with eager gossip turned off: nothing leaves before the next tick.
        var off = GossipSettings()
        off.eagerGossip = false
        var lazy = Harness(count: 12, settings: off)
        lazy.start()
        lazy.advance(.seconds(3))
        lazy.now += .milliseconds(60)
        lazy.collect(lazy.cores[0].publish(Harness.draft("maintenance", healthy: false), now: lazy.now), from: 0)
        lazy.settle()
        let lazyHolders = lazy.cores.indices.filter { lazy.cores[$0].store.statuses[lazy.key(0)]?.projection.message == "maintenance" }
        #expect(lazyHolders == [0], "without eager gossip the status waits for the next round")
    }

    @Test("an idle regular round does not hold news back; a round that carried rumours batches news within 50 ms")
    func eagerSpacing() {
        var h = Harness.joined(12)
        h.advance(.seconds(6))
        #expect(h.cores[0].pendingRumours == 0, "at rest")
        // Ticks come every 100 ms and the regular round every 200 ms: 10 ms after a tick whose
        // round had nothing to send, news still leaves at once.
        h.now += .milliseconds(10)
        h.collect(h.cores[0].publish(Harness.draft("first", healthy: false), now: h.now), from: 0)
        #expect(h.sent.filter { $0.from == 0 && $0.at == h.now }.count >= 6, "the eager round went out")
        // 10 ms after that round, which carried rumours, the next news waits to be batched.
        h.settle()
        h.now += .milliseconds(10)
        let before = h.sent.count
        var worse = Harness.draft("second", healthy: false)
        worse.status = .unhealthy  // worse news is signed at once
        h.collect(h.cores[0].publish(worse, now: h.now), from: 0)
        #expect(h.cores[0].ownStatus?.projection.message == "second", "signed")
        #expect(h.sent.count == before, "held for the next round")
        h.now += .milliseconds(40)
        h.collect(h.cores[0].tick(now: h.now), from: 0)
        #expect(h.sent.count > before, "sent once 50 ms have passed")
    }
}
