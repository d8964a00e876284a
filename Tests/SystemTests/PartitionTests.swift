import Foundation
import NodeHealth
import NodeHealthTesting
import Testing

/// Five node processes on five hosts in network namespaces, split 2 | 3 and healed again: signed
/// accusations (no member buried on the word of the other side) against real sockets.
@Suite("A partition and its heal", .enabled(if: NetworkLab.available, "needs root and iproute2 for network namespaces"))
struct PartitionTests {
    @Test("2 | 3 for 20 s, then healed: nobody ever holds a member of its own side dead, every view is whole again within 10 s, one leadership change at most")
    func splitAndHeal() async throws {
        let cluster = try await LabCluster(hosts: 5, extra: ["--no-enhanced-checks"])
        defer { cluster.stop() }
        let formed = try await cluster.watch(for: .seconds(60), until: cluster.whole)
        try #require(formed.doneAfter != nil, "the five see each other: \(formed.last)")

        let sides = [[1, 2], [3, 4, 5]]
        /// Members of their own side that nodes held dead (each side may bury the other).
        func sideMatesDead(_ watch: LabCluster.Watch) -> [String] {
            watch.faults.filter { fault in
                sides.contains { side in side.contains { fault.hasPrefix("h\($0) held") } && side.contains { fault.hasSuffix("held h\($0) dead") } }
                    || !fault.hasSuffix("dead")
            }.sorted()
        }
        func cut(_ blocked: Bool) throws {
            for a in sides[0] { for b in sides[1] { try cluster.lab.block(from: a, to: b, blocked); try cluster.lab.block(from: b, to: a, blocked) } }
        }
        try cut(true)
        let split = try await cluster.watch(for: .seconds(20))
        #expect(sides[1].allSatisfy { i in sides[0].allSatisfy { j in split.last[i]?.contains { $0.name == "h\(j)" && $0.state == "dead" } == true } },
            "the three buried the two: \(split.last)")
        try cut(false)
        // Held dead across the cut until the refutations arrive: the 10 s bound, not a fault.
        let healed = try await cluster.watch(for: .seconds(30), leaders: true, until: cluster.whole)
        let settled = try await cluster.watch(for: .seconds(5), leaders: true)
        #expect(sideMatesDead(split).isEmpty && sideMatesDead(healed).isEmpty, "during the cut and the heal: \(sideMatesDead(split) + sideMatesDead(healed))")
        #expect(settled.faults.isEmpty, "after the heal: \(settled.faults.sorted())")
        #expect((healed.doneAfter ?? .seconds(99)) <= .seconds(10), "every view whole within 10 s of the heal; last \(healed.last)")
        let changes = healed.leaderChanges.merging(settled.leaderChanges, uniquingKeysWith: +)
        #expect(changes.values.allSatisfy { $0 <= 1 }, "leadership changes per node after the heal: \(changes)")
        print("partition: every view whole \(healed.doneAfter.map { "\($0)" } ?? "—") after the heal; leadership changes \(changes)")
        for i in 1...5 { #expect(cluster.nodes[i]!.isRunning) }
    }
}
