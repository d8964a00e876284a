#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension HealthCheck {
    /// A database check: calls `ping` and passes when it returns.
    ///
    /// Critical, every 30 s, 10 s timeout. `ping` SHOULD honour task cancellation.
    public static func createDatabaseCheck(
        name: String, ping: @escaping @Sendable () async throws -> Void
    ) -> HealthCheck {
        HealthCheck(
            name: name, description: "Database connectivity check",
            interval: .seconds(30), timeout: .seconds(10), critical: true
        ) { _ in
            do {
                try await ping()
                return .pass("Database connectivity OK")
            } catch {
                return .fail("Database ping failed: \(error)", error: error)
            }
        }
    }

    /// A disk-space check: fails when the file system holding `path` is fuller
    /// than `threshold` (0.0 to 1.0, e.g. 0.90 for 90 %), measured as `df` does.
    ///
    /// Not critical, every 60 s, 5 s timeout. Details: `path`, `used_bytes`, `available_bytes`,
    /// `total_bytes`, `usage_ratio`, `threshold`.
    public static func createDiskSpaceCheck(
        path: String, threshold: Double, name: String = "disk-space"
    ) -> HealthCheck {
        HealthCheck(
            name: name, description: "Disk space on \(path)",
            interval: .seconds(60), timeout: .seconds(5), critical: false
        ) { _ in
            let usage = try SystemProbes.diskUsage(path: path)
            let details: [String: JSONValue] = [
                "path": .string(path),
                "used_bytes": .integer(usage.usedBytes),
                "available_bytes": .integer(usage.availableBytes),
                "total_bytes": .integer(usage.totalBytes),
                "usage_ratio": .double(rounded(usage.usageRatio)),
                "threshold": .double(threshold),
            ]
            let summary = "\(percent(usage.usageRatio)) of \(bytes(usage.usedBytes + usage.availableBytes)) used at \(path)"
            if usage.usageRatio >= threshold {
                return .fail("Disk usage \(summary) exceeds threshold \(percent(threshold))", details: details)
            }
            return .pass("Disk usage \(summary)", details: details)
        }
    }

    /// A memory check: fails when memory use exceeds `threshold` (0.0 to 1.0)
    /// of the cgroup v2 limit when one is set, else of the machine's memory (`/proc/meminfo`).
    ///
    /// Not critical, every 30 s, 5 s timeout. Details: `source`, `used_bytes`, `total_bytes`,
    /// `usage_ratio`, `threshold`, and `cgroup` when a cgroup limit applies.
    public static func createMemoryCheck(
        threshold: Double, name: String = "memory-usage",
        sources: SystemProbes.MemorySources = SystemProbes.MemorySources()
    ) -> HealthCheck {
        HealthCheck(
            name: name, description: "Memory usage",
            interval: .seconds(30), timeout: .seconds(5), critical: false
        ) { _ in
            let usage = try SystemProbes.memoryUsage(sources: sources)
            var details: [String: JSONValue] = [
                "used_bytes": .integer(usage.usedBytes),
                "total_bytes": .integer(usage.totalBytes),
                "usage_ratio": .double(rounded(usage.usageRatio)),
                "threshold": .double(threshold),
            ]
            let scope: String
            switch usage.source {
            case .cgroupV2(let path):
                details["source"] = "cgroup-v2"
                details["cgroup"] = .string(path)
                scope = "of cgroup limit"
            case .procMeminfo:
                details["source"] = "meminfo"
                scope = "of system memory"
            }
            let summary = "\(percent(usage.usageRatio)) \(scope) \(bytes(usage.totalBytes))"
            if usage.usageRatio >= threshold {
                return .fail("Memory usage \(summary) exceeds threshold \(percent(threshold))", details: details)
            }
            return .pass("Memory usage \(summary)", details: details)
        }
    }
}

/// A ratio rounded to 4 decimals, for details.
func rounded(_ ratio: Double) -> Double {
    (ratio * 10_000).rounded() / 10_000
}

/// A ratio as a percentage with one decimal: `23.2%`.
func percent(_ ratio: Double) -> String {
    oneDecimal(ratio * 100) + "%"
}

/// `value` with exactly one decimal, as `%.1f` prints it.
private func oneDecimal(_ value: Double) -> String {
    let tenths = Int64((value * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    return "\(sign)\(tenths.magnitude / 10).\(tenths.magnitude % 10)"
}

private func bytes(_ count: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : oneDecimal(value) + " " + units[unit]
}
