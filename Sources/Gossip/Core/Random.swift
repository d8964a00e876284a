/// SplitMix64: a small, fast, seedable generator. The protocol core owns one, so that the same
/// seed gives the same run (the simulator relies on it).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// 64-bit FNV-1a folding finished with SplitMix's mixer: the same on every machine and run
/// (Swift's `Hasher` is seeded per process, so it cannot be compared across nodes).
enum StableHash {
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

    /// SplitMix's finaliser.
    static func finish(_ state: UInt64) -> UInt64 {
        var h = state
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }
}
