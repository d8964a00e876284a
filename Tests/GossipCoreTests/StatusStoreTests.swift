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
        #expect(store.offer(first, now: .zero) == nil)
        #expect(store.statuses[alice.publicKey] == first)
        let newer = try signed(alice, generation: 1, version: 2)
        #expect(store.offer(newer, now: .zero) == nil)
        #expect(store.statuses[alice.publicKey]?.payload == newer.payload)
        let restarted = try signed(alice, generation: 2, version: 1)
        #expect(store.offer(restarted, now: .zero) == nil, "a new generation supersedes any version of the old one")
        #expect(store.versionOf(alice.publicKey)! == (2, 1))
    }

    @Test("the store records when it accepted each status; a rejected copy does not touch it, removal forgets it")
    func acceptanceTimes() throws {
        var store = StatusStore(trust: .keys([alice.publicKey]))
        let first = try signed(alice, generation: 1, version: 1)
        #expect(store.offer(first, now: .seconds(10)) == nil)
        #expect(store.acceptedAt[alice.publicKey] == .seconds(10))
        #expect(store.offer(first, now: .seconds(20)) == .replayed)
        #expect(store.acceptedAt[alice.publicKey] == .seconds(10), "a replay is not a fresh status")
        #expect(store.offer(try signed(alice, generation: 1, version: 2), now: .seconds(30)) == nil)
        #expect(store.acceptedAt[alice.publicKey] == .seconds(30))
        store.storeOwn(try signed(mallory, generation: 1, version: 1), now: .seconds(31))
        #expect(store.acceptedAt[mallory.publicKey] == .seconds(31), "this node's own status, whatever the trust list")
        store.remove(alice.publicKey)
        #expect(store.acceptedAt[alice.publicKey] == nil)
    }

    @Test("rejects untrusted, stale, replayed and tampered statuses, counting each reason")
    func rejects() throws {
        var store = StatusStore(trust: .keys([alice.publicKey]))
        #expect(store.offer(try signed(mallory, generation: 1, version: 1), now: .zero) == .untrusted)
        #expect(store.offer(try signed(alice, generation: 2, version: 5), now: .zero) == nil)
        #expect(store.offer(try signed(alice, generation: 2, version: 4), now: .zero) == .stale)
        #expect(store.offer(try signed(alice, generation: 1, version: 99), now: .zero) == .stale, "older generation")
        #expect(store.offer(try signed(alice, generation: 2, version: 5), now: .zero) == .replayed)
        let newer = try signed(alice, generation: 2, version: 6)
        var signature = newer.signature
        signature[5] ^= 0x10
        #expect(store.offer(try SignedStatus(payload: newer.payload, signature: signature), now: .zero) == .tampered)
        // A status claiming Alice's key but signed by Mallory is tampered too.
        let forged = try SignedStatus(payload: newer.payload, signature: mallory.sign(newer.payload))
        #expect(store.offer(forged, now: .zero) == .tampered)
        store.recordMalformed()
        #expect(store.rejections == [.untrusted: 1, .stale: 2, .replayed: 1, .tampered: 2, .malformed: 1])
        #expect(store.versionOf(alice.publicKey)! == (2, 5), "nothing rejected replaced the held status")
    }

    @Test("each version is verified once: copies that are not newer cost no signature check")
    func verifiesOnce() throws {
        var store = StatusStore(trust: .any)
        let status = try signed(alice, generation: 1, version: 1)
        for _ in 0..<100 { store.offer(status, now: .zero) }
        #expect(store.verifications == 1)
        #expect(store.rejections[.replayed] == 99)
    }

    @Test("open mode accepts any key")
    func openMode() throws {
        var store = StatusStore(trust: .any)
        #expect(store.offer(try signed(mallory, generation: 1, version: 1), now: .zero) == nil)
        store.remove(mallory.publicKey)
        #expect(store.statuses.isEmpty)
    }
}
