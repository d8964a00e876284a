import Testing

@testable import GossipCore

@Suite("The rumour queue")
struct RumourQueueTests {
    static let keys = (0..<200).map { _ in SigningKeyPair().publicKey }

    static func death(_ i: Int, incarnation: UInt64 = 0) -> GossipPart {
        .dead(key: keys[i], life: Life(generation: 1, incarnation: incarnation))
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
}
