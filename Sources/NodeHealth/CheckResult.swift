#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The outcome of one run of a ``HealthCheck`` (the seed's `CheckResult`).
///
/// JSON shape (as in the seed): `healthy`, `message`, `details` (omitted when empty),
/// `latency` in integer nanoseconds, `timestamp` as RFC 3339 UTC, `error` (omitted when empty).
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
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.healthy = try container.decode(Bool.self, forKey: .healthy)
        self.message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
        self.details = try container.decodeIfPresent([String: JSONValue].self, forKey: .details) ?? [:]
        self.latency = .nanoseconds(try container.decodeIfPresent(Int64.self, forKey: .latency) ?? 0)
        self.timestamp = try container.decodeRFC3339(forKey: .timestamp)
        self.error = try container.decodeIfPresent(String.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(healthy, forKey: .healthy)
        try container.encode(message, forKey: .message)
        if !details.isEmpty { try container.encode(details, forKey: .details) }
        try container.encode(latency.nanoseconds, forKey: .latency)
        try container.encode(TimeFormatting.rfc3339(timestamp), forKey: .timestamp)
        if let error, !error.isEmpty { try container.encode(error, forKey: .error) }
    }
}
