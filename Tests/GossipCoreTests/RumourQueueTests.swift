import Testing

@testable import GossipCore

@Suite("The rumour queue")
struct RumourQueueTests {
    static let keys = (0..<200).map { _ in SigningKeyPair().publicKey }

    static let accuser = SigningKeyPair()

    static func death(_ i: Int, incarnation: UInt64 = 0) -> GossipPart {
        let life = Life(generation: 1, incarnation: incarnation)
        let claim = Accusation.sign(accuser, .dead, subject: keys[i], life: life, issuedAt: 1)
        return .dead(DeathCertificate(subject: keys[i], life: life, accusations: [claim])!)
    }

    static func subject(_ i: Int) -> RumourQueue.Subject { .init(key: keys[i], isStatus: false) }

    @Test("fewest transmissions first, newest (then the most recently sent) first among equals; dropped after the limit")
    func order() {
        var queue = RumourQueue()
        for i in 0..<6 { queue.enqueue(Self.death(i), about: Self.subject(i)) }
        let size = Self.death(0).encodedSize
        #expect(queue.take(budget: 3 * size, limit: 2) == [5, 4, 3].map { Self.death($0) })
        #expect(queue.take(budget: 3 * size, limit: 2) == [2, 1, 0].map { Self.death($0) })
        #expect(queue.take(budget: 6 * size, limit: 2) == [2, 1, 0, 5, 4, 3].map { Self.death($0) })
        #expect(queue.isEmpty)
    }

    @Test("a replaced rumour is sent in its new form only, and stale entries do not pile up")
    func replacement() {
        var queue = RumourQueue()
        for incarnation in 1...5000 { queue.enqueue(Self.death(0, incarnation: UInt64(incarnation)), about: Self.subject(0)) }
        for i in 1...100 { queue.enqueue(Self.death(i), about: Self.subject(i)) }
        let size = Self.death(0).encodedSize
        // The walk stops after two rumours, far from the 5000 stale entries at the bottom.
        #expect(queue.take(budget: 2 * size, limit: 5) == [100, 99].map { Self.death($0) })
        #expect(queue.count == 101)
        #expect(queue.entryCount <= 2 * queue.count + 64)
        let all = queue.take(budget: 200 * size, limit: 5)
        #expect(all.count == 101)
        #expect(all.contains(Self.death(0, incarnation: 5000)))
        #expect(!all.contains(Self.death(0, incarnation: 4999)))
    }

    @Test("a walk passes over at most 16 rumours too large for the space left before it gives up on the level", arguments: [10, 20])
    func lookahead(larger: Int) throws {
        var queue = RumourQueue()
        let small = Self.death(0)
        queue.enqueue(small, about: Self.subject(0))
        for i in 1...larger {
            let pair = SigningKeyPair()
            let status = try SignedStatus.sign(sampleProjection(pair, generation: 1, version: 1), with: pair)
            queue.enqueue(.status(status), about: .init(key: pair.publicKey, isStatus: true))
            #expect(GossipPart.status(status).encodedSize > small.encodedSize, "rumour \(i)")
        }
        let taken = queue.take(budget: small.encodedSize, limit: 3)
        #expect(taken == (larger <= RumourQueue.lookahead ? [small] : []))
        #expect(queue.count == larger + 1)
    }

    static func join(_ i: Int) -> GossipPart {
        .alive(Announcement(key: keys[i], life: Life(generation: 1, incarnation: 0), address: NodeAddress(host: "10.0.0.1", port: 1), signature: [UInt8](repeating: 0, count: 64)))
    }

    @Test("past the limit the oldest status or join announcement is dropped; news never is, and replacements count once")
    func repairableLimit() throws {
        var queue = RumourQueue()
        queue.repairableLimit = 64
        for i in 0..<10 { queue.enqueue(Self.death(i), about: Self.subject(i)) }
        for i in 10..<110 { queue.enqueue(Self.join(i), about: Self.subject(i)) }
        #expect(queue.repairableCount == 64 && queue.cappedCount == 36 && queue.count == 74)
        // The 36 oldest announcements went; the deaths and the 64 newest announcements stay.
        let size = Self.join(0).encodedSize
        let taken = queue.take(budget: 200 * size, limit: 1)
        #expect(taken.count == 74)
        #expect(Set(taken.map { "\($0)" }) == Set(((0..<10).map { Self.death($0) } + (46..<110).map { Self.join($0) }).map { "\($0)" }))
        // All sent once with limit 1: gone, and so is the count.
        #expect(queue.isEmpty && queue.repairableCount == 0)

        // A rumour replaced many times counts once; one dropped after its last transmission leaves the count.
        for _ in 0..<200 { queue.enqueue(Self.join(0), about: Self.subject(0)) }
        queue.enqueue(Self.join(1), about: Self.subject(1))
        #expect(queue.repairableCount == 2 && queue.count == 2)
        queue.remove(Self.subject(1))
        #expect(queue.repairableCount == 1)
        queue.enqueue(Self.death(2), about: Self.subject(0))  // a death replaces the announcement: news, not capped
        #expect(queue.repairableCount == 0 && queue.count == 1)
        // A node's own announcement and status never count.
        for i in 10..<110 { queue.enqueue(Self.join(i), about: Self.subject(i), relayed: false) }
        #expect(queue.repairableCount == 0 && queue.count == 101)

        // The limit is per kind: 100 relayed join announcements do not push out one relayed status.
        var mixed = RumourQueue()
        mixed.repairableLimit = 64
        let pair = SigningKeyPair()
        let status = GossipPart.status(try SignedStatus.sign(sampleProjection(pair), with: pair))
        mixed.enqueue(status, about: .init(key: pair.publicKey, isStatus: true))
        for i in 0..<100 { mixed.enqueue(Self.join(i), about: Self.subject(i)) }
        #expect(mixed.count == 65 && mixed.repairableCount == 65)
        #expect(mixed.take(budget: status.encodedSize, limit: 16) == [status])
    }

    /// A status with `claiming` in its election extension, or without an election extension.
    static func status(_ pair: SigningKeyPair, claiming: Bool?) throws -> GossipPart {
        var projection = sampleProjection(pair)
        if let claiming {
            projection.extensions = [
                ElectionExtension(
                    leaderPrefix: pair.publicKey.prefix, term: 2, claiming: claiming, heartbeatMillis: 0, leadershipChanges: 1,
                    leaderAgeSeconds: 0
                ).encoded
            ]
        }
        return .status(try SignedStatus.sign(projection, with: pair))
    }

    @Test("a relayed leadership claim is not dropped by the cap when every member re-signs at once after a leader change")
    func claimOutsideCap() throws {
        var core = GossipCore(
            keyPair: SigningKeyPair(), address: NodeAddress(host: "10.0.0.1", port: 1), generation: 1, trust: .any, randomSeed: 1, wallClockOrigin: Harness.wallClock)
        core.rumours.repairableLimit = 64
        let leader = SigningKeyPair()
        let claim = try Self.status(leader, claiming: true)
        #expect(RumourQueue.isLeadershipClaim(claim))
        #expect(!RumourQueue.isLeadershipClaim(try Self.status(leader, claiming: false)))
        #expect(!RumourQueue.isLeadershipClaim(try Self.status(leader, claiming: nil)))
        core.queueRumour(claim, about: RumourQueue.Subject(key: leader.publicKey, isStatus: true))
        // The followers' re-signed statuses: 100 of them, past the cap of 64.
        for _ in 0..<100 {
            let follower = SigningKeyPair()
            core.queueRumour(try Self.status(follower, claiming: false), about: RumourQueue.Subject(key: follower.publicKey, isStatus: true))
        }
        #expect(core.rumours.repairableCount == 64 && core.rumours.count == 65)
        let taken = core.rumours.take(budget: 200 * claim.encodedSize, limit: 16)
        #expect(taken.contains(claim))
    }
}
