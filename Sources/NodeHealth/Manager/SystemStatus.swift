#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The aggregated health of one node, as served at `GET /health`.
///
/// JSON: `status`, `message`, `checks` (name → ``CheckResult``), `uptime` in integer
/// nanoseconds, `start_time` and `last_update` as RFC 3339 UTC, `version`, `node_id`.
public struct SystemStatus: Sendable, Hashable {
    /// The overall status level.
    public var status: HealthStatus
    /// A description of the status; names the failing checks when there are any.
    public var message: String
    /// The latest result of every check that has one.
    public var checks: [String: CheckResult]
    /// Time since ``startTime``.
    public var uptime: Duration
    /// When the node's health manager was created.
    public var startTime: Date
    /// When the status or a check result last changed.
    public var lastUpdate: Date
    /// The node's software version.
    public var version: String
    /// The node identifier.
    public var nodeID: String

    public init(
        status: HealthStatus, message: String, checks: [String: CheckResult], uptime: Duration,
        startTime: Date, lastUpdate: Date, version: String, nodeID: String
    ) {
        self.status = status
        self.message = message
        self.checks = checks
        self.uptime = uptime
        self.startTime = startTime
        self.lastUpdate = lastUpdate
        self.version = version
        self.nodeID = nodeID
    }
}

extension SystemStatus: Codable {
    enum CodingKeys: String, CodingKey {
        case status, message, checks, uptime
        case startTime = "start_time"
        case lastUpdate = "last_update"
        case version
        case nodeID = "node_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.status = try container.decode(HealthStatus.self, forKey: .status)
        self.message = try container.decode(String.self, forKey: .message)
        self.checks = try container.decodeIfPresent([String: CheckResult].self, forKey: .checks) ?? [:]
        self.uptime = .nanoseconds(try container.decode(Int64.self, forKey: .uptime))
        self.startTime = try container.decodeRFC3339(forKey: .startTime)
        self.lastUpdate = try container.decodeRFC3339(forKey: .lastUpdate)
        self.version = try container.decode(String.self, forKey: .version)
        self.nodeID = try container.decode(String.self, forKey: .nodeID)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
        try container.encode(message, forKey: .message)
        try container.encode(checks, forKey: .checks)
        try container.encode(uptime.nanoseconds, forKey: .uptime)
        try container.encode(TimeFormatting.rfc3339(startTime), forKey: .startTime)
        try container.encode(TimeFormatting.rfc3339(lastUpdate), forKey: .lastUpdate)
        try container.encode(version, forKey: .version)
        try container.encode(nodeID, forKey: .nodeID)
    }
}
