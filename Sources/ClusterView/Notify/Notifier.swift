#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import ClusterView
import Logging
import Metrics
import NodeHealth
import NodeHealthHTTP
import ServiceLifecycle

/// Metric names of the notifications, with their help texts.
public enum NotificationMetricNames {
    public static let deliveries = "chorus_notifications_total"
    public static let attempts = "chorus_notification_attempts_total"
    public static let open = "chorus_notification_incidents_open"

    public static let help: [String: String] = [
        deliveries: "Notifications by outcome per webhook: delivered, failed (after the retries), dropped (queue full).",
        attempts: "Webhook requests made, retries included, by result (ok, error).",
        open: "Incidents notified as firing and not yet resolved (on the leader).",
    ]
}

/// Tells operators about incidents through webhooks, once for the whole cluster: every node
/// watches its view, only the elected leader sends, and what it sent is recorded in the DHT (and
/// in its event history), so a new leader neither repeats nor drops a notification.
///
/// Nothing waits on a webhook: each has its own queue and task, retries with exponential backoff
/// and a timeout per attempt; the planning tick and the probes never wait on a delivery.
public actor Notifier: Service {
    public struct Settings: Sendable {
        /// `http://` or `https://` URLs to POST each notification to.
        public var webhooks: [String]
        /// What `https://` webhooks' certificates must chain to (`nil`: the system's trust store).
        public var trust: TLSTrust?
        public var template = NotificationTemplate.standard
        public var policy = NotificationPolicy()
        /// The link in each notification.
        public var dashboard: String
        /// This node's name, as the sender.
        public var sender: String
        /// How often incidents are looked at. Default 2 s.
        public var interval: Duration = .seconds(2)
        /// Attempts per webhook and notification (the first included). Default 6.
        public var attempts = 6
        /// The wait after the first failed attempt, doubled after each, at most ``maxBackoff``.
        public var initialBackoff: Duration = .seconds(1)
        public var maxBackoff: Duration = .seconds(60)
        /// Each attempt waits at most this long for the answer. Default 10 s.
        public var attemptTimeout: Duration = .seconds(10)
        /// Notifications waiting per webhook; beyond, new ones are dropped and counted.
        public var queueLimit = 1000
        /// How often the leader rewrites the whole ledger (its records and index): a replica
        /// that restarted lost its copies, and the DHT's lifetime of a value is bounded. Default 60 s.
        public var ledgerRefresh: Duration = .seconds(60)
        /// A node sends only after running this long: a node that just started may believe it
        /// leads before it has heard the cluster, and its DHT may not reach the ledger's replicas
        /// yet. Default 15 s.
        public var settle: Duration = .seconds(15)
        /// A new leader that cannot read the ledger for this long sends without it: repeating a
        /// notification beats staying silent while the cluster is in trouble. Default 30 s.
        public var ledgerPatience: Duration = .seconds(30)

        public init(webhooks: [String], dashboard: String, sender: String) {
            self.webhooks = webhooks
            self.dashboard = dashboard
            self.sender = sender
        }
    }

    struct Delivery: Sendable {
        var seq: Int
        var body: [UInt8]
    }

    enum LedgerWrite: Sendable {
        case entry(NotificationLedger.Entry)
        case index([String])
    }

    public let settings: Settings
    private let store: any NotificationLedgerStore
    private let source: @Sendable () async -> ClusterHealth
    private let isLeader: @Sendable () async -> Bool
    private let wallMillis: @Sendable () -> Int64
    private let record: @Sendable ([ClusterEvent]) -> Void
    private let logger: Logger
    private let factory: any MetricsFactory
    private var planner: NotificationPlanner
    private var leading = false
    private var adopted = false
    /// When reading the ledger began to fail, while it fails.
    private var loadFailingSince: Int64?
    /// The ledger as this leader keeps it, by incident id.
    private var open: [String: NotificationLedger.Entry] = [:]
    /// Deliveries in flight: the notification and the webhooks still to finish.
    private var inFlight: [Int: (notification: Notification, remaining: Int, failed: Int)] = [:]
    private var nextSeq = 0
    private var lastIndexWrite: Int64 = .min
    private let startedAtMillis: Int64
    private var ticking = false
    private let queues: [(url: String, stream: AsyncStream<Delivery>, sink: AsyncStream<Delivery>.Continuation)]
    private nonisolated let ledgerStream: AsyncStream<LedgerWrite>
    private nonisolated let ledgerSink: AsyncStream<LedgerWrite>.Continuation

    /// - Parameters:
    ///   - source: the cluster view (the monitor's snapshot).
    ///   - isLeader: whether this node leads now.
    ///   - record: takes the events of what was sent, for the history.
    public init(
        settings: Settings, store: any NotificationLedgerStore, logger: Logger = Logger(label: "chorus.notify"),
        metricsFactory: (any MetricsFactory)? = nil, wallMillis: @escaping @Sendable () -> Int64,
        record: @escaping @Sendable ([ClusterEvent]) -> Void = { _ in },
        isLeader: @escaping @Sendable () async -> Bool, source: @escaping @Sendable () async -> ClusterHealth
    ) {
        self.settings = settings
        self.store = store
        self.source = source
        self.isLeader = isLeader
        self.wallMillis = wallMillis
        self.record = record
        self.logger = logger
        self.factory = metricsFactory ?? MetricsSystem.factory
        planner = NotificationPlanner(policy: settings.policy)
        startedAtMillis = wallMillis()
        queues = settings.webhooks.map { url in
            let (stream, sink) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .bufferingOldest(max(1, settings.queueLimit)))
            return (url, stream, sink)
        }
        (ledgerStream, ledgerSink) = AsyncStream.makeStream(of: LedgerWrite.self)
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for queue in queues {
                group.addTask { await self.deliver(queue.stream, to: queue.url) }
            }
            group.addTask { await self.writeLedger() }
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                await tick()
                do { try await Task.sleep(for: settings.interval) } catch { break }
            }
            for queue in queues { queue.sink.finish() }
            ledgerSink.finish()
            // Deliveries still retrying end with the process rather than hold the shutdown.
            group.cancelAll()
        }
    }

    // MARK: Planning

    /// One look at the incidents: adopt the ledger on becoming leader, then send what is due.
    ///
    /// This node sends while it leads in its own election view **and** a majority of the
    /// membership it knows (dead members included) follows it in the merged view, and only after
    /// ``Settings/settle``: a node restarted into a cluster, or cut off from it, would otherwise
    /// take itself for the leader. A cluster that lost its majority sends nothing (each node's
    /// `ClusterUnhealthy` alert still fires).
    public func tick() async {
        // One tick at a time: the actor is reentrant at each await, and two ticks adopting the
        // ledger at once made the second forget what the first had just sent (and send it again).
        while ticking { try? await Task.sleep(for: .milliseconds(1)) }
        ticking = true
        defer { ticking = false }
        let health = await source()
        // A majority of the whole membership (the dead included) must follow this node: a node
        // cut off, or restarted without reaching the cluster, sees itself followed by all it can
        // hear and would otherwise notify on its own (seen in the process tests).
        let members = health.nodes.filter { $0.state != .left }
        let followers = members.count { $0.state == .alive && !$0.stale && $0.leader == settings.sender }
        let agreed = health.election.leader == settings.sender && followers * 2 > members.count
        let settled = wallMillis() &- startedAtMillis >= Int64(settings.settle / .milliseconds(1))
        let leader = agreed && settled ? await isLeader() : false
        if leader != leading {
            leading = leader
            adopted = false
            if leader { logger.info("leading: notifications are sent from this node") }
        }
        if leading, !adopted { await adoptLedger(at: wallMillis()) }
        let now = wallMillis()
        let due = planner.plan(Incident.incidents(in: health), at: now, sending: leading && adopted, by: settings.sender)
        for notification in due { dispatch(notification, at: now) }
        if leading, adopted, now &- lastIndexWrite >= Int64(settings.ledgerRefresh / .milliseconds(1)) {
            for entry in open.values { ledgerSink.yield(.entry(entry)) }
            writeIndex(at: now)
        }
        Gauge(label: NotificationMetricNames.open, factory: factory).record(leading ? planner.sent.count : 0)
    }

    private func adoptLedger(at now: Int64) async {
        do {
            let (records, _) = try await NotificationLedger.load(from: store)
            planner.adopt(records)
            open = Dictionary(records.map { ($0.incident.id, NotificationLedger.Entry(record: $0, state: .delivered)) }, uniquingKeysWith: { a, _ in a })
            adopted = true
            loadFailingSince = nil
            if !records.isEmpty { logger.info("adopted the notification ledger", metadata: ["open": "\(records.count)"]) }
        } catch {
            // Nothing is sent until the ledger can be read (sending blind may repeat what the
            // former leader sent) — but not for ever: after `ledgerPatience`, send without it.
            let since = loadFailingSince ?? now
            if loadFailingSince == nil {
                logger.warning("cannot read the notification ledger yet; holding notifications", metadata: ["error": "\(error)"])
            }
            loadFailingSince = since
            if now &- since >= Int64(settings.ledgerPatience / .milliseconds(1)) {
                logger.warning("sending notifications without the ledger: some may repeat", metadata: ["error": "\(error)"])
                adopted = true
                loadFailingSince = nil
            }
        }
    }

    private func dispatch(_ notification: Notification, at now: Int64) {
        let incident = notification.incident
        switch notification {
        case .firing:
            guard let record = planner.sent[incident.id] else { return }
            open[incident.id] = NotificationLedger.Entry(record: record, state: .firing)
        case .resolved:
            open[incident.id] = NotificationLedger.Entry(record: SentRecord(incident: incident, atMillis: now, by: settings.sender), state: .resolving)
        }
        if let entry = open[incident.id] { ledgerSink.yield(.entry(entry)) }
        writeIndex(at: now)

        let time = TimeFormatting.rfc3339(millis: now)
        let body = settings.template.render(
            NotificationTemplate.values(notification, time: time, dashboard: settings.dashboard, sender: settings.sender))
        let seq = nextSeq
        nextSeq += 1
        inFlight[seq] = (notification, queues.count, 0)
        for queue in queues {
            if case .dropped = queue.sink.yield(Delivery(seq: seq, body: body)) {
                count(NotificationMetricNames.deliveries, "result", "dropped")
                finished(seq, ok: false)
            }
        }
        let state: String
        var previous: String?
        switch notification {
        case .firing(_, let before):
            state = "firing"
            previous = before
        case .resolved: state = "resolved"
        }
        record([
            ClusterEvent(
                observedAtMillis: now, node: incident.node ?? incident.kind.rawValue, nodeKey: nil, kind: .notification,
                check: incident.check, from: previous, to: state, message: "\(incident.summary) → \(queues.count) webhooks")
        ])
        logger.info("notifying", metadata: ["state": "\(state)", "incident": "\(incident.id)", "status": "\(incident.status)"])
    }

    private func writeIndex(at now: Int64) {
        lastIndexWrite = now
        ledgerSink.yield(.index(open.keys.sorted().map(NotificationLedger.key(of:))))
    }

    /// A webhook finished one delivery (delivered, or given up).
    func finished(_ seq: Int, ok: Bool) {
        guard var flight = inFlight[seq] else { return }
        flight.remaining -= 1
        if !ok { flight.failed += 1 }
        guard flight.remaining <= 0 else {
            inFlight[seq] = flight
            return
        }
        inFlight[seq] = nil
        let incident = flight.notification.incident
        if flight.failed > 0 {
            record([
                ClusterEvent(
                    observedAtMillis: wallMillis(), node: incident.node ?? incident.kind.rawValue, nodeKey: nil, kind: .notification,
                    check: incident.check, from: nil, to: "failed",
                    message: "\(incident.summary): \(flight.failed) of \(queues.count) webhooks failed after \(settings.attempts) attempts")
            ])
        }
        // Delivered (or given up): a new leader need not send it again.
        switch flight.notification {
        case .firing:
            guard var entry = open[incident.id], entry.state == .firing, entry.record.incident.status == incident.status else { return }
            entry.state = .delivered
            open[incident.id] = entry
            ledgerSink.yield(.entry(entry))
        case .resolved:
            guard open[incident.id]?.state == .resolving else { return }
            open[incident.id] = nil
            writeIndex(at: wallMillis())
        }
    }

    // MARK: Delivering

    /// Delivers what `stream` brings to `url`, one at a time, in order.
    nonisolated func deliver(_ stream: AsyncStream<Delivery>, to url: String) async {
        for await delivery in stream {
            let ok = await post(delivery.body, to: url)
            count(NotificationMetricNames.deliveries, "result", ok ? "delivered" : "failed")
            await finished(delivery.seq, ok: ok)
        }
    }

    /// POSTs `body` to `url`, retrying with exponential backoff: true once a 2xx answers. A 4xx
    /// other than 408 and 429 is not retried (the request itself is wrong).
    nonisolated func post(_ body: [UInt8], to url: String) async -> Bool {
        var backoff = settings.initialBackoff
        for attempt in 1...max(1, settings.attempts) {
            do {
                let response = try await HTTPClient.request(
                    url, method: .POST, headers: [("Content-Type", "application/json")], body: body, timeout: settings.attemptTimeout,
                    maxBodyBytes: 64 * 1024, trust: settings.trust)  // the answer is not used: a receiver cannot make us hold more
                if (200..<300).contains(response.status) {
                    count(NotificationMetricNames.attempts, "result", "ok")
                    return true
                }
                count(NotificationMetricNames.attempts, "result", "error")
                logger.warning("webhook answered \(response.status)", metadata: ["url": "\(url)", "attempt": "\(attempt)"])
                if (400..<500).contains(response.status), response.status != 408, response.status != 429 { return false }
            } catch {
                count(NotificationMetricNames.attempts, "result", "error")
                logger.warning("webhook failed", metadata: ["url": "\(url)", "attempt": "\(attempt)", "error": "\(error)"])
            }
            guard attempt < settings.attempts else { break }
            do { try await Task.sleep(for: backoff) } catch { return false }
            backoff = min(backoff * 2, settings.maxBackoff)
        }
        return false
    }

    /// Writes the ledger in order; a failed write is retried once a second later, then logged.
    nonisolated func writeLedger() async {
        for await write in ledgerStream {
            let (key, value): (String, [UInt8])
            switch write {
            case .entry(let entry): (key, value) = (NotificationLedger.key(of: entry.record.incident.id), NotificationLedger.encode(entry))
            case .index(let keys): (key, value) = (NotificationLedger.indexKey, NotificationLedger.encodeIndex(keys))
            }
            for attempt in 1...2 {
                do {
                    try await store.store(value, at: key)
                    break
                } catch {
                    if attempt == 2 {
                        logger.warning("cannot record a notification in the ledger", metadata: ["key": "\(key)", "error": "\(error)"])
                    } else {
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
    }

    private nonisolated func count(_ label: String, _ key: String, _ value: String) {
        Counter(label: label, dimensions: [(key, value)], factory: factory).increment()
    }
}
