/// Rumours waiting to be sent: each is retransmitted a bounded number of times, fewest
/// transmissions first (among equals the newest, or for rumours already sent the most recently
/// sent, first), and a newer rumour about the same subject
/// replaces the older one.
///
/// Rumours are kept in levels by transmission count, so taking the next ones never sorts the
/// queue: it walks level 0 from the newest, then level 1, and moves each taken rumour up a level.
///
/// Two classes keep news from waiting behind bulk: statuses and membership changes (suspicions,
/// deaths, leaves, refutations) go before join announcements (alive at incarnation 0), whatever
/// their transmission counts. When a thousand nodes join at once, each holds a thousand join
/// announcements to relay; a status change or a death published meanwhile still spreads at full speed.
///
/// What the anti-entropy digest repairs is also capped: past ``repairableLimit`` statuses relayed
/// for others (leadership claims aside), or as many join announcements, the oldest of the kind is
/// dropped. Without the cap, after a 1000-node mass join every node kept a thousand statuses to
/// relay up to 16 times each, and its datagrams stayed full (about 21 KB/s) for some 170 s after
/// the cluster had converged (BENCHMARKS.md).
struct RumourQueue: Sendable {
    /// What a rumour is about: a member's state, or a member's status; `confirmer` tells apart
    /// the independent confirmations of one suspicion (the suspecters' key prefixes, 0 otherwise),
    /// so that a confirmation does not replace the suspicion it confirms.
    struct Subject: Sendable, Hashable {
        var key: PublicKey
        var isStatus: Bool
        var confirmer: UInt64 = 0
    }

    struct Item: Sendable {
        var part: GossipPart
        var size: Int
        var transmits: Int
        var token: UInt64
        var duplicates = 0
        var urgent: Bool
        /// Whether it counts against ``repairableLimit``.
        var capped: Bool
    }

    private(set) var items: [Subject: Item] = [:]
    /// `levels[c][t]` lists (subject, token) of class-`c` rumours (0 urgent, 1 bulk) sent `t`
    /// times, oldest first. Entries whose token no longer matches `items` are stale (replaced or
    /// removed) and skipped.
    private var levels: [[[(Subject, UInt64)]]] = [[], []]
    private var counter: UInt64 = 0
    /// Most relayed statuses, and most relayed join announcements, queued at once (see the type's comment).
    var repairableLimit = Int.max
    /// Per class, the queued relayed statuses (urgent) or join announcements (bulk) that count
    /// against the limit, oldest first from `head`; entries whose token no longer matches `items`
    /// are stale and skipped. Per class, so that a flood of join announcements never pushes a
    /// status change out.
    private struct Backlog: Sendable {
        var entries: [(Subject, UInt64)] = []
        var head = 0
        var count = 0
    }
    private var backlogs = [Backlog(), Backlog()]
    var repairableCount: Int { backlogs[0].count + backlogs[1].count }
    /// Rumours dropped by the cap.
    private(set) var cappedCount = 0

    var isEmpty: Bool { items.isEmpty }
    /// Entries in the levels, stale ones included (for tests of the compaction).
    var entryCount: Int { levels.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } }
    var count: Int { items.count }

    /// Whether a rumour is news (urgent) rather than a join announcement.
    static func isUrgent(_ part: GossipPart) -> Bool {
        if case .alive(let announcement) = part { return announcement.life.incarnation > 0 }
        return true
    }

    /// Whether the anti-entropy digest repairs what this rumour carries, should it be dropped: a
    /// status (by its generation and version) or a join announcement (by the member's life).
    static func isRepairable(_ part: GossipPart) -> Bool {
        switch part {
        case .status: true
        case .alive(let announcement): announcement.life.incarnation == 0
        default: false
        }
    }

    /// Whether `part` is a status that claims leadership: relayed outside the cap, as a node's own
    /// news is. A leader change makes every member re-sign at once, and in that flood the new
    /// leader's claim was dropped with the rest; at 150 nodes and 10 % loss a few members then took
    /// ~25 s to get it from anti-entropy (simulation suite, seed 41). A member's newer status
    /// replaces its older one in the queue, so this holds at most one rumour per claimant.
    static func isLeadershipClaim(_ part: GossipPart) -> Bool {
        guard case .status(let status) = part else { return false }
        return ElectionExtension(status.projection)?.claiming == true
    }

    /// Queues `part` as the rumour about `subject`, replacing any older one. A relayed status or
    /// join announcement counts against ``repairableLimit`` (`relayed`); this node's own never
    /// does, so its own news always gets its whole budget.
    mutating func enqueue(_ part: GossipPart, about subject: Subject, relayed: Bool = true) {
        counter += 1
        let urgent = Self.isUrgent(part)
        let item = Item(
            part: part, size: part.encodedSize, transmits: 0, token: counter, urgent: urgent,
            capped: relayed && Self.isRepairable(part) && !Self.isLeadershipClaim(part))
        set(subject, item)
        let c = urgent ? 0 : 1
        if levels[c].isEmpty { levels[c].append([]) }
        levels[c][0].append((subject, counter))
        guard item.capped else { return }
        backlogs[c].entries.append((subject, counter))
        while backlogs[c].count > repairableLimit, backlogs[c].head < backlogs[c].entries.count {
            let (oldest, token) = backlogs[c].entries[backlogs[c].head]
            backlogs[c].head += 1
            if items[oldest]?.token == token {
                set(oldest, nil)
                cappedCount += 1
            }
        }
        if backlogs[c].head > 64 && backlogs[c].head * 2 > backlogs[c].entries.count {
            backlogs[c].entries.removeFirst(backlogs[c].head)
            backlogs[c].head = 0
        }
    }

    mutating func remove(_ subject: Subject) {
        set(subject, nil)
    }

    /// Replaces or removes the rumour about `subject`, keeping the backlogs' counts in step.
    private mutating func set(_ subject: Subject, _ item: Item?) {
        if let old = items[subject], old.capped { backlogs[old.urgent ? 0 : 1].count -= 1 }
        if let item, item.capped { backlogs[item.urgent ? 0 : 1].count += 1 }
        items[subject] = item
        if items.isEmpty { backlogs = [Backlog(), Backlog()] }
    }

    /// Records that a copy of the rumour about `subject` came back from another node; after
    /// `limit` such copies the rumour stops spreading (feedback-based rumour mongering: the
    /// cluster has it, and anti-entropy repairs the rare node that does not).
    /// Only a rumour already sent `minimumTransmits` times can fall silent, so every rumour
    /// gets at least that share of its retransmit budget (reach stays near-total).
    mutating func noteDuplicate(_ subject: Subject, limit: Int, minimumTransmits: Int) {
        guard var item = items[subject], item.transmits >= max(1, minimumTransmits) else { return }
        item.duplicates += 1
        set(subject, item.duplicates >= limit ? nil : item)
    }

    /// Takes rumours that fit in `budget` bytes, urgent ones first, fewest transmissions (then
    /// newest) first within a class, counting one transmission each; rumours sent `limit` times are dropped.
    mutating func take(budget: Int, limit: Int) -> [GossipPart] {
        guard !items.isEmpty, budget > 0 else {
            if items.isEmpty { levels = [[], []] }
            return []
        }
        var remaining = budget
        var parts: [GossipPart] = []
        for c in 0..<2 where remaining >= 40 {
            take(class: c, remaining: &remaining, limit: limit, into: &parts)
        }
        return parts
    }

    /// How many rumours in a row too large for the space left a walk passes over before it
    /// gives up on a level: without the bound, a datagram with 100 bytes left walked every
    /// waiting rumour on every gossip round (the simulator spent 22 % of its time in `take`).
    static let lookahead = 16

    private mutating func take(class c: Int, remaining: inout Int, limit: Int, into parts: inout [GossipPart]) {
        var promoted: [(level: Int, entry: (Subject, UInt64))] = []
        var level = 0
        while level < levels[c].count && remaining >= 40 {
            compactIfStale(class: c, level: level)
            // Walks from the newest down; only the walked suffix is rewritten, the older
            // entries stay in place (no copy of the level).
            var kept: [(Subject, UInt64)] = []
            var index = levels[c][level].count - 1
            var misses = 0
            while index >= 0 && remaining >= 40 && misses < Self.lookahead {
                let (subject, token) = levels[c][level][index]
                index -= 1
                guard let item = items[subject], item.token == token, item.transmits == level else { continue }
                guard item.size <= remaining else {
                    kept.append((subject, token))
                    misses += 1
                    continue
                }
                parts.append(item.part)
                remaining -= item.size
                if item.transmits + 1 >= limit {
                    set(subject, nil)
                } else {
                    items[subject]!.transmits += 1
                    promoted.append((level + 1, (subject, token)))
                }
            }
            levels[c][level].removeSubrange((index + 1)...)
            levels[c][level].append(contentsOf: kept.reversed())
            level += 1
        }
        for (target, entry) in promoted.reversed() {
            while levels[c].count <= target { levels[c].append([]) }
            levels[c][target].append(entry)
        }
        while let last = levels[c].last, last.isEmpty { levels[c].removeLast() }
    }

    /// Drops the entries of rumours replaced or removed since they were queued, once they
    /// outnumber the live ones: a walk that stops early leaves the older part of a level
    /// unvisited, and replacements there would otherwise pile up.
    private mutating func compactIfStale(class c: Int, level: Int) {
        guard levels[c][level].count > 2 * items.count + 64 else { return }
        levels[c][level].removeAll { subject, token in
            guard let item = items[subject] else { return true }
            return item.token != token || item.transmits != level
        }
    }
}
