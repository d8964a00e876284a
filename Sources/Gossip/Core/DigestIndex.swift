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

    /// Sorted by key, so also by key prefix.
    private(set) var entries: [DigestEntry] = []
    private(set) var buckets = [UInt64](repeating: 0, count: DigestIndex.bucketCount)
    /// The summary sent with every round: a hash of the buckets and the number of entries.
    private(set) var summary: (hash: UInt64, count: UInt32) = (0, 0)

    init(_ unsorted: [DigestEntry]) {
        entries = unsorted.sorted { $0.key < $1.key }
        for entry in entries { buckets[Self.bucket(entry.key)] ^= Self.hash(entry) }
        summarise()
    }

    static func bucket(_ key: PublicKey) -> Int { Int(key.prefix >> 60) }

    /// Sets the entry for `key`, or removes it when `entry` is nil.
    mutating func update(_ key: PublicKey, to entry: DigestEntry?) {
        let index = insertionIndex(of: key)
        let bucket = Self.bucket(key)
        if index < entries.count, entries[index].key == key {
            let old = entries[index]
            if old == entry { return }
            buckets[bucket] ^= Self.hash(old)
            if let entry {
                entries[index] = entry
            } else {
                entries.remove(at: index)
            }
        } else {
            guard let entry else { return }
            entries.insert(entry, at: index)
        }
        if let entry { buckets[bucket] ^= Self.hash(entry) }
        summarise()
    }

    /// The entries whose key prefix lies in `low...high` (empty when `low > high`).
    func entries(prefixFrom low: UInt64, through high: UInt64) -> ArraySlice<DigestEntry> {
        guard low <= high else { return [] }
        let start = firstIndex { $0.key.prefix >= low }
        let end = high == .max ? entries.count : firstIndex { $0.key.prefix > high }
        return entries[start..<max(start, end)]
    }

    /// The first index whose entry is not ordered before `key`.
    private func insertionIndex(of key: PublicKey) -> Int { firstIndex { !($0.key < key) } }

    /// The first index where `isAtOrAfter` holds, for a predicate that is false, then true, along the array.
    private func firstIndex(where isAtOrAfter: (DigestEntry) -> Bool) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if isAtOrAfter(entries[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }

    private mutating func summarise() {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for hash in buckets { h = StableHash.combine(h, hash) }
        summary = (StableHash.finish(h), UInt32(entries.count))
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
