/// SplitMix64: a small, fast, seedable generator. The protocol core owns one, so that the same
/// seed gives the same run (the simulator relies on it).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= StableHash.golden
        return StableHash.finish(state)
    }
}

/// 64-bit FNV-1a folding finished with SplitMix's mixer: the same on every machine and run
/// (Swift's `Hasher` is seeded per process, so it cannot be compared across nodes).
enum StableHash {
    /// FNV-1a's 64-bit offset basis: the state before anything is folded in.
    static let start: UInt64 = 0xCBF2_9CE4_8422_2325
    /// SplitMix's increment (2⁶⁴ / φ).
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// FNV-1a over the UTF-8 bytes of `text`.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash = start
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// One SplitMix step from `value`: a well-spread 64-bit value (rendezvous scores).
    static func mix(_ value: UInt64) -> UInt64 { finish(value &+ golden) }

    /// Folds a 64-bit value into an FNV-1a state, byte by byte.
    static func combine(_ state: UInt64, _ value: UInt64) -> UInt64 {
        var h = state
        var v = value
        for _ in 0..<8 {
            h = (h ^ (v & 0xff)) &* 0x0000_0100_0000_01B3
            v >>= 8
        }
        return h
    }

    /// Folds a 64-bit value into an FNV-1a state, most significant byte first (as the bytes of a
    /// key read big-endian: the same as folding those bytes in order).
    static func combine(_ state: UInt64, bigEndian value: UInt64) -> UInt64 {
        var h = state
        for shift in stride(from: 56, through: 0, by: -8) {
            h = (h ^ ((value >> UInt64(shift)) & 0xff)) &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// SplitMix's finaliser.
    static func finish(_ state: UInt64) -> UInt64 {
        var h = state
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}
