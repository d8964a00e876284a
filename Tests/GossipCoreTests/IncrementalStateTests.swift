@testable import GossipCore
import Testing

/// State the core keeps up to date as members change instead of recomputing it every tick —
/// the anti-entropy digest, the election's candidate — held to what a scan from scratch gives.
@Suite("Incremental state: the anti-entropy digest and the election candidate")
struct DigestIndexTests {
    static func key(_ i: UInt8) -> PublicKey { SigningKeyPair(seed: [UInt8](repeating: i, count: 32))!.publicKey }

    static func entry(_ key: PublicKey, _ n: UInt64) -> DigestEntry {
        DigestEntry(
            key: key, life: Life(generation: n % 3, incarnation: n), state: MemberState(rawValue: UInt8(n % 4))!,
            statusGeneration: n &* 7, statusVersion: n == 5 ? .max : n)
    }

    static func expectSame(_ patched: DigestIndex, _ rebuilt: DigestIndex, _ context: String = "") {
        #expect(patched.keys == rebuilt.keys, "\(context)")
        #expect(patched.buckets == rebuilt.buckets, "\(context)")
        #expect(patched.summary == rebuilt.summary, "\(context)")
    }

    @Test("random inserts, changes and removals leave the index equal to one built from scratch")
    func randomUpdates() {
        let keys = (1...40).map { Self.key(UInt8($0)) }
        var rng = SplitMix64(seed: 9)
        var truth: [PublicKey: DigestEntry] = [:]
        var index = DigestIndex([])
        for step in 0..<2000 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            let entry = rng.next() % 4 == 0 ? nil : Self.entry(key, rng.next() % 10)
            truth[key] = entry
            index.update(key, to: entry)
            if step % 50 == 0 { Self.expectSame(index, DigestIndex(Array(truth.values)), "step \(step)") }
        }
        Self.expectSame(index, DigestIndex(Array(truth.values)))
        #expect(index.keys == index.keys.sorted())
    }

    @Test("entries by prefix range: bounds included, 0 and 2^64−1 as bounds, an empty range when low > high")
    func prefixRanges() {
        let index = DigestIndex((1...30).map { Self.entry(Self.key(UInt8($0)), 1) })
        let prefixes = index.keys.map(\.prefix)
        #expect(index.keys(prefixFrom: 0, through: .max).count == 30)
        #expect(index.keys(prefixFrom: prefixes[3], through: prefixes[7]).map(\.prefix) == Array(prefixes[3...7]))
        #expect(index.keys(prefixFrom: prefixes[3] + 1, through: prefixes[7] - 1).count == 3)
        #expect(index.keys(prefixFrom: prefixes[7], through: prefixes[3]).isEmpty)
        #expect(index.keys(prefixFrom: .max, through: .max).count == (prefixes.last == .max ? 1 : 0))
        #expect(DigestIndex([]).keys(prefixFrom: 0, through: .max).isEmpty)
        // Keys at both ends of the ring, in the first and the last run and bucket.
        let lowest = PublicKey(bytes: [UInt8](repeating: 0, count: 32))!
        let highest = PublicKey(bytes: [UInt8](repeating: 0xFF, count: 32))!
        let edges = DigestIndex([Self.entry(highest, 2), Self.entry(lowest, 1)])
        #expect(edges.keys == [lowest, highest])
        #expect(edges.keys(prefixFrom: 0, through: 0) == [lowest])
        #expect(edges.keys(prefixFrom: .max, through: .max) == [highest])
        #expect(edges.keys(prefixFrom: 1, through: .max - 1).isEmpty)
        #expect(edges.keys(inBuckets: 1) == [lowest])
        #expect(edges.keys(inBuckets: 1 << 15) == [highest])
        #expect(edges.keys(inBuckets: 0xFFFF).count == 2)
    }

    /// Every core's digest and election candidate against those found from its members now.
    static func expectCurrent(_ h: inout Harness, _ context: String) {
        for i in h.cores.indices {
            let core = h.cores[i]
            let rebuilt = DigestIndex((Array(core.members.keys) + [core.key]).compactMap(core.digestEntry(for:)))
            Self.expectSame(h.cores[i].digest(), rebuilt, "node \(i), \(context)")
            let alive = core.members.values.filter { $0.state == .alive }.map(\.key)
            let oldest = alive.min { core.outranks(($0, 0), ($1, 0)) }
            #expect(h.cores[i].otherCandidate() == oldest, "node \(i), \(context)")
            if let cached = core.quorumCache, cached.until.map({ h.now < $0 }) ?? true {
                #expect(cached.quorum == core.countQuorum(now: h.now).quorum, "node \(i), \(context)")
            }
        }
    }

    /// The quorum is counted when a member's liveness changes and when a counted death ages
    /// out, not on every tick; at every step it agrees with a count from scratch.
    @Test("quorum: lost when three of five die, back when their deaths age out of the memory, as a count from scratch says")
    func quorumCache() throws {
        var settings = GossipSettings()
        settings.tombstoneGrace = .seconds(5)
        settings.electionQuorumMemory = .seconds(20)
        var h = Harness.joined(5, settings: settings)
        let atStart = h.cores[0].hasQuorum(now: h.now)
        #expect(atStart)
        h.deaf = [2, 3, 4]
        var lostAt: Duration?
        var regainedAt: Duration?
        for _ in 0..<400 {
            h.advance(.milliseconds(100), skip: [2, 3, 4])
            Self.expectCurrent(&h, "at \(h.now)")
            let quorum = h.cores[0].hasQuorum(now: h.now)
            #expect(quorum == h.cores[0].countQuorum(now: h.now).quorum, "at \(h.now)")
            if !quorum, lostAt == nil { lostAt = h.now }
            if quorum, lostAt != nil, regainedAt == nil { regainedAt = h.now }
        }
        let lost = try #require(lostAt, "three of five dead: no majority")
        let regained = try #require(regainedAt, "their deaths aged out")
        // Back when two of the three deaths are older than the 20-s memory (they came within
        // about a second of each other).
        #expect(regained - lost > .seconds(17) && regained - lost <= .seconds(21), "\(lost) → \(regained)")
        #expect(h.cores[0].rememberedKeys.count == 3, "the dead moved from tombstones to remembered on the way")
    }

    @Test("through join, status, suspicion, death, restart, leave and reaping, every node's digest and candidate are current")
    func protocolKeepsDigestCurrent() throws {
        var settings = GossipSettings()
        settings.tombstoneGrace = .seconds(10)
        var h = Harness(count: 5, settings: settings)
        h.start()
        h.advance(.seconds(3))
        Self.expectCurrent(&h, "joined")
        h.collect(h.cores[1].publish(Harness.draft("hello"), now: h.now), from: 1)
        h.advance(.seconds(1))
        Self.expectCurrent(&h, "status")
        h.deaf = [4]
        for _ in 0..<30 { h.advance(.milliseconds(100), skip: [4]) }
        Self.expectCurrent(&h, "suspected")
        for _ in 0..<100 { h.advance(.milliseconds(100), skip: [4]) }
        Self.expectCurrent(&h, "dead")
        h.collect(h.cores[3].leave(now: h.now), from: 3)
        h.settle()
        h.advance(.seconds(1), skip: [3, 4])
        Self.expectCurrent(&h, "left")
        h.advance(.seconds(12), skip: [3, 4])
        #expect(h.cores[0].members[h.key(4)] == nil)
        Self.expectCurrent(&h, "reaped")
        h.deaf = []
        h.cores[4] = GossipCore(
            keyPair: h.keys[4], address: Harness.address(4), generation: 2, settings: settings,
            trust: .keys(Set(h.keys.map(\.publicKey))), seeds: [Harness.address(0)], randomSeed: 5,
            wallClockOrigin: Harness.wallClock)
        h.collect(h.cores[4].start(now: h.now), from: 4)
        h.advance(.seconds(3), skip: [3])
        #expect(h.cores[0].members[h.key(4)]?.state == .alive)
        Self.expectCurrent(&h, "restarted")
    }
}
