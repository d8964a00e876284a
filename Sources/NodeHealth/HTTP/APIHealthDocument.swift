#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NodeHealth

/// The `application/health+json` answer of the IETF draft "Health Check Response Format for HTTP
/// APIs" (draft-inadarei-api-health-check-06), for the tools that read that shape: `status`
/// pass / warn / fail, and `checks` keyed `component:measurement`, each an array of measurements
/// (one per node in the cluster's answer).
public struct APIHealthDocument: Encodable, Sendable, Hashable {
    /// The draft's three levels. A `fail` answer is 503, the others 200.
    public enum Level: String, Encodable, Sendable, Hashable {
        case pass, warn, fail

        /// `healthy` passes, `degraded` warns, anything else (unhealthy, starting, stopping) fails.
        public init(_ status: HealthStatus) {
            self = switch status {
            case .healthy: .pass
            case .degraded: .warn
            case .unhealthy, .starting, .stopping: .fail
            }
        }
    }

    /// One measurement of one component.
    public struct Measurement: Encodable, Sendable, Hashable {
        public var componentId: String?
        public var componentType: String?
        public var observedValue: Double?
        public var observedUnit: String?
        public var status: Level
        /// RFC 3339: when it was measured.
        public var time: String?
        /// Why it warns or fails (the draft: absent when it passes).
        public var output: String?

        public init(
            componentId: String? = nil, componentType: String? = nil, observedValue: Double? = nil,
            observedUnit: String? = nil, status: Level, time: String? = nil, output: String? = nil
        ) {
            self.componentId = componentId
            self.componentType = componentType
            self.observedValue = observedValue.map { $0.isFinite ? $0 : 0 }
            self.observedUnit = observedUnit
            self.status = status
            self.time = time
            self.output = status == .pass ? nil : output
        }
    }

    public var status: Level
    /// The software's version.
    public var version: String?
    /// Who answers: the node's id (or the observer's, for the cluster).
    public var serviceId: String?
    public var description: String?
    /// Why it warns or fails.
    public var output: String?
    public var notes: [String]?
    public var checks: [String: [Measurement]]

    public init(
        status: Level, version: String? = nil, serviceId: String? = nil, description: String? = nil,
        output: String? = nil, notes: [String]? = nil, checks: [String: [Measurement]]
    ) {
        self.status = status
        self.version = version
        self.serviceId = serviceId
        self.description = description
        self.output = status == .pass ? nil : output
        self.notes = notes
        self.checks = checks
    }

    /// The media type, as `Accept` asks for it and `Content-Type` answers it.
    public static let mediaType = "application/health+json"

    /// The measurement key: `component:measurement`.
    public static func key(_ component: String, _ measurement: String) -> String { "\(component):\(measurement)" }

    /// A node's checks as the draft wants them: `NAME:responseTime` (the run's latency in ms) for
    /// every enabled check, and `NAME:utilization` (percent) for those that measure a share of a
    /// resource (disk, memory: `usage_ratio` in their details).
    public static func node(_ evaluation: HealthManager.Evaluation, nodeID: String, version: String) -> APIHealthDocument {
        var checks: [String: [Measurement]] = [:]
        for check in evaluation.checks {
            let result = evaluation.results[check.name]
            let level: Level = switch check.verdict {
            case .pending: .warn
            case .failing: .fail
            case .passing: check.degraded ? .warn : .pass
            }
            let time = result.map { TimeFormatting.rfc3339($0.timestamp) }
            let output = result?.message ?? "no result yet"
            checks[key(check.name, "responseTime")] = [
                Measurement(
                    componentId: nodeID, componentType: "component",
                    observedValue: result.map { ($0.latency.milliseconds * 1000).rounded() / 1000 },
                    observedUnit: "ms", status: level, time: time, output: output)
            ]
            if case .double(let ratio)? = result?.details["usage_ratio"] {
                checks[key(check.name, "utilization")] = [
                    Measurement(
                        componentId: nodeID, componentType: "system", observedValue: (ratio * 1000).rounded() / 10,
                        observedUnit: "percent", status: level, time: time, output: output)
                ]
            }
        }
        var notes = evaluation.excluded.map { "excluded: \($0)" }
        notes += evaluation.unknown.map { "cannot exclude \($0): no such check" }
        return APIHealthDocument(
            status: Level(evaluation.status), version: version, serviceId: nodeID,
            description: "health of chorus node \(nodeID)", output: evaluation.message,
            notes: notes.isEmpty ? nil : notes, checks: checks)
    }

    /// The answer: 503 when it fails, else 200; never cached.
    public var response: Response {
        var headers = HTTPFields()
        headers[.contentType] = Self.mediaType
        headers[.cacheControl] = "no-store"
        return Response(
            status: status == .fail ? .serviceUnavailable : .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: JSONBytes.encode(self))))
    }
}
