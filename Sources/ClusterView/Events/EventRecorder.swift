import Gossip
import GossipCore
import Logging
import Metrics
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Metric names of the event history.
public enum HistoryMetricNames {
    public static let recorded = "chorus_history_events_recorded_total"
    public static let dropped = "chorus_history_events_dropped_total"
    public static let errors = "chorus_history_errors_total"
    public static let available = "chorus_history_available"
    public static let stored = "chorus_history_events_stored"

    public static let help: [String: String] = [
        recorded: "Events written to the history database.",
        dropped: "Events not written, by reason (backlog_full: the database was unavailable too long).",
        errors: "History database operations that failed, by operation (open, write, prune, read).",
        available: "1 while the history database can be used, 0 while it cannot (see the node's log and /cluster/events).",
        stored: "Events in the history database.",
    ]
}

/// Records the transitions the node observes into its ``EventStore``, off the event loops, and
/// answers history queries; a service in the node's group.
///
/// Events arrive synchronously from the node's ``ClusterMemory`` (``record(_:)`` only appends to
/// a buffer under a lock); the service's loop writes the buffer in one transaction every
/// ``Settings/flushInterval`` and prunes a chunk every ``Settings/pruneInterval``, on NIO's
/// thread pool. A database that cannot be opened or written (corrupt, locked, full, read-only)
/// is logged once, counted, reported by ``availability`` (the history endpoints answer 503 with
/// the reason) and retried; events wait in the buffer meanwhile, up to
/// ``Settings/maxBacklog`` (then the oldest are dropped and counted). Nothing else in the node
/// waits on the database.
public final class EventRecorder: Service, Sendable {
    public struct Settings: Sendable {
        /// The SQLite file.
        public var path: String
        /// Events older than this are pruned. Default 7 days.
        public var retention: Duration = .seconds(7 * 86_400)
        /// At most this many events are kept. Default 1 000 000.
        public var maxEvents = 1_000_000
        public var flushInterval: Duration = .milliseconds(250)
        public var pruneInterval: Duration = .seconds(60)
        /// How often a database that failed to open is tried again.
        public var reopenInterval: Duration = .seconds(15)
        /// Events held while the database cannot take them.
        public var maxBacklog = 100_000
        /// Events a subscriber may fall behind by; one further behind is ended (it resumes from
        /// the store with `Last-Event-ID`).
        public var subscriberBuffer = 10_000
        /// A subscriber hears at least this often.
        public var keepaliveInterval: Duration = .seconds(15)

        /// The observing node's name in its own `observer` events.
        public var observer = "this node"

        public init(path: String, observer: String = "this node") {
            self.path = path
            self.observer = observer
        }
    }

    /// Whether the history can be used, and why not.
    public enum Availability: Sendable, Hashable {
        case opening
        case available
        case unavailable(reason: String)
    }

    /// The history cannot answer: ``reason`` says why (for the 503).
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { "event history unavailable: \(reason)" }
    }

    struct State: Sendable {
        var backlog: [ClusterEvent] = []
        var store: EventStore?
        var availability = Availability.opening
        var nextOpenAt: ContinuousClock.Instant?
        var nextPruneAt: ContinuousClock.Instant?
        var pruneBacklog = false
        var stored = 0
        var subscribers: [Int: AsyncStream<StreamItem>.Continuation] = [:]
        var nextSubscriber = 0
        var nextKeepaliveAt: ContinuousClock.Instant?
        var stopped = false
    }

    /// What a subscriber of ``subscribe()`` receives.
    public enum StreamItem: Sendable {
        /// A newly stored event, with its id.
        case event(ClusterEvent)
        /// Nothing new for ``Settings/keepaliveInterval``: a stream writes a comment, so proxies
        /// keep the connection and a closed one is noticed.
        case keepalive
    }

    public let settings: Settings
    private let state = Mutex(State())
    private let logger: Logger
    private let wallMillis: @Sendable () -> Int64
    /// When this recorder was made: from then on the node observed (its `started` mark).
    private let startedAtMillis: Int64
    private let recorded: Counter
    private let backlogDropped: Counter
    private let availableGauge: Gauge
    private let storedGauge: Gauge
    private let factory: any MetricsFactory

    public init(
        settings: Settings, logger: Logger = Logger(label: "chorus.history"), metricsFactory: (any MetricsFactory)? = nil,
        wallMillis: @escaping @Sendable () -> Int64
    ) {
        self.settings = settings
        self.logger = logger
        self.wallMillis = wallMillis
        startedAtMillis = wallMillis()
        let factory = metricsFactory ?? MetricsSystem.factory
        self.factory = factory
        recorded = Counter(label: HistoryMetricNames.recorded, factory: factory)
        backlogDropped = Counter(label: HistoryMetricNames.dropped, dimensions: [("reason", "backlog_full")], factory: factory)
        availableGauge = Gauge(label: HistoryMetricNames.available, factory: factory)
        storedGauge = Gauge(label: HistoryMetricNames.stored, factory: factory)
    }

    public var availability: Availability { state.withLock { $0.availability } }

    // MARK: Recording

    /// Takes the events ``ClusterMemory`` made of an observation; returns at once.
    public func record(_ events: [ClusterEvent]) {
        guard !events.isEmpty else { return }
        state.withLock { state in
            state.backlog += events
            let excess = state.backlog.count - settings.maxBacklog
            if excess > 0 {
                state.backlog.removeFirst(excess)
                backlogDropped.increment(by: excess)
            }
        }
    }

    public func run() async throws {
        // Graceful shutdown ends the loop at the next round (at most one flush interval); a
        // cancelled task ends it at once: the sleep throws, and a loop that ignored that spun.
        while !Task.isShuttingDownGracefully {
            await step(now: .now)
            keepSubscribersAlive(now: .now)
            do { try await Task.sleep(for: settings.flushInterval) } catch { break }
        }
        record([
            ClusterEvent(
                observedAtMillis: wallMillis(), node: settings.observer, nodeKey: nil, kind: .observer, from: nil, to: "stopped",
                message: "\(settings.observer) stopped recording")
        ])
        await step(now: .now)  // what arrived until the end, and the mark
        // Streams end with the recorder, so the HTTP server's graceful shutdown (after this
        // service's: the group stops services in reverse order) does not wait on them.
        let subscribers = state.withLock { state in
            state.stopped = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    // MARK: Subscribing

    /// The events stored from now on, as they are stored, with a ``StreamItem/keepalive`` every
    /// ``Settings/keepaliveInterval``. A subscriber that falls ``Settings/subscriberBuffer``
    /// events behind is ended; so are all when the recorder stops. Throws ``Unavailable`` after
    /// the recorder stopped.
    public func subscribe() throws(Unavailable) -> AsyncStream<StreamItem> {
        let (stream, continuation) = AsyncStream.makeStream(of: StreamItem.self, bufferingPolicy: .bufferingOldest(settings.subscriberBuffer))
        let id = state.withLock { state -> Int? in
            guard !state.stopped else { return nil }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            return id
        }
        guard let id else { throw Unavailable(reason: "the node is shutting down") }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// How many streams are subscribed.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    private func publish(_ items: [StreamItem]) {
        let subscribers = state.withLock { $0.subscribers }
        for (id, subscriber) in subscribers {
            for item in items {
                if case .dropped = subscriber.yield(item) {
                    // Too far behind: end it rather than skip events silently.
                    subscriber.finish()
                    _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
                    break
                }
            }
        }
    }

    func keepSubscribersAlive(now: ContinuousClock.Instant) {
        let due = state.withLock { state -> Bool in
            guard !state.subscribers.isEmpty else {
                state.nextKeepaliveAt = nil
                return false
            }
            guard let at = state.nextKeepaliveAt else {
                state.nextKeepaliveAt = now + settings.keepaliveInterval
                return false
            }
            guard now >= at else { return false }
            state.nextKeepaliveAt = now + settings.keepaliveInterval
            return true
        }
        if due { publish([.keepalive]) }
    }

    /// One round: open the database if it is due, write the backlog, prune if due. Tests call it
    /// directly.
    public func step(now: ContinuousClock.Instant) async {
        if state.withLock({ $0.store == nil && ($0.nextOpenAt.map { now >= $0 } ?? true) }) {
            await open(now: now)
        }
        await flush()
        if state.withLock({ state in state.store != nil && (state.pruneBacklog || state.nextPruneAt.map { now >= $0 } ?? true) }) {
            await prune(now: now)
        }
    }

    func open(now: ContinuousClock.Instant) async {
        let path = settings.path
        let result: Result<(EventStore, Int), EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) {
                let store = try EventStore(path: path)
                return .success((store, try store.count()))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let (store, count)):
            let started = ClusterEvent(
                observedAtMillis: startedAtMillis, node: settings.observer, nodeKey: nil, kind: .observer, from: nil, to: "started",
                message: "\(settings.observer) began to record")
            state.withLock { state in
                // Before what waited: the mark says from when this node observed.
                state.backlog.insert(started, at: 0)
                state.store = store
                state.availability = .available
                state.stored = count
            }
            availableGauge.record(1)
            storedGauge.record(count)
            logger.info("event history open", metadata: ["path": "\(path)", "events": "\(count)"])
        case .failure(let failure):
            fail("open", failure, reopenAt: now + settings.reopenInterval)
        }
    }

    func flush() async {
        guard let (store, batch) = state.withLock({ state -> (EventStore, [ClusterEvent])? in
            guard let store = state.store, !state.backlog.isEmpty else { return nil }
            return (store, state.backlog)
        }) else { return }
        let result: Result<[ClusterEvent], EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) { return .success(try store.append(batch)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let storedEvents):
            let written = storedEvents.count
            publish(storedEvents.map(StreamItem.event))
            let stored = state.withLock { state in
                // Observations that arrived during the write stay for the next round.
                state.backlog.removeFirst(min(written, state.backlog.count))
                state.stored += written
                if state.stored > settings.maxEvents { state.pruneBacklog = true }
                state.availability = .available  // after a failed write, this one went through
                return state.stored
            }
            availableGauge.record(1)
            recorded.increment(by: written)
            storedGauge.record(stored)
        case .failure(let failure):
            fail("write", failure, reopenAt: nil)
        }
    }

    func prune(now: ContinuousClock.Instant) async {
        guard let store = state.withLock({ $0.store }) else { return }
        let cutoff = wallMillis() - Int64(settings.retention / .milliseconds(1))
        let keep = settings.maxEvents
        let result: Result<(Int, Int), EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) {
                let deleted = try store.prune(olderThan: cutoff, keeping: keep)
                return .success((deleted, try store.count()))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let (deleted, count)):
            state.withLock { state in
                state.stored = count
                // A full chunk means more is due: the next round goes on, one chunk at a time.
                state.pruneBacklog = deleted >= 10_000
                state.nextPruneAt = now + settings.pruneInterval
            }
            storedGauge.record(count)
        case .failure(let failure):
            state.withLock { $0.nextPruneAt = now + settings.pruneInterval }
            fail("prune", failure, reopenAt: nil)
        }
    }

    /// Records a failure: counted, logged when the reason changes, reported by ``availability``.
    /// A failed open is retried at `reopenAt`; after a failed write the store stays open and the
    /// next round tries again (a full disk may have room by then).
    private func fail(_ operation: String, _ failure: EventStore.Failure, reopenAt: ContinuousClock.Instant?) {
        Counter(label: HistoryMetricNames.errors, dimensions: [("operation", operation)], factory: factory).increment()
        let reason = "\(operation) \(settings.path): \(failure)"
        let changed = state.withLock { state in
            let changed = state.availability != .unavailable(reason: reason)
            state.availability = .unavailable(reason: reason)
            if let reopenAt { state.nextOpenAt = reopenAt }
            return changed
        }
        availableGauge.record(0)
        if changed { logger.error("event history unavailable", metadata: ["reason": "\(reason)"]) }
    }

    // MARK: Reading

    /// The events `filter` asks for; throws ``Unavailable`` with the reason when the database
    /// cannot answer.
    public func events(_ filter: EventFilter) async throws(Unavailable) -> EventPage {
        let store = try usableStore()
        let result: Result<EventPage, EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) { return .success(try store.events(filter)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let page): return page
        case .failure(let failure):
            Counter(label: HistoryMetricNames.errors, dimensions: [("operation", "read")], factory: factory).increment()
            throw Unavailable(reason: "read \(settings.path): \(failure)")
        }
    }

    /// The event with `id`, or `nil`.
    public func event(id: Int64) async throws(Unavailable) -> ClusterEvent? {
        let store = try usableStore()
        let result: Result<ClusterEvent?, EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) { return .success(try store.event(id: id)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let event): return event
        case .failure(let failure): throw Unavailable(reason: "read \(settings.path): \(failure)")
        }
    }

    /// What `/cluster/nodes/{id}/history` shows of `node` (its id, fingerprint or key in hex):
    /// its timeline since `since` for ``NodeHistory`` and the last event of each of its checks;
    /// `nil` when no event names it.
    public func timeline(of node: String, since: Int64) async throws(Unavailable)
        -> (key: PublicKey, timeline: [ClusterEvent], checks: [ClusterEvent])?
    {
        let store = try usableStore()
        let result: Result<(PublicKey, [ClusterEvent], [ClusterEvent])?, EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) {
                guard let key = try store.key(of: node) else { return .success(nil) }
                return .success((key, try store.timeline(of: key, since: since), try store.lastCheckEvents(of: key)))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let found): return found.map { (key: $0.0, timeline: $0.1, checks: $0.2) }
        case .failure(let failure):
            Counter(label: HistoryMetricNames.errors, dimensions: [("operation", "read")], factory: factory).increment()
            throw Unavailable(reason: "read \(settings.path): \(failure)")
        }
    }

    private func usableStore() throws(Unavailable) -> EventStore {
        let (store, availability) = state.withLock { ($0.store, $0.availability) }
        switch availability {
        case .available:
            if let store { return store }
            throw Unavailable(reason: "not open yet")
        case .opening: throw Unavailable(reason: "opening \(settings.path)")
        case .unavailable(let reason):
            // After a failed write the store is open and may still answer reads.
            if let store { return store }
            throw Unavailable(reason: reason)
        }
    }

    /// Runs blocking database work on NIO's thread pool, never on the event loops or Swift's
    /// cooperative threads.
    private func offLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive(work)
        } catch {
            return work()  // the pool is shutting down with the process: do it here
        }
    }
}
