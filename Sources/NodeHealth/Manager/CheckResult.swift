#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The outcome of one run of a ``HealthCheck``.
///
/// JSON shape: `healthy`, `message`, `details` (omitted when empty),
/// `latency` in integer nanoseconds, `timestamp` as RFC 3339 UTC, `error` (omitted when empty),
/// `last_transition` as RFC 3339 UTC (omitted when `nil`).
public struct CheckResult: Sendable, Hashable {
    /// Whether the check passed.
    public var healthy: Bool
    /// A human-readable result message.
    public var message: String
    /// Additional structured information for debugging; omitted from JSON when empty.
    public var details: [String: JSONValue]
    /// How long the check took. The manager sets it to the measured time when the checker leaves it zero.
    public var latency: Duration
    /// When the result was produced.
    public var timestamp: Date
    /// The error text when the check failed with an error; omitted from JSON when `nil` or empty.
    public var error: String?
    /// When the check's level (passing, degraded or failing, after its thresholds) last changed,
    /// like a Kubernetes condition's `lastTransitionTime`. The health manager sets it on the
    /// results it publishes; `nil` in a checker's own result.
    public var lastTransition: Date?

    public init(
        healthy: Bool,
        message: String,
        details: [String: JSONValue] = [:],
        latency: Duration = .zero,
        timestamp: Date = Date(),
        error: String? = nil
    ) {
        self.healthy = healthy
        self.message = message
        self.details = details
        self.latency = latency
        self.timestamp = timestamp
        self.error = error
    }

    /// A passing result.
    public static func pass(_ message: String, details: [String: JSONValue] = [:]) -> CheckResult {
        CheckResult(healthy: true, message: message, details: details)
    }

    /// A passing result that counts as degraded (as ASP.NET's `Degraded`): the check works but
    /// not as it should, so the node reports `degraded` without failing readiness. Marked by
    /// `details["level"] = "degraded"`; see ``degraded``.
    public static func degraded(_ message: String, details: [String: JSONValue] = [:]) -> CheckResult {
        var details = details
        details[levelKey] = .string("degraded")
        return CheckResult(healthy: true, message: message, details: details)
    }

    /// The details key that marks a passing result as degraded (value `"degraded"`).
    public static let levelKey = "level"
    /// The details key of a check's score, 0.0 to 1.0, when it computes one (the enhanced checks do).
    public static let scoreKey = "score"

    /// Whether this passing result counts as degraded (`details["level"] == "degraded"`).
    public var degraded: Bool { healthy && details[Self.levelKey] == .string("degraded") }

    /// The check's own score, 0.0 to 1.0, from `details["score"]`; `nil` when it has none.
    public var score: Double? {
        switch details[Self.scoreKey] {
        case .double(let value): min(1, max(0, value))
        case .int(let value): min(1, max(0, Double(value)))
        default: nil
        }
    }

    /// A failing result, optionally carrying the error that caused it.
    public static func fail(_ message: String, details: [String: JSONValue] = [:], error: (any Error)? = nil)
        -> CheckResult
    {
        CheckResult(healthy: false, message: message, details: details, error: error.map { "\($0)" })
    }
}

extension CheckResult: Codable {
    enum CodingKeys: String, CodingKey {
        case healthy, message, details, latency, timestamp, error
        case lastTransition = "last_transition"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.healthy = try container.decode(Bool.self, forKey: .healthy)
        self.message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
        self.details = try container.decodeIfPresent([String: JSONValue].self, forKey: .details) ?? [:]
        self.latency = .nanoseconds(try container.decodeIfPresent(Int64.self, forKey: .latency) ?? 0)
        self.timestamp = try container.decodeRFC3339(forKey: .timestamp)
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
        self.lastTransition = try container.contains(.lastTransition) ? container.decodeRFC3339(forKey: .lastTransition) : nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(healthy, forKey: .healthy)
        try container.encode(message, forKey: .message)
        if !details.isEmpty { try container.encode(details, forKey: .details) }
        try container.encode(latency.nanoseconds, forKey: .latency)
        try container.encode(TimeFormatting.rfc3339(timestamp), forKey: .timestamp)
        if let error, !error.isEmpty { try container.encode(error, forKey: .error) }
        if let lastTransition { try container.encode(TimeFormatting.rfc3339(lastTransition), forKey: .lastTransition) }
    }
}
