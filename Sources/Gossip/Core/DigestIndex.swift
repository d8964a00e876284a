/// The anti-entropy digest of one node: every entry it knows (itself included), sorted by key,
/// with the XOR of the entries' hashes in each of 16 buckets (by the key's top four bits) and a
/// summary of the buckets.
///
/// It is kept up to date one entry at a time: a change of one member costs a binary search, a
/// move within the array and two XORs, where rebuilding the digest sorts every member. Rebuilding
/// on every change made answering digests 48 % of `simulate --nodes 1000`'s time while the
/// cluster formed (perf, debug build), since nearly every datagram then changes a member.
struct DigestIndex: Sendable {
    static let bucketCount = 16
    /// The entries are kept in 256 sorted runs by the key's top eight bits (16 per bucket): an
    /// insertion moves the later entries of its run only. In one sorted array, moving entries for
    /// insertions took 3 % of the time while 2,000 simulated nodes joined (perf), and at 10,000
    /// nodes (10⁸ insertions moving ~5,000 entries each) it would have taken hours.
    static let runCount = 256

    /// A key and the hash of its entry: the entry itself is the node's current view, read from
    /// its members when sent (40 bytes here instead of 72 per member per node).
    struct Slot: Sendable, Equatable {
        var key: PublicKey
        var hash: UInt64
    }

    private var runs = [[Slot]](repeating: [], count: DigestIndex.runCount)
    private(set) var buckets = [UInt64](repeating: 0, count: DigestIndex.bucketCount)
    /// The summary sent with every round: a hash of the buckets and the number of entries.
    private(set) var summary: (hash: UInt64, count: UInt32) = (0, 0)
    private(set) var count = 0

    init(_ unsorted: [DigestEntry]) {
        for entry in unsorted.sorted(by: { $0.key < $1.key }) {
            let hash = Self.hash(entry)
            runs[Self.run(entry.key)].append(Slot(key: entry.key, hash: hash))
            buckets[Self.bucket(entry.key)] ^= hash
        }
        count = unsorted.count
        summarise()
    }

    static func bucket(_ key: PublicKey) -> Int { Int(key.prefix >> 60) }
    static func run(_ key: PublicKey) -> Int { Int(key.prefix >> 56) }

    /// Every entry's key, sorted.
    var keys: [PublicKey] { runs.joined().map(\.key) }

    /// The keys in the buckets set in `mask` (bit `b` for bucket `b`), sorted.
    func keys(inBuckets mask: UInt16) -> [PublicKey] {
        let perBucket = Self.runCount / Self.bucketCount
        return (0..<Self.bucketCount).filter { mask & (1 << $0) != 0 }.flatMap { bucket in
            runs[bucket * perBucket..<(bucket + 1) * perBucket].joined().map(\.key)
        }
    }

    /// Sets the entry for `key`, or removes it when `entry` is nil.
    mutating func update(_ key: PublicKey, to entry: DigestEntry?) {
        let r = Self.run(key)
        let index = Self.insertionIndex(of: key, in: runs[r])
        let bucket = Self.bucket(key)
        let hash = entry.map(Self.hash)
        if index < runs[r].count, runs[r][index].key == key {
            let old = runs[r][index].hash
            if old == hash { return }
            buckets[bucket] ^= old
            if let hash {
                runs[r][index].hash = hash
            } else {
                runs[r].remove(at: index)
                count -= 1
            }
        } else {
            guard let hash else { return }
            runs[r].insert(Slot(key: key, hash: hash), at: index)
            count += 1
        }
        if let hash { buckets[bucket] ^= hash }
        summarise()
    }

    /// The keys whose prefix lies in `low...high` (empty when `low > high`), sorted.
    func keys(prefixFrom low: UInt64, through high: UInt64) -> [PublicKey] {
        guard low <= high else { return [] }
        var out: [PublicKey] = []
        for r in Int(low >> 56)...Int(high >> 56) {
            let run = runs[r]
            let start = Self.firstIndex(in: run) { $0.key.prefix >= low }
            let end = high == .max ? run.count : Self.firstIndex(in: run) { $0.key.prefix > high }
            if start < end { out.append(contentsOf: run[start..<end].map(\.key)) }
        }
        return out
    }

    /// The first index of `run` whose entry is not ordered before `key`.
    private static func insertionIndex(of key: PublicKey, in run: [Slot]) -> Int {
        firstIndex(in: run) { !($0.key < key) }
    }

    /// The first index where `isAtOrAfter` holds, for a predicate that is false, then true, along the run.
    private static func firstIndex(in run: [Slot], where isAtOrAfter: (Slot) -> Bool) -> Int {
        var low = 0
        var high = run.count
        while low < high {
            let mid = (low + high) / 2
            if isAtOrAfter(run[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }

    private mutating func summarise() {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for hash in buckets { h = StableHash.combine(h, hash) }
        summary = (StableHash.finish(h), UInt32(count))
    }

    static func hash(_ entry: DigestEntry) -> UInt64 {
        var h = StableHash.start
        let words = entry.key.words
        h = StableHash.combine(h, bigEndian: words.0)
        h = StableHash.combine(h, bigEndian: words.1)
        h = StableHash.combine(h, bigEndian: words.2)
        h = StableHash.combine(h, bigEndian: words.3)
        h = StableHash.combine(h, entry.life.generation)
        h = StableHash.combine(h, entry.life.incarnation)
        h = StableHash.combine(h, UInt64(entry.state.rawValue))
        h = StableHash.combine(h, entry.statusGeneration)
        h = StableHash.combine(h, entry.statusVersion)
        return StableHash.finish(h)
    }
}
