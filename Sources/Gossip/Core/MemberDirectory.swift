import Synchronization

/// Numbers the members' keys, and holds each member's signed announcement and address once,
/// for every ``GossipCore`` that shares it.
///
/// A node has a directory of its own (``GossipCore`` makes one unless given one). The simulator
/// gives one to all its nodes: at 10,000 simulated nodes every node lists every other, 10⁸
/// entries, and a key (32 bytes), an announcement (its 64-byte signature on the heap) and an
/// address held once instead of once per node is what makes that fit in this machine's memory
/// (a member cost ~1 KB per node before; BENCHMARKS.md).
///
/// Numbers are handed out only to members admitted with a verified announcement (never to a key
/// merely named in a datagram) and stay with their key while the directory is shared; a node
/// that holds its directory alone gives a number back when it forgets the member
/// (``MemberTable/remove(_:)``), so a long-lived node's directory does not grow with churn.
public final class MemberDirectory: Sendable {
    /// A value held once for all the tables that share the directory.
    final class Held<Value: Sendable & Equatable>: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private struct State {
        var numbers: [PublicKey: UInt32] = [:]
        var keys: [PublicKey] = []
        /// Numbers by key prefix (suspicions and pub/sub messages name members by prefix); a
        /// prefix shared by several keys (a 64-bit collision, which can be searched for) lists them all.
        var byPrefix: [UInt64: [UInt32]] = [:]
        /// The latest announcement and address interned for each number.
        var announcements: [Held<Announcement>?] = []
        var addresses: [Held<NodeAddress>?] = []
        var free: [UInt32] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// A directory that numbers `keys` from 0 in their order, for a simulator that shares it
    /// among nodes with those keys (each table then reserves its final size at once).
    public convenience init(numbering keys: [PublicKey]) {
        self.init()
        for key in keys { _ = admit(key) }
    }

    /// How many numbers were handed out (the size a table indexed by number needs).
    var capacity: Int { state.withLock { $0.keys.count } }

    /// The number of `key`, `nil` when it has none.
    func number(of key: PublicKey) -> UInt32? {
        state.withLock { $0.numbers[key] }
    }

    /// The number of `key`, handed out now when it has none.
    func admit(_ key: PublicKey) -> UInt32 {
        state.withLock { state in
            if let number = state.numbers[key] { return number }
            let number: UInt32
            if let reused = state.free.popLast() {
                number = reused
                state.keys[Int(number)] = key
            } else {
                number = UInt32(state.keys.count)
                state.keys.append(key)
                state.announcements.append(nil)
                state.addresses.append(nil)
            }
            state.numbers[key] = number
            state.byPrefix[key.prefix, default: []].append(number)
            return number
        }
    }

    /// Hands `number` back (only for a directory that one table holds alone).
    func release(_ number: UInt32) {
        state.withLock { state in
            let key = state.keys[Int(number)]
            guard state.numbers.removeValue(forKey: key) != nil else { return }
            state.byPrefix[key.prefix]?.removeAll { $0 == number }
            if state.byPrefix[key.prefix]?.isEmpty == true { state.byPrefix[key.prefix] = nil }
            state.announcements[Int(number)] = nil
            state.addresses[Int(number)] = nil
            state.free.append(number)
        }
    }

    func key(_ number: UInt32) -> PublicKey {
        state.withLock { $0.keys[Int(number)] }
    }

    /// The numbers of the keys that start with `prefix` (usually one).
    func numbers(withPrefix prefix: UInt64) -> [UInt32] {
        state.withLock { $0.byPrefix[prefix] ?? [] }
    }

    /// The held copy of `announcement`: the one interned for `number` when equal, else a new one,
    /// interned unless older than the one held (nodes that lag behind keep theirs to themselves).
    func intern(_ announcement: Announcement, for number: UInt32) -> Held<Announcement> {
        state.withLock { state in
            if let held = state.announcements[Int(number)] {
                if held.value == announcement { return held }
                if announcement.life < held.value.life { return Held(announcement) }
            }
            let held = Held(announcement)
            state.announcements[Int(number)] = held
            return held
        }
    }

    /// The held copy of `address` for `number` (as ``intern(_:for:)-8d5qz``, the latest wins).
    func intern(_ address: NodeAddress, for number: UInt32) -> Held<NodeAddress> {
        state.withLock { state in
            if let held = state.addresses[Int(number)], held.value == address { return held }
            let held = Held(address)
            state.addresses[Int(number)] = held
            return held
        }
    }
}
