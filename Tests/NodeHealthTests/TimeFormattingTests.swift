import Foundation
import NodeHealth
import Testing

@Suite("Go-style durations and RFC 3339 timestamps")
struct TimeFormattingTests {
    @Test("Unix milliseconds from the wire or the database: 0, 2^63 and 2^64-1 format without trapping")
    func millis() {
        #expect(TimeFormatting.rfc3339(millis: 0) == "1970-01-01T00:00:00Z")
        #expect(TimeFormatting.rfc3339(millis: Int64(1_700_000_000_123)) == "2023-11-14T22:13:20.123Z")
        for extreme in [TimeFormatting.rfc3339(millis: UInt64(1) << 63), TimeFormatting.rfc3339(millis: UInt64.max), TimeFormatting.rfc3339(millis: Int64.min)] {
            #expect(!extreme.isEmpty)
        }
    }

    @Test(
        "durations format as Go's time.Duration.String()",
        arguments: [
            (Duration.zero, "0s"),
            (.nanoseconds(1), "1ns"),
            (.nanoseconds(999), "999ns"),
            (.nanoseconds(1_500), "1.5µs"),
            (.milliseconds(250), "250ms"),
            (.microseconds(1_250), "1.25ms"),
            (.milliseconds(1_500), "1.5s"),
            (.seconds(90), "1m30s"),
            (.seconds(3600), "1h0m0s"),
            (.seconds(86_400), "24h0m0s"),
            (.seconds(2 * 3600 + 30 * 60 + 15), "2h30m15s"),
            (.nanoseconds(-1_500_000_000), "-1.5s"),
            (.nanoseconds(3_723_000_000_001), "1h2m3.000000001s"),
        ])
    func goDurations(duration: Duration, expected: String) {
        #expect(TimeFormatting.goDuration(duration) == expected)
    }

    @Test("timestamps are UTC RFC 3339, fraction only when not whole, trailing zeros trimmed")
    func rfc3339() throws {
        let whole = try #require(TimeFormatting.parseRFC3339("2025-09-30T10:30:00Z"))
        #expect(TimeFormatting.rfc3339(whole) == "2025-09-30T10:30:00Z")
        #expect(TimeFormatting.rfc3339(whole.addingTimeInterval(0.25)) == "2025-09-30T10:30:00.25Z")
        #expect(TimeFormatting.rfc3339(whole.addingTimeInterval(0.000_125)) == "2025-09-30T10:30:00.000125Z")
        #expect(TimeFormatting.rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        let parsed = try #require(TimeFormatting.parseRFC3339("2025-09-30T10:30:00.25Z"))
        #expect(abs(parsed.timeIntervalSince(whole) - 0.25) < 1e-6)
        #expect(TimeFormatting.parseRFC3339("yesterday") == nil)
    }

    @Test("durations convert to integer nanoseconds, clamped")
    func nanoseconds() {
        #expect(Duration.milliseconds(15).nanoseconds == 15_000_000)
        #expect(Duration.seconds(86_400).nanoseconds == 86_400_000_000_000)
        #expect(Duration.seconds(Int64.max).nanoseconds == Int64.max)
    }
}
