/// The five overall status levels of a node, with their JSON names.
public enum HealthStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// All enabled checks are passing.
    case healthy
    /// Some non-critical checks are failing; the node still serves (readiness 200).
    case degraded
    /// At least one enabled critical check is failing (readiness 503).
    case unhealthy
    /// The manager has not started, or not every enabled check has a first result yet.
    case starting
    /// Graceful shutdown is in progress; readiness and liveness both answer 503. It never changes back.
    case stopping

    /// Whether the node should receive traffic: `true` for ``healthy`` and ``degraded``
    /// (`/health` and `/health/ready` answer 200 for exactly these).
    public var isReady: Bool { self == .healthy || self == .degraded }

    /// Whether the process is alive in the liveness-probe sense: everything but ``stopping``.
    public var isLive: Bool { self != .stopping }
}
