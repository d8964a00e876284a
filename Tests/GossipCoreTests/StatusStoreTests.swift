import Testing
import GossipCore

@Suite("Acceptance and trust rules")
struct StatusStoreTests {
    let alice = SigningKeyPair()
    let mallory = SigningKeyPair()

    func signed(_ keys: SigningKeyPair, generation: UInt64, version: UInt64) throws -> SignedStatus {
        try SignedStatus.sign(sampleProjection(keys, generation: generation, version: version), with: keys)
    }

    @Test("accepts a trusted, newer, valid status and keeps its bytes")
    func accepts() throws {
        var store = StatusStore(trust: .keys([alice.publicKey]))
        let first = try signed(alice, generation: 1, version: 1)
        #expect(store.offer(first) == nil)
        #expect(store.statuses[alice.publicKey] == first)
        let newer = try signed(alice, generation: 1, version: 2)
        #expect(store.offer(newer) == nil)
        #expect(store.statuses[alice.publicKey]?.payload == newer.payload)
        let restarted = try signed(alice, generation: 2, version: 1)
        #expect(store.offer(restarted) == nil, "a new generation supersedes any version of the old one")
        #expect(store.versionOf(alice.publicKey)! == (2, 1))
    }

    @Test("rejects untrusted, stale, replayed and tampered statuses, counting each reason")
    func rejects() throws {
        var store = StatusStore(trust: .keys([alice.publicKey]))
        #expect(store.offer(try signed(mallory, generation: 1, version: 1)) == .untrusted)
        #expect(store.offer(try signed(alice, generation: 2, version: 5)) == nil)
        #expect(store.offer(try signed(alice, generation: 2, version: 4)) == .stale)
        #expect(store.offer(try signed(alice, generation: 1, version: 99)) == .stale, "older generation")
        #expect(store.offer(try signed(alice, generation: 2, version: 5)) == .replayed)
        let newer = try signed(alice, generation: 2, version: 6)
        var signature = newer.signature
        signature[5] ^= 0x10
        #expect(store.offer(try SignedStatus(payload: newer.payload, signature: signature)) == .tampered)
        // A status claiming Alice's key but signed by Mallory is tampered too.
        let forged = try SignedStatus(payload: newer.payload, signature: mallory.sign(newer.payload))
        #expect(store.offer(forged) == .tampered)
        store.recordMalformed()
        #expect(store.rejections == [.untrusted: 1, .stale: 2, .replayed: 1, .tampered: 2, .malformed: 1])
        #expect(store.versionOf(alice.publicKey)! == (2, 5), "nothing rejected replaced the held status")
    }

    @Test("each version is verified once: copies that are not newer cost no signature check")
    func verifiesOnce() throws {
        var store = StatusStore(trust: .any)
        let status = try signed(alice, generation: 1, version: 1)
        for _ in 0..<100 { store.offer(status) }
        #expect(store.verifications == 1)
        #expect(store.rejections[.replayed] == 99)
    }

    @Test("open mode accepts any key")
    func openMode() throws {
        var store = StatusStore(trust: .any)
        #expect(store.offer(try signed(mallory, generation: 1, version: 1)) == nil)
        store.remove(mallory.publicKey)
        #expect(store.statuses.isEmpty)
    }
}
