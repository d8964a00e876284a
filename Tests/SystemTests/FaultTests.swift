import Foundation
import NodeHealth
import NodeHealthTesting
import Testing

/// Five node processes on five hosts in network namespaces, through the faults signed accusations
/// must survive: nobody falsely dead (also not for a moment), every member listed by its node id,
/// every view whole again soon after each fault ends.
@Suite("Faults among five node processes", .enabled(if: NetworkLab.available, "needs root and iproute2 for network namespaces"))
struct FaultTests {
    static let extra = ["--no-enhanced-checks"]

    /// A node's view of each member's generation.
    static func generations(_ members: [LabCluster.Member]?) -> [String: UInt64] {
        Dictionary((members ?? []).map { ($0.name, $0.generation) }, uniquingKeysWith: max)
    }

    @Test("one node unable to receive from another, then 20 % loss both ways: nobody is ever held dead")
    func networkFaults() async throws {
        let cluster = try await LabCluster(hosts: 5, extra: Self.extra)
        defer { cluster.stop() }
        let formed = try await cluster.watch(for: .seconds(60), until: cluster.whole)
        try #require(formed.doneAfter != nil, "the five see each other: \(formed.last)")

        // h2 hears nothing from h1: h1's kernel refuses every datagram to h2 (the harsher cut:
        // it also shows that one refused destination costs the sender nothing else).
        try cluster.lab.block(from: 1, to: 2, true, refused: true)
        let oneWay = try await cluster.watch(for: .seconds(15))
        try cluster.lab.block(from: 1, to: 2, false, refused: true)
        #expect(oneWay.faults.isEmpty, "one-way: \(oneWay.faults.sorted())")

        // 20 % loss both ways. This kernel has no netem, so loss is played with cuts: before each
        // poll (every ~300 ms) each of the 20 directed pairs is cut with probability 0.2 — loss
        // in bursts, harsher on a probe and its ack than independent loss.
        let pairs = (1...5).flatMap { a in (1...5).filter { $0 != a }.map { NetworkLab.Cut(from: a, to: $0) } }
        var cuts: Set<NetworkLab.Cut> = []
        let lossy = try await cluster.watch(for: .seconds(20), step: {
            let next = Set(pairs.filter { _ in Double.random(in: 0..<1) < 0.2 })
            try cluster.lab.setCuts(next, replacing: cuts)
            cuts = next
        })
        try cluster.lab.setCuts([], replacing: cuts)
        #expect(lossy.faults.isEmpty, "20 % loss: \(lossy.faults.sorted())")
        let after = try await cluster.watch(for: .seconds(10), until: cluster.whole)
        #expect(after.doneAfter != nil && after.faults.isEmpty, "whole again: \(after.last) \(after.faults.sorted())")
        print("faults: one-way and 20 % loss: whole \(after.doneAfter.map { "\($0)" } ?? "—") after the loss ended")
    }

    @Test("SIGSTOP for 20 s, kill -9 and a restart on the same data directory, all five restarted: whole again within 10 s, generations grow, one leadership change at most")
    func processFaults() async throws {
        let cluster = try await LabCluster(hosts: 5, extra: Self.extra)
        defer { cluster.stop() }
        let formed = try await cluster.watch(for: .seconds(60), until: cluster.whole)
        try #require(formed.doneAfter != nil, "the five see each other: \(formed.last)")
        var generations = Self.generations(formed.last[1])

        // h3 stopped for 20 s: the others bury it and nobody else; resumed, it refutes.
        cluster.nodes[3]!.pause()
        let stopped = try await cluster.watch(for: .seconds(20), mayDie: ["h3"])
        cluster.nodes[3]!.resume()
        #expect(stopped.faults.isEmpty, "while h3 was stopped: \(stopped.faults.sorted())")
        #expect([1, 2, 4, 5].allSatisfy { i in stopped.last[i]?.contains { $0.name == "h3" && $0.state == "dead" } == true }, "h3 buried: \(stopped.last)")
        // Held dead until its refutation arrives: that is the 10 s bound below, not a fault.
        let resumed = try await cluster.watch(for: .seconds(30), mayDie: ["h3"], leaders: true, until: cluster.whole)
        let settled = try await cluster.watch(for: .seconds(5), leaders: true)
        #expect(resumed.faults.union(settled.faults).isEmpty, "after h3 resumed: \(resumed.faults.union(settled.faults).sorted())")
        #expect((resumed.doneAfter ?? .seconds(99)) <= .seconds(10), "whole within 10 s of the resume: \(resumed.last)")
        let changes = resumed.leaderChanges.merging(settled.leaderChanges, uniquingKeysWith: +)
        #expect(changes.values.allSatisfy { $0 <= 1 }, "leadership changes per node after the resume: \(changes)")

        // h4 killed and started again at once on its data directory: a new generation, one entry.
        cluster.nodes[4]!.kill()
        _ = await cluster.nodes[4]!.waitForExit()
        try cluster.start(4)
        try await cluster.waitForPort(4)
        let restarted = try await cluster.watch(for: .seconds(30), mayDie: ["h4"], until: { all in
            cluster.whole(all) && all.values.allSatisfy { (Self.generations($0)["h4"] ?? 0) > (generations["h4"] ?? .max) }
        })
        #expect(restarted.faults.isEmpty, "after h4's restart: \(restarted.faults.sorted())")
        #expect((restarted.doneAfter ?? .seconds(99)) <= .seconds(10), "whole within 10 s of the restart: \(restarted.last)")
        generations = Self.generations(restarted.last[1])

        // All five stopped (SIGTERM) and started again on their data directories.
        for i in 1...5 { cluster.nodes[i]!.terminate() }
        for i in 1...5 { _ = await cluster.nodes[i]!.waitForExit() }
        for i in 1...5 { try cluster.start(i) }
        for i in 1...5 { try await cluster.waitForPort(i) }
        let again = try await cluster.watch(for: .seconds(60), until: { all in
            cluster.whole(all) && all.values.allSatisfy { view in
                let now = Self.generations(view)
                return cluster.names.allSatisfy { (now[$0] ?? 0) > (generations[$0] ?? .max) }
            }
        })
        #expect(again.doneAfter != nil, "whole again with new generations: \(again.last)")
        #expect(again.faults.isEmpty, "after all five restarted: \(again.faults.sorted())")
        print("faults: whole \(resumed.doneAfter.map { "\($0)" } ?? "—") after SIGCONT, \(restarted.doneAfter.map { "\($0)" } ?? "—") after kill -9 and restart, \(again.doneAfter.map { "\($0)" } ?? "—") after all five restarted")
        for i in 1...5 { #expect(cluster.nodes[i]!.isRunning) }
    }
}
