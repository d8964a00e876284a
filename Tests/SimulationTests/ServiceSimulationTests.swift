import GossipCore
import Simulations
import Testing

@Suite("Simulations: election and DHT at scale, under loss and churn")
struct ServiceSimulationTests {
    /// 150 nodes at 10 % loss with one agreed leader, settled for 10 s; `nil` (recorded) when
    /// no leader is agreed within 60 s.
    static func electedCluster(_ c: Expectations) -> Simulation? {
        let sim = Simulation(.init(nodes: 150, seed: 41, loss: 0.10))
        sim.start()
        guard timeUntil(sim, limit: .seconds(60), { $0.agreedLeader != nil }) != nil else {
            c.expect(false, "no agreed leader within 60 s")
            return nil
        }
        // Let the first election's claims settle everywhere, then count from here.
        sim.run(for: .seconds(10))
        return sim
    }

    // The two halves of one story (quiet, then failures) are two tests so that they run side
    // by side: each is the longest of the suite.
    @Test("the election never changes leader without a failure: five quiet minutes at 10 % loss")
    func electionQuiet() async {
        await offPool { c in
            guard let sim = Self.electedCluster(c) else { return }
            let baseline = sim.nodes.map(\.core.electionView.leadershipChanges)
            var followed = Set(sim.nodes.indices.compactMap { sim.nodes[$0].core.electionView.leader })
            c.expect(followed.count == 1, "one leader before the quiet period; got \(followed.count)")
            // Suspicion comes and goes, leadership does not.
            sim.run(for: .seconds(300), step: .seconds(1)) { sim in
                for node in sim.nodes where node.up { followed.insert(node.core.electionView.leader!) }
            }
            c.expect(followed.count == 1, "leaders followed while nothing failed: \(followed.count)")
            let quietChanges = sim.nodes.indices.map { sim.nodes[$0].core.electionView.leadershipChanges - baseline[$0] }
            c.expect(quietChanges.allSatisfy { $0 == 0 }, "changes without a failure: \(quietChanges.filter { $0 > 0 })")
        }
    }

    @Test("the election changes leader exactly once per leader crash at 10 % loss, three crashes in a row")
    func electionFailover() async {
        await offPool { c in
            guard let sim = Self.electedCluster(c) else { return }
            var crashed = Set<Int>()
            for round in 1...3 {
                guard let leader = sim.agreedLeader else {
                    c.expect(false, "round \(round): no agreed leader")
                    return
                }
                let baseline = sim.nodes.map(\.core.electionView.leadershipChanges)
                sim.crash(leader)
                crashed.insert(leader)
                let took = timeUntil(sim, limit: .seconds(30)) { sim in sim.agreedLeader.map { $0 != leader } ?? false }
                c.expect(took != nil, "round \(round): no new leader agreed within 30 s")
                sim.run(for: .seconds(30))
                let changes = sim.nodes.indices.filter { !crashed.contains($0) }.map {
                    sim.nodes[$0].core.electionView.leadershipChanges - baseline[$0]
                }
                let histogram = Dictionary(grouping: changes, by: { $0 }).mapValues(\.count)
                c.expect(changes.allSatisfy { $0 == 1 }, "round \(round): changes per survivor \(histogram)")
                c.expect(sim.agreedLeader.map { !crashed.contains($0) } ?? false)
            }
        }
    }

    @Test("a node cut off for two minutes follows no leader, claims nothing, and rejoins without unseating the leader")
    func isolatedNodeRejoins() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 20, seed: 47, loss: 0.02))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(30)) { $0.isConverged && $0.agreedLeader != nil } != nil)
            guard let leader = sim.agreedLeader else {
                c.expect(false, "converged \(sim.isConverged), leaders \(sim.nodes.map { $0.core.electionView.leader.flatMap(sim.nodeIndex(of:)) ?? -1 })")
                return
            }
            let isolated = (leader + 7) % 20
            let changes = sim.nodes.map(\.core.electionView.leadershipChanges)
            sim.partition { $0 == isolated ? 1 : 0 }
            // Longer than the tombstones last: both sides forget each other, remembering only the death.
            sim.run(for: .seconds(120))
            c.expect(sim.nodesThatBuried(isolated) == 19)
            c.expect(sim.nodes[isolated].core.liveCount == 0)
            c.expect(sim.nodes[isolated].core.electionView.leader == nil, "cut off: it follows nobody")
            c.expect(!sim.nodes[isolated].core.electionView.isLeader, "cut off: it claims nothing")
            sim.heal()
            let took = timeUntil(sim, limit: .seconds(60)) { $0.isConverged }
            c.expect(took != nil, "the healed node rejoined everywhere")
            c.expect(sim.agreedLeader == leader, "the leader stayed")
            let after = sim.nodes.map(\.core.electionView.leadershipChanges)
            c.expect(after == changes, "no leadership change anywhere: \(zip(after, changes).map { $0 - $1 })")
        }
    }

    @Test("DHT repair restores R replicas after churn, and reads succeed from replicas")
    func dhtRepairAfterChurn() async {
        await offPool { c in
            let n = 80
            let sim = Simulation(.init(nodes: n, seed: 43, loss: 0.05))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(60)) { $0.isConverged } != nil, "not converged")
            sim.run(for: .seconds(5))
            let keys = (0..<40).map { "key-\($0)" }
            let puts = keys.enumerated().map { k, key in (k % n, sim.dhtPut(k % n, key: key, value: Array(key.utf8))) }
            sim.run(for: .seconds(5))
            for (k, (node, id)) in puts.enumerated() {
                let outcome = sim.dhtOutcome(id, at: node)
                guard case .stored(let replicas) = outcome else {
                    c.expect(false, "put \(keys[k]) from \(node): \(String(describing: outcome))")
                    continue
                }
                c.expect(replicas >= 2)
            }
            c.expect(keys.allSatisfy { sim.holders(ofKey: $0).count == 3 }, "every key on three nodes after the puts")

            // Churn: crash two nodes at a time, and restart the previous two (empty) a while later.
            var generator = SplitMix64(seed: 7)
            var down: [Int] = []
            for _ in 0..<6 {
                let restart = down
                down = []
                while down.count < 2 {
                    let victim = Int(generator.next() % UInt64(n))
                    if sim.nodes[victim].up && !down.contains(victim) { down.append(victim) }
                }
                down.forEach(sim.crash)
                sim.run(for: .seconds(8))
                restart.forEach(sim.restart)
                sim.run(for: .seconds(12))
            }
            down.forEach(sim.restart)
            c.expect(timeUntil(sim, limit: .seconds(90)) { $0.isConverged } != nil, "not converged after churn")
            // One repair pass after the last membership change, plus the periodic pass.
            sim.run(for: .seconds(15))

            for key in keys {
                let replicaSet = sim.nodes[0].core.replicas(of: key).compactMap(sim.nodeIndex(of:))
                let holders = Set(sim.holders(ofKey: key))
                c.expect(replicaSet.count == 3 && replicaSet.allSatisfy(holders.contains), "\(key): replicas \(replicaSet), holders \(holders.sorted())")
            }
            let under = sim.nodes.indices.map { sim.nodes[$0].core.replicationFigures(now: sim.now).underReplicated }
            c.expect(under.allSatisfy { $0 == 0 }, "under-replicated keys by node: \(under.filter { $0 > 0 })")
            c.expect(sim.nodes.contains { $0.core.dhtStats.repairedKeys > 0 }, "repair copied keys to new replicas")

            // Every key reads back from another node's replicas.
            let gets = keys.enumerated().map { k, key in ((k * 7 + 3) % n, sim.dhtGet((k * 7 + 3) % n, key: key)) }
            sim.run(for: .seconds(5))
            for (k, (node, id)) in gets.enumerated() {
                c.expect(sim.dhtOutcome(id, at: node) == .value(Array(keys[k].utf8)), "get \(keys[k]) from \(node)")
            }
        }
    }
}

@Suite("Simulations: pub/sub reach")
struct PubSubSimulationTests {
    @Test(
        "every message reaches every node, the publisher's echo included, each sent about once per node",
        arguments: [(16, 0.0), (100, 0.0), (100, 0.05)])
    func everyMessageEverywhere(nodes: Int, loss: Double) async {
        await offPool { c in
            let sim = Simulation(.init(nodes: nodes, seed: 53, loss: loss))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(30)) { $0.isConverged } != nil)
            let before = sim.nodes.map(\.core.broadcastTreeStats)
            var ids: [UInt64] = []
            for round in 0..<200 {
                ids.append(try! sim.publishMessage(round % nodes))
                sim.run(for: .milliseconds(150))
            }
            // A copy lost on the tree is asked for from a member that announced it (graft); the
            // pull repair beside the anti-entropy summary (every 5 s) is the backstop.
            sim.run(for: .seconds(15))
            let short = ids.filter { (sim.messageDeliveries[$0]?.count ?? 0) < nodes }
            c.expect(short.isEmpty, "\(short.count) of 200 messages missed nodes: \(short.prefix(5).map { id in (ids.firstIndex(of: id)! % nodes, Set(0..<nodes).subtracting(sim.messageDeliveries[id] ?? []).sorted()) })")
            // Full copies sent per message per node: pushed on the tree, and sent for grafts.
            let after = sim.nodes.map(\.core.broadcastTreeStats)
            let copies = zip(before, after).reduce(0) { $0 + ($1.1.pushed - $1.0.pushed) + ($1.1.graftsServed - $1.0.graftsServed) }
            let perNode = Double(copies) / Double(ids.count * nodes)
            c.expect(perNode <= 1.5, "\(perNode) copies per message per node")
        }
    }
}
