#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One health check definition.
///
/// A check is a value: register it with ``HealthManager/register(_:)``. The manager keeps its
/// run state; snapshots from ``HealthManager/check(named:)`` carry ``lastRun`` and ``lastResult``.
public struct HealthCheck: Sendable {
    /// What a checker receives for one run.
    public struct Context: Sendable {
        /// The check's name.
        public var name: String
        /// The instant by which the run MUST finish; after it the manager records a timeout and
        /// cancels the run's task. A checker SHOULD honour task cancellation.
        public var deadline: ContinuousClock.Instant

        public init(name: String, deadline: ContinuousClock.Instant) {
            self.name = name
            self.deadline = deadline
        }
    }

    /// The function that performs one run. A thrown error becomes an unhealthy result carrying
    /// the error text; a run that outlives ``timeout`` becomes an unhealthy "timed out" result.
    public typealias Checker = @Sendable (Context) async throws -> CheckResult

    /// Seed default for ``interval``: 30 seconds.
    public static let defaultInterval: Duration = .seconds(30)
    /// Seed default for ``timeout``: 10 seconds.
    public static let defaultTimeout: Duration = .seconds(10)

    /// Unique check identifier; MUST NOT be empty. Registering a name again replaces the old check.
    public var name: String
    /// Human-readable description.
    public var description: String
    /// The check execution function.
    public var checker: Checker
    /// Time between the starts of two runs; MUST be positive. Default 30 s.
    public var interval: Duration
    /// Longest a run may take; MUST be positive. Default 10 s.
    public var timeout: Duration
    /// A disabled check never runs and does not count toward the overall status.
    public var enabled: Bool
    /// If `true`, a failure makes the node `unhealthy` and (when enabled in the manager's
    /// settings) triggers graceful shutdown.
    public var critical: Bool
    /// Consecutive failing runs before a passing check counts as failing (Kubernetes'
    /// `failureThreshold`). Default 1: the first failure counts.
    public var failureThreshold: Int
    /// Consecutive passing runs before a failing check counts as passing again (Kubernetes'
    /// `successThreshold`). Default 1.
    public var successThreshold: Int
    /// When the last run started; `nil` before the first run. Filled in by the manager's snapshots.
    public internal(set) var lastRun: Date?
    /// The most recent result; `nil` before the first run. Filled in by the manager's snapshots.
    public internal(set) var lastResult: CheckResult?

    public init(
        name: String,
        description: String = "",
        interval: Duration = HealthCheck.defaultInterval,
        timeout: Duration = HealthCheck.defaultTimeout,
        enabled: Bool = true,
        critical: Bool = false,
        failureThreshold: Int = 1,
        successThreshold: Int = 1,
        checker: @escaping Checker
    ) {
        self.name = name
        self.description = description
        self.checker = checker
        self.interval = interval
        self.timeout = timeout
        self.enabled = enabled
        self.critical = critical
        self.failureThreshold = failureThreshold
        self.successThreshold = successThreshold
        self.lastRun = nil
        self.lastResult = nil
    }

    /// Checks the definition's rules and throws a ``HealthCheckError`` naming the first broken one.
    public func validate() throws(HealthCheckError) {
        if name.isEmpty { throw .invalid(name: name, reason: "name must not be empty") }
        if name.utf8.count > 128 { throw .invalid(name: name, reason: "name must be at most 128 bytes") }
        if name.contains("/") { throw .invalid(name: name, reason: "name must not contain '/'") }
        if interval <= .zero { throw .invalid(name: name, reason: "interval must be positive") }
        if timeout <= .zero { throw .invalid(name: name, reason: "timeout must be positive") }
        if failureThreshold < 1 { throw .invalid(name: name, reason: "failureThreshold must be at least 1") }
        if successThreshold < 1 { throw .invalid(name: name, reason: "successThreshold must be at least 1") }
    }
}

/// Why a check could not be registered.
public enum HealthCheckError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The definition breaks a rule of ``HealthCheck``.
    case invalid(name: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let name, let reason): "invalid health check '\(name)': \(reason)"
        }
    }
}
