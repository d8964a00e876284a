/// Pub/sub's broadcast tree: eager push along a spanning tree, lazy announcements everywhere else
/// (Plumtree: Leitão, Pereira and Rodrigues, "Epidemic Broadcast Trees", SRDS 2007), over a few
/// random neighbours drawn from the full membership.
///
/// Each node's neighbours are its ring successor and predecessor (so every member has at least two
/// whatever the others pick, and the links are mutual without any handshake) and random members
/// up to ``GossipSettings/pubSubTreeDegree`` (for a shallow tree; told with an empty `graft` so that
/// they link back), all eager at first. A new message goes at once to every eager neighbour but
/// the one it came from, and its id to every lazy one (an `ihave` part). A copy that arrives twice
/// shows a redundant path: the receiver makes that sender lazy and tells it so (`prune`), so the
/// eager links thin out to a tree and each node sends a message about once. An announced message
/// that does not arrive within ``GossipSettings/pubSubGraftTimeout`` is asked for (`graft`), which
/// makes the link eager again: a lost copy or a broken tree is repaired from the announcements, and
/// the anti-entropy pull repair (message ids beside the digest summary) stays as the backstop.
///
/// The publisher's own subscribers get its message when the network proves it carried it, never
/// by a local shortcut: a neighbour that gets a message from its publisher announces it back.
struct BroadcastTree: Sendable {
    struct Neighbour: Sendable, Hashable {
        var key: PublicKey
        var eager: Bool
    }

    /// A message announced by members and not received yet: who announced it (oldest first, at
    /// most ``maxAnnouncers``), when to ask the next of them for it, and how often it was asked for.
    struct Missing: Sendable {
        var announcers: [PublicKey]
        var graftAt: Duration
        var grafts = 0
    }

    /// In the order they were added (deterministic for the simulator).
    var neighbours: [Neighbour] = []
    var missing: [UInt64: Missing] = [:]
    var nextMaintenanceAt: Duration = .zero
    var stats = BroadcastTreeStats()

    /// The earliest ``Missing/graftAt``, so that a tick with nothing due costs nothing.
    var nextGraftAt: Duration?

    static let maxAnnouncers = 4
    /// Times a missing message is asked for from each of its announcers, in turn, before it is
    /// left to the pull repair: a lost graft or grafted copy is asked for again, from the next
    /// announcer or the same one when it was the only one. Asking each announcer once and then
    /// forgetting the message left a copy lost twice to the pull repair, seconds later (2–3.5 s
    /// maxima at 5 % loss with a 15–30 ms graft timeout). Twice each bounds what a member that
    /// announces ids that never come gets back: two grafts for each id.
    static let graftsPerAnnouncer = 2
    /// Most announced messages waited for at once: a member announcing ids that never come costs
    /// a bounded amount (it is asked for them twice, then they are forgotten).
    static let maxMissing = 1024
    /// Most messages sent back for one `graft` part: a member asks for what it missed, a few at
    /// a time, and a request never turns into a flood of full messages.
    static let maxGraftedMessages = 16

    func index(of key: PublicKey) -> Int? { neighbours.firstIndex { $0.key == key } }
}

/// Counters of the broadcast tree.
public struct BroadcastTreeStats: Sendable, Hashable {
    public init() {}
    /// Full copies of messages pushed to eager neighbours (the publisher's own included).
    public var pushed = 0
    /// Message ids announced to lazy neighbours.
    public var announced = 0
    /// Links made lazy after a duplicate, and grafts asked for and served.
    public var prunes = 0
    public var graftsSent = 0
    public var graftsServed = 0
}

extension GossipCore {
    /// The broadcast tree's counters.
    public var broadcastTreeStats: BroadcastTreeStats { tree.stats }

    /// The broadcast tree's neighbours this node pushes messages to in full (eager links).
    public var eagerNeighbours: [PublicKey] { tree.neighbours.filter(\.eager).map(\.key) }

    /// Keeps the neighbours current (once a second, and before a publish): drops members no longer
    /// live, adds the ring successor and predecessor, and tops up with random live members to
    /// ``GossipSettings/pubSubTreeDegree``, each told with an empty `graft` (it may not know this
    /// node yet and drop it: the ring links do not depend on it). Past twice the degree, the oldest
    /// links that are not on the ring go.
    mutating func maintainTree(now: Duration, force: Bool = false, into out: inout [Directive]) {
        guard force || now >= tree.nextMaintenanceAt else { return }
        tree.nextMaintenanceAt = now + .seconds(1)
        tree.neighbours.removeAll { !members.isLive($0.key) }
        let ring = ringNeighbours()
        for key in [ring.successor, ring.predecessor].compactMap({ $0 }) where tree.index(of: key) == nil {
            tree.neighbours.append(.init(key: key, eager: true))
        }
        let onRing: (BroadcastTree.Neighbour) -> Bool = { $0.key == ring.successor || $0.key == ring.predecessor }
        while tree.neighbours.count > 2 * settings.pubSubTreeDegree, let oldest = tree.neighbours.firstIndex(where: { !onRing($0) }) {
            tree.neighbours.remove(at: oldest)
        }
        let wanted = settings.pubSubTreeDegree - tree.neighbours.count
        guard wanted > 0 else { return }
        let current = Set(tree.neighbours.map(\.key))
        for member in randomMembers(count: wanted, excluding: current.union([key])) {
            tree.neighbours.append(.init(key: member.key, eager: true))
            send([.graft([])], to: member.peer, into: &out)
        }
    }

    /// Sends a new message on: in full to the eager neighbours but `sender`, its id to the lazy
    /// ones. A live member that sent it and is not a neighbour becomes one (links are used both
    /// ways), and when `sender` is the message's publisher, it gets the id back as proof of delivery.
    mutating func pushOnTree(_ message: PubSubMessage, from sender: PublicKey?, now: Duration, into out: inout [Directive]) {
        // A node that has not picked its neighbours yet (it has just joined) picks them now.
        maintainTree(now: now, force: tree.neighbours.isEmpty, into: &out)
        if let sender, tree.index(of: sender) == nil, members.isLive(sender) { linkEagerly(sender) }
        for neighbour in tree.neighbours where neighbour.key != sender {
            if neighbour.eager, members.isLive(neighbour.key), let member = members[neighbour.key] {
                tree.stats.pushed += 1
                send([.publish(message)], to: member.peer, into: &out)
            } else if !neighbour.eager {
                announce(message.id, to: neighbour.key, into: &out)
            }
        }
        if let sender, message.origin == sender.prefix { announce(message.id, to: sender, into: &out) }
    }

    /// Makes the link to `key` eager, adding it as a neighbour while there is room (twice the degree).
    private mutating func linkEagerly(_ key: PublicKey) {
        if let i = tree.index(of: key) {
            tree.neighbours[i].eager = true
        } else if tree.neighbours.count < 2 * settings.pubSubTreeDegree {
            tree.neighbours.append(.init(key: key, eager: true))
        }
    }

    /// Announces a message at once rather than batched: a lost copy is then asked for one graft
    /// timeout after it was due, not a tick later (at 5 % loss a batch each 100-ms tick made the
    /// median delivery to all 100 simulated nodes 630 ms), and messages are rarely close enough
    /// together for a batch to save datagrams.
    private mutating func announce(_ id: UInt64, to key: PublicKey, into out: inout [Directive]) {
        guard let member = members[key], members.isLive(key) else { return }
        tree.stats.announced += 1
        sendWithPiggyback([.ihave([id])], to: member.peer, into: &out)
    }

    /// A copy of a message seen before came from `sender`: that path is redundant, so the link
    /// becomes lazy on both ends. The prune goes out even when this end is lazy already: the
    /// sender still pushes, so the last prune was lost. (Sent only on the first duplicate, a
    /// lost prune left the link eager on one end for good: at 10 % loss each node pushed to 1.4
    /// neighbours, 1.55 copies per message per node.)
    mutating func pruneOnDuplicate(from sender: PublicKey, into out: inout [Directive]) {
        guard let member = members[sender], members.isLive(sender) else { return }
        if let i = tree.index(of: sender) { tree.neighbours[i].eager = false }
        tree.stats.prunes += 1
        send([.prune], to: member.peer, into: &out)
    }

    /// `sender` asks this node to stop pushing messages to it in full.
    mutating func receivePrune(from sender: PublicKey) {
        if let i = tree.index(of: sender) { tree.neighbours[i].eager = false }
    }

    /// `sender` has these messages: note the ones this node lacks, to ask for them unless they
    /// arrive within the graft timeout. An announcement of this node's own message is the network's
    /// proof that it carried it: its subscribers get it now.
    mutating func receiveAnnouncement(_ ids: [UInt64], from sender: PublicKey, now: Duration, into out: inout [Directive]) {
        for id in ids {
            if pubsub.seen[id] != nil {
                if let own = pubsub.recent[id]?.message { _ = deliverEcho(of: own, into: &out) }
                continue
            }
            if var entry = tree.missing[id] {
                if entry.announcers.count < BroadcastTree.maxAnnouncers, !entry.announcers.contains(sender) {
                    entry.announcers.append(sender)
                    tree.missing[id] = entry
                }
            } else if tree.missing.count < BroadcastTree.maxMissing {
                let due = now + settings.pubSubGraftTimeout
                tree.missing[id] = .init(announcers: [sender], graftAt: due)
                tree.nextGraftAt = min(tree.nextGraftAt ?? due, due)
            }
        }
    }

    /// `sender` missed these messages: the link becomes eager again, and the ones still held
    /// for the repair window go to it (at most ``BroadcastTree/maxGraftedMessages``).
    mutating func receiveGraft(_ ids: [UInt64], from sender: PublicKey, into out: inout [Directive]) {
        guard let member = members[sender] else { return }
        linkEagerly(sender)
        for id in ids.prefix(BroadcastTree.maxGraftedMessages) {
            guard var message = pubsub.recent[id]?.message else { continue }
            message.hops = min(message.hops, UInt8.max - 1) + 1
            tree.stats.graftsServed += 1
            send([.publish(message)], to: member.peer, into: &out)
        }
    }

    /// When an announced message is next due to be asked for, if one is awaited. A shell that
    /// wakes at this instant for ``repairTick(now:)``, rather than waiting for its next tick,
    /// asks for a lost copy up to a tick sooner.
    public var nextRepairAt: Duration? { hasLeft ? nil : tree.nextGraftAt }

    /// Asks for the announced messages that are due (see ``nextRepairAt``); the regular tick does
    /// it too.
    public mutating func repairTick(now: Duration) -> [Directive] {
        guard !hasLeft else { return [] }
        var out: [Directive] = []
        askForMissing(now: now, into: &out)
        return out
    }

    /// Each tick: keeps the neighbours current, and asks for announced messages that did not
    /// come in time.
    mutating func treeTick(now: Duration, into out: inout [Directive]) {
        maintainTree(now: now, into: &out)
        askForMissing(now: now, into: &out)
    }

    /// Asks for each announced message that did not come in time from the next member that
    /// announced it (whose link becomes eager).
    private mutating func askForMissing(now: Duration, into out: inout [Directive]) {
        guard let due = tree.nextGraftAt, due <= now else { return }
        tree.nextGraftAt = nil
        var grafts: [PublicKey: [UInt64]] = [:]
        for id in tree.missing.keys.sorted() {
            guard var entry = tree.missing[id] else { continue }
            guard entry.graftAt <= now else {
                tree.nextGraftAt = min(tree.nextGraftAt ?? entry.graftAt, entry.graftAt)
                continue
            }
            guard entry.grafts < BroadcastTree.graftsPerAnnouncer * entry.announcers.count else {
                tree.missing[id] = nil
                continue
            }
            let announcer = entry.announcers[entry.grafts % entry.announcers.count]
            entry.grafts += 1
            entry.graftAt = now + settings.pubSubGraftTimeout
            tree.nextGraftAt = min(tree.nextGraftAt ?? entry.graftAt, entry.graftAt)
            tree.missing[id] = entry
            if members.isLive(announcer) { grafts[announcer, default: []].append(id) }
        }
        for (key, ids) in grafts.sorted(by: { $0.key < $1.key }) {
            guard let member = members[key] else { continue }
            linkEagerly(key)
            var start = 0
            while start < ids.count {
                tree.stats.graftsSent += 1
                send([.graft(Array(ids[start..<min(ids.count, start + GossipPart.maxMessageIDs)]))], to: member.peer, into: &out)
                start += GossipPart.maxMessageIDs
            }
        }
    }
}
