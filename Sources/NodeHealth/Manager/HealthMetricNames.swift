/// The names of the metrics the health manager emits through swift-metrics,
/// with their help texts for exporters that publish them (Prometheus `# HELP`).
public enum HealthMetricNames {
    /// Counter, labelled `check_name`: runs that passed.
    public static let checksPassed = "chorus_health_checks_passed_total"
    /// Counter, labelled `check_name`: runs that failed (including timeouts and thrown errors).
    public static let checksFailed = "chorus_health_checks_failed_total"
    /// Gauge, 0.0 to 1.0: the share of enabled, decided checks that pass.
    public static let systemHealthScore = "chorus_system_health_score"
    /// Timer (a histogram in seconds in Prometheus), labelled `check_name`: how long runs take.
    public static let checkDuration = "chorus_health_check_duration_seconds"
    /// Gauge, labelled `status`: 1 for the node's current overall status, 0 for the others.
    public static let status = "chorus_health_status"

    /// Gauge, labelled `component` (pubsub, dht, election, replication, p2p, resources, tasks):
    /// the enhanced checks' component scores, 0.0 to 1.0.
    public static let componentHealthScore = "chorus_component_health_score"

    /// Gauge: HTTP connections open (``ConnectionLimiter``).
    public static let httpConnections = "chorus_http_connections"
    /// Counter, labelled `reason` (`evicted`, `refused`): connections closed at the cap.
    public static let httpConnectionsClosed = "chorus_http_connections_closed_total"
    /// Gauge: gRPC connections open (``ConnectionLimiter``).
    public static let grpcConnections = "chorus_grpc_connections"
    /// Counter, labelled `reason` (`evicted`): gRPC connections closed at the cap.
    public static let grpcConnectionsClosed = "chorus_grpc_connections_closed_total"

    /// Help text for every metric above, by name.
    public static let help: [String: String] = [
        checksPassed: "Health check runs that passed, by check.",
        checksFailed: "Health check runs that failed (errors and timeouts included), by check.",
        systemHealthScore: "Share of enabled health checks that pass, from 0 to 1.",
        checkDuration: "Duration of health check runs in seconds, by check.",
        status: "Overall node health status: 1 for the current status, 0 for the others.",
        componentHealthScore: "Health score of a component from the enhanced checks, from 0 to 1.",
        httpConnections: "HTTP connections open.",
        httpConnectionsClosed: "HTTP connections closed at the connection cap: evicted (the longest idle, for a newcomer) or refused.",
        grpcConnections: "gRPC connections open.",
        grpcConnectionsClosed: "gRPC connections closed at the connection cap: evicted (the oldest, for a newcomer).",
    ]
}
