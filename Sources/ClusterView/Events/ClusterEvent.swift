import GossipCore

/// What a recorded transition is about.
public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A member's state in this node's view: alive, suspect, dead, left, or restarted (a new
    /// generation).
    case member
    /// A member's overall status, from its verified signed status.
    case status
    /// One check of a member, from its verified signed status.
    case check
    /// The leader this node follows (the term in the message).
    case leader
    /// A member's status or one of its checks began to flap (`to` flapping) or settled (`to`
    /// stable): see ``FlapPolicy``.
    case flapping
    /// The observing node's own history began (`to` started) or ended (`to` stopped): the time
    /// between is time it did not observe (see ``NodeHistory``).
    case observer
    /// A notification this node sent as the leader (`to` firing or resolved) or gave up on
    /// (`to` failed); `check` is the check for a check incident, `node` the member or `cluster`.
    case notification
}

/// The level of one check in a signed status, in the words `/health/checks` uses.
public enum CheckLevel: String, Sendable, Hashable, Codable {
    case healthy, degraded, unhealthy

    public init(_ check: StatusProjection.Check) {
        self = !check.healthy ? .unhealthy : check.degraded ? .degraded : .healthy
    }
}

/// One transition this node observed, as stored and served.
public struct ClusterEvent: Sendable, Hashable {
    /// Assigned by the store, increasing; 0 until stored.
    public var id: Int64
    /// When this node observed it: milliseconds since the Unix epoch, on this node's clock.
    public var observedAtMillis: Int64
    /// The node it is about: its id from its signed status, or its key fingerprint before one
    /// arrived.
    public var node: String
    /// That node's key, when known (every event but a leader change to none).
    public var nodeKey: PublicKey?
    public var kind: EventKind
    /// The check's name, for ``EventKind/check`` events.
    public var check: String?
    /// The state or level before (`nil` when first seen) and after.
    public var from: String?
    public var to: String
    public var message: String
    /// The signed status that showed the change, for status and check events: anyone can verify
    /// it offline against the node's key (`chorus-cluster-health verify`).
    public var signedStatus: SignedStatus?

    public init(
        id: Int64 = 0, observedAtMillis: Int64, node: String, nodeKey: PublicKey?, kind: EventKind, check: String? = nil,
        from: String?, to: String, message: String, signedStatus: SignedStatus? = nil
    ) {
        self.id = id
        self.observedAtMillis = observedAtMillis
        self.node = node
        self.nodeKey = nodeKey
        self.kind = kind
        self.check = check
        self.from = from
        self.to = to
        self.message = message
        self.signedStatus = signedStatus
    }
}

/// Which events a query asks for: newest first, or oldest first after ``afterID``.
public struct EventFilter: Sendable, Hashable {
    public var node: String?
    public var check: String?
    public var kind: EventKind?
    /// Observed at or after, in Unix milliseconds.
    public var sinceMillis: Int64?
    /// Observed before, in Unix milliseconds.
    public var untilMillis: Int64?
    /// Only events with a smaller id (the cursor of the previous page).
    public var beforeID: Int64?
    /// Only events with a larger id, oldest first (a stream resuming after its last event).
    public var afterID: Int64?
    /// At most this many, 1–``EventFilter/maxLimit``.
    public var limit: Int

    /// The largest page.
    public static let maxLimit = 1000

    public init(
        node: String? = nil, check: String? = nil, kind: EventKind? = nil, sinceMillis: Int64? = nil,
        untilMillis: Int64? = nil, beforeID: Int64? = nil, afterID: Int64? = nil, limit: Int = 100
    ) {
        self.afterID = afterID
        self.node = node
        self.check = check
        self.kind = kind
        self.sinceMillis = sinceMillis
        self.untilMillis = untilMillis
        self.beforeID = beforeID
        self.limit = min(max(limit, 1), Self.maxLimit)
    }
}

/// One page of events, newest first, with the cursor of the next (older) page.
public struct EventPage: Sendable, Hashable {
    public var events: [ClusterEvent]
    /// Pass as ``EventFilter/beforeID`` for the next page; `nil` on the last one (and always for
    /// an ``EventFilter/afterID`` query: continue after its last event).
    public var nextBeforeID: Int64?
}

extension ClusterEvent {
    /// Whether `filter`'s node, check and kind match (not its times or ids): what a stream
    /// checks of each new event. A node matches by the name in the event or its key's
    /// fingerprint.
    public func matches(_ filter: EventFilter) -> Bool {
        if let node = filter.node, self.node != node, nodeKey?.fingerprint != node { return false }
        if let check = filter.check, self.check != check { return false }
        if let kind = filter.kind, self.kind != kind { return false }
        return true
    }
}
