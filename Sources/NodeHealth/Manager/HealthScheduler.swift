/// The scheduling core of the ``HealthManager``: decides which checks run when.
///
/// It is a pure value: no clock, no tasks, no I/O. Time is a `Duration` since an origin the
/// owner chooses (the manager uses its creation instant), so tests drive it with any times.
///
/// Rules:
/// - a registered, enabled check is due at once, then `interval` after the start of its last run,
///   but for its second run, which comes `firstGap × interval` after the first (the manager
///   draws `firstGap` at random between 1 and 1.5, so that nodes started together do not run
///   their checks in step forever after, and no check runs again sooner than it did);
/// - a run that took longer than `interval` makes the check due again as soon as it finishes;
/// - a check never has two runs at once, and a disabled check never runs;
/// - every registration gets a new token; a run whose token is no longer current (the check was
///   unregistered or replaced meanwhile) is stale, and its result MUST be dropped.
public struct HealthScheduler: Sendable {
    /// One started run of a check.
    public struct Run: Sendable, Hashable {
        /// The check's name.
        public var name: String
        /// The registration the run belongs to.
        public var token: UInt64
        /// When the run started, on the scheduler's time line.
        public var startedAt: Duration
    }

    struct Entry: Sendable {
        var interval: Duration
        var enabled: Bool
        var token: UInt64
        var nextDue: Duration
        var running: Bool
        /// The gap between the first run's start and the second's, in intervals; `nil` once the
        /// first run finished.
        var firstGap: Double?
    }

    private var entries: [String: Entry] = [:]
    private var lastToken: UInt64 = 0

    public init() {}

    /// Adds a check, or replaces the one of the same name (whose running run becomes stale).
    /// An enabled check is due at `now`, and again `firstGap × interval` after that run started
    /// (clamped to 0...2; NaN counts as 1). Returns the registration's token.
    @discardableResult
    public mutating func register(name: String, interval: Duration, enabled: Bool, now: Duration, firstGap: Double = 1) -> UInt64 {
        lastToken += 1
        let gap = firstGap.isNaN ? 1 : min(2, max(0, firstGap))
        entries[name] = Entry(interval: interval, enabled: enabled, token: lastToken, nextDue: now, running: false, firstGap: gap)
        return lastToken
    }

    /// Removes a check; a run of it still going becomes stale.
    public mutating func unregister(name: String) {
        entries[name] = nil
    }

    /// The current token of `name`, or `nil` when it is not registered.
    public func token(of name: String) -> UInt64? { entries[name]?.token }

    /// Whether a run of `name` has started and not finished.
    public func isRunning(_ name: String) -> Bool { entries[name]?.running ?? false }

    /// Starts every enabled check that is due at `now` and not running; returns the runs, by name.
    public mutating func startDueRuns(now: Duration) -> [Run] {
        var runs: [Run] = []
        for (name, entry) in entries where entry.enabled && !entry.running && entry.nextDue <= now {
            entries[name]!.running = true
            runs.append(Run(name: name, token: entry.token, startedAt: now))
        }
        return runs.sorted { $0.name < $1.name }
    }

    /// Records that `run` finished at `now`. Returns `false` when the run is stale (its check
    /// was unregistered or replaced), in which case its result MUST be dropped.
    public mutating func finish(_ run: Run, now: Duration) -> Bool {
        guard var entry = entries[run.name], entry.token == run.token else { return false }
        entry.running = false
        entry.nextDue = max(run.startedAt + entry.interval * (entry.firstGap ?? 1), now)
        entry.firstGap = nil
        entries[run.name] = entry
        return true
    }

    /// When the next enabled, idle check falls due; `nil` when none will (nothing registered,
    /// everything disabled, or everything running). A value at or before now means "at once".
    public var nextWake: Duration? {
        entries.values.lazy.filter { $0.enabled && !$0.running }.map(\.nextDue).min()
    }
}
