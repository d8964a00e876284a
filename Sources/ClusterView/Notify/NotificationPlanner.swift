/// What the notifier has told, per incident: the record it keeps in the DHT, so that a new
/// leader neither repeats nor drops a notification.
public struct SentRecord: Sendable, Hashable, Codable {
    /// The incident as it was last notified (its status at the time).
    public var incident: Incident
    /// When it was notified open (or changed), Unix milliseconds, the sender's clock.
    public var atMillis: Int64
    /// The node that sent it.
    public var by: String

    public init(incident: Incident, atMillis: Int64, by: String) {
        self.incident = incident
        self.atMillis = atMillis
        self.by = by
    }
}

/// When to notify.
public struct NotificationPolicy: Sendable, Hashable {
    /// An incident must hold this long before it is notified (a node restarting or a check
    /// recovering at once tells nobody). Default 10 s.
    public var holdFor: Duration = .seconds(10)
    /// At most one failure notification per incident within this span; a re-opened or changed
    /// incident within it waits (its resolution is never held back). Default 5 min.
    public var minInterval: Duration = .seconds(300)
    /// At most this many node and check incidents are notified at once; beyond, only the
    /// cluster incident (whose reasons list them) tells, so a mass failure is one message, not
    /// hundreds. Default 50.
    public var maxOpen = 50

    public init() {}
}

/// One message to send.
public enum Notification: Sendable, Hashable {
    /// The incident opened (or changed status: `previous` is the status notified before).
    case firing(Incident, previous: String?)
    /// It no longer holds; `incident` is as it was last notified.
    case resolved(Incident)

    public var incident: Incident {
        switch self {
        case .firing(let incident, _), .resolved(let incident): incident
        }
    }
}

/// Decides what to notify, from the incidents that hold at each tick. Pure: time is passed in.
///
/// Every node runs it; only the leader sends. A node that becomes leader first ``adopt(_:)``s
/// the records of what was sent (from the DHT), so it repeats nothing its predecessor sent and
/// resolves what its predecessor opened. Work per tick is per incident, not per member.
public struct NotificationPlanner: Sendable {
    public let policy: NotificationPolicy
    /// Since when each incident holds (continuously), and as it is now.
    private(set) var holding: [String: (since: Int64, incident: Incident)] = [:]
    /// What was notified open and not yet resolved, by incident id.
    public private(set) var sent: [String: SentRecord] = [:]
    /// When each incident last had a failure notification (kept a min interval past its resolution).
    private(set) var lastFiring: [String: Int64] = [:]
    /// Node and check incidents held back by ``NotificationPolicy/maxOpen``.
    public private(set) var suppressed = 0

    public init(policy: NotificationPolicy = NotificationPolicy()) {
        self.policy = policy
    }

    /// Takes over what was sent (by this node or a former leader), replacing what it knew.
    public mutating func adopt(_ records: [SentRecord]) {
        sent = Dictionary(records.map { ($0.incident.id, $0) }, uniquingKeysWith: { a, b in a.atMillis >= b.atMillis ? a : b })
        for record in records { lastFiring[record.incident.id] = max(lastFiring[record.incident.id] ?? .min, record.atMillis) }
    }

    /// The notifications due at `now` given the `incidents` that hold; when `sending` is false
    /// (not the leader) only the holding times are kept. The planner counts what it returns as
    /// sent: the caller records it (``sent``).
    public mutating func plan(_ incidents: [String: Incident], at now: Int64, sending: Bool, by node: String) -> [Notification] {
        for id in holding.keys where incidents[id] == nil { holding[id] = nil }
        for (id, incident) in incidents {
            holding[id] = (holding[id]?.since ?? now, incident)
        }
        let intervalMillis = Int64(policy.minInterval / .milliseconds(1))
        lastFiring = lastFiring.filter { now &- $0.value < intervalMillis }
        guard sending else { return [] }

        var out: [Notification] = []
        // Resolutions first: an incident no longer holding that was notified.
        for id in sent.keys.sorted() where holding[id] == nil {
            if let record = sent.removeValue(forKey: id) { out.append(.resolved(record.incident)) }
        }
        let holdMillis = Int64(policy.holdFor / .milliseconds(1))
        let individual = sent.values.count { $0.incident.kind == .node || $0.incident.kind == .check }
        var room = policy.maxOpen - individual
        suppressed = 0
        for id in holding.keys.sorted() {
            guard let (since, incident) = holding[id], now &- since >= holdMillis else { continue }
            let previous = sent[id]?.incident.status
            guard previous != incident.status else { continue }  // notified once until it changes
            if let last = lastFiring[id], now &- last < intervalMillis { continue }  // waits for the interval
            if previous == nil, incident.kind == .node || incident.kind == .check {
                guard room > 0 else {
                    suppressed += 1
                    continue
                }
                room -= 1
            }
            sent[id] = SentRecord(incident: incident, atMillis: now, by: node)
            lastFiring[id] = now
            out.append(.firing(incident, previous: previous))
        }
        return out
    }
}
