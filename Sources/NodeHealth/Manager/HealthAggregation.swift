/// The hysteresis state of one check (Kubernetes' failureThreshold / successThreshold).
///
/// A check starts ``Verdict-swift.enum/pending``. It turns ``Verdict-swift.enum/failing`` after
/// `failureThreshold` consecutive failed runs and ``Verdict-swift.enum/passing`` after
/// `successThreshold` consecutive passed runs. With both thresholds 1 (the default) every run
/// decides.
public struct CheckState: Sendable, Hashable {
    /// What the check counts as in the overall status.
    public enum Verdict: Sendable, Hashable {
        /// No threshold reached yet (for example before the first run).
        case pending
        /// The check counts as passing.
        case passing
        /// The check counts as failing.
        case failing
    }

    /// The current verdict.
    public private(set) var verdict: Verdict = .pending
    /// Failed runs in a row, 0 after a pass.
    public private(set) var consecutiveFailures = 0
    /// Passed runs in a row, 0 after a failure.
    public private(set) var consecutiveSuccesses = 0

    public init() {}

    /// Records one run's outcome; returns whether the verdict changed.
    @discardableResult
    public mutating func record(healthy: Bool, failureThreshold: Int, successThreshold: Int) -> Bool {
        let before = verdict
        if healthy {
            consecutiveSuccesses += 1
            consecutiveFailures = 0
            if verdict != .passing && consecutiveSuccesses >= successThreshold { verdict = .passing }
        } else {
            consecutiveFailures += 1
            consecutiveSuccesses = 0
            if verdict != .failing && consecutiveFailures >= failureThreshold { verdict = .failing }
        }
        return verdict != before
    }
}

/// The aggregation rules: a pure function from the checks' verdicts to the overall status.
public enum HealthAggregator {
    /// The manager's life cycle phase.
    public enum Phase: Sendable, Hashable {
        /// Created, not yet running.
        case notStarted
        /// Running checks.
        case running
        /// Shutdown has begun, for the given reason.
        case stopping(reason: String)
    }

    /// One enabled check as the aggregation sees it.
    public struct Input: Sendable, Hashable {
        public var name: String
        public var critical: Bool
        public var verdict: CheckState.Verdict
        /// Whether the latest result, though passing, is degraded (``CheckResult/degraded``).
        public var degraded: Bool
        /// The check's own score (``CheckResult/score``), when it computes one.
        public var score: Double?

        public init(name: String, critical: Bool, verdict: CheckState.Verdict, degraded: Bool = false, score: Double? = nil) {
            self.name = name
            self.critical = critical
            self.verdict = verdict
            self.degraded = degraded
            self.score = score
        }
    }

    /// The message when every check passes.
    public static let allPassingMessage = "All health checks passing"
    /// The message while shutting down.
    public static let shuttingDownMessage = "System is shutting down"

    /// The overall status and its message. Only enabled checks may be passed in.
    ///
    /// In order: `stopping` once shutdown has begun; `starting` before the manager runs;
    /// `unhealthy` when a critical check is failing (even while others are still pending, so
    /// a broken dependency shows at once); `starting` while any check is pending; `degraded`
    /// when only non-critical checks are failing, or a passing check reports itself degraded;
    /// `healthy` otherwise. Names are listed sorted.
    public static func evaluate(_ checks: [Input], phase: Phase) -> (status: HealthStatus, message: String) {
        switch phase {
        case .stopping(let reason):
            return (.stopping, reason)
        case .notStarted:
            return (.starting, "Health manager has not started")
        case .running:
            break
        }
        let failingCritical = checks.filter { $0.critical && $0.verdict == .failing }.map(\.name).sorted()
        let failingOther = checks.filter { !$0.critical && $0.verdict == .failing }.map(\.name).sorted()
        let pending = checks.filter { $0.verdict == .pending }.map(\.name).sorted()
        if !failingCritical.isEmpty {
            var message = "Critical checks failing: " + failingCritical.joined(separator: ", ")
            if !failingOther.isEmpty { message += "; non-critical checks failing: " + failingOther.joined(separator: ", ") }
            return (.unhealthy, message)
        }
        if !pending.isEmpty {
            return (.starting, "Waiting for first results: " + pending.joined(separator: ", "))
        }
        let degraded = checks.filter { $0.verdict == .passing && $0.degraded }.map(\.name).sorted()
        if !failingOther.isEmpty {
            var message = "Non-critical checks failing: " + failingOther.joined(separator: ", ")
            if !degraded.isEmpty { message += "; checks degraded: " + degraded.joined(separator: ", ") }
            return (.degraded, message)
        }
        if !degraded.isEmpty {
            return (.degraded, "Checks degraded: " + degraded.joined(separator: ", "))
        }
        return (.healthy, allPassingMessage)
    }

    /// The system health score, 0.0 to 1.0: the mean over decided checks of each check's score —
    /// its own score when it computes one (the enhanced checks do), else 1 when passing and 0
    /// when failing. 1.0 when no check has a verdict yet. It feeds `chorus_system_health_score`
    /// and the health summary's `overall_score`.
    public static func score(_ checks: [Input]) -> Double {
        let decided = checks.filter { $0.verdict != .pending }
        guard !decided.isEmpty else { return 1.0 }
        let total = decided.reduce(0.0) { sum, check in
            sum + (check.score ?? (check.verdict == .passing ? 1 : 0))
        }
        return total / Double(decided.count)
    }
}
