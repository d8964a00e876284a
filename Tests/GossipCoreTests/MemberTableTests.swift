@testable import GossipCore
import Testing

/// The member table and the directory it numbers members in: what a node reads back is what it
/// wrote, the live list stays in step, a node's own directory gives numbers back and a shared one
/// holds each announcement once.
@Suite("Member table and member directory")
struct MemberTableTests {
    static func key(_ bytes: [UInt8]) -> PublicKey { PublicKey(bytes: bytes)! }

    static func member(_ key: PublicKey, _ n: UInt64, state: MemberState = .alive) -> GossipCore.Member {
        let address = NodeAddress(host: "10.0.0.\(n % 250)", port: UInt16(7000 + n % 1000))
        let life = Life(generation: n, incarnation: n &* 3)
        return GossipCore.Member(
            key: key, address: address, life: life, state: state, since: .milliseconds(Int64(n)),
            announcement: Announcement(key: key, life: life, address: state == .left ? nil : address, signature: [UInt8](repeating: UInt8(n % 256), count: 64)))
    }

    @Test("random writes, removals and liveness changes read back as a dictionary of the same writes gives")
    func randomAgainstDictionary() {
        let keys = (0..<50).map { i in Self.key((0..<32).map { UInt8(($0 * 7 + i * 13) % 256) }) }
        var rng = SplitMix64(seed: 4)
        var table = MemberTable(directory: MemberDirectory())
        var truth: [PublicKey: GossipCore.Member] = [:]
        var live: Set<PublicKey> = []
        for step in 0..<3000 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            switch rng.next() % 5 {
            case 0:
                table[key] = nil
                truth[key] = nil
                live.remove(key)
            case 1:
                let changed = table.setLive(key, !live.contains(key))
                #expect(changed == (truth[key] != nil), "step \(step)")
                if truth[key] != nil { if live.contains(key) { live.remove(key) } else { live.insert(key) } }
            default:
                let member = Self.member(key, rng.next() % 2000, state: MemberState(rawValue: UInt8(rng.next() % 4))!)
                table[key] = member
                truth[key] = member
            }
            #expect(table[key] == truth[key], "step \(step)")
        }
        #expect(table.count == truth.count)
        #expect(Set(table.keys) == Set(truth.keys))
        #expect(Set(table.values.map(\.key)) == Set(truth.keys))
        #expect(Set(table.liveKeys) == live)
        #expect(table.liveCount == live.count)
        for key in keys { #expect(table.isLive(key) == live.contains(key)) }
    }

    @Test("a node's own directory gives a forgotten member's number back; a shared one keeps it")
    func numbersGivenBack() {
        let a = Self.key([UInt8](repeating: 1, count: 32))
        let b = Self.key([UInt8](repeating: 2, count: 32))
        var own = MemberTable(directory: MemberDirectory())
        own[a] = Self.member(a, 1)
        let number = own.number(of: a)
        own[a] = nil
        #expect(own.number(of: a) == nil)
        own[b] = Self.member(b, 2)
        #expect(own.number(of: b) == number, "the number is reused")
        #expect(own[a] == nil)
        #expect(own.count == 1)

        let shared = MemberDirectory()
        var first = MemberTable(directory: shared)
        var second = MemberTable(directory: shared)
        first[a] = Self.member(a, 1)
        second[a] = Self.member(a, 1)
        first[a] = nil
        #expect(shared.number(of: a) != nil, "still numbered while shared")
        #expect(second[a] == Self.member(a, 1))
    }

    @Test("tables sharing a directory hold one copy of an announcement and an address")
    func sharedCopies() throws {
        let a = Self.key([UInt8](repeating: 3, count: 32))
        let shared = MemberDirectory()
        var first = MemberTable(directory: shared)
        var second = MemberTable(directory: shared)
        first[a] = Self.member(a, 5)
        second[a] = Self.member(a, 5)
        let number = try #require(shared.number(of: a))
        #expect(shared.intern(Self.member(a, 5).announcement, for: number) === shared.intern(Self.member(a, 5).announcement, for: number))
        // An older announcement is held apart and does not displace the newer one.
        let older = shared.intern(Self.member(a, 4).announcement, for: number)
        #expect(older.value == Self.member(a, 4).announcement)
        #expect(shared.intern(Self.member(a, 5).announcement, for: number).value == Self.member(a, 5).announcement)
    }

    @Test("a live member by key prefix, also when two keys share their first 64 bits, with prefixes 0 and 2^64−1")
    func prefixes() {
        let low = Self.key([UInt8](repeating: 0, count: 32))
        let high = Self.key([UInt8](repeating: 0xFF, count: 32))
        let twin = Self.key([UInt8](repeating: 0xFF, count: 31) + [0])
        var table = MemberTable(directory: MemberDirectory())
        for (n, key) in [low, high, twin].enumerated() { table[key] = Self.member(key, UInt64(n)) }
        #expect(table.liveKey(withPrefix: 0) == nil, "listed but not live")
        table.setLive(low, true)
        table.setLive(twin, true)
        #expect(table.liveKey(withPrefix: 0) == low)
        #expect(table.liveKey(withPrefix: .max) == twin)
        table.setLive(twin, false)
        table.setLive(high, true)
        #expect(table.liveKey(withPrefix: .max) == high)
        #expect(table.liveKey(withPrefix: 1) == nil)
    }
}
