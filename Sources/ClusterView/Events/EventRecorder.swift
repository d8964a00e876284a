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
/// Observations arrive synchronously from the gossip node (``observe(_:)`` only appends to a
/// buffer under a lock); the service's loop writes the buffer in one transaction every
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

        public init(path: String) { self.path = path }
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
        var tracker = TransitionTracker()
        var backlog: [ClusterEvent] = []
        var store: EventStore?
        var availability = Availability.opening
        var nextOpenAt: ContinuousClock.Instant?
        var nextPruneAt: ContinuousClock.Instant?
        var pruneBacklog = false
        var stored = 0
    }

    public let settings: Settings
    private let state = Mutex(State())
    private let logger: Logger
    private let wallMillis: @Sendable () -> Int64
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
        let factory = metricsFactory ?? MetricsSystem.factory
        self.factory = factory
        recorded = Counter(label: HistoryMetricNames.recorded, factory: factory)
        backlogDropped = Counter(label: HistoryMetricNames.dropped, dimensions: [("reason", "backlog_full")], factory: factory)
        availableGauge = Gauge(label: HistoryMetricNames.available, factory: factory)
        storedGauge = Gauge(label: HistoryMetricNames.stored, factory: factory)
    }

    public var availability: Availability { state.withLock { $0.availability } }

    // MARK: Recording

    /// Takes one observation of the gossip node; returns at once.
    public func observe(_ observation: GossipNode.Observation) {
        let now = wallMillis()
        state.withLock { state in
            let events = state.tracker.events(for: observation, at: now)
            guard !events.isEmpty else { return }
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
            do { try await Task.sleep(for: settings.flushInterval) } catch { break }
        }
        await step(now: .now)  // what arrived until the end
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
            state.withLock { state in
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
        let result: Result<Int, EventStore.Failure> = await offLoop {
            do throws(EventStore.Failure) { return .success(try store.append(batch).count) } catch { return .failure(error) }
        }
        switch result {
        case .success(let written):
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
