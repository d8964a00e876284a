#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The per-node health manager: runs every registered check on its own
/// interval under its own timeout, aggregates the results into a ``SystemStatus``, emits
/// metrics, and optionally shuts the service group down when a critical check fails.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` starts it, and graceful
/// shutdown (or ``stop()``) is its `Stop()`. Readers (the HTTP probes) never wait on it: every
/// change is published to a lock-protected snapshot that ``status()`` reads synchronously, so
/// a slow or hung check can never delay a probe.
public actor HealthManager: Service {
    /// Configuration of a manager.
    public struct Settings: Sendable {
        /// The node identifier reported as `node_id`.
        public var nodeID: String
        /// The software version reported as `version`.
        public var version: String
        /// When `true`, a critical check turning failing begins shutdown: the status becomes
        /// `stopping` and ``run()`` throws ``CriticalCheckFailure``, so a `ServiceGroup` whose
        /// configuration for this service has `failureTerminationBehavior: .gracefullyShutdownGroup`
        /// shuts every service down gracefully. Default `false`.
        public var shutdownOnCriticalFailure: Bool
        /// For this long after the manager was created, a failing critical check does not begin
        /// shutdown (Kubernetes' startup probe); the node is unhealthy, and not ready, but runs.
        /// Checks that need other members (pub/sub, DHT) fail while a cluster is still forming,
        /// including some that passed at first, with few members, and a node that shut down then
        /// made the start worse for the rest: 42 of 128 node processes starting at once on 2 cores
        /// stopped themselves (BENCHMARKS.md). Default 0.
        public var startupGrace: Duration
        /// How long ``run()`` keeps going after shutdown begins, with probes answering 503, before it
        /// returns, so load balancers stop sending traffic first. Default 0.
        public var drainDelay: Duration
        /// Where log lines go.
        public var logger: Logger
        /// The metrics factory; `nil` (the default) uses the global `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)?
        /// The gap between a check's first run and its second, in intervals, drawn for each
        /// registration (then every run is an interval after the last): by default at random
        /// between 1 and 1.5, so that the checks of nodes started together spread over their
        /// intervals. Never sooner than one interval: a probe run again a moment after start can
        /// fail while the cluster is still forming (most likely what a CI run saw when the demo
        /// was not healthy again within 5 s).
        public var secondRunGap: @Sendable () -> Double = { Double.random(in: 1..<1.5) }

        public init(
            nodeID: String,
            version: String,
            shutdownOnCriticalFailure: Bool = false,
            startupGrace: Duration = .zero,
            drainDelay: Duration = .zero,
            logger: Logger = Logger(label: "chorus.health"),
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.nodeID = nodeID
            self.version = version
            self.shutdownOnCriticalFailure = shutdownOnCriticalFailure
            self.startupGrace = startupGrace
            self.drainDelay = drainDelay
            self.logger = logger
            self.metricsFactory = metricsFactory
        }
    }

    /// Thrown by ``run()`` when a critical check fails and ``Settings/shutdownOnCriticalFailure`` is set.
    public struct CriticalCheckFailure: Error, Sendable, CustomStringConvertible {
        /// The failing check.
        public var checkName: String
        /// Its last result's message.
        public var message: String
        public var description: String { "critical health check '\(checkName)' failed: \(message)" }
    }

    /// Thrown by ``run()`` when it is called a second time: a manager runs once.
    public struct AlreadyRunError: Error, Sendable, CustomStringConvertible {
        public var description: String { "the health manager has already run; create a new one" }
    }

    /// What the probes may ask about one check without awaiting the actor.
    public enum CheckLookup: Sendable, Hashable {
        /// No check of that name is registered.
        case unknown
        /// Registered and enabled, but no run has finished yet.
        case pending
        /// Registered but disabled: it never runs.
        case disabled
        /// The latest result.
        case result(CheckResult)
    }

    private enum Event: Sendable {
        case wake
        case finished(HealthScheduler.Run, CheckResult)
        case stop
    }

    private struct Registered {
        var check: HealthCheck
        var state = CheckState()
        var lastInvocation: CheckRunner.Invocation?
        var metrics: CheckMetrics
        let executor: CheckExecutor
        /// The level last published (`nil` before the first result) and when it last changed.
        var level: CheckLevel?
        var lastTransition: Date?
        /// Whether a failure within ``Settings/startupGrace`` was logged.
        var graceLogged = false

        /// What a result shows after the thresholds: pending, passing, degraded or failing.
        enum CheckLevel: Equatable {
            case pending, passing, degraded, failing
        }
    }

    private struct CheckMetrics {
        var passed: Counter
        var failed: Counter
        var duration: Metrics.Timer
    }

    /// The snapshot the probes read. The JSON of the results and of the message is encoded
    /// once per change here, so that a probe only copies bytes.
    private struct Published: Sendable {
        var status: HealthStatus = .starting
        var message = "Health manager has not started"
        var messageJSON = JSONBytes.encode("Health manager has not started")
        var results: [String: CheckResult] = [:]
        var resultsJSON = JSONBytes.encode([String: CheckResult]())
        var enabled: [String: Bool] = [:]
        var critical: Set<String> = []
        /// What the last aggregation saw, kept for ``evaluation(excluding:)``.
        var inputs: [HealthAggregator.Input] = []
        var phase: HealthAggregator.Phase = .notStarted
        var lastUpdate: Date
        var stopReason: String?
        var maintenanceReason: String?
        var score = 1.0
        var totalRuns: Int64 = 0
        var failedRuns: Int64 = 0
    }

    /// What ``updates()`` delivers: the published status and which of its checks are critical.
    public struct Update: Sendable, Hashable {
        public var status: SystemStatus
        public var critical: Set<String>
    }

    /// What the probe handlers read: the status and ready-made JSON fragments.
    public struct ProbeSnapshot: Sendable {
        public var status: HealthStatus
        /// The message as a JSON string, quotes included.
        public var messageJSON: [UInt8]
        /// The latest results as a JSON object, name → result.
        public var resultsJSON: [UInt8]
        public var resultCount: Int
        public var lastUpdate: Date
    }

    /// The settings the manager was created with.
    public nonisolated let settings: Settings
    /// When the manager was created; `uptime` counts from here.
    public nonisolated let startTime: Date

    /// `settings.nodeID` and `settings.version` as JSON strings.
    /// The node id and version as JSON strings, quotes included (encoded once, for the probes).
    public nonisolated let nodeIDJSON: [UInt8]
    public nonisolated let versionJSON: [UInt8]

    private nonisolated let published: Mutex<Published>
    private nonisolated let subscribers = Mutex<(next: Int, continuations: [Int: AsyncStream<Update>.Continuation])>((0, [:]))
    private nonisolated let eventSink: AsyncStream<Event>.Continuation
    private let events: AsyncStream<Event>
    private let origin: ContinuousClock.Instant
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let scoreGauge: Gauge
    private let statusGauges: [HealthStatus: Gauge]
    private var scheduler = HealthScheduler()
    private var checks: [String: Registered] = [:]
    private var running = false
    private var hasRun = false

    /// Creates a manager.
    public init(settings: Settings) {
        self.settings = settings
        let now = Date()
        self.startTime = now
        self.origin = .now
        self.logger = settings.logger
        self.published = Mutex(Published(lastUpdate: now))
        self.nodeIDJSON = JSONBytes.encode(settings.nodeID)
        self.versionJSON = JSONBytes.encode(settings.version)
        (self.events, self.eventSink) = AsyncStream.makeStream(of: Event.self)
        let factory = settings.metricsFactory ?? MetricsSystem.factory
        self.metricsFactory = factory
        self.scoreGauge = Gauge(label: HealthMetricNames.systemHealthScore, dimensions: [], factory: factory)
        self.statusGauges = Dictionary(
            uniqueKeysWithValues: HealthStatus.allCases.map {
                ($0, Gauge(label: HealthMetricNames.status, dimensions: [("status", $0.rawValue)], factory: factory))
            })
        self.scoreGauge.record(1.0)
        for (status, gauge) in statusGauges { gauge.record(status == .starting ? 1.0 : 0.0) }
    }

    /// Creates a manager with default settings for `nodeID` and `version`.
    public init(nodeID: String, version: String, logger: Logger = Logger(label: "chorus.health")) {
        self.init(settings: Settings(nodeID: nodeID, version: version, logger: logger))
    }

    // MARK: Registration

    /// Registers `check`, replacing any check of the same name. Allowed at any time, also while
    /// running; an enabled check runs at once (or as soon as the manager runs).
    public func register(_ check: HealthCheck) throws(HealthCheckError) {
        try check.validate()
        let dimensions = [("check_name", check.name)]
        let metrics = CheckMetrics(
            passed: Counter(label: HealthMetricNames.checksPassed, dimensions: dimensions, factory: metricsFactory),
            failed: Counter(label: HealthMetricNames.checksFailed, dimensions: dimensions, factory: metricsFactory),
            duration: Metrics.Timer(
                label: HealthMetricNames.checkDuration, dimensions: dimensions, factory: metricsFactory))
        if checks[check.name] != nil {
            logger.info("replacing health check", metadata: ["check": "\(check.name)"])
        }
        var stored = check
        stored.lastRun = nil
        stored.lastResult = nil
        checks[check.name] = Registered(
            check: stored, metrics: metrics, executor: CheckExecutor(name: check.name))
        // Checks of nodes started together would run in step: at 128 processes on 2 cores their
        // bursts, with the cluster monitor's, left acks late and members falsely suspected.
        scheduler.register(
            name: check.name, interval: check.interval, enabled: check.enabled, now: elapsed(), firstGap: settings.secondRunGap())
        publish()
        eventSink.yield(.wake)
    }

    /// Removes the check named `name`; a run of it still going is discarded. Returns whether it existed.
    @discardableResult
    public func unregister(_ name: String) -> Bool {
        guard checks.removeValue(forKey: name) != nil else { return false }
        scheduler.unregister(name: name)
        publish()
        return true
    }

    /// A copy of the check named `name` with its `lastRun` and `lastResult`, or `nil`.
    public func check(named name: String) -> HealthCheck? {
        checks[name]?.check
    }

    /// Copies of every registered check with their `lastRun` and `lastResult`, sorted by name.
    public func registeredChecks() -> [HealthCheck] {
        checks.values.map(\.check).sorted { $0.name < $1.name }
    }

    /// The hysteresis state of the check named `name`, or `nil`.
    public func state(of name: String) -> CheckState? {
        checks[name]?.state
    }

    // MARK: Reading (never waits on a check)

    /// The current aggregated status. Synchronous and cheap: safe to
    /// call from any probe handler at any rate.
    public nonisolated func status() -> SystemStatus {
        let snapshot = published.withLock { $0 }
        return SystemStatus(
            status: snapshot.status,
            message: snapshot.message,
            checks: snapshot.results,
            uptime: .seconds(max(0, Date().timeIntervalSince(startTime))),
            startTime: startTime,
            lastUpdate: snapshot.lastUpdate,
            version: settings.version,
            nodeID: settings.nodeID)
    }

    /// The message prefix of a node in maintenance mode.
    public static let maintenancePrefix = "Maintenance: "

    /// Takes the node out of service (`reason` non-nil) or back in (`nil`), as Consul's `maint`
    /// or draining a Kubernetes node: the status becomes `unhealthy` with the message
    /// "Maintenance: <reason>", so readiness answers 503, while liveness holds and nothing shuts
    /// down. The checks keep running; their results still show.
    public func setMaintenance(_ reason: String?) {
        let reason = reason.map { $0.isEmpty ? "no reason given" : $0 }
        let changed = published.withLock { snapshot -> Bool in
            guard snapshot.maintenanceReason != reason else { return false }
            snapshot.maintenanceReason = reason
            return true
        }
        guard changed else { return }
        logger.notice(reason == nil ? "maintenance mode off" : "maintenance mode on", metadata: ["reason": "\(reason ?? "")"])
        publish()
    }

    /// The status and message of a node in maintenance: out of service on purpose, readiness
    /// fails, liveness holds, nothing shuts down.
    private static func inMaintenance(_ reason: String) -> (HealthStatus, String) {
        (.unhealthy, maintenancePrefix + reason)
    }

    /// The maintenance reason, or `nil` when the node is in service.
    public nonisolated var maintenanceReason: String? { published.withLock { $0.maintenanceReason } }

    /// Every change of the published status (a new result, a new level, shutdown), starting
    /// with the current one; a slow reader gets the newest. The gossip layer signs from it.
    public nonisolated func updates() -> AsyncStream<Update> {
        let (stream, continuation) = AsyncStream.makeStream(of: Update.self, bufferingPolicy: .bufferingNewest(1))
        let id = subscribers.withLock { state in
            state.next += 1
            state.continuations[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        continuation.yield(currentUpdate())
        return stream
    }

    private nonisolated func currentUpdate() -> Update {
        Update(status: status(), critical: published.withLock { $0.critical })
    }

    private nonisolated func notifySubscribers() {
        let continuations = subscribers.withLock { Array($0.continuations.values) }
        guard !continuations.isEmpty else { return }
        let update = currentUpdate()
        for continuation in continuations { continuation.yield(update) }
    }

    /// The current overall status level alone, without copying the results.
    public nonisolated var currentStatus: (status: HealthStatus, message: String) {
        published.withLock { ($0.status, $0.message) }
    }

    /// The system health score, 0.0 to 1.0 (``HealthAggregator/score(_:)``), as last published.
    public nonisolated var systemScore: Double { published.withLock { $0.score } }

    /// Check runs completed since the manager started, and how many of them failed.
    public nonisolated var runCounts: (total: Int64, failed: Int64) {
        published.withLock { ($0.totalRuns, $0.failedRuns) }
    }

    /// The probe handlers' view, without copying the results.
    public nonisolated func probeSnapshot() -> ProbeSnapshot {
        published.withLock {
            ProbeSnapshot(
                status: $0.status, messageJSON: $0.messageJSON, resultsJSON: $0.resultsJSON,
                resultCount: $0.results.count, lastUpdate: $0.lastUpdate)
        }
    }

    /// The status with the checks named in `excluded` left out of the aggregation, as
    /// kube-apiserver's `/readyz?exclude=NAME` (an operator silencing a known-bad check during an
    /// incident). Maintenance and shutdown are not checks: they hold whatever is excluded.
    public struct Evaluation: Sendable, Hashable {
        public var status: HealthStatus
        public var message: String
        /// Every enabled check as the aggregation saw it, sorted by name (excluded ones included).
        public var checks: [HealthAggregator.Input]
        /// The latest result of each check that has one.
        public var results: [String: CheckResult]
        /// The names asked for that are checks of this node (sorted)…
        public var excluded: [String]
        /// …and those that are not (sorted).
        public var unknown: [String]

        public init(
            status: HealthStatus, message: String, checks: [HealthAggregator.Input], results: [String: CheckResult],
            excluded: [String], unknown: [String]
        ) {
            self.status = status
            self.message = message
            self.checks = checks
            self.results = results
            self.excluded = excluded
            self.unknown = unknown
        }
    }

    /// The status without the checks named in `excluded` (see ``Evaluation``). Computed on the
    /// caller's thread from the last published inputs: it never waits on a check.
    public nonisolated func evaluation(excluding excluded: Set<String>) -> Evaluation {
        published.withLock { snapshot in
            let kept = snapshot.inputs.filter { !excluded.contains($0.name) }
            var (status, message) = HealthAggregator.evaluate(kept, phase: snapshot.phase)
            if let reason = snapshot.maintenanceReason { (status, message) = Self.inMaintenance(reason) }
            if let reason = snapshot.stopReason { (status, message) = (.stopping, reason) }
            return Evaluation(
                status: status, message: message, checks: snapshot.inputs.sorted { $0.name < $1.name },
                results: snapshot.results,
                excluded: excluded.filter { snapshot.enabled[$0] != nil }.sorted(),
                unknown: excluded.filter { snapshot.enabled[$0] == nil }.sorted())
        }
    }

    /// The latest result of the check named `name`, or why there is none.
    public nonisolated func lookup(_ name: String) -> CheckLookup {
        published.withLock { snapshot in
            guard let enabled = snapshot.enabled[name] else { return .unknown }
            if let result = snapshot.results[name] { return .result(result) }
            return enabled ? .pending : .disabled
        }
    }

    // MARK: Life cycle

    /// Begins shutdown: from this moment the status is `stopping` and the
    /// probes answer 503; ``run()`` returns after ``Settings/drainDelay``. Calling it before
    /// ``run()`` makes `run()` return at once.
    public nonisolated func stop(reason: String = HealthAggregator.shuttingDownMessage) {
        let reasonJSON = JSONBytes.encode(reason)
        published.withLock { snapshot in
            guard snapshot.stopReason == nil else { return }
            snapshot.stopReason = reason
            snapshot.status = .stopping
            snapshot.message = reason
            snapshot.messageJSON = reasonJSON
            snapshot.lastUpdate = Date()
        }
        for (status, gauge) in statusGauges { gauge.record(status == .stopping ? 1.0 : 0.0) }
        eventSink.yield(.stop)
        notifySubscribers()
    }

    /// Runs the checks until graceful shutdown, ``stop()`` or (with
    /// ``Settings/shutdownOnCriticalFailure``) a critical failure.
    ///
    /// - Throws: ``CriticalCheckFailure`` when a critical check failed and shutdown on critical
    ///   failure is enabled; ``AlreadyRunError`` on a second call.
    public func run() async throws {
        guard !hasRun else { throw AlreadyRunError() }
        hasRun = true
        guard published.withLock({ $0.stopReason }) == nil else { return }
        running = true
        publish()
        logger.info(
            "health manager started",
            metadata: ["node_id": "\(settings.nodeID)", "checks": "\(checks.count)"])
        let failure = await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                let failure = await eventLoop(group: &group)
                group.cancelAll()
                return failure
            }
        } onGracefulShutdown: { [self] in
            stop()
        }
        running = false
        stop()  // also when the task was cancelled rather than shut down: the status stays stopping
        eventSink.finish()  // nothing reads events any more; later registrations must not queue them
        if let failure {
            logger.error("critical health check failed: shutting down", metadata: ["check": "\(failure.checkName)"])
        }
        if settings.drainDelay > .zero {
            try? await Task.sleep(for: settings.drainDelay)
        }
        logger.info("health manager stopped")
        if let failure { throw failure }
    }

    private func eventLoop(group: inout DiscardingTaskGroup) async -> CriticalCheckFailure? {
        var armedWake: Duration?
        startDueRuns(group: &group)
        armWake(&armedWake, group: &group)
        for await event in events {
            switch event {
            case .wake:
                if let armed = armedWake, armed <= elapsed() { armedWake = nil }
            case .finished(let run, let result):
                if let failure = complete(run, result: result) { return failure }
            case .stop:
                return nil
            }
            if published.withLock({ $0.stopReason }) != nil { return nil }
            startDueRuns(group: &group)
            armWake(&armedWake, group: &group)
        }
        return nil
    }

    /// Ensures a timer fires when the next check falls due.
    private func armWake(_ armedWake: inout Duration?, group: inout DiscardingTaskGroup) {
        guard let next = scheduler.nextWake else { return }
        if let armed = armedWake, armed <= next { return }
        armedWake = next
        let instant = origin + next
        let sink = eventSink
        group.addTask {
            try? await Task.sleep(until: instant, clock: .continuous)
            sink.yield(.wake)
        }
    }

    private func startDueRuns(group: inout DiscardingTaskGroup) {
        for run in scheduler.startDueRuns(now: elapsed()) {
            guard var registered = checks[run.name] else { continue }
            registered.check.lastRun = Date()
            let sink = eventSink
            if let previous = registered.lastInvocation, !previous.isFinished {
                // The previous run timed out and its checker has still not returned: do not pile
                // up another one; report the hang instead.
                checks[run.name] = registered
                let result = CheckResult(
                    healthy: false,
                    message: "Check still running: the previous run timed out and has not returned",
                    error: "previous run still in progress")
                sink.yield(.finished(run, result))
                continue
            }
            let invocation = CheckRunner.Invocation()
            registered.lastInvocation = invocation
            checks[run.name] = registered
            let check = registered.check
            let executor = registered.executor
            group.addTask {
                let result = await CheckRunner.execute(check, on: executor, invocation: invocation)
                sink.yield(.finished(run, result))
            }
        }
    }

    private func complete(_ run: HealthScheduler.Run, result: CheckResult) -> CriticalCheckFailure? {
        guard scheduler.finish(run, now: elapsed()), var registered = checks[run.name] else { return nil }
        let check = registered.check
        let changed = registered.state.record(
            healthy: result.healthy, failureThreshold: check.failureThreshold,
            successThreshold: check.successThreshold)
        let level: Registered.CheckLevel =
            switch registered.state.verdict {
            case .pending: .pending
            case .failing: .failing
            case .passing: result.degraded ? .degraded : .passing
            }
        if level != registered.level {
            registered.level = level
            registered.lastTransition = result.timestamp
        }
        var shown = result
        shown.lastTransition = registered.lastTransition
        registered.check.lastResult = shown
        if result.healthy {
            registered.metrics.passed.increment()
        } else {
            registered.metrics.failed.increment()
        }
        published.withLock {
            $0.totalRuns += 1
            if !result.healthy { $0.failedRuns += 1 }
        }
        registered.metrics.duration.recordNanoseconds(result.latency.nanoseconds)
        checks[run.name] = registered
        if changed {
            logger.log(
                level: registered.state.verdict == .failing ? .warning : .info,
                "health check \(registered.state.verdict == .failing ? "failing" : "passing")",
                metadata: ["check": "\(check.name)", "message": "\(result.message)"])
        }
        publish()
        if settings.shutdownOnCriticalFailure && check.critical && registered.state.verdict == .failing {
            guard elapsed() >= settings.startupGrace else {
                if !registered.graceLogged {
                    registered.graceLogged = true
                    logger.warning(
                        "critical check failing within the startup grace: no shutdown yet",
                        metadata: ["check": "\(check.name)", "grace_seconds": "\(settings.startupGrace.components.seconds)"])
                }
                checks[run.name] = registered
                return nil
            }
            let failure = CriticalCheckFailure(checkName: check.name, message: result.message)
            stop(reason: "Shutting down: \(failure)")
            return failure
        }
        return nil
    }

    /// Recomputes the aggregate and publishes it with the latest results.
    private func publish() {
        let inputs = checks.values.filter(\.check.enabled).map {
            HealthAggregator.Input(
                name: $0.check.name, critical: $0.check.critical, verdict: $0.state.verdict,
                degraded: $0.check.lastResult?.degraded ?? false, score: $0.check.lastResult?.score)
        }
        var results: [String: CheckResult] = [:]
        var enabled: [String: Bool] = [:]
        let critical = Set(checks.values.filter(\.check.critical).map(\.check.name))
        for (name, registered) in checks {
            enabled[name] = registered.check.enabled
            if let result = registered.check.lastResult { results[name] = result }
        }
        let phase: HealthAggregator.Phase = running ? .running : .notStarted
        var (status, message) = HealthAggregator.evaluate(inputs, phase: phase)
        if let reason = published.withLock({ $0.maintenanceReason }) { (status, message) = Self.inMaintenance(reason) }
        let resultsJSON = JSONBytes.encode(results)
        let messageJSON = JSONBytes.encode(message)
        let current = published.withLock { snapshot -> HealthStatus in
            snapshot.results = results
            snapshot.resultsJSON = resultsJSON
            snapshot.enabled = enabled
            snapshot.critical = critical
            snapshot.inputs = inputs
            snapshot.phase = phase
            snapshot.lastUpdate = Date()
            if snapshot.stopReason == nil {
                snapshot.status = status
                snapshot.message = message
                snapshot.messageJSON = messageJSON
            }
            return snapshot.status
        }
        let score = HealthAggregator.score(inputs)
        published.withLock { $0.score = score }
        scoreGauge.record(score)
        for (level, gauge) in statusGauges { gauge.record(level == current ? 1.0 : 0.0) }
        notifySubscribers()
    }

    private func elapsed() -> Duration {
        ContinuousClock.now - origin
    }
}
