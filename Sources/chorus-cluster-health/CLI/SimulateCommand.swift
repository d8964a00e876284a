import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import GossipCore
import Simulations

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the real gossip protocol for many nodes under a virtual clock and a lossy network.",
        discussion: """
            Phases: join (all nodes start through 3 seeds), change (one node publishes a new \
            status; holders per 200 ms round), rest (bytes per node per second), crash (time until \
            every live node considers a stopped node dead). The same --seed gives the same run. \
            Progress goes to standard error.
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

    @Flag(help: "Every node publishes a status at start (default: only up to 300 nodes).")
    var statusesAtStart = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (2...20_000).contains(nodes) else { throw ValidationError("--nodes must be 2 to 20000") }
        guard (0..<1).contains(loss) else { throw ValidationError("--loss must be at least 0 and below 1") }
        guard restSeconds >= 1 else { throw ValidationError("--rest-seconds must be at least 1") }
    }

    func run() throws {
        var scenario = Scenario(
            configuration: .init(nodes: nodes, seed: seed, loss: loss), statusesAtStart: statusesAtStart || nodes <= 300)
        scenario.restSeconds = restSeconds
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
        print("rest: \((report.restBytesPerNodePerSecond * 10).rounded() / 10) bytes per node per second")
        print("crash: first suspicion after \(show(report.firstSuspicionSeconds, "s")), dead everywhere after \(show(report.deadEverywhereSeconds, "s"))")
        print("false deaths: \(report.falseDeaths); datagrams lost \(report.datagramsLost) of \(report.datagramsLost + report.datagramsDelivered)")
    }
}

/// Writes to standard error (FoundationEssentials has no FileHandle).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
