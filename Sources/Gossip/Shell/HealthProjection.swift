#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GossipCore
import NodeHealth

extension StatusLevel {
    /// The signed level of a health manager's status.
    public init(_ status: HealthStatus) {
        switch status {
        case .healthy: self = .healthy
        case .degraded: self = .degraded
        case .unhealthy: self = .unhealthy
        case .starting: self = .starting
        case .stopping: self = .stopping
        }
    }
}

extension HealthStatus {
    /// The health manager's status for a signed level.
    public init(_ level: StatusLevel) {
        switch level {
        case .healthy: self = .healthy
        case .degraded: self = .degraded
        case .unhealthy: self = .unhealthy
        case .starting: self = .starting
        case .stopping: self = .stopping
        }
    }
}

extension StatusDraft {
    /// The draft of `status` as the node signs it, with the criticality of each check from `critical`.
    public init(status: SystemStatus, critical: Set<String>, issuedAt: Date) {
        let checks = status.checks.map { name, result in
            StatusProjection.Check(
                name: name, healthy: result.healthy, critical: critical.contains(name), degraded: result.degraded,
                latencyMicros: UInt32(clamping: max(0, result.latency.nanoseconds / 1000)), message: result.message)
        }
        self.init(
            issuedAtMillis: UInt64(max(0, issuedAt.timeIntervalSince1970 * 1000)), nodeID: status.nodeID,
            status: StatusLevel(status.status), message: status.message,
            uptimeSeconds: UInt32(clamping: Int64(status.uptime.seconds)), softwareVersion: status.version,
            checks: checks)
    }
}
