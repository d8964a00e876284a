/// Why a message could not be published.
public enum PubSubError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidTopic(String)
    case payloadTooLarge(size: Int, limit: Int)
    case notRunning
    /// A loopback message needs another live member to carry it back.
    case noRelay

    public var description: String {
        switch self {
        case .invalidTopic(let topic):
            "invalid topic '\(topic)': it must be 1 to \(PubSubMessage.maxTopicBytes) bytes of UTF-8"
        case .payloadTooLarge(let size, let limit):
            "pub/sub payload of \(size) bytes exceeds the limit of \(limit) bytes"
        case .notRunning:
            "the gossip node is not running"
        case .noRelay:
            "no other live member to carry a loopback message back"
        }
    }
}

/// Which nodes a published message is for.
public enum PubSubReach: Sendable, Hashable {
    /// Every node of the cluster: the message spreads on the broadcast tree (``BroadcastTree``).
    case cluster
    /// ``GossipSettings/pubSubLoopbackRelays`` random live members, each of which delivers it to its
    /// own subscribers and sends it straight back (``GossipPart/loopback(_:)``): the publisher's
    /// subscribers get it after a round trip through real members, at a cost that does not grow
    /// with the cluster. The pub/sub probe's reach.
    case loopback
}

/// Pub/sub state: the message ids seen recently (for de-duplication) and this node's own
/// messages not yet echoed back by the network.
struct PubSubState: Sendable {
    /// Message id → when it may be forgotten, and its publisher's key prefix.
    var seen: [UInt64: (expires: Duration, publisher: UInt64)] = [:]
    /// Messages remembered in ``seen`` per publisher (bounded by ``GossipSettings/pubSubMaxPerPublisher``).
    var perPublisher: [UInt64: Int] = [:]
    /// Own messages awaiting their first copy from the network.
    var awaitingEcho: Set<UInt64> = []
    /// Own loopback messages not back yet, for the retry (``GossipSettings/pubSubLoopbackRetryInterval``).
    var pendingLoopbacks: [UInt64: PendingLoopback] = [:]
    /// Own loopback messages still in ``seen``: their later echoes come from relays, not from the
    /// broadcast tree, and prune nothing.
    var ownLoopbacks: Set<UInt64> = []
    var nextSweepAt: Duration = .zero
    /// Messages seen within ``GossipSettings/pubSubRepairWindow``, for the pull repair: id → (message, when seen).
    var recent: [UInt64: (message: PubSubMessage, at: Duration)] = [:]
    var stats = PubSubStats()
}

/// An own loopback message on its way: the relays it went to, and when to try others.
struct PendingLoopback: Sendable {
    var message: PubSubMessage
    var relays: Set<PublicKey>
    var sends: Int
    var retryAt: Duration
}

/// Pub/sub counters.
public struct PubSubStats: Sendable, Hashable {
    public init() {}
    public var published = 0
    /// Messages handed to local subscribers (own messages included, once echoed).
    public var delivered = 0
    /// Copies of messages already seen.
    public var duplicates = 0
    /// Messages relayed onwards on the broadcast tree.
    public var relayed = 0
    /// Messages not relayed further because they reached the hop limit.
    public var hopLimited = 0
    /// Messages this node missed and got through the pull repair, and those it sent to others.
    public var repairedIn = 0
    public var repairedOut = 0
    /// Loopback messages this node published, and other members' it delivered and sent back.
    public var loopbacksSent = 0
    public var loopbacksReturned = 0
    /// Loopback messages sent again because no copy had come back in time.
    public var loopbacksRetried = 0
}

extension GossipCore {
    /// Pub/sub counters.
    public var pubSubStats: PubSubStats { pubsub.stats }

    /// Publishes `payload` on `topic`. With ``PubSubReach/cluster`` the message spreads to every
    /// node on the broadcast tree (``BroadcastTree``): each node relays it once on receipt and
    /// drops copies it has seen (by id), and relays stop at ``GossipSettings/pubSubHopLimit``.
    /// With ``PubSubReach/loopback`` it goes to a few random members and back. Either way this
    /// node's own subscribers receive it once the network shows it carried it (a copy or an
    /// announcement coming back: ``Directive/delivered(_:)``), never by a local shortcut.
    public mutating func publishMessage(
        topic: String, payload: [UInt8], reach: PubSubReach = .cluster, now: Duration
    ) throws(PubSubError) -> (id: UInt64, directives: [Directive]) {
        guard !hasLeft else { throw .notRunning }
        guard !topic.isEmpty, topic.utf8.count <= PubSubMessage.maxTopicBytes else { throw .invalidTopic(topic) }
        let limit = min(PubSubMessage.maxPayloadBytes, settings.maxDatagramBytes - 64 - topic.utf8.count)
        guard payload.count <= limit else { throw .payloadTooLarge(size: payload.count, limit: limit) }
        let relays = reach == .loopback ? randomMembers(count: settings.pubSubLoopbackRelays, excluding: [key]) : []
        guard reach == .cluster || !relays.isEmpty else { throw .noRelay }
        var id = rng.next()
        while id == 0 || pubsub.seen[id] != nil { id = rng.next() }
        pubsub.seen[id] = (now + settings.pubSubMemory, key.prefix)
        pubsub.perPublisher[key.prefix, default: 0] += 1
        pubsub.awaitingEcho.insert(id)
        pubsub.stats.published += 1
        let message = PubSubMessage(id: id, origin: key.prefix, hops: 0, topic: topic, payload: payload)
        var out: [Directive] = []
        switch reach {
        case .cluster:
            remember(message, now: now)
            pushOnTree(message, from: nil, now: now, into: &out)
        case .loopback:
            // Not remembered for the pull repair either: that would spread it to everyone.
            pubsub.stats.loopbacksSent += 1
            pubsub.ownLoopbacks.insert(id)
            for relay in relays { send([.loopback(message)], to: relay.peer, into: &out) }
            pubsub.pendingLoopbacks[id] = PendingLoopback(
                message: message, relays: Set(relays.map(\.key)), sends: 1,
                retryAt: now + settings.pubSubLoopbackRetryInterval)
        }
        return (id, out)
    }

    /// Handles a message; one that came as a pull-repair delta (`catchingUp`) is delivered but
    /// not relayed (the others have it).
    mutating func receiveMessage(
        _ message: PubSubMessage, from sender: PublicKey, now: Duration, catchingUp: Bool = false, into out: inout [Directive]
    ) {
        if pubsub.seen[message.id] != nil {
            if deliverEcho(of: message, into: &out) { return }
            pubsub.stats.duplicates += 1
            // A loopback's second echo is no sign of a redundant tree link: pruning on it demoted
            // one of this node's eager links a probe (every 30 s), and cluster-wide messages
            // then waited for grafts.
            if !catchingUp, !pubsub.ownLoopbacks.contains(message.id) { pruneOnDuplicate(from: sender, into: &out) }
            return
        }
        tree.missing[message.id] = nil
        guard admit(message, now: now) else { return }
        pubsub.stats.delivered += 1
        out.append(.delivered(message))
        remember(message, now: now)
        if catchingUp {
            pubsub.stats.repairedIn += 1
            return
        }
        guard Int(message.hops) + 1 < settings.pubSubHopLimit else {
            pubsub.stats.hopLimited += 1
            return
        }
        var relayed = message
        relayed.hops += 1
        pubsub.stats.relayed += 1
        pushOnTree(relayed, from: sender, now: now, into: &out)
    }

    /// When `message` is this node's own and still awaits the network's proof that it carried it
    /// (a copy, or on the broadcast tree an announcement, coming back), hands it to this node's
    /// subscribers now; false otherwise.
    mutating func deliverEcho(of message: PubSubMessage, into out: inout [Directive]) -> Bool {
        guard pubsub.awaitingEcho.remove(message.id) != nil else { return false }
        pubsub.pendingLoopbacks[message.id] = nil
        pubsub.stats.delivered += 1
        out.append(.delivered(message))
        return true
    }

    /// Delivers another member's loopback message and sends it straight back to `sender`, its
    /// publisher; a copy seen before (the publisher's retry, a replay) gets nothing.
    mutating func returnLoopback(_ message: PubSubMessage, to sender: Peer, now: Duration, into out: inout [Directive]) {
        guard pubsub.seen[message.id] == nil else {
            pubsub.stats.duplicates += 1
            return
        }
        guard admit(message, now: now) else { return }
        pubsub.stats.delivered += 1
        pubsub.stats.loopbacksReturned += 1
        out.append(.delivered(message))
        var back = message
        back.hops = min(message.hops, UInt8.max - 1) + 1
        send([.publish(back)], to: sender, into: &out)
    }

    /// Sends own loopback messages that have not come back within
    /// ``GossipSettings/pubSubLoopbackRetryInterval`` to relays not tried yet (topped up from the
    /// others once too few are left), at most ``GossipSettings/pubSubLoopbackSends`` times in all. A relay
    /// that had already returned the message drops the copy, so a retry never doubles a delivery.
    mutating func retryLoopbacks(now: Duration, into out: inout [Directive]) {
        for id in pubsub.pendingLoopbacks.keys.sorted() {
            guard var pending = pubsub.pendingLoopbacks[id], now >= pending.retryAt else { continue }
            guard pending.sends < settings.pubSubLoopbackSends, pubsub.awaitingEcho.contains(id) else {
                pubsub.pendingLoopbacks[id] = nil
                continue
            }
            let count = settings.pubSubLoopbackRelays
            var relays = randomMembers(count: count, excluding: pending.relays.union([key]))
            if relays.count < count {
                relays += randomMembers(count: count - relays.count, excluding: Set(relays.map(\.key)).union([key]))
            }
            pending.sends += 1
            pending.retryAt = now + settings.pubSubLoopbackRetryInterval
            pending.relays.formUnion(relays.map(\.key))
            pubsub.pendingLoopbacks[id] = pending
            guard !relays.isEmpty else { continue }
            pubsub.stats.loopbacksRetried += 1
            for relay in relays { send([.loopback(pending.message)], to: relay.peer, into: &out) }
        }
    }

    /// Records a message not seen before as seen, unless it is this node's own or memory is full
    /// (in all, or for its publisher: a flood costs a bounded amount and never silences the other
    /// publishers). False when the message is to be dropped.
    private mutating func admit(_ message: PubSubMessage, now: Duration) -> Bool {
        if message.origin == key.prefix {
            // Our own message, from before a restart or older than our memory: not news.
            pubsub.stats.duplicates += 1
            return false
        }
        guard pubsub.seen.count < settings.pubSubMaxMessages else {
            stats.dropped[.pubsubMemoryFull, default: 0] += 1
            return false
        }
        guard pubsub.perPublisher[message.origin, default: 0] < settings.pubSubMaxPerPublisher else {
            stats.dropped[.pubsubPublisherLimit, default: 0] += 1
            return false
        }
        pubsub.seen[message.id] = (now + settings.pubSubMemory, message.origin)
        pubsub.perPublisher[message.origin, default: 0] += 1
        return true
    }

    /// Forgets message ids older than ``GossipSettings/pubSubMemory`` (once a second).
    mutating func sweepMessages(now: Duration) {
        guard now >= pubsub.nextSweepAt else { return }
        pubsub.nextSweepAt = now + .seconds(1)
        guard !pubsub.seen.isEmpty else { return }
        pubsub.seen = pubsub.seen.filter { $0.value.expires > now }
        pubsub.perPublisher = [:]
        for entry in pubsub.seen.values { pubsub.perPublisher[entry.publisher, default: 0] += 1 }
        pubsub.awaitingEcho = pubsub.awaitingEcho.filter { pubsub.seen[$0] != nil }
        pubsub.pendingLoopbacks = pubsub.pendingLoopbacks.filter { pubsub.awaitingEcho.contains($0.key) }
        pubsub.ownLoopbacks = pubsub.ownLoopbacks.filter { pubsub.seen[$0] != nil }
        pubsub.recent = pubsub.recent.filter { now - $0.value.at < settings.pubSubRepairWindow }
    }

    // MARK: Pull repair

    /// Keeps `message` for the pull repair (the newest ``GossipPart/maxMessageIDs`` within the window).
    mutating func remember(_ message: PubSubMessage, now: Duration) {
        pubsub.recent[message.id] = (message, now)
        if pubsub.recent.count > GossipPart.maxMessageIDs {
            let oldest = pubsub.recent.min { ($0.value.at, $0.key) < ($1.value.at, $1.key) }!.key
            pubsub.recent[oldest] = nil
        }
    }

    /// The ids of the messages seen within the repair window, or `nil` when there are none.
    func messageIDsPart(reply: Bool, now: Duration) -> GossipPart? {
        let ids = pubsub.recent.filter { now - $0.value.at < settings.pubSubRepairWindow }
            .sorted { ($0.value.at, $0.key) > ($1.value.at, $1.key) }.map(\.key)
        return ids.isEmpty && !reply ? nil : .messageIDs(reply: reply, ids: ids)
    }

    /// Answers a peer's list of recent message ids: sends it the recent messages it lacks, and,
    /// when this node lacks some of its, its own list (unless the peer's was itself a reply).
    mutating func answerMessageIDs(
        _ ids: [UInt64], reply: Bool, from sender: Peer, now: Duration, replies: inout [GossipPart],
        into out: inout [Directive]
    ) {
        let theirs = Set(ids)
        let missing = pubsub.recent.filter { !theirs.contains($0.key) && now - $0.value.at < settings.pubSubRepairWindow }
            .sorted { $0.value.at < $1.value.at }.map { GossipPart.publish($0.value.message) }
        if !missing.isEmpty {
            pubsub.stats.repairedOut += missing.count
            sendPacked(missing, to: sender, catchUp: true, into: &out)
        }
        if !reply, ids.contains(where: { pubsub.seen[$0] == nil }), let own = messageIDsPart(reply: true, now: now) {
            replies.append(own)
        }
    }
}
