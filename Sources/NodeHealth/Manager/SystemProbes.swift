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

/// Readings of the machine the node runs on: disk space through `statvfs`, memory from the
/// cgroup v2 limit when one applies, else `/proc/meminfo`.
public enum SystemProbes {
    /// Why a reading failed.
    public struct ProbeError: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Space on the file system holding a path.
    public struct DiskUsage: Sendable, Hashable {
        /// The path that was asked about.
        public var path: String
        /// Size of the file system in bytes.
        public var totalBytes: UInt64
        /// Free bytes, including those reserved for root.
        public var freeBytes: UInt64
        /// Bytes available to unprivileged users.
        public var availableBytes: UInt64
        /// Bytes in use: total minus free.
        public var usedBytes: UInt64 { totalBytes - min(freeBytes, totalBytes) }
        /// Used share as `df` computes it, used / (used + available), 0.0 to 1.0; 0 for an empty file system.
        public var usageRatio: Double {
            let denominator = usedBytes + availableBytes
            return denominator == 0 ? 0 : Double(usedBytes) / Double(denominator)
        }
    }

    /// Reads the usage of the file system holding `path`.
    public static func diskUsage(path: String) throws(ProbeError) -> DiskUsage {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else {
            throw ProbeError("statvfs(\(path)) failed: \(String(cString: strerror(errno)))")
        }
        let unit = UInt64(info.f_frsize == 0 ? info.f_bsize : info.f_frsize)
        return DiskUsage(
            path: path,
            totalBytes: UInt64(info.f_blocks) * unit,
            freeBytes: UInt64(info.f_bfree) * unit,
            availableBytes: UInt64(info.f_bavail) * unit)
    }

    /// Where memory readings come from; tests point these at a fake tree.
    public struct MemorySources: Sendable, Hashable {
        /// The proc file system, normally `/proc`.
        public var procRoot: String
        /// The cgroup v2 mount point; `nil` finds it in `<procRoot>/self/mountinfo`.
        public var cgroupMount: String?

        public init(procRoot: String = "/proc", cgroupMount: String? = nil) {
            self.procRoot = procRoot
            self.cgroupMount = cgroupMount
        }
    }

    /// Memory use against the limit that applies to this process.
    public struct MemoryUsage: Sendable, Hashable {
        /// Where the figures come from.
        public enum Source: Sendable, Hashable {
            /// The tightest `memory.max` on the way from this process's cgroup to the root;
            /// usage is that cgroup's working set (`memory.current` minus `inactive_file`, as the kubelet counts it).
            case cgroupV2(path: String)
            /// The whole machine: `MemTotal - MemAvailable` of `/proc/meminfo`.
            case procMeminfo
        }

        public var source: Source
        /// Bytes in use.
        public var usedBytes: UInt64
        /// The limit (or total memory) in bytes.
        public var totalBytes: UInt64
        /// Used share, 0.0 to 1.0.
        public var usageRatio: Double { totalBytes == 0 ? 0 : Double(usedBytes) / Double(totalBytes) }
    }

    /// Reads memory usage, honouring a cgroup v2 memory limit when one is set.
    public static func memoryUsage(sources: MemorySources = MemorySources()) throws(ProbeError) -> MemoryUsage {
        if let usage = cgroupMemoryUsage(sources: sources) { return usage }
        return try meminfoUsage(procRoot: sources.procRoot)
    }

    static func cgroupMemoryUsage(sources: MemorySources) -> MemoryUsage? {
        // "0::/path" is the cgroup v2 line of /proc/self/cgroup.
        guard let cgroupFile = readText("\(sources.procRoot)/self/cgroup"),
            let line = cgroupFile.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        let cgroupPath = String(line.dropFirst(3))
        guard let (mount, mountRoot) = sources.cgroupMount.map({ ($0, "/") }) ?? findCgroup2Mount(procRoot: sources.procRoot)
        else { return nil }
        // Paths in /proc/self/cgroup are relative to the mount's root (the cgroup namespace root).
        var relative = cgroupPath
        if mountRoot != "/" && relative.hasPrefix(mountRoot) { relative = String(relative.dropFirst(mountRoot.count)) }
        var components = relative.split(separator: "/").map(String.init)
        var best: (path: String, limit: UInt64)?
        while true {
            let directory = ([mount] + components).joined(separator: "/")
            if let text = readText("\(directory)/memory.max").map(trimmed),
                text != "max", let limit = UInt64(text), limit > 0
            {
                if best == nil || limit < best!.limit { best = (directory, limit) }
            }
            if components.isEmpty { break }
            components.removeLast()
        }
        guard let best,
            let currentText = readText("\(best.path)/memory.current").map(trimmed),
            let current = UInt64(currentText)
        else { return nil }
        var inactiveFile: UInt64 = 0
        if let stat = readText("\(best.path)/memory.stat") {
            for statLine in stat.split(separator: "\n") where statLine.hasPrefix("inactive_file ") {
                inactiveFile = UInt64(statLine.dropFirst("inactive_file ".count)) ?? 0
            }
        }
        let workingSet = current > inactiveFile ? current - inactiveFile : 0
        let shown = best.path.hasPrefix(mount) ? String(best.path.dropFirst(mount.count)) : best.path
        return MemoryUsage(source: .cgroupV2(path: shown.isEmpty ? "/" : shown), usedBytes: workingSet, totalBytes: best.limit)
    }

    /// The mount point and root of the cgroup2 file system, from mountinfo.
    static func findCgroup2Mount(procRoot: String) -> (mount: String, root: String)? {
        guard let text = readText("\(procRoot)/self/mountinfo") else { return nil }
        for line in text.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            guard fields.count >= 5 else { continue }
            return (String(fields[4]), String(fields[3]))
        }
        return nil
    }

    static func meminfoUsage(procRoot: String) throws(ProbeError) -> MemoryUsage {
        guard let text = readText("\(procRoot)/meminfo") else {
            throw ProbeError("cannot read \(procRoot)/meminfo")
        }
        var total: UInt64?
        var available: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kib = UInt64(fields[1]) else { continue }
            if fields[0] == "MemTotal:" { total = kib * 1024 }
            if fields[0] == "MemAvailable:" { available = kib * 1024 }
        }
        guard let total, let available else {
            throw ProbeError("\(procRoot)/meminfo lacks MemTotal or MemAvailable")
        }
        return MemoryUsage(source: .procMeminfo, usedBytes: total - min(available, total), totalBytes: total)
    }

    /// `text` without leading and trailing ASCII white space.
    /// Cumulative CPU time of the whole machine from `/proc/stat` (in clock ticks): all of it,
    /// and the idle part (idle + iowait). Two samples give the usage between them.
    public struct CPUTimes: Sendable, Hashable {
        public var total: UInt64
        public var idle: UInt64

        /// The busy share of the CPU time between `earlier` and this sample, 0.0 to 1.0.
        public func usage(since earlier: CPUTimes) -> Double {
            guard total > earlier.total else { return 0 }
            let busy = Double((total - earlier.total) - min(total - earlier.total, idle &- earlier.idle))
            return min(1, max(0, busy / Double(total - earlier.total)))
        }
    }

    /// Reads the machine's CPU times from `procRoot/stat`.
    public static func cpuTimes(procRoot: String = "/proc") throws(ProbeError) -> CPUTimes {
        guard let text = readText(procRoot + "/stat"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { throw ProbeError("cannot read \(procRoot)/stat") }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 4 else { throw ProbeError("unexpected cpu line in \(procRoot)/stat") }
        let idle = fields[3] + (fields.count > 4 ? fields[4] : 0)
        // user nice system idle iowait irq softirq steal (guest time is already in user and nice).
        let total = fields.prefix(8).reduce(0, +)
        return CPUTimes(total: total, idle: idle)
    }

    static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(text[first...last])
    }

    /// Reads a small text file to its end (proc and cgroup files report size 0). At most 1 MiB.
    static func readText(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
