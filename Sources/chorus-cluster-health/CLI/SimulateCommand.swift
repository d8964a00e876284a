import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterView
import Gossip
import GossipCore
import Hummingbird
import Logging
import NodeHealth
import NodeHealthHTTP
import ServiceLifecycle
import Simulations
import Synchronization

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the real gossip protocol for many nodes under a virtual clock and a lossy network.",
        discussion: """
            Phases: join (all nodes start through 3 seeds), change (one node publishes a new \
            status; holders per 200 ms round), rest (bytes per node per second), pub/sub (with \
            --messages: copies per message per node, time until all delivered), crash (time until \
            every live node considers a stopped node dead). The same --seed gives the same run. \
            Progress goes to standard error. With --serve PORT it runs one cluster instead, as long \
            as it is left running, and serves it as its node 0 sees it on 127.0.0.1:PORT: the \
            real /cluster console and /cluster/health, with nodes in four zones, some unhealthy, \
            degraded, dead, stale and flapping.
            """
    )

    @Option(help: "Number of nodes.")
    var nodes: Int = 100

    @Option(help: "Probability (0-1) that any datagram is lost.")
    var loss: Double = 0

    @Option(help: "Seed of the run.")
    var seed: UInt64 = 1

    @Option(help: "Seconds of the rest phase.")
    var restSeconds: Int = 60

    @Option(help: "Cluster-wide pub/sub messages to send after the rest phase, one at a time (0: no pub/sub phase).")
    var messages: Int = 0

    @Flag(help: "Every node runs its network probes during the rest phase, as the enhanced checks do (a pub/sub loopback every 30 s, a DHT put and remote read every 60 s).")
    var probes = false

    @Option(help: "Members that lie: each signs claims that random members are suspect and dead (10 a second of each) and sends them around, with forged and outsiders' claims.")
    var liars: Int = 0

    @Option(help: "Ordered pairs of nodes where the first cannot reach the second while the second reaches the first (one-way faults).")
    var oneWayCuts: Int = 0

    @Flag(help: "Every node publishes a status at start (default: only up to 300 nodes).")
    var statusesAtStart = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Serve the simulated cluster on 127.0.0.1:PORT (the /cluster console and API) until interrupted.", valueName: "port"))
    var serve: Int?

    @Flag(help: "Run even when the estimated memory exceeds what this machine has available.")
    var force = false

    /// Every simulated node holds every member, as a real node does: about 140 bytes per member
    /// per node (a row of its member table and of its digest; keys, announcements and addresses
    /// are held once, see MemberDirectory) and ~130 KB per node (its queues and timers): peak RSS
    /// 0.27 GB at 1000 nodes, 0.82 GB at 2000, 15.3 GB at 10,000 (BENCHMARKS.md). Rounded up.
    static func estimatedBytes(nodes: Int) -> UInt64 {
        UInt64(Double(nodes) * Double(nodes) * 150 + Double(nodes) * 150_000) + 100_000_000
    }

    static func gigabytes(_ bytes: UInt64) -> String {
        let tenths = Int((Double(bytes) / 1e8).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    func validate() throws {
        guard (2...20_000).contains(nodes) else { throw ValidationError("--nodes must be 2 to 20000") }
        guard (0..<1).contains(loss) else { throw ValidationError("--loss must be at least 0 and below 1") }
        guard restSeconds >= 1 else { throw ValidationError("--rest-seconds must be at least 1") }
        guard (0...10_000).contains(messages) else { throw ValidationError("--messages must be 0 to 10000") }
        guard (0..<nodes - 1).contains(liars) else { throw ValidationError("--liars must be 0 to nodes − 2") }
        guard (0...nodes * (nodes - 1) / 2).contains(oneWayCuts) else { throw ValidationError("--one-way-cuts must be 0 to nodes × (nodes − 1) / 2") }
        if let serve, !(0...65535).contains(serve) { throw ValidationError("--serve must be a port, 0 to 65535") }
    }

    func run() async throws {
        if let serve { return try await serveCluster(port: serve) }
        let needed = Self.estimatedBytes(nodes: nodes)
        if !force, let memory = try? SystemProbes.memoryUsage() {
            let available = memory.totalBytes - memory.usedBytes
            // A run that does not fit would swap or be killed after minutes: say so at once.
            guard needed <= available else {
                throw ValidationError(
                    "--nodes \(nodes) needs about \(Self.gigabytes(needed)) GB (every simulated node holds all \(nodes) members: ~150 bytes × N²); "
                        + "\(Self.gigabytes(available)) GB are available here. --force runs it anyway.")
            }
        }
        var configuration = Simulation.Configuration(nodes: nodes, seed: seed, loss: loss)
        configuration.liars = liars
        configuration.oneWayCuts = oneWayCuts
        var scenario = Scenario(configuration: configuration, statusesAtStart: statusesAtStart || nodes <= 300)
        scenario.restSeconds = restSeconds
        scenario.messages = messages
        scenario.probes = probes
        let started = ContinuousClock.now
        let report = scenario.run { line in
            let elapsed = ContinuousClock.now - started
            writeStandardError("[\(Int(elapsed.components.seconds)) s] \(line)\n")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        func show(_ value: Double?, _ unit: String) -> String { value.map { "\($0) \(unit)" } ?? "not reached" }
        print("nodes \(report.nodes), loss \(report.loss), seed \(report.seed)")
        print("join: converged after \(show(report.joinSeconds, "s"))")
        print("change: all \(report.nodes - 1) others hold it after \(report.changeRounds.map { "\($0) rounds of 200 ms" } ?? "not reached")")
        print("  holders per round: \(report.changeHoldersPerRound.map(String.init).joined(separator: " "))")
        print("rest: \((report.restBytesPerNodePerSecond * 10).rounded() / 10) bytes per node per second\(report.probes ? ", probes included" : "")")
        if let pubSub = report.pubSub {
            let times = [pubSub.deliveredToAllMedianMs, pubSub.deliveredToAllP90Ms, pubSub.deliveredToAllMaxMs].map { $0.map { "\($0)" } ?? "—" }
            print("pub/sub: \(pubSub.messages) messages, \(pubSub.copiesPerMessagePerNode) copies and \(pubSub.announcementsPerMessagePerNode) announcements per message per node")
            print("  delivered to all: median \(times[0]) ms, p90 \(times[1]) ms, max \(times[2]) ms; not to all within 5 s: \(pubSub.notDeliveredToAll)")
            let each = [pubSub.deliveryMedianMs, pubSub.deliveryP90Ms, pubSub.deliveryMaxMs].map { $0.map { "\($0)" } ?? "—" }
            print("  each delivery: median \(each[0]) ms, p90 \(each[1]) ms, max \(each[2]) ms")
        }
        print("crash: first suspicion after \(show(report.firstSuspicionSeconds, "s")), dead everywhere after \(show(report.deadEverywhereSeconds, "s"))")
        if let after = report.restAfterCrashBytesPerNodePerSecond { print("  then at rest: \(after) bytes per node per second") }
        print("false deaths: \(report.falseDeaths); datagrams lost \(report.datagramsLost) of \(report.datagramsLost + report.datagramsDelivered)")
        print("accusations per node per second at rest: \(report.accusationsSignedPerNodePerSecond) signed, \(report.accusationsVerifiedPerNodePerSecond) verified")
        if report.liars > 0 || report.oneWayCuts > 0 {
            print("liars \(report.liars), one-way cuts \(report.oneWayCuts); nodes naming every liar: \(report.nodesNamingEveryLiar.map(String.init) ?? "—")")
        }
    }
}

extension SimulateCommand {
    /// Runs one simulated cluster and serves node 0's view through the node's own view routes
    /// and console, until SIGINT or SIGTERM.
    func serveCluster(port: Int) async throws {
        let cluster = SimulatedCluster(nodes: nodes, seed: seed, loss: loss)
        // CPU-bound: a detached task, which holds one thread of the pool while it computes.
        let simulation = Task.detached(priority: .utility) {
            await cluster.run { writeStandardError("[simulate] \($0)\n") }
        }
        let monitor = ClusterMonitor(interval: .seconds(2)) { cluster.health() }
        let router = NodeRoutes<BasicRequestContext>.router(serving: [ClusterHTTP.viewRoutes(monitor: monitor, source: cluster.source)])
        var logger = Logger(label: "chorus.simulate")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                writeStandardError("[simulate] serving \(cluster.nodes) simulated nodes as node-0 sees them: http://127.0.0.1:\(bound)/cluster (API: /cluster/health)\n")
            }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app, monitor], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        try await group.run()
        simulation.cancel()
        await simulation.value
    }
}

/// Writes to standard error (FoundationEssentials has no FileHandle).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
