#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Formatting of times and durations as the health JSON shows them (RFC 3339 times, Go-style duration strings).
public enum TimeFormatting {
    /// Formats `date` as an RFC 3339 timestamp in UTC, the way Go's `time.RFC3339Nano` does:
    /// ``rfc3339(_:)`` of a time in Unix milliseconds (how events, statuses and the ledger keep
    /// time); any Int64 or UInt64 value formats without trapping.
    public static func rfc3339(millis: some BinaryInteger) -> String {
        rfc3339(Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// `2025-09-30T10:30:00Z`, with a fractional part (microsecond resolution, trailing zeros
    /// trimmed) only when the time is not on a whole second.
    public static func rfc3339(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = since1970.rounded(.down)
        var micros = Int(((since1970 - seconds) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            micros -= 1_000_000
            seconds += 1
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out = ""
        out.reserveCapacity(27)
        appendPadded(&out, Int(parts.tm_year) + 1900, width: 4)
        out.append("-")
        appendPadded(&out, Int(parts.tm_mon) + 1, width: 2)
        out.append("-")
        appendPadded(&out, Int(parts.tm_mday), width: 2)
        out.append("T")
        appendPadded(&out, Int(parts.tm_hour), width: 2)
        out.append(":")
        appendPadded(&out, Int(parts.tm_min), width: 2)
        out.append(":")
        appendPadded(&out, Int(parts.tm_sec), width: 2)
        if micros > 0 {
            var digits = 6
            while micros % 10 == 0 {
                micros /= 10
                digits -= 1
            }
            out.append(".")
            appendPadded(&out, micros, width: digits)
        }
        out.append("Z")
        return out
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds; `nil` when malformed.
    public static func parseRFC3339(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }

    /// Formats `duration` the way Go's `time.Duration.String()` does: `24h0m0s`, `1m30s`,
    /// `1.5s`, `250ms`, `12µs`, `0s`.
    public static func goDuration(_ duration: Duration) -> String {
        goDuration(nanoseconds: duration.nanoseconds)
    }

    /// Go's `time.Duration.String()` for a duration in integer nanoseconds.
    public static func goDuration(nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let negative = nanoseconds < 0
        var u = nanoseconds.magnitude
        var out = ""
        if u < 1_000_000_000 {
            if u < 1_000 {
                out = "\(u)ns"
            } else if u < 1_000_000 {
                out = fractional(u, precision: 3) + "µs"
            } else {
                out = fractional(u, precision: 6) + "ms"
            }
        } else {
            var text = fractional(u % 1_000_000_000, precision: 9, integerPart: u / 1_000_000_000 % 60) + "s"
            u /= 1_000_000_000
            u /= 60
            if u > 0 {
                text = "\(u % 60)m" + text
                u /= 60
                if u > 0 { text = "\(u)h" + text }
            }
            out = text
        }
        return negative ? "-" + out : out
    }

    /// `value` split as `value / 10^precision` with the fraction's trailing zeros trimmed
    /// (the integer part can be given separately, as Go does for seconds).
    private static func fractional(_ value: UInt64, precision: Int, integerPart: UInt64? = nil) -> String {
        var scale: UInt64 = 1
        for _ in 0..<precision { scale *= 10 }
        let whole = integerPart ?? value / scale
        var fraction = integerPart == nil ? value % scale : value
        guard fraction != 0 else { return "\(whole)" }
        var digits = precision
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        var fractionText = String(fraction)
        while fractionText.count < digits { fractionText = "0" + fractionText }
        return "\(whole).\(fractionText)"
    }

    private static func appendPadded(_ out: inout String, _ value: Int, width: Int) {
        let text = String(value)
        if text.count < width { out.append(String(repeating: "0", count: width - text.count)) }
        out.append(text)
    }
}

extension Duration {
    /// This duration in whole nanoseconds (the unit of the JSON `latency` and `uptime`),
    /// clamped to `Int64`.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? (seconds < 0 ? .min : .max) : sum
    }

    /// This duration in seconds as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in (fractional) milliseconds.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

extension KeyedDecodingContainer {
    /// Decodes an RFC 3339 timestamp string, with a clear error when it is malformed.
    func decodeRFC3339(forKey key: Key) throws -> Date {
        let text = try decode(String.self, forKey: key)
        guard let date = TimeFormatting.parseRFC3339(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "not an RFC 3339 timestamp: \(text)")
        }
        return date
    }
}

/// Durations written as people write them: a whole number and a unit, `500ms`, `90s`, `15m`,
/// `2h`, `7d`. The one parser of such text (`--history-retention`, `since=` in `/cluster/events`,
/// the CLI's `--since`).
public enum DurationText {
    /// Longest accepted span: 100 years (larger values would overflow the millisecond clock).
    public static let maximum: Duration = .seconds(100 * 365 * 86_400)

    /// The duration `text` names, or `nil` when it is not a positive number and one of the
    /// units ms, s, m, h, d.
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, seconds: Int64, millis: Int64)] = [
            ("ms", 0, 1), ("s", 1, 0), ("m", 60, 0), ("h", 3600, 0), ("d", 86_400, 0),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard !number.isEmpty, number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber), number.count <= 12,
                let value = Int64(number), value > 0
            else { return nil }
            let duration: Duration = unit.millis > 0 ? .milliseconds(value) : .seconds(value * unit.seconds)
            return duration <= maximum ? duration : nil
        }
        return nil
    }

    /// `duration` in the form ``parse(_:)`` reads, in the largest unit that divides it evenly
    /// (`10m`, `90s`, `250ms`); a negative one as `0s`.
    public static func format(_ duration: Duration) -> String {
        let millis = max(0, duration / .milliseconds(1))
        guard millis > 0 else { return "0s" }
        for (suffix, unit) in [("d", 86_400_000.0), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
            if millis >= unit, millis.truncatingRemainder(dividingBy: unit) == 0 { return "\(Int64(millis / unit))\(suffix)" }
        }
        return "\(Int64(millis.rounded()))ms"
    }
}
