/// The members a node lists (besides itself), in rows indexed by their number in a
/// ``MemberDirectory``, and which of them are live (alive or suspect) in a list for O(1) random choice.
///
/// A row is 56 bytes: the member's announcement and address are held by the directory (one copy
/// for every node that shares it), the row keeps what is this node's own view: life, state,
/// since when, and the place in the live list. A dictionary of ``GossipCore/Member`` values keyed
/// by key took ~600 bytes per member with its live index and prefix map (heaptrack, 500
/// simulated nodes), which put 10,000 simulated nodes (10⁸ entries) out of reach.
public struct MemberTable: Sendable {
    struct Row: Sendable {
        /// `nil`: no member listed under this number.
        var announcement: MemberDirectory.Held<Announcement>?
        var address: MemberDirectory.Held<NodeAddress>?
        var life = Life(generation: 0, incarnation: 0)
        var since: Duration = .zero
        /// The row's place in ``live``, -1 when not live.
        var livePosition: Int32 = -1
        var state: MemberState = .alive
    }

    private(set) var directory: MemberDirectory
    private var rows: [Row] = []
    /// How many members are listed.
    public private(set) var count = 0
    /// The live members' numbers, in no particular order.
    private var live: [UInt32] = []

    init(directory: MemberDirectory) {
        self.directory = directory
    }

    public var isEmpty: Bool { count == 0 }

    public subscript(key: PublicKey) -> GossipCore.Member? {
        get {
            guard let number = directory.number(of: key) else { return nil }
            return member(number, key: key)
        }
        set {
            guard let newValue else {
                remove(key)
                return
            }
            let number = directory.admit(key)
            let index = Int(number)
            if index >= rows.count {
                // The simulator's shared directory knows every node: one allocation of the final size.
                rows.reserveCapacity(max(index + 1, directory.capacity))
                rows.append(contentsOf: repeatElement(Row(), count: index + 1 - rows.count))
            }
            var row = rows[index]
            if row.announcement == nil { count += 1 }
            if row.announcement?.value != newValue.announcement {
                row.announcement = directory.intern(newValue.announcement, for: number)
            }
            if row.address?.value != newValue.address { row.address = directory.intern(newValue.address, for: number) }
            row.life = newValue.life
            row.state = newValue.state
            row.since = newValue.since
            rows[index] = row
        }
    }

    /// A listed member's life and state, without copying its announcement and address (which
    /// costs reference counting: 4 % of a 2,000-node simulation when the digest read whole members).
    func lifeAndState(of key: PublicKey) -> (life: Life, state: MemberState)? {
        guard let number = directory.number(of: key), Int(number) < rows.count, rows[Int(number)].announcement != nil
        else { return nil }
        return (rows[Int(number)].life, rows[Int(number)].state)
    }

    /// Where a listed member listens, without copying the rest of it.
    func address(of key: PublicKey) -> NodeAddress? {
        guard let number = directory.number(of: key), Int(number) < rows.count else { return nil }
        return rows[Int(number)].address?.value
    }

    /// A listed member's life, state and announcement (what the digest pushes), without its address.
    func announcementAndState(of key: PublicKey) -> (life: Life, state: MemberState, announcement: Announcement)? {
        guard let number = directory.number(of: key), Int(number) < rows.count, let held = rows[Int(number)].announcement
        else { return nil }
        return (rows[Int(number)].life, rows[Int(number)].state, held.value)
    }

    private func member(_ number: UInt32, key: PublicKey) -> GossipCore.Member? {
        let index = Int(number)
        guard index < rows.count, let announcement = rows[index].announcement, let address = rows[index].address else {
            return nil
        }
        let row = rows[index]
        return GossipCore.Member(
            key: key, address: address.value, life: row.life, state: row.state, since: row.since,
            announcement: announcement.value)
    }

    /// Stops listing `key` (and holding it live).
    mutating func remove(_ key: PublicKey) {
        guard let number = directory.number(of: key), Int(number) < rows.count, rows[Int(number)].announcement != nil
        else { return }
        setLive(key, false)
        rows[Int(number)] = Row()
        count -= 1
        // A directory this table holds alone gives the number back; a shared one keeps it.
        if isKnownUniquelyReferenced(&directory) { directory.release(number) }
    }

    /// The listed members' keys, in number order (a number is a table's private order, not the keys').
    public var keys: [PublicKey] {
        rows.indices.compactMap { rows[$0].announcement == nil ? nil : directory.key(UInt32($0)) }
    }

    /// The listed members, in number order.
    public var values: [GossipCore.Member] {
        rows.indices.compactMap { member(UInt32($0), key: directory.key(UInt32($0))) }
    }

    // MARK: Live members

    /// How many members are live.
    var liveCount: Int { live.count }

    /// The live members' keys, in no particular order (see ``KeyList``).
    var liveKeys: KeyList { KeyList(numbers: live, directory: directory) }
    /// The live members' numbers, in no particular order.
    var liveNumbers: [UInt32] { live }

    /// The key numbered `number`; `nil` when no member is listed under it.
    func key(numbered number: UInt32) -> PublicKey? {
        guard Int(number) < rows.count, rows[Int(number)].announcement != nil else { return nil }
        return directory.key(number)
    }

    /// The number of a listed member's key.
    func number(of key: PublicKey) -> UInt32? { directory.number(of: key) }

    func isLive(_ key: PublicKey) -> Bool {
        guard let number = directory.number(of: key), Int(number) < rows.count else { return false }
        return rows[Int(number)].livePosition >= 0
    }

    /// The live member whose key starts with `prefix`, if any.
    func liveKey(withPrefix prefix: UInt64) -> PublicKey? {
        for number in directory.numbers(withPrefix: prefix) where Int(number) < rows.count && rows[Int(number)].livePosition >= 0 {
            return directory.key(number)
        }
        return nil
    }

    /// Adds a listed member to the live list or takes it out; `false` when nothing changed.
    @discardableResult
    mutating func setLive(_ key: PublicKey, _ isLive: Bool) -> Bool {
        guard let number = directory.number(of: key), Int(number) < rows.count, rows[Int(number)].announcement != nil
        else { return false }
        let position = Int(rows[Int(number)].livePosition)
        if isLive {
            guard position < 0 else { return false }
            rows[Int(number)].livePosition = Int32(live.count)
            live.append(number)
        } else {
            guard position >= 0 else { return false }
            let last = live.removeLast()
            if position < live.count {
                live[position] = last
                rows[Int(last)].livePosition = Int32(position)
            }
            rows[Int(number)].livePosition = -1
        }
        return true
    }
}

/// Keys stored as numbers of a ``MemberDirectory`` (4 bytes each instead of 32), read through
/// it: a view of the live list, which holds every member at every node.
struct KeyList: RandomAccessCollection, Sendable {
    let numbers: [UInt32]
    let directory: MemberDirectory

    var startIndex: Int { numbers.startIndex }
    var endIndex: Int { numbers.endIndex }
    subscript(position: Int) -> PublicKey { directory.key(numbers[position]) }
}
