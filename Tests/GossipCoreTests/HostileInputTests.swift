import Testing
import GossipCore

/// What an attacker can send, fed to the pure core (deterministic: no clock, no socket).
/// Node 1 of the harness plays the key holder gone bad; a fresh key plays a stranger.
@Suite("Gossip core: hostile members and strangers")
struct HostileCoreTests {
    static let extremes: [UInt64] = [0, 1 << 63, UInt64.max]

    /// Three joined nodes, and node 0's view of node 2 (life, state) to compare against.
    static func joined(settings: GossipSettings = GossipSettings()) -> Harness { Harness.joined(3, settings: settings) }

    /// Delivers `parts` to node 0 as sent by `sender` (a key holder, unless a stranger's key).
    static func attack(_ h: inout Harness, _ parts: [GossipPart], from sender: PublicKey, at address: NodeAddress? = nil) {
        let out = h.cores[0].receive(Datagram.encode(parts), from: address ?? Harness.address(1), sender: sender, now: h.now)
        h.collect(out, from: 0)
    }

    /// `bytes` with every occurrence of `from` (a key) replaced by `to`: a forgery.
    static func replacing(_ from: PublicKey, with to: PublicKey, in bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        var index = 0
        while index + 32 <= bytes.count {
            if Array(bytes[index..<index + 32]) == from.bytes { bytes.replaceSubrange(index..<index + 32, with: to.bytes) }
            index += 1
        }
        return bytes
    }

    @Test("0, 2⁶³ and 2⁶⁴−1 in every integer field of every part: no crash, no member's view changes")
    func extremeValues() throws {
        var h = Self.joined()
        let before = (0..<3).map { i in (0..<3).map { j in h.cores[i].members[h.key(j)].map { ($0.life, $0.state) } } }
        let ownLife = h.cores[0].life
        let attacker = h.key(1)
        for v in Self.extremes {
            let life = Life(generation: v, incarnation: v)
            let sequence = UInt32(truncatingIfNeeded: v)
            for j in [0, 2] {
                let subject = h.key(j)
                if life != h.cores[0].life && life != h.cores[0].members[h.key(2)]?.life {
                    Self.attack(&h, [.suspect(h.claim(by: 1, about: j, life: life, issuedAt: v)), .dead(h.certificate(by: [1], about: j, life: life, issuedAt: v))], from: attacker)
                }
                // Node 2's generation with extreme incarnations (0 would be the current life: an
                // accusation a member may make, and the subject refutes).
                for incarnation in Self.extremes.dropFirst() {
                    let mixed = Life(generation: h.cores[0].members[h.key(2)]?.life.generation ?? 1, incarnation: incarnation)
                    Self.attack(&h, [.suspect(h.claim(by: 1, about: j, life: mixed, issuedAt: v)), .dead(h.certificate(by: [1], about: j, life: mixed, issuedAt: v))], from: attacker)
                }
                let entry = DigestEntry(key: subject, life: life, state: .dead, statusGeneration: v, statusVersion: v)
                Self.attack(&h, [.digest(buckets: UInt16(truncatingIfNeeded: v), low: 0, high: v, reply: false, entries: [entry])], from: attacker)
            }
            // The attacker's own announcements with extreme lives (it holds its key, not the others').
            Self.attack(&h, [.alive(Announcement.sign(h.keys[1], life: life, address: Harness.address(1)))], from: attacker)
            Self.attack(&h, [.left(Announcement.sign(h.keys[1], life: life, address: nil))], from: attacker)
            Self.attack(&h, [.ping(sequence: sequence), .ack(sequence: sequence), .nack(sequence: sequence)], from: attacker)
            Self.attack(&h, [.ihave([v]), .graft([v]), .prune], from: attacker)
            Self.attack(&h, [.pingRequest(sequence: sequence, target: h.key(2), address: NodeAddress(host: "192.0.2.1", port: 9))], from: attacker)
            Self.attack(&h, [.summary(hash: v, count: sequence), .buckets(Array(repeating: v, count: 16))], from: attacker)
            Self.attack(&h, [.messageIDs(reply: false, ids: [v, v])], from: attacker)
            Self.attack(&h, [.publish(PubSubMessage(id: v, origin: h.key(2).prefix, hops: UInt8(truncatingIfNeeded: v), topic: "t", payload: []))], from: attacker)
            let ttl = UInt32(truncatingIfNeeded: v)
            Self.attack(&h, [.dhtRequest(DHTRequest(id: sequence, operation: .put, key: "k\(v)", value: [1], version: v, ttlSeconds: ttl))], from: attacker)
            Self.attack(&h, [.dhtRequest(DHTRequest(id: sequence, operation: .provide, key: "p", value: Array("h:1".utf8), version: v, ttlSeconds: ttl))], from: attacker)
            Self.attack(&h, [.dhtResponse(DHTResponse(id: sequence, status: .ok, version: v, value: []))], from: attacker)
        }
        h.settle()
        #expect(h.cores[0].life == ownLife, "node 0 never raised its life for a claim it did not hear about itself")
        let after = (0..<3).map { i in (0..<3).map { j in h.cores[i].members[h.key(j)].map { ($0.life, $0.state) } } }
        for i in 0..<3 {
            for j in [0, 2] where i != j {
                #expect(after[i][j]?.0 == before[i][j]?.0 && after[i][j]?.1 == before[i][j]?.1, "node \(j) as seen by \(i)")
            }
        }
        let drops = h.cores[0].stats.dropped
        #expect(drops[.unannouncedLife, default: 0] > 0, "\(drops)")
        #expect(drops[.futureGeneration, default: 0] > 0, "\(drops)")
        // The cluster carries on: the forged claims left nothing to refute.
        h.advance(.seconds(10))
        for i in 0..<3 { for j in 0..<3 where i != j { #expect(h.state(of: j, at: i) == .alive) } }
    }

    @Test("an alive or left not signed by its member is refused; one signed by it is accepted")
    func forgedAnnouncements() {
        var h = Self.joined()
        let held = h.cores[0].members[h.key(2)]!
        let higher = Life(generation: held.life.generation + 1, incarnation: 0)
        // Node 1 signs announcements of its own and swaps in node 2's key: evicting node 2 this
        // way (a higher generation, then silence) is what a forged alive did before.
        for part in [
            GossipPart.alive(Announcement.sign(h.keys[1], life: higher, address: NodeAddress(host: "192.0.2.7", port: 1))),
            .left(Announcement.sign(h.keys[1], life: held.life, address: nil)),
        ] {
            let forged = Self.replacing(h.key(1), with: h.key(2), in: Datagram.encode([part]))
            h.collect(h.cores[0].receive(forged, from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        }
        #expect(h.cores[0].stats.dropped[.forgedAnnouncement] == 2)
        #expect(h.cores[0].members[h.key(2)]?.life == held.life)
        #expect(h.cores[0].members[h.key(2)]?.address == held.address)
        #expect(h.state(of: 2, at: 0) == .alive)
        // A relayed announcement that node 2 did sign is accepted from anyone.
        let genuine = Announcement.sign(h.keys[2], life: Life(generation: held.life.generation, incarnation: held.life.incarnation + 1), address: held.address)
        Self.attack(&h, [.alive(genuine)], from: h.key(1))
        #expect(h.cores[0].members[h.key(2)]?.life == genuine.life)
    }

    @Test("suspicions and deaths about a life the member never announced are refused")
    func unannouncedLives() {
        var h = Self.joined()
        let held = h.cores[0].members[h.key(2)]!.life
        let ahead = [
            Life(generation: held.generation, incarnation: held.incarnation + 5),
            Life(generation: held.generation + 1, incarnation: 0),
            Life(generation: UInt64.max, incarnation: UInt64.max),
        ]
        for life in ahead {
            Self.attack(&h, [.suspect(h.claim(by: 1, about: 2, life: life)), .dead(h.certificate(by: [1], about: 2, life: life))], from: h.key(1))
        }
        #expect(h.cores[0].stats.dropped[.unannouncedLife] == ahead.count * 2)
        #expect(h.state(of: 2, at: 0) == .alive)
        #expect(h.cores[0].members[h.key(2)]?.life == held)
        // About the receiver itself: refused, and no refutation (its life does not move).
        let own = h.cores[0].life
        Self.attack(&h, [.suspect(h.claim(by: 1, about: 0, life: Life(generation: own.generation, incarnation: UInt64.max)))], from: h.key(1))
        #expect(h.cores[0].life == own)
    }

    @Test("an announcement whose generation lies beyond the clock skew is refused")
    func futureGeneration() {
        var h = Self.joined()
        let wall = Harness.wallClock + UInt64(h.now.components.seconds)
        let far = Announcement.sign(h.keys[1], life: Life(generation: wall + 3600, incarnation: 0), address: Harness.address(1))
        Self.attack(&h, [.alive(far)], from: h.key(1))
        #expect(h.cores[0].stats.dropped[.futureGeneration] == 1)
        #expect(h.cores[0].members[h.key(1)]?.life.generation == 1)
        // Within the skew a restart is a restart: it supersedes.
        let restart = Announcement.sign(h.keys[1], life: Life(generation: wall + 10, incarnation: 0), address: Harness.address(1))
        Self.attack(&h, [.alive(restart)], from: h.key(1))
        #expect(h.cores[0].members[h.key(1)]?.life == restart.life)
    }

    @Test("a stranger gets no answer larger than its request, and no ping, digest, repair or DHT service")
    func noAmplification() {
        var h = Self.joined()
        let stranger = SigningKeyPair().publicKey
        let victim = NodeAddress(host: "192.0.2.99", port: 53)
        let requests: [[GossipPart]] = [
            [.summary(hash: 1, count: 1)],
            [.pingRequest(sequence: 1, target: h.key(2), address: victim)],
            [.buckets(Array(repeating: 7, count: 16))],
            [.digest(buckets: 0xFFFF, low: 0, high: UInt64.max, reply: false, entries: [])],
            [.messageIDs(reply: false, ids: [1])],
            [.dhtRequest(DHTRequest(id: 1, operation: .get, key: "k"))],
        ]
        for parts in requests {
            let request = Datagram.encode(parts)
            let out = h.cores[0].receive(request, from: victim, sender: stranger, now: h.now)
            for case .send(let bytes, let target) in out where target.address == victim {
                #expect(bytes.count <= request.count, "\(parts.first!.kind): \(bytes.count) bytes for \(request.count)")
            }
            #expect(!out.contains { if case .send(_, let target) = $0 { target.address.host == "192.0.2.99" && !(target.address == victim) } else { false } })
        }
        let drops = h.cores[0].stats.dropped
        #expect(drops[.replyToStranger, default: 0] >= 1, "\(drops)")
        #expect(drops[.requestFromStranger, default: 0] >= 5, "\(drops)")
        // A member's ping request probes the target at the address this node knows for it.
        let out = h.cores[0].receive(
            Datagram.encode([.pingRequest(sequence: 9, target: h.key(2), address: victim)]), from: Harness.address(1), sender: h.key(1),
            now: h.now)
        let targets = out.compactMap { if case .send(_, let target) = $0 { target.address } else { nil } }
        #expect(targets.contains(Harness.address(2)) && !targets.contains(victim))
    }

    @Test("pub/sub and DHT accept writes from members only, bounded per publisher, per writer and in all")
    func boundedServices() {
        var settings = GossipSettings()
        settings.dhtMaxKeysPerWriter = 10
        settings.pubSubMaxPerPublisher = 5
        var h = Self.joined(settings: settings)
        let stranger = SigningKeyPair().publicKey
        Self.attack(&h, [.publish(PubSubMessage(id: 1, origin: stranger.prefix, hops: 0, topic: "t", payload: [1]))], from: stranger)
        Self.attack(&h, [.dhtRequest(DHTRequest(id: 1, operation: .put, key: "s", value: [1], version: 1, ttlSeconds: 60))], from: stranger)
        #expect(h.cores[0].stats.dropped[.publishFromStranger] == 1)
        #expect(h.cores[0].replicationFigures(now: h.now).stored == 0)
        for n in 0..<30 {
            Self.attack(&h, [.dhtRequest(DHTRequest(id: UInt32(n), operation: .put, key: "k\(n)", value: [1], version: 1, ttlSeconds: .max))], from: h.key(1))
            Self.attack(&h, [.publish(PubSubMessage(id: UInt64(100 + n), origin: h.key(1).prefix, hops: 0, topic: "t", payload: [1]))], from: h.key(1))
        }
        #expect(h.cores[0].replicationFigures(now: h.now).stored == 10)
        #expect(h.cores[0].stats.dropped[.dhtWriterLimit] == 20)
        #expect(h.cores[0].stats.dropped[.pubsubPublisherLimit] == 25)
        #expect(h.cores[0].pubSubStats.delivered == 5)
        // Another publisher is not silenced by the flood.
        Self.attack(&h, [.publish(PubSubMessage(id: 999, origin: h.key(2).prefix, hops: 0, topic: "t", payload: [1]))], from: h.key(2))
        #expect(h.cores[0].pubSubStats.delivered == 6)
    }
}

extension HostileCoreTests {
    @Test("a forger gets a few signature checks a second, not a core's worth")
    func forgeryBudget() {
        var h = Self.joined()
        let held = h.cores[0].members[h.key(2)]!
        for incarnation in 1...100 {
            let part = GossipPart.alive(
                Announcement.sign(h.keys[1], life: Life(generation: held.life.generation, incarnation: UInt64(incarnation)), address: held.address))
            let forged = Self.replacing(h.key(1), with: h.key(2), in: Datagram.encode([part]))
            _ = h.cores[0].receive(forged, from: Harness.address(1), sender: h.key(1), now: h.now)
        }
        let limit = GossipSettings().maxForgeriesPerSecond
        #expect(h.cores[0].stats.dropped[.forgedAnnouncement] == limit)
        #expect(h.cores[0].stats.dropped[.forgeryBudget] == 100 - limit)
        // Another member's genuine news is still checked and taken.
        let genuine = Announcement.sign(h.keys[2], life: Life(generation: held.life.generation, incarnation: held.life.incarnation + 1), address: held.address)
        Self.attack(&h, [.alive(genuine)], from: h.key(2))
        #expect(h.cores[0].members[h.key(2)]?.life == genuine.life)
        // A second later the forger is checked again.
        h.now += .seconds(1)
        let late = Self.replacing(h.key(1), with: h.key(2), in: Datagram.encode([.alive(Announcement.sign(h.keys[1], life: Life(generation: held.life.generation, incarnation: 500), address: held.address))]))
        _ = h.cores[0].receive(late, from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(h.cores[0].stats.dropped[.forgedAnnouncement] == limit + 1)
    }
}

@Suite("Datagram authentication between members")
struct DatagramAuthenticatorTests {
    let a = SigningKeyPair(seed: [UInt8](repeating: 1, count: 32))!
    let b = SigningKeyPair(seed: [UInt8](repeating: 2, count: 32))!
    let wall: UInt64 = 1_800_000_000_000_000

    @Test("a tagged datagram opens for its recipient only; a signed one for anyone who trusts the sender")
    func roundTrip() throws {
        var sender = DatagramAuthenticator(keyPair: a, trust: .any)
        var receiver = DatagramAuthenticator(keyPair: b, trust: .keys([a.publicKey]))
        let datagram: [UInt8] = [1, 2, 3]
        // In the open mode the first tagged datagram names the sender by its whole key; once one
        // came back, the 8-byte prefix does.
        let tagged = sender.seal(datagram, to: b.publicKey, wallMicros: wall)!
        #expect(tagged.count == datagram.count + DatagramAuthenticator.keyedOverhead)
        let opened = try receiver.open(tagged, wallMicros: wall)
        #expect(opened.sender == a.publicKey && opened.datagram == datagram)
        var back = DatagramAuthenticator(keyPair: b, trust: .any)
        _ = try sender.open(back.seal(datagram, to: a.publicKey, wallMicros: wall)!, wallMicros: wall)
        let short = sender.seal(datagram, to: b.publicKey, wallMicros: wall)!
        #expect(short.count == datagram.count + DatagramAuthenticator.taggedOverhead)
        #expect(try receiver.open(short, wallMicros: wall).sender == a.publicKey)
        // With a trust list every trusted key is known: tagged datagrams are short from the start.
        var listed = DatagramAuthenticator(keyPair: a, trust: .keys([b.publicKey]))
        #expect(listed.seal(datagram, to: b.publicKey, wallMicros: wall)!.count == datagram.count + DatagramAuthenticator.taggedOverhead)
        let signed = sender.seal(datagram, to: nil, wallMicros: wall)!
        #expect(signed.count == datagram.count + DatagramAuthenticator.signedOverhead)
        #expect(try receiver.open(signed, wallMicros: wall).datagram == datagram)
        // A key libsodium cannot convert to X25519 (here a point of small order) gets nothing,
        // never an envelope that anyone could open: a ping names no target.
        #expect(sender.seal(datagram, to: PublicKey(bytes: [UInt8](repeating: 0, count: 32))!, wallMicros: wall) == nil)
        // Someone else cannot open what was tagged for b, even trusting a.
        var third = DatagramAuthenticator(keyPair: SigningKeyPair(), trust: .any)
        #expect(throws: DatagramAuthenticator.Refusal.badTag) { try third.open(tagged, wallMicros: wall) }
        var distrustful = DatagramAuthenticator(keyPair: b, trust: .keys([]))
        #expect(throws: DatagramAuthenticator.Refusal.untrustedSender) { try distrustful.open(tagged, wallMicros: wall) }
        #expect(throws: DatagramAuthenticator.Refusal.unauthenticated) { try receiver.open(datagram, wallMicros: wall) }
        #expect(throws: DatagramAuthenticator.Refusal.malformedEnvelope) { try receiver.open(Array(tagged.prefix(40)), wallMicros: wall) }
        var stranger = DatagramAuthenticator(keyPair: SigningKeyPair(), trust: .keys([b.publicKey]))
        #expect(throws: DatagramAuthenticator.Refusal.unknownSender) {
            try receiver.open(stranger.seal(datagram, to: b.publicKey, wallMicros: wall)!, wallMicros: wall)
        }
    }

    @Test("failed signatures are checked at most 256 times a second, whoever claims to send them")
    func signatureBudget() {
        var receiver = DatagramAuthenticator(keyPair: b, trust: .any)
        var forger = DatagramAuthenticator(keyPair: SigningKeyPair(), trust: .any)
        var refusals: [DatagramAuthenticator.Refusal: Int] = [:]
        for n in 0..<300 {
            var bytes = forger.seal([1, UInt8(n % 256)], to: nil, wallMicros: wall)!
            bytes[bytes.count - 1] ^= 1
            do { _ = try receiver.open(bytes, wallMicros: wall) } catch { refusals[error, default: 0] += 1 }
        }
        #expect(refusals[.badSignature] == DatagramAuthenticator.failedSignaturesPerSecond)
        #expect(refusals[.signatureBudget] == 300 - DatagramAuthenticator.failedSignaturesPerSecond)
        // The next second, signed envelopes are checked again.
        var honest = DatagramAuthenticator(keyPair: a, trust: .any)
        #expect(throws: Never.self) { try receiver.open(honest.seal([2], to: nil, wallMicros: wall + 1_000_000)!, wallMicros: wall + 1_000_000) }
    }

    @Test("every flipped bit is refused")
    func bitFlips() {
        var sender = DatagramAuthenticator(keyPair: a, trust: .any)
        var receiver = DatagramAuthenticator(keyPair: b, trust: .any)
        for recipient in [b.publicKey, nil] {
            let sealed = sender.seal(Datagram.encode([.ack(sequence: 7)]), to: recipient, wallMicros: wall)!
            for bit in 0..<(sealed.count * 8) {
                var flipped = sealed
                flipped[bit / 8] ^= 1 << (bit % 8)
                #expect(throws: DatagramAuthenticator.Refusal.self) { try receiver.open(flipped, wallMicros: wall) }
            }
        }
    }

    @Test("a replay is refused, reordering within the window is not, and counters far from the clock are refused")
    func replays() throws {
        var sender = DatagramAuthenticator(keyPair: a, trust: .any)
        var receiver = DatagramAuthenticator(keyPair: b, trust: .any)
        let sealed = (0..<100).map { _ in sender.seal([1], to: b.publicKey, wallMicros: wall)! }
        _ = try receiver.open(sealed[99], wallMicros: wall)
        _ = try receiver.open(sealed[50], wallMicros: wall)  // 49 behind: within the window
        #expect(throws: DatagramAuthenticator.Refusal.replayed) { try receiver.open(sealed[50], wallMicros: wall) }
        #expect(throws: DatagramAuthenticator.Refusal.replayed) { try receiver.open(sealed[99], wallMicros: wall) }
        #expect(throws: DatagramAuthenticator.Refusal.replayed) { try receiver.open(sealed[10], wallMicros: wall) }  // too old
        // A receiver that never saw the sender (restarted) refuses it by age once past the skew.
        var restarted = DatagramAuthenticator(keyPair: b, trust: .any)
        #expect(throws: DatagramAuthenticator.Refusal.clockSkew) { try restarted.open(sealed[0], wallMicros: wall + 31_000_000) }
        var runaway = DatagramAuthenticator(keyPair: a, trust: .any)
        #expect(throws: DatagramAuthenticator.Refusal.clockSkew) {
            try restarted.open(runaway.seal([1], to: b.publicKey, wallMicros: UInt64.max)!, wallMicros: wall)
        }
        // Counters only grow, whatever the clock does.
        let later = sender.seal([1], to: b.publicKey, wallMicros: wall - 5_000_000)!
        #expect(try restarted.open(later, wallMicros: wall).sender == a.publicKey)
    }

    @Test("in the open mode two members settle on prefix-tagged datagrams, and again after one restarts")
    func openModeRestart() throws {
        var first = DatagramAuthenticator(keyPair: a, trust: .any)
        var second = DatagramAuthenticator(keyPair: b, trust: .any)
        _ = try second.open(first.seal([1], to: b.publicKey, wallMicros: wall)!, wallMicros: wall)  // with the whole key
        let reply = second.seal([2], to: a.publicKey, wallMicros: wall)!
        #expect(reply.first == DatagramAuthenticator.taggedMarker, "the first one was tagged for it: it knows our key")
        _ = try first.open(reply, wallMicros: wall)
        // The second restarts: it knows nobody, and cannot name the first's prefix.
        let later = wall + 5_000_000
        var restarted = DatagramAuthenticator(keyPair: b, trust: .any)
        #expect(throws: DatagramAuthenticator.Refusal.unknownSender) {
            try restarted.open(first.seal([3], to: b.publicKey, wallMicros: later)!, wallMicros: later)
        }
        // It joins with a signed datagram; the answer carries the whole key again.
        _ = try first.open(restarted.seal([4], to: nil, wallMicros: later)!, wallMicros: later)
        let answer = first.seal([5], to: b.publicKey, wallMicros: later)!
        #expect(answer.first == DatagramAuthenticator.keyedMarker)
        #expect(try restarted.open(answer, wallMicros: later).datagram == [5])
        #expect(restarted.seal([6], to: a.publicKey, wallMicros: later)!.first == DatagramAuthenticator.taggedMarker)
        // A member the core learned of can be heard before this node sent it anything.
        var fresh = DatagramAuthenticator(keyPair: b, trust: .any)
        fresh.learn(a.publicKey)
        #expect(try fresh.open(first.seal([7], to: b.publicKey, wallMicros: later + 1)!, wallMicros: later).sender == a.publicKey)
    }
}
