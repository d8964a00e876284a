import Gossip
import NodeHealth
import NodeHealthHTTP

extension APIHealthDocument {
    /// `/cluster/health` as `application/health+json`: `node:status` holds one measurement per
    /// node (its status, its score as the value), and each check's `NAME:responseTime` one per
    /// node that runs it and whose signed status is fresh (the latency it signed, in ms).
    public static func cluster(_ health: ClusterHealth) -> APIHealthDocument {
        var checks: [String: [Measurement]] = [:]
        for node in health.nodes {
            let level: Level = switch node.status {
            case .healthy: .pass
            case .degraded: .warn
            case .unhealthy, .starting, .stopping, .unknown: .fail
            }
            let output = node.stale ? "no fresh status (\(node.state))" : node.message ?? node.status.rawValue
            checks[key("node", "status"), default: []].append(
                Measurement(
                    componentId: node.nodeID, componentType: "node", observedValue: node.score, status: level,
                    time: node.statusIssuedAt, output: output))
            for check in node.checks ?? [] {
                checks[key(check.name, "responseTime"), default: []].append(
                    Measurement(
                        componentId: node.nodeID, componentType: "node", observedValue: Double(check.latencyMicros) / 1000,
                        observedUnit: "ms", status: check.healthy ? (check.degraded ? .warn : .pass) : .fail,
                        time: node.statusIssuedAt, output: check.message))
            }
        }
        return APIHealthDocument(
            status: Level(health.status), serviceId: health.observer,
            description: "the cluster as \(health.observer) sees it", output: health.reasons.joined(separator: "; "),
            checks: checks)
    }
}
