import Foundation
import NodeHealth
import Testing
import NodeHealthTesting

/// A fake proc + cgroup tree in a temporary directory.
struct FakeSystem {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-fake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    var procRoot: String { root.appendingPathComponent("proc").path }
    var cgroupMount: String { root.appendingPathComponent("cgroup").path }

    func write(_ relativePath: String, _ text: String) throws {
        let url = root.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    static let meminfo = """
        MemTotal:       16000000 kB
        MemFree:         1000000 kB
        MemAvailable:    4000000 kB
        Buffers:          100000 kB

        """
}

@Suite("Built-in checks")
struct BuiltinChecksTests {
    func run(_ check: HealthCheck) async throws -> CheckResult {
        try await check.checker(HealthCheck.Context(name: check.name, deadline: .now + check.timeout))
    }

    @Test("documented properties of the built-in checks")
    func properties() {
        let database = HealthCheck.createDatabaseCheck(name: "primary-db") {}
        #expect(database.name == "primary-db")
        #expect(database.critical && database.interval == .seconds(30) && database.timeout == .seconds(10))
        let disk = HealthCheck.createDiskSpaceCheck(path: "/", threshold: 0.9)
        #expect(!disk.critical && disk.interval == .seconds(60) && disk.timeout == .seconds(5))
        let memory = HealthCheck.createMemoryCheck(threshold: 0.85)
        #expect(!memory.critical && memory.interval == .seconds(30) && memory.timeout == .seconds(5))
        let custom = HealthCheck(name: "x") { _ in .pass("x") }
        #expect(custom.interval == .seconds(30) && custom.timeout == .seconds(10), "the documented defaults")
        #expect(custom.enabled && !custom.critical && custom.failureThreshold == 1 && custom.successThreshold == 1)
    }

    @Test("database check passes when the ping returns and fails with its error")
    func database() async throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let ok = try await run(.createDatabaseCheck(name: "db") {})
        #expect(ok.healthy && ok.message == "Database connectivity OK")
        let bad = try await run(.createDatabaseCheck(name: "db") { throw Refused() })
        #expect(!bad.healthy)
        #expect(bad.message == "Database ping failed: connection refused")
        #expect(bad.error == "connection refused")
    }

    @Test("disk check reads statvfs and compares with the threshold")
    func disk() async throws {
        let fine = try await run(.createDiskSpaceCheck(path: "/", threshold: 1.0))
        let details = fine.details
        let used = try #require(details["used_bytes"]?.intValue)
        let available = try #require(details["available_bytes"]?.intValue)
        let total = try #require(details["total_bytes"]?.intValue)
        let ratio = try #require(details["usage_ratio"]?.doubleValue)
        #expect(total > 0 && used > 0 && used + available <= total)
        #expect(abs(ratio - Double(used) / Double(used + available)) < 0.001)
        #expect(details["path"] == "/" && details["threshold"] == 1.0)
        #expect(fine.healthy, "nothing is fuller than 100 %")
        let full = try await run(.createDiskSpaceCheck(path: "/", threshold: 0.0))
        #expect(!full.healthy)
        #expect(full.message.contains("exceeds threshold 0.0%"))
    }

    @Test("disk check on a missing path fails with the statvfs error")
    func diskMissing() async throws {
        let manager = makeManager()
        try await manager.register(.createDiskSpaceCheck(path: "/no/such/path", threshold: 0.9))
        try await withRunning(manager) { manager in
            await eventually("a result") { manager.status().checks["disk-space"] != nil }
            let result = try #require(manager.status().checks["disk-space"])
            #expect(!result.healthy)
            #expect(result.error?.contains("statvfs(/no/such/path) failed") == true)
        }
    }

    @Test("memory: /proc/meminfo when no cgroup limit applies")
    func meminfo() async throws {
        let fake = try FakeSystem()
        defer { fake.remove() }
        try fake.write("proc/meminfo", FakeSystem.meminfo)
        try fake.write("proc/self/cgroup", "0::/\n")
        try fake.write("cgroup/memory.current", "123\n")  // root: no memory.max
        let sources = SystemProbes.MemorySources(procRoot: fake.procRoot, cgroupMount: fake.cgroupMount)
        let usage = try SystemProbes.memoryUsage(sources: sources)
        #expect(usage.source == .procMeminfo)
        #expect(usage.totalBytes == 16_000_000 * 1024)
        #expect(usage.usedBytes == 12_000_000 * 1024)
        let result = try await run(.createMemoryCheck(threshold: 0.85, sources: sources))
        #expect(result.healthy)
        #expect(result.details["source"] == "meminfo")
        #expect(result.details["usage_ratio"] == 0.75)
        let tight = try await run(.createMemoryCheck(threshold: 0.7, sources: sources))
        #expect(!tight.healthy)
        #expect(tight.message.contains("exceeds threshold 70.0%"))
    }

    @Test("memory: the tightest cgroup v2 limit on the path, working set as the kubelet counts it")
    func cgroupLimit() async throws {
        let fake = try FakeSystem()
        defer { fake.remove() }
        try fake.write("proc/meminfo", FakeSystem.meminfo)
        try fake.write("proc/self/cgroup", "0::/kubepods/pod1/app\n")
        try fake.write("cgroup/kubepods/memory.max", "4294967296\n")
        try fake.write("cgroup/kubepods/pod1/memory.max", "1073741824\n")
        try fake.write("cgroup/kubepods/pod1/memory.current", "900000000\n")
        try fake.write("cgroup/kubepods/pod1/memory.stat", "anon 500000000\ninactive_file 100000000\nactive_file 1\n")
        try fake.write("cgroup/kubepods/pod1/app/memory.max", "max\n")
        let sources = SystemProbes.MemorySources(procRoot: fake.procRoot, cgroupMount: fake.cgroupMount)
        let usage = try SystemProbes.memoryUsage(sources: sources)
        #expect(usage.source == .cgroupV2(path: "/kubepods/pod1"))
        #expect(usage.totalBytes == 1_073_741_824)
        #expect(usage.usedBytes == 800_000_000)
        let result = try await run(.createMemoryCheck(threshold: 0.85, sources: sources))
        #expect(result.healthy)
        #expect(result.details["source"] == "cgroup-v2")
        #expect(result.details["cgroup"] == "/kubepods/pod1")
        #expect(result.details["total_bytes"] == 1_073_741_824)
        let tight = try await run(.createMemoryCheck(threshold: 0.5, sources: sources))
        #expect(!tight.healthy)
    }

    @Test("memory: the cgroup2 mount is found in mountinfo, relative to its root")
    func mountinfo() throws {
        let fake = try FakeSystem()
        defer { fake.remove() }
        try fake.write("proc/meminfo", FakeSystem.meminfo)
        try fake.write("proc/self/cgroup", "1:memory:/x\n0::/\n")
        try fake.write(
            "proc/self/mountinfo",
            """
            22 1 0:21 / /proc rw,nosuid - proc proc rw
            30 25 0:26 / \(fake.cgroupMount) rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate

            """)
        try fake.write("cgroup/memory.max", "2000\n")
        try fake.write("cgroup/memory.current", "500\n")
        let usage = try SystemProbes.memoryUsage(sources: .init(procRoot: fake.procRoot))
        #expect(usage.source == .cgroupV2(path: "/"))
        #expect(usage.totalBytes == 2000 && usage.usedBytes == 500)
    }

    @Test("memory: a missing meminfo is a clear error")
    func missingMeminfo() throws {
        let fake = try FakeSystem()
        defer { fake.remove() }
        #expect(throws: SystemProbes.ProbeError.self) {
            try SystemProbes.memoryUsage(sources: .init(procRoot: fake.procRoot, cgroupMount: fake.cgroupMount))
        }
    }

    @Test("memory on this machine gives sane figures")
    func realMemory() throws {
        let usage = try SystemProbes.memoryUsage()
        #expect(usage.totalBytes > 0)
        #expect(usage.usageRatio >= 0 && usage.usageRatio <= 1)
    }
}
