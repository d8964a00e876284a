import Testing

@testable import GossipCore

/// Signed accusations (``Accusation``): who may say a member is suspect or dead, and what it takes.
@Suite("Signed accusations: no single member, and no outsider, takes a node out")
struct AccusationTests {
    /// Whether any node in `observers` holds any node in `subjects` dead.
    static func anyDead(_ h: Harness, among observers: [Int], of subjects: [Int]) -> Bool {
        observers.contains { i in subjects.contains { j in i != j && h.state(of: j, at: i) == .dead } }
    }

    @Test("one member claiming ten times a second that another is suspect and dead: it stays alive everywhere, and the liar is named")
    func liar() {
        var h = Harness.joined(6)
        for _ in 0..<300 {
            // The liar's claims about node 2's life as the liar holds it, to every other node.
            let life = h.cores[1].members[h.key(2)]!.life
            let lie = Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life)), .dead(h.certificate(by: [1], about: 2, life: life))])
            for target in [0, 2, 3, 4, 5] {
                h.collect(h.cores[target].receive(lie, from: Harness.address(1), sender: h.key(1), now: h.now), from: target)
            }
            h.advance(.milliseconds(100))
            #expect(!Self.anyDead(h, among: Array(0..<6), of: [2]), "node 2 dead somewhere at \(h.now)")
        }
        h.advance(.seconds(2))
        for i in [0, 3, 4, 5] {
            #expect(h.state(of: 2, at: i) == .alive, "node 2 as node \(i) sees it")
            let record = h.cores[i].accuserRecords[h.key(1)]
            #expect(record?.isUnreliable == true, "node \(i) names the liar: \(String(describing: record))")
            #expect((record?.refuted ?? 0) >= 3)
        }
        // Node 2 refuted only until its own record of the liar said enough: its life did not
        // follow the liar's 3000 claims.
        #expect(h.cores[2].life.incarnation < 20, "\(h.cores[2].life)")
        #expect(h.cores[2].accuserRecords[h.key(1)]?.isUnreliable == true)
    }

    @Test("local health: a node whose helpers' nacks do not come, or that must refute, slows its probes; answered probes bring it back")
    func localHealth() {
        var h = Harness.joined(6)
        h.advance(.seconds(3))
        #expect(h.cores.allSatisfy { $0.localHealth == 0 }, "healthy at rest")
        // Node 0 hears only node 5 (as a starved process whose answers come too late): its
        // probes of the others fail and the helpers' nacks do not come.
        for j in 1...4 { h.cut.insert([j, 0]) }
        var highest = 0
        for _ in 0..<200 {
            h.advance(.milliseconds(100))
            highest = max(highest, h.cores[0].localHealth)
        }
        #expect(highest >= 2, "missing nacks raise the score: \(highest)")
        #expect(h.cores[0].scaledByLocalHealth(.milliseconds(400)) == .milliseconds(400) * (h.cores[0].localHealth + 1))
        // Once it hears again, answered probes bring it down.
        h.cut = []
        h.advance(.seconds(60))
        #expect(h.cores[0].localHealth == 0, "\(h.cores[0].localHealth)")
        // A node that hears nothing at all is cut off, not slow: its score stays 0, so it still
        // finds its members gone as fast as before.
        h.deaf.insert(1)
        h.advance(.seconds(4))
        #expect(h.cores[1].localHealth == 0)
        h.deaf = []
        h.advance(.seconds(30))
        // A suspicion of itself that it refutes counts against it too.
        var fresh = Harness.joined(4)
        fresh.collect(fresh.cores[3].receive(Datagram.encode([.suspect(fresh.claim(by: 1, about: 3))]), from: Harness.address(1), sender: fresh.key(1), now: fresh.now), from: 3)
        #expect(fresh.cores[3].life.incarnation == 1 && fresh.cores[3].localHealth == 1, "\(fresh.cores[3].life)")
        // Turned off: never moves.
        var off = GossipSettings()
        off.localHealthMax = 0
        var quiet = Harness.joined(4, settings: off)
        quiet.cut = [[1, 0], [2, 0]]
        quiet.advance(.seconds(5))
        #expect(quiet.cores[0].localHealth == 0)
    }

    @Test("claims that are forged, from outside, replayed, from the future, by the subject itself or about an unannounced life are dropped by reason")
    func hostileClaims() {
        var h = Harness.joined(4)
        let life = h.cores[0].members[h.key(2)]!.life
        let minute = UInt64(60_000)
        var forged = Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life))])
        forged[1 + 3 + 48] ^= 1  // the accuser's key: now nobody's (untrusted), and not what was signed
        let attacks: [(String, [UInt8])] = [
            ("forged", Self.swap(h.key(1), for: h.key(3), in: Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life))]))),
            ("outsider", Datagram.encode([.suspect(Accusation.sign(SigningKeyPair(), .suspect, subject: h.key(2), life: life, issuedAt: h.wallMilliseconds))])),
            ("replayed", Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life, issuedAt: h.wallMilliseconds - 2 * minute))])),
            ("future", Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life, issuedAt: h.wallMilliseconds + minute))])),
            ("extreme future", Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life, issuedAt: .max))])),
            ("zero time", Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life, issuedAt: 0))])),
            ("by its subject", Datagram.encode([.suspect(h.claim(by: 2, about: 2, life: life))])),
            ("unannounced", Datagram.encode([.dead(h.certificate(by: [1], about: 2, life: Life(generation: life.generation, incarnation: life.incarnation + 1)))])),
            ("moved accuser", forged),
        ]
        for (_, datagram) in attacks {
            h.collect(h.cores[0].receive(datagram, from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        }
        let drops = h.cores[0].stats.dropped
        #expect(drops[.forgedAccusation] == 1, "\(drops)")
        #expect(drops[.untrustedAccuser] == 2, "the outsider's, and the one whose accuser was altered: \(drops)")
        #expect(drops[.staleAccusation] == 2, "\(drops)")
        #expect(drops[.futureAccusation] == 2, "\(drops)")
        #expect(drops[.misboundAccusation] == 1, "by its subject: \(drops)")
        #expect(drops[.unannouncedLife] == 1, "\(drops)")
        #expect(h.state(of: 2, at: 0) == .alive)
        #expect(h.cores[0].accuserRecords.isEmpty, "nothing was taken as anybody's claim")
        // The same claim, well signed and fresh, is taken: node 2 becomes suspect.
        h.collect(h.cores[0].receive(Datagram.encode([.suspect(h.claim(by: 1, about: 2, life: life))]), from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        #expect(h.state(of: 2, at: 0) == .suspect)
        #expect(h.cores[0].suspicionAccusers[h.key(2)] == [h.key(1)])
    }

    /// `bytes` with the 32 bytes of `from` replaced by `to` wherever they occur.
    static func swap(_ from: PublicKey, for to: PublicKey, in bytes: [UInt8]) -> [UInt8] {
        HostileCoreTests.replacing(from, with: to, in: bytes)
    }

    @Test("a crashed member is dead once three distinct members signed; each death certificate names them")
    func crashNeedsThreeAccusers() throws {
        var h = Harness.joined(6)
        h.sent = []
        h.deaf = [5]
        h.advance(.seconds(15), skip: [5])
        #expect((0..<5).allSatisfy { h.state(of: 5, at: $0) == .dead })
        let certificates = h.sent.flatMap(\.parts).compactMap { part -> DeathCertificate? in
            if case .dead(let certificate) = part, certificate.subject == h.key(5) { certificate } else { nil }
        }
        #expect(!certificates.isEmpty)
        for certificate in certificates {
            #expect(Set(certificate.accusations.map(\.accuser)).count >= 3, "\(certificate.accusations.map(\.accuser))")
            #expect(certificate.accusations.allSatisfy { $0.verify() })
        }
    }

    @Test("two members' claims are not enough while three could accuse: suspect however long; the third makes it dead")
    func twoAccusersAreNotEnough() {
        // Node 0 probes nobody within the test (a 60-s interval) and keeps the usual timeouts
        // (2 s shortest, 12 s longest at N = 6): only the claims it is given count.
        var settings = GossipSettings()
        settings.probeInterval = .seconds(60)
        settings.suspicionMultiplier = 1.0 / 30
        var h = Harness.joined(6, settings: settings)
        let life = h.cores[3].life
        let two = Datagram.encode([.suspect(h.claim(by: 1, about: 3, life: life)), .suspect(h.claim(by: 2, about: 3, life: life))])
        h.collect(h.cores[0].receive(two, from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        #expect(h.state(of: 3, at: 0) == .suspect)
        // Node 0 alone for 20 s, everything it sends lost: node 3 cannot refute.
        for _ in 0..<200 {
            h.now += .milliseconds(100)
            _ = h.cores[0].tick(now: h.now)
        }
        h.inFlight = []
        #expect(h.state(of: 3, at: 0) == .suspect)
        let third = Datagram.encode([.suspect(h.claim(by: 4, about: 3, life: life))])
        _ = h.cores[0].receive(third, from: Harness.address(4), sender: h.key(4), now: h.now)
        h.now += .milliseconds(100)
        _ = h.cores[0].tick(now: h.now)
        #expect(h.state(of: 3, at: 0) == .dead)
    }

    @Test("a suspicion whose claims all expired without enough accusers ends: the member is alive again, and a fresh claim suspects it anew")
    func expiredSuspicionEnds() {
        var settings = GossipSettings()
        settings.probeInterval = .seconds(600)
        var h = Harness.joined(6, settings: settings)
        let life = h.cores[3].life
        let two = Datagram.encode([.suspect(h.claim(by: 1, about: 3, life: life)), .suspect(h.claim(by: 2, about: 3, life: life))])
        h.collect(h.cores[0].receive(two, from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        #expect(h.state(of: 3, at: 0) == .suspect)
        // Everything node 0 sends is lost, so node 3 never refutes: the claims grow old.
        var back: Duration?
        for _ in 0..<700 where back == nil {
            h.now += .milliseconds(100)
            _ = h.cores[0].tick(now: h.now)
            if h.state(of: 3, at: 0) == .alive { back = h.now }
        }
        h.inFlight = []
        #expect(back != nil, "suspect for good on two expired claims")
        #expect(h.cores[0].suspicionsExpired == 1)
        #expect(h.cores[0].accuserRecords[h.key(1)]?.refuted == 0, "an expired claim is not held against its accuser")
        let fresh = Datagram.encode([.suspect(h.claim(by: 4, about: 3, life: life))])
        _ = h.cores[0].receive(fresh, from: Harness.address(4), sender: h.key(4), now: h.now)
        #expect(h.state(of: 3, at: 0) == .suspect)
    }

    @Test("a two-member cluster: the survivor buries a crashed member alone")
    func twoMembers() {
        var h = Harness.joined(2)
        h.deaf = [1]
        h.advance(.seconds(15), skip: [1])
        #expect(h.state(of: 1, at: 0) == .dead)
    }

    @Test("a 3 | 2 partition and its heal: members that never lost each other never hold each other dead; views whole again")
    func partitionHeal() {
        var h = Harness.joined(5)
        let sides = [[0, 1, 2], [3, 4]]
        let across = sides[0].flatMap { a in sides[1].flatMap { b in [[a, b], [b, a]] } }
        h.cut = Set(across)
        for _ in 0..<250 {
            h.advance(.milliseconds(100))
            for side in sides { #expect(!Self.anyDead(h, among: side, of: side), "within a side at \(h.now)") }
        }
        #expect(sides[0].allSatisfy { i in sides[1].allSatisfy { h.state(of: $0, at: i) == .dead } }, "the majority buried the minority")
        h.cut = []
        var whole: Duration?
        for step in 0..<300 {
            h.advance(.milliseconds(100))
            for side in sides { #expect(!Self.anyDead(h, among: side, of: side), "within a side after the heal, at \(h.now)") }
            if whole == nil, (0..<5).allSatisfy({ i in (0..<5).allSatisfy { j in i == j || h.state(of: j, at: i) == .alive } }) {
                whole = .milliseconds(100 * (step + 1))
            }
        }
        // 0.2 s here since the reconnect every 2 s (it waited 30 s for its first look before).
        #expect(whole != nil && whole! <= .seconds(10), "every view whole within 10 s of the heal: \(String(describing: whole))")
    }
}
