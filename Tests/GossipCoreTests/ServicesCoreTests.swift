import Testing
import GossipCore

/// Pub/sub, DHT and election in the pure core, driven by hand (no sockets, no clock).
@Suite("Gossip services in the core: pub/sub, DHT, election")
struct ServicesCoreTests {
    static func converged(_ count: Int) -> Harness {
        var h = Harness.joined(count)
        for i in 0..<count { h.collect(h.cores[i].publish(Harness.draft("ok"), now: h.now), from: i) }
        h.advance(.seconds(3))
        return h
    }

    /// Node 0 puts `k1` = [1, 2, 3] (version 7, 10 minutes) and the network settles; the put's id.
    @discardableResult
    static func putK1(_ h: inout Harness) -> UInt32 {
        let (id, out) = h.cores[0].dhtPut(key: "k1", value: [1, 2, 3], version: 7, ttl: .seconds(600), now: h.now)
        h.collect(out, from: 0)
        h.settle()
        return id
    }

    func completion(_ h: Harness, node: Int, id: UInt32) -> DHTOutcome? {
        for (i, directive) in h.events where i == node {
            if case .dhtCompleted(let done, let outcome) = directive, done == id { return outcome }
        }
        return nil
    }

    @Test("a message reaches every node once; the publisher gets it back from the network, not locally")
    func pubSubDelivery() throws {
        var h = Self.converged(10)
        h.events = []
        let (id, out) = try h.cores[0].publishMessage(topic: "news", payload: Array("hello".utf8), now: h.now)
        #expect(!out.contains { if case .delivered = $0 { true } else { false } }, "no local shortcut")
        h.collect(out, from: 0)
        h.settle()
        h.advance(.seconds(2))
        var deliveries = [Int](repeating: 0, count: 10)
        for (i, directive) in h.events {
            if case .delivered(let message) = directive, message.id == id {
                #expect(message.payload == Array("hello".utf8) && message.topic == "news")
                deliveries[i] += 1
            }
        }
        #expect(deliveries == [Int](repeating: 1, count: 10), "\(deliveries)")
        #expect(h.cores.map(\.pubSubStats.duplicates).reduce(0, +) > 0, "copies were dropped by id")

        #expect(throws: PubSubError.payloadTooLarge(size: 5000, limit: 1024)) {
            _ = try h.cores[0].publishMessage(topic: "news", payload: [UInt8](repeating: 0, count: 5000), now: h.now)
        }
        #expect(throws: PubSubError.invalidTopic("")) {
            _ = try h.cores[0].publishMessage(topic: "", payload: [], now: h.now)
        }
    }

    @Test("a loopback message goes to two members and straight back: four datagrams in a cluster of 30, never spread or repaired")
    func loopback() throws {
        var h = Self.converged(30)
        h.advance(.seconds(30))  // the join's rumours spent
        h.events = []
        h.sent = []
        let eager = h.cores[0].eagerNeighbours
        let (id, out) = try h.cores[0].publishMessage(topic: "probe", payload: [7], reach: .loopback, now: h.now)
        #expect(!out.contains { if case .delivered = $0 { true } else { false } }, "no local shortcut")
        h.collect(out, from: 0)
        h.settle()
        h.advance(.seconds(30))  // anti-entropy exchanges with message ids, rumour rounds
        func carries(_ parts: [GossipPart]) -> Bool {
            parts.contains { part in
                switch part {
                case .publish(let m), .loopback(let m): m.id == id
                default: false
                }
            }
        }
        let carriers = h.sent.filter { carries($0.parts) }
        #expect(carriers.count == 4, "\(carriers.map { ($0.from, $0.to) })")
        let relays = Set(carriers.filter { $0.from == 0 }.map(\.to))
        #expect(relays.count == 2 && carriers.filter { $0.from != 0 }.allSatisfy { $0.to == 0 && relays.contains($0.from) })
        let delivered = h.events.compactMap { event -> Int? in
            if case .delivered(let message) = event.1, message.id == id { return event.0 }
            return nil
        }
        #expect(delivered.sorted() == ([0] + relays.sorted()), "the publisher once (its echo), each relay once")
        #expect(h.cores[0].pubSubStats.loopbacksSent == 1)
        #expect(h.cores.map(\.pubSubStats.loopbacksReturned).reduce(0, +) == 2)
        // The second echo comes from a relay, not from the broadcast tree: it prunes no link (it
        // did, one a probe, and thinned the tree that cluster-wide messages use).
        #expect(!h.sent.contains { $0.parts.contains(.prune) }, "\(h.sent.filter { $0.parts.contains(.prune) }.map { ($0.from, $0.to) })")
        #expect(h.cores[0].eagerNeighbours == eager)

        // A lone node has no one to carry it back.
        var lone = Harness(count: 1)
        lone.start()
        #expect(throws: PubSubError.noRelay) {
            _ = try lone.cores[0].publishMessage(topic: "probe", payload: [7], reach: .loopback, now: lone.now)
        }
    }

    @Test("a loopback message not back within a second goes to other relays, at most four sends in all, and stops once back")
    func loopbackRetry() throws {
        var h = Self.converged(8)
        h.advance(.seconds(30))
        h.sent = []
        h.events = []
        func sends(of id: UInt64) -> [(from: Int, to: Int, at: Duration)] {
            h.sent.compactMap { entry in
                entry.parts.contains { if case .loopback(let m) = $0 { m.id == id } else { false } }
                    ? (entry.from, entry.to, entry.at) : nil
            }
        }
        func deliveries(of id: UInt64) -> [Int] {
            h.events.compactMap { if case .delivered(let m) = $0.1, m.id == id { $0.0 } else { nil } }
        }
        // The first two copies are lost (as when the relays do not yet hold the publisher as a
        // member and drop it): the retry a second later goes to two other members and comes back.
        let (id, out) = try h.cores[0].publishMessage(topic: "probe", payload: [1], reach: .loopback, now: h.now)
        h.collect(out, from: 0)
        h.inFlight = []
        h.advance(.seconds(5))
        let first = sends(of: id)
        #expect(first.count == 4 && Set(first.map(\.to)).count == 4, "two lost, two others a second later: \(first)")
        #expect(first.filter { $0.at > first[0].at }.allSatisfy { $0.at - first[0].at >= .seconds(1) })
        #expect(deliveries(of: id).filter { $0 == 0 } == [0], "the publisher gets its message once")
        #expect(h.cores[0].pubSubStats.loopbacksRetried == 1)

        // No relay answers at all: four sends of two copies, then silence (the probe times out).
        h.deaf = Set(1..<8)
        h.sent = []
        let (lost, lostOut) = try h.cores[0].publishMessage(topic: "probe", payload: [2], reach: .loopback, now: h.now)
        h.collect(lostOut, from: 0)
        h.settle()
        h.advance(.seconds(20))
        #expect(sends(of: lost).count == 2 * h.cores[0].settings.pubSubLoopbackSends)
        #expect(!deliveries(of: lost).contains(0))
    }

    @Test("a loopback part (18) is returned only to its publisher, once, and only for a live member; hops 255 does not overflow")
    func hostileLoopback() throws {
        var h = Self.converged(3)
        func loopback(id: UInt64, origin: UInt64, hops: UInt8 = 0) -> [UInt8] {
            Datagram.encode([.loopback(PubSubMessage(id: id, origin: origin, hops: hops, topic: "t", payload: [1]))])
        }
        func returned(_ out: [GossipCore.Directive]) -> [PubSubMessage] {
            out.compactMap { directive -> [PubSubMessage]? in
                guard case .send(let bytes, let target) = directive, target.address == Harness.address(1) else { return nil }
                return ((try? Datagram.decode(bytes)) ?? []).compactMap { if case .publish(let m) = $0 { m } else { nil } }
            }.flatMap { $0 }
        }
        let member = h.key(1).prefix
        // From its publisher, at hops 255: delivered and returned once, hops saturating.
        var out = h.cores[0].receive(loopback(id: 41, origin: member, hops: 255), from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(returned(out).map(\.hops) == [255])
        // The same id again: nothing (no reflection loop, no amplification).
        out = h.cores[0].receive(loopback(id: 41, origin: member), from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(returned(out).isEmpty)
        // Naming another publisher: dropped and counted.
        out = h.cores[0].receive(loopback(id: 42, origin: h.key(2).prefix), from: Harness.address(1), sender: h.key(1), now: h.now)
        #expect(returned(out).isEmpty && h.cores[0].stats.dropped[.loopbackNotFromPublisher] == 1)
        // From a stranger: dropped and counted.
        let stranger = SigningKeyPair(seed: [UInt8](repeating: 99, count: 32))!
        let before = h.cores[0].stats.dropped[.publishFromStranger, default: 0]
        out = h.cores[0].receive(
            loopback(id: 43, origin: stranger.publicKey.prefix), from: NodeAddress(host: "10.9.9.9", port: 1),
            sender: stranger.publicKey, now: h.now)
        #expect(out.isEmpty && h.cores[0].stats.dropped[.publishFromStranger] == before + 1)
        // Extreme ids are ids like any other.
        for id in [UInt64.max, 1 << 63] {
            out = h.cores[0].receive(loopback(id: id, origin: member), from: Harness.address(1), sender: h.key(1), now: h.now)
            #expect(returned(out).map(\.id) == [id])
        }
        #expect(try Datagram.decode(loopback(id: 9, origin: 9)) == [.loopback(PubSubMessage(id: 9, origin: 9, hops: 0, topic: "t", payload: [1]))])
    }

    @Test("message ids (part 17) round-trip; a count over the limit or a bad reply flag is refused")
    func messageIDsCodec() throws {
        let part = GossipPart.messageIDs(reply: true, ids: [1, 2, .max])
        let bytes = Datagram.encode([part])
        #expect(bytes == [3, 17, 0, 26, 1, 3] + [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 2] + [UInt8](repeating: 255, count: 8))
        #expect(try Datagram.decode(bytes) == [part])
        #expect(throws: WireError.self) { try Datagram.decode([3, 17, 0, 2, 2, 0]) }  // reply flag 2
        #expect(throws: WireError.self) { try Datagram.decode([3, 17, 0, 2, 0, 65]) }  // 65 ids > 64
        #expect(throws: WireError.self) { try Datagram.decode([3, 17, 0, 10, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]) }  // one id short
        // A longer list goes out as its first 64 ids, never as a count the ids do not match.
        let long = Datagram.encode([.messageIDs(reply: false, ids: Array(1...300)), .prune])
        #expect(try Datagram.decode(long) == [.messageIDs(reply: false, ids: Array(1...64)), .prune])
    }

    @Test("ihave (19), graft (20) and prune (21) round-trip; an empty ihave or over 64 ids are refused, an empty graft is not")
    func broadcastTreeCodec() throws {
        for part in [GossipPart.ihave([1, .max]), .graft([7]), .graft([]), .prune] {
            #expect(try Datagram.decode(Datagram.encode([part])) == [part])
        }
        #expect(Datagram.encode([.prune]) == [3, 21, 0, 0])
        #expect(Datagram.encode([.graft([])]) == [3, 20, 0, 1, 0])
        #expect(throws: WireError.self) { try Datagram.decode([3, 19, 0, 1, 0]) }  // an announcement of nothing
        #expect(throws: WireError.self) { try Datagram.decode([3, 20, 0, 1, 65]) }  // 65 ids > 64
        #expect(throws: WireError.self) { try Datagram.decode([3, 19, 0, 9, 2, 0, 0, 0, 0, 0, 0, 0, 1]) }  // one id short
        #expect(throws: WireError.self) { try Datagram.decode([3, 21, 0, 1, 0]) }  // prune has no body
    }

    @Test("every duplicate from a member is answered with a prune, not only the first: a lost prune is sent again")
    func pruneResent() throws {
        var h = Self.converged(3)
        let (id, out) = try h.cores[0].publishMessage(topic: "t", payload: [1], now: h.now)
        h.collect(out, from: 0)
        h.settle()
        let copy = Datagram.encode([.publish(PubSubMessage(id: id, origin: h.key(0).prefix, hops: 1, topic: "t", payload: [1]))])
        for _ in 0..<2 {
            let answer = h.cores[1].receive(copy, from: Harness.address(2), sender: h.key(2), now: h.now)
            let prunes = answer.filter { if case .send(let bytes, _) = $0 { (try? Datagram.decode(bytes)) == [.prune] } else { false } }
            #expect(prunes.count == 1, "the duplicate is answered with a prune")
        }
        #expect(!h.cores[1].eagerNeighbours.contains(h.key(2)))
    }

    @Test("duplicates thin the eager links to a tree: after a few messages each is sent about once per node")
    func treeThinsOut() throws {
        var h = Self.converged(12)
        func publishParts() -> Int { h.sent.reduce(0) { $0 + $1.parts.filter { $0.kind == "publish" }.count } }
        for round in 0..<6 {
            h.collect(try h.cores[round % 12].publishMessage(topic: "t", payload: [1], now: h.now).directives, from: round % 12)
            h.advance(.seconds(1))
        }
        h.sent = []
        h.events = []
        var ids: [UInt64] = []
        for round in 0..<10 {
            let (id, out) = try h.cores[(round * 5) % 12].publishMessage(topic: "t", payload: [2], now: h.now)
            ids.append(id)
            h.collect(out, from: (round * 5) % 12)
            h.advance(.seconds(1))
        }
        let delivered = h.events.filter { if case .delivered(let m) = $0.1 { ids.contains(m.id) } else { false } }.count
        #expect(delivered == 10 * 12, "every node, the publishers included, got each message once")
        // 11 copies per message would be a perfect tree; the old push gossip sent about 8 per node (96).
        #expect(publishParts() <= 10 * 12 * 3 / 2, "\(publishParts()) copies for 10 messages to 12 nodes")
        #expect(h.cores.map(\.broadcastTreeStats.prunes).reduce(0, +) > 0)
    }

    @Test("a copy lost on the tree is asked for from a member that announced it, within a second")
    func graftRepairsLoss() throws {
        var h = Self.converged(10)
        for round in 0..<5 {
            h.collect(try h.cores[round].publishMessage(topic: "t", payload: [1], now: h.now).directives, from: round)
            h.advance(.seconds(1))
        }
        h.events = []
        let victim = 7
        let grafts = h.cores[victim].broadcastTreeStats.graftsSent
        let (id, out) = try h.cores[0].publishMessage(topic: "t", payload: [3], now: h.now)
        h.collect(out, from: 0)
        // Every full copy pushed now is lost on its way to the victim; announcements get through.
        for _ in 0..<50 where !h.inFlight.isEmpty {
            let batch = h.inFlight
            h.inFlight = []
            for (from, to, bytes) in batch {
                if to == victim, (try? Datagram.decode(bytes))?.contains(where: { $0.kind == "publish" }) == true { continue }
                h.collect(h.cores[to].receive(bytes, from: Harness.address(from), sender: h.key(from), now: h.now), from: to)
            }
        }
        let start = h.now
        h.advance(.seconds(1))
        let got = h.events.contains { $0.0 == victim && { if case .delivered(let m) = $0 { m.id == id } else { false } }($0.1) }
        #expect(got, "delivered within \(h.now - start) through a graft, long before the 5-s pull repair")
        #expect(h.cores[victim].broadcastTreeStats.graftsSent > grafts)
        #expect(h.cores[victim].pubSubStats.repairedIn == 0)
    }

    @Test("a lost copy is asked for at the graft timeout, between ticks; a lost graft is asked again, twice per announcer at most")
    func graftRetriedBetweenTicks() throws {
        var h = Self.converged(10)
        for round in 0..<5 {
            h.collect(try h.cores[round].publishMessage(topic: "t", payload: [1], now: h.now).directives, from: round)
            h.advance(.seconds(1))
        }
        h.events = []
        let victim = 7
        #expect(h.cores[victim].nextRepairAt == nil, "nothing awaited at rest")
        let (id, out) = try h.cores[0].publishMessage(topic: "t", payload: [4], now: h.now)
        h.collect(out, from: 0)
        // Deliver everything but full copies to the victim, without advancing time.
        func pump() {
            for _ in 0..<50 where !h.inFlight.isEmpty {
                let batch = h.inFlight
                h.inFlight = []
                for (from, to, bytes) in batch {
                    if to == victim, (try? Datagram.decode(bytes))?.contains(where: { $0.kind == "publish" }) == true { continue }
                    h.collect(h.cores[to].receive(bytes, from: Harness.address(from), sender: h.key(from), now: h.now), from: to)
                }
            }
        }
        pump()
        let announced = h.now
        let grafts = { (h: Harness) in h.sent.filter { $0.from == victim }.flatMap(\.parts).filter { if case .graft(let ids) = $0 { ids == [id] } else { false } }.count }
        h.sent = []
        var asked: [Duration] = []
        // Each repair is due one graft timeout (30 ms) after the last: well before the next tick.
        while let due = h.cores[victim].nextRepairAt, asked.count < 20 {
            h.now = due
            h.collect(h.cores[victim].repairTick(now: h.now), from: victim)
            if grafts(h) > asked.count { asked.append(h.now - announced) }
            pump()
        }
        let announcers = h.cores.indices.filter { i in h.sent.contains { $0.from == i && $0.to == victim } }.count
        #expect(asked.first == GossipSettings().pubSubGraftTimeout, "first ask at \(asked)")
        #expect(asked.count >= 2 && asked.count <= 2 * 4, "asked \(asked.count) times (announcers: \(announcers))")
        #expect(h.cores[victim].nextRepairAt == nil, "given up on, left to the pull repair")
        #expect(!h.events.contains { $0.0 == victim && { if case .delivered(let m) = $0 { m.id == id } else { false } }($0.1) })
    }

    @Test("a graft is served to live members only, at most 16 messages per part; an announcement from a stranger is dropped")
    func graftBounds() throws {
        var h = Self.converged(3)
        var ids: [UInt64] = []
        for _ in 0..<40 {
            let (id, out) = try h.cores[0].publishMessage(topic: "t", payload: [1], now: h.now)
            ids.append(id)
            h.collect(out, from: 0)
            h.settle()
        }
        let sent = h.cores[0].receive(Datagram.encode([.graft(ids)]), from: Harness.address(1), sender: h.key(1), now: h.now)
        let copies = sent.reduce(0) { total, directive in
            guard case .send(let bytes, _) = directive, let parts = try? Datagram.decode(bytes) else { return total }
            return total + parts.filter { $0.kind == "publish" }.count
        }
        #expect(copies == 16)
        let stranger = SigningKeyPair(seed: [UInt8](repeating: 99, count: 32))!
        let before = h.cores[0].stats.dropped[.requestFromStranger] ?? 0
        let answer = h.cores[0].receive(
            Datagram.encode([.graft(ids), .ihave([42])]), from: NodeAddress(host: "10.9.9.9", port: 1), sender: stranger.publicKey, now: h.now)
        #expect(answer.isEmpty)
        #expect(h.cores[0].stats.dropped[.requestFromStranger] == before + 2)

        // A member announcing 1280 ids that never come: node 0 asks it for 1024 of them at most,
        // in parts of 64, twice.
        h.sent = []
        for batch in 0..<20 {
            let unknown = (0..<64).map { UInt64(1_000_000 + batch * 64 + $0) }
            h.collect(h.cores[0].receive(Datagram.encode([.ihave(unknown)]), from: Harness.address(1), sender: h.key(1), now: h.now), from: 0)
        }
        h.advance(.seconds(2))
        let asked = h.sent.filter { $0.from == 0 && $0.to == 1 }.flatMap(\.parts).compactMap { part -> [UInt64]? in
            if case .graft(let ids) = part, ids.first.map({ $0 >= 1_000_000 }) == true { return ids }
            return nil
        }
        #expect(asked.map(\.count).reduce(0, +) == 2 * 1024 && asked.allSatisfy { $0.count <= 64 }, "\(asked.map(\.count))")
    }

    @Test("a message stops at the hop limit")
    func hopLimit() throws {
        var settings = GossipSettings()
        settings.pubSubHopLimit = 1
        var h = Harness(count: 12, settings: settings)
        h.start()
        h.advance(.seconds(3))
        h.events = []
        let (id, out) = try h.cores[0].publishMessage(topic: "t", payload: [1], now: h.now)
        h.collect(out, from: 0)
        h.settle()
        h.advance(.seconds(3))
        let reached = Set(h.events.compactMap { event -> Int? in
            if case .delivered(let message) = event.1, message.id == id { return event.0 }
            return nil
        })
        #expect(reached.count < 12, "with hop limit 1 only the publisher's own sends carry it")
        #expect(h.cores.map(\.pubSubStats.hopLimited).reduce(0, +) > 0)
    }

    @Test("DHT: a node reads its own recent put while the views converge, before the repair moves the key")
    func dhtReadYourWrites() throws {
        // Node 0 puts while it knows 3 members; then 8 more join (no time passes, so the repair,
        // due a second after the change, has not run) and the keys' replica sets move.
        var h = Harness(count: 12)
        h.start(0..<4)
        h.advance(.seconds(3), skip: Set(4..<12))
        #expect(h.cores[0].members.count == 3)
        let keys = (0..<40).map { "probe-\($0)" }
        for key in keys {
            let (_, out) = h.cores[0].dhtPut(key: key, value: [9], version: 1, ttl: .seconds(600), now: h.now)
            h.collect(out, from: 0)
        }
        h.settle()
        h.start(4..<12)
        #expect(h.cores[0].members.count == 11)
        let holders = { (key: String) in Set(h.cores.indices.filter { h.cores[$0].holds(key, now: h.now) }.map { h.key($0) }) }
        let moved = keys.filter { holders($0).isDisjoint(with: h.cores[0].replicas(of: $0).filter { $0 != h.key(0) }) }
        #expect(moved.count >= 5, "keys whose new replicas hold nothing yet: \(moved.count)")
        h.events = []
        let reads = moved.map { key in
            let (id, out) = h.cores[0].dhtGet(key: key, remoteOnly: true, now: h.now)
            h.collect(out, from: 0)
            h.settle()
            return id
        }
        #expect(reads.allSatisfy { completion(h, node: 0, id: $0) == .value([9]) })
    }

    @Test("DHT: put on R replicas, get from a remote replica; after a replica dies the repair restores R copies")
    func dhtPutGetRepair() throws {
        var h = Self.converged(6)
        let putID = Self.putK1(&h)
        #expect(completion(h, node: 0, id: putID) == .stored(replicas: 2), "done at a majority of the 3 replicas")
        let replicas = h.cores[0].replicas(of: "k1")
        #expect(replicas.count == 3)
        let holders = { (h: Harness) in h.cores.indices.filter { h.cores[$0].holds("k1", now: h.now) } }
        #expect(holders(h).count == 3)

        let reader = h.cores.indices.first { !replicas.contains(h.key($0)) }!
        let (getID, getOut) = h.cores[reader].dhtGet(key: "k1", remoteOnly: true, now: h.now)
        h.collect(getOut, from: reader)
        h.settle()
        #expect(completion(h, node: reader, id: getID) == .value([1, 2, 3]))

        h.advance(.seconds(3))
        let primary = h.cores.indices.first { h.key($0) == replicas[0] }!
        #expect(h.cores[primary].replicationFigures(now: h.now).underReplicated == 0)
        // A replica other than the primary dies.
        let victim = h.cores.indices.first { h.key($0) == replicas[1] }!
        h.deaf.insert(victim)
        h.advance(.seconds(12), skip: [victim])
        let alive = Set(h.cores.indices).subtracting([victim])
        #expect(alive.allSatisfy { h.state(of: victim, at: $0) == .dead })
        let after = holders(h).filter { $0 != victim }
        #expect(after.count == 3, "repair restored three live copies: \(after)")
        #expect(h.cores[primary].replicationFigures(now: h.now).underReplicated == 0)
        #expect(h.cores.map(\.dhtStats.repairedKeys).reduce(0, +) >= 1)
        #expect(h.cores.map(\.dhtStats.repairsSucceeded).reduce(0, +) >= 1, "repair copies count as the node's work")
        #expect(h.cores.allSatisfy { $0.dhtRepairsInFlight == 0 })
        // The primary saw one episode of under-replication, of the one key, and its end.
        let stats = h.cores[primary].dhtStats
        #expect(stats.underReplicationEpisodes == 1, "one episode: \(stats)")
        #expect(stats.lastEpisode?.peakKeys == 1)
        let episode = try #require(stats.lastEpisode)
        #expect(episode.ended.map { $0 > episode.began } == true, "the episode ended after it began: \(episode)")

        let (missID, missOut) = h.cores[reader].dhtGet(key: "nope", remoteOnly: true, now: h.now)
        h.collect(missOut, from: reader)
        h.settle()
        #expect(completion(h, node: reader, id: missID) == .notFound)
    }

    @Test("a status signed while keys were under-replicated is re-signed once they are replicated again, not at the slow refresh")
    func underReplicationClears() throws {
        var h = Self.converged(6)
        Self.putK1(&h)
        h.advance(.seconds(3))
        let replicas = h.cores[0].replicas(of: "k1")
        let primary = h.cores.indices.first { h.key($0) == replicas[0] }!
        let leader = h.cores[primary].electionView.leader
        let victim = h.cores.indices.first { replicas[1...].contains(h.key($0)) && h.key($0) != leader }!
        h.deaf.insert(victim)
        // Until the primary counts the key under-replicated (the victim is dead, the repair not yet done)...
        // One tick at a time, looking before the tick's datagrams are delivered: the harness
        // delivers in no time, so the repair copies the primary sends when it buries the victim
        // arrive within the same step (with probes every 1–1.5 s the death and its repair now
        // fall into one 100 ms step).
        var waited = 0
        while h.cores[primary].replicationFigures(now: h.now).underReplicated == 0 && waited < 200 {
            h.now += .milliseconds(100)
            for i in h.cores.indices where i != victim { h.collect(h.cores[i].tick(now: h.now), from: i) }
            if h.cores[primary].replicationFigures(now: h.now).underReplicated > 0 { break }
            h.settle()
            waited += 1
        }
        #expect(h.cores[primary].replicationFigures(now: h.now).underReplicated == 1)
        // ...then a meaningful change of its own signs a status that shows it.
        h.collect(h.cores[primary].publish(Harness.draft("disk full", healthy: false), now: h.now), from: primary)
        let during = try #require(h.cores[primary].ownStatus?.projection)
        #expect(ReplicationExtension(during)?.underReplicatedKeys == 1, "signed during the repair")
        // The repair and the next once-a-second look at the extensions (no election moves: the
        // victim does not lead, so nothing else is meaningful meanwhile).
        h.advance(.milliseconds(1500), skip: [victim])
        #expect(h.cores[primary].replicationFigures(now: h.now).underReplicated == 0, "repaired")
        let after = try #require(h.cores[primary].ownStatus?.projection)
        #expect(after.version > during.version, "re-signed once repaired")
        #expect(ReplicationExtension(after)?.underReplicatedKeys == 0)
        let seen = h.cores.indices.filter { $0 != victim && $0 != primary }.map { h.cores[$0].store.statuses[h.key(primary)]?.projection }
        #expect(seen.allSatisfy { $0.flatMap(ReplicationExtension.init)?.underReplicatedKeys == 0 }, "and the others hold the new one")
    }

    @Test("election: one leader everyone follows; after it dies, exactly one change to one new leader")
    func election() {
        var h = Self.converged(5)
        let leaders = Set(h.cores.map(\.electionView.leader))
        #expect(leaders.count == 1 && leaders.first! != nil)
        let leader = h.cores.indices.first { h.cores[$0].electionView.isLeader }!
        #expect(h.cores.filter(\.electionView.isLeader).count == 1)
        let claim = ElectionExtension(h.cores[1].store.statuses[h.key(leader)]!.projection)
        #expect(claim?.claiming == true && claim?.leaderPrefix == h.key(leader).prefix, "the claim is in the signed status")
        #expect(h.cores.allSatisfy { $0.electionView.leadershipChanges == 0 })

        h.deaf.insert(leader)
        h.advance(.seconds(15), skip: [leader])
        let rest = h.cores.indices.filter { $0 != leader }
        let next = Set(rest.map { h.cores[$0].electionView.leader })
        #expect(next.count == 1 && next.first! != h.key(leader))
        #expect(rest.filter { h.cores[$0].electionView.isLeader }.count == 1)
        #expect(rest.allSatisfy { h.cores[$0].electionView.leadershipChanges == 1 })
        #expect(rest.allSatisfy { h.cores[$0].electionView.term > h.cores[leader].electionView.term })
        #expect(rest.allSatisfy { h.cores[$0].electionView.isLeader || h.cores[$0].electionView.heartbeatRTT != nil })
    }
}
