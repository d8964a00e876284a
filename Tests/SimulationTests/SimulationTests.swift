import GossipCore
import Simulations
import Testing

/// Runs until `condition` holds (checked every 100 ms of virtual time) or `limit` passes;
/// returns the virtual time it took.
func timeUntil(_ sim: Simulation, limit: Duration, _ condition: (Simulation) -> Bool) -> Duration? {
    sim.runUntil(limit: limit, condition)
}

@Suite("Simulations: the real protocol and signing under virtual time")
struct SimulationTests {
    @Test("200 nodes converge with no loss and with 10 % loss", arguments: [0.0, 0.10])
    func converges(loss: Double) async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 200, seed: 11, loss: loss))
            sim.start()
            let took = timeUntil(sim, limit: .seconds(60)) { $0.isConverged }
            c.expect(took != nil, "not converged within 60 s at loss \(loss)")
        }
    }

    @Test("a crashed node is declared dead by every live node")
    func crashDetected() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 100, seed: 5, loss: 0.05))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(40)) { $0.isConverged } != nil)
            sim.crash(17)
            let took = timeUntil(sim, limit: .seconds(30)) { $0.nodesThatBuried(17) == $0.upCount }
            c.expect(took != nil)
            c.expect(sim.falselyDead == 0)
        }
    }

    @Test("at most one false death, and no rejoin, over 30 simulated minutes at 10 % loss with 100 nodes")
    func noFalseDeaths() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 100, seed: 21, loss: 0.10))
            sim.start()
            var worst = 0
            sim.run(for: .seconds(1800), step: .seconds(1)) { sim in worst = max(worst, sim.falselyDead) }
            // Rare, not never: over seeds 21-26 (30 simulated minutes each) one run in six had
            // one false death, before and after the heartbeat resends (2026-12-05). A single
            // accuser can still bury a member; signed accusations from several (issue 18) are the fix.
            c.expect(worst <= 1)
            c.expect(sim.falseDeathEvents.count <= 1, "\(sim.falseDeathEvents)")
            c.expect(sim.nodes.allSatisfy { $0.core.life.generation == 1 }, "no node had to rejoin")
            // At 10 % loss some change is always in flight: converged means within a minute.
            c.expect(timeUntil(sim, limit: .seconds(60)) { $0.isConverged } != nil)
        }
    }

    @Test("a 50/50 partition heals back into one view")
    func partitionHeals() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 60, seed: 9))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(30)) { $0.isConverged } != nil)
            sim.partition { $0 % 2 }
            sim.run(for: .seconds(30))
            // Each side has buried the other.
            c.expect(sim.nodesThatBuried(1) >= 29)
            sim.publish(0, status: .degraded)  // a change made during the partition
            sim.heal()
            let took = timeUntil(sim, limit: .seconds(120)) { $0.isConverged }
            c.expect(took != nil, "partition did not heal")
            c.expect(sim.holders(ofLatestStatusOf: 0) == 59)
        }
    }

    @Test("a restarted node supersedes its old state everywhere")
    func restartSupersedes() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 40, seed: 13))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(30)) { $0.isConverged } != nil)
            sim.crash(5)
            c.expect(timeUntil(sim, limit: .seconds(30)) { $0.nodesThatBuried(5) == $0.upCount } != nil)
            sim.restart(5)
            let took = timeUntil(sim, limit: .seconds(60)) { $0.isConverged }
            c.expect(took != nil)
            let key = sim.nodes[5].keyPair.publicKey
            for j in sim.nodes.indices where j != 5 {
                c.expect(sim.nodes[j].core.members[key]?.life.generation == 2)
                c.expect(sim.nodes[j].core.store.versionOf(key)?.generation == 2)
            }
        }
    }

    @Test("a status change spreads to all of 200 nodes as a rumour, and the cluster falls quiet")
    func rumourThenQuiet() async {
        await offPool { c in
            let sim = Simulation(.init(nodes: 200, seed: 4))
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(60)) { $0.isConverged } != nil)
            sim.run(for: .seconds(20))
            sim.publish(77, status: .degraded)
            let took = timeUntil(sim, limit: .seconds(10)) { $0.holders(ofLatestStatusOf: 77) == 199 }
            c.expect(took != nil)
            c.expect(took.map { $0 <= .milliseconds(1800) } ?? false, "9 rounds of 200 ms; took \(String(describing: took))")
            sim.run(for: .seconds(10))
            let before = sim.totalBytesSent
            sim.run(for: .seconds(60))
            let perNodePerSecond = Double(sim.totalBytesSent - before) / 60 / 200
            // Under 100 B/s of protocol bytes, plus 33 bytes of envelope per datagram (~150 B/s).
            c.expect(perNodePerSecond < 250, "at rest: \(perNodePerSecond) B/s per node")
        }
    }

    @Test("the same seed gives the same run")
    func deterministic() async {
        await offPool { c in
            func fingerprint() -> [Int] {
                let sim = Simulation(.init(nodes: 30, seed: 99, loss: 0.1))
                sim.start()
                sim.run(for: .seconds(20))
                sim.crash(3)
                sim.run(for: .seconds(10))
                return sim.nodes.map(\.bytesSent) + [sim.lost, sim.delivered]
            }
            c.expect(fingerprint() == fingerprint())
        }
    }

    @Test("bursty loss: the cluster still converges")
    func burstyLoss() async {
        await offPool { c in
            var configuration = Simulation.Configuration(nodes: 60, seed: 31, loss: 0.02)
            configuration.burstEnter = 0.02
            configuration.burstExit = 0.3
            configuration.burstLoss = 0.9
            let sim = Simulation(configuration)
            sim.start()
            c.expect(timeUntil(sim, limit: .seconds(90)) { $0.isConverged } != nil)
        }
    }
}

@Suite("The simulate scenario")
struct ScenarioTests {
    @Test(
        "every phase reports, and the figures meet the targets at 60 nodes",
        arguments: [0.0, 0.05])
    func report(loss: Double) async {
        await offPool { c in
            var scenario = Scenario(configuration: .init(nodes: 60, seed: 2, loss: loss), statusesAtStart: true)
            scenario.restSeconds = 30
            var lines: [String] = []
            let report = scenario.run { lines.append($0) }
            c.expect(lines.count == 6)
            c.expect(report.joinSeconds != nil)
            c.expect(report.changeRounds.map { $0 <= 9 } == true, "\(report.changeHoldersPerRound)")
            c.expect(report.changeHoldersPerRound.last == 59)
            // About 2.6 datagrams per node per second at rest (ping, ack, the heartbeat, the
            // anti-entropy summary), each with its 33-byte authentication envelope: ~115 B/s
            // (207 B/s with two probes a second). Loss adds second pings and indirect probes.
            c.expect(report.restBytesPerNodePerSecond < (loss == 0 ? 160 : 450), "\(report.restBytesPerNodePerSecond)")
            // ~1.07 probes a second (the ring successor, every eighth turn a round-robin target
            // instead, a turn of half a second)
            // and a follower's heartbeat to the leader every 5 s: ~1.2 pings per second.
            let pings = report.restPartsPerNodePerSecond["ping", default: 0]
            c.expect(loss > 0 || (1.1...1.3).contains(pings), "\(pings) pings per node per second")
            c.expect(report.deadEverywhereSeconds.map { $0 < 5 } == true, "\(String(describing: report.deadEverywhereSeconds))")
            c.expect(report.falseDeaths == 0)
            // The rest with one dead member: its death's news, then one reconnect datagram per
            // node every 2 s (~15 B/s). 208.7 B/s at 100 nodes without loss (BENCHMARKS.md).
            c.expect(report.restAfterCrashBytesPerNodePerSecond.map { $0 < (loss == 0 ? 400 : 900) } == true,
                "\(String(describing: report.restAfterCrashBytesPerNodePerSecond))")
        }
    }
}

extension ScenarioTests {
    /// What a node's own network probes cost at rest, beside the same run without them: a
    /// loopback through 2 relays every 30 s (4 datagrams) and a DHT put and read every 60 s,
    /// whatever the cluster's size (`simulate --probes` at 100 and 1000 nodes: +57.6 and
    /// +58.0 B/s; 57.6 B/s at 128 node processes, BENCHMARKS.md).
    @Test("--probes: each node's probes add a fixed ~58 B/s at rest, loopbacks and DHT requests, no prune")
    func probes() async {
        await offPool { c in
            func run(probes: Bool) -> Scenario.Report {
                var scenario = Scenario(configuration: .init(nodes: 60, seed: 4), statusesAtStart: true)
                scenario.probes = probes
                return scenario.run()
            }
            let plain = run(probes: false)
            let probed = run(probes: true)
            c.expect(probed.probes && !plain.probes)
            let added = probed.restBytesPerNodePerSecond - plain.restBytesPerNodePerSecond
            c.expect((45...70).contains(added), "\(added) B/s per node")
            let parts = probed.restPartsPerNodePerSecond
            // 2 relays every 30 s, each sending the message back.
            c.expect(abs(parts["loopback", default: 0] - 2.0 / 30) < 0.01, "\(parts)")
            c.expect(abs(parts["publish", default: 0] - 2.0 / 30) < 0.01, "\(parts)")
            c.expect(parts["dht_request", default: 0] > 0 && parts["dht_response", default: 0] > 0, "\(parts)")
            c.expect(parts["prune", default: 0] == 0, "\(parts)")
        }
    }
}

@Suite("The simulate progress estimate")
struct TimeLeftTests {
    let estimate = TimeLeft(nodes: 10_000, settings: GossipSettings())

    @Test("a settled node sends 2.6 datagrams a second with the defaults (probe, heartbeat, their acks, a summary)")
    func settledRate() {
        #expect(abs(estimate.settledDatagramsPerNodeSecond - 2.6) < 1e-9)
    }

    /// Session 17's 10 000-node run: the join went at ~110 s of wall clock per virtual second,
    /// the 80 virtual seconds after it took ~85 s. Priced at the join's pace they would be 8800 s.
    @Test("during the join the later phases are priced by the datagrams a settled cluster sends, not by the join's pace")
    func join() throws {
        // 15 s of wall clock, 0.14 virtual s, 270 000 datagrams (~55 µs each).
        let window = TimeLeft.Window(wallSeconds: 15, virtualSeconds: 0.14, datagrams: 270_000)
        let left = try #require(estimate.seconds(window: window, inJoin: true, phaseLeft: nil, laterPhases: 80))
        // 80 s × 10 000 nodes × 2.6 datagrams × 55.6 µs
        #expect(abs(left - 115.6) < 0.1)
        #expect(estimate.seconds(window: .init(wallSeconds: 15, virtualSeconds: 0, datagrams: 0), inJoin: true, phaseLeft: nil, laterPhases: 80) == nil)
    }

    @Test("after the join, what is left of the phase and the later ones goes at the last stretch's pace")
    func afterJoin() throws {
        let window = TimeLeft.Window(wallSeconds: 15, virtualSeconds: 10, datagrams: 260_000)
        let left = try #require(estimate.seconds(window: window, inJoin: false, phaseLeft: 20, laterPhases: 10))
        #expect(abs(left - 45) < 1e-9)
        #expect(estimate.seconds(window: .init(wallSeconds: 15, virtualSeconds: 0, datagrams: 5), inJoin: false, phaseLeft: 20, laterPhases: 10) == nil)
    }
}

@Suite("Simulations: a node cut off, then reconnected")
struct IsolationSimulationTests {
    /// Five nodes that joined through one seed, as `make demo` and the namespace test start them;
    /// node 2 (not the seed) is cut off for `seconds`, shorter and longer than the tombstones last
    /// (60 s). Before the cut-off node's buried members were taken as suspicions from
    /// anti-entropy and a member held dead was told so when it spoke, 56 of the 60 runs under 60 s
    /// ended split for good (two nodes holding everyone alive, three holding those two dead).
    @Test("it rejoins every member, whatever the length of the cut", arguments: [15, 26, 45, 75])
    func cutOffNodeRejoins(seconds: Int) async {
        await offPool { c in
            for seed in UInt64(1)...20 {
                var configuration = Simulation.Configuration(nodes: 5, seed: seed)
                configuration.seedCount = 1
                let sim = Simulation(configuration)
                sim.start()
                c.expect(timeUntil(sim, limit: .seconds(30)) { $0.isConverged } != nil, "seed \(seed): formed")
                sim.partition { $0 == 2 ? 1 : 0 }
                sim.run(for: .seconds(seconds))
                c.expect(sim.nodes[2].core.liveCount == 0, "seed \(seed): cut off, it holds everyone dead")
                sim.heal()
                let healed = sim.now
                let took = timeUntil(sim, limit: .seconds(60)) { $0.isConverged }
                c.expect(
                    took != nil,
                    "seed \(seed), cut \(seconds) s: live counts \(sim.nodes.map(\.core.liveCount)) a minute after the heal")
                let falseDeaths = sim.falseDeathEvents.filter { $0.time >= healed }
                c.expect(falseDeaths.isEmpty, "seed \(seed), cut \(seconds) s: declared dead after the heal: \(falseDeaths)")
            }
        }
    }
}


@Suite("Simulations: one signature check shared by all the nodes")
struct SharedSignatureCheckTests {
    @Test("the shared answer is libsodium's, byte for byte: an altered message or signature never gets the genuine one's")
    func exact() throws {
        let pair = try #require(SigningKeyPair(seed: [UInt8](repeating: 7, count: 32)))
        let other = try #require(SigningKeyPair(seed: [UInt8](repeating: 8, count: 32)))
        let message: [UInt8] = Array("status version 1".utf8)
        let signature = pair.sign(message)
        let checks = SharedSignatureChecks(capacity: 2)
        for _ in 0..<3 {
            #expect(checks.verifier.verify(signature, of: message, by: pair.publicKey))
            var altered = message
            altered[0] ^= 1
            #expect(!checks.verifier.verify(signature, of: altered, by: pair.publicKey))
            var badSignature = signature
            badSignature[63] ^= 0x80
            #expect(!checks.verifier.verify(badSignature, of: message, by: pair.publicKey))
            #expect(!checks.verifier.verify(signature, of: message, by: other.publicKey))
            #expect(!checks.verifier.verify([], of: message, by: pair.publicKey))
        }
    }
}

@Suite("Simulations: members that lie, and one-way faults")
struct LiarSimulationTests {
    /// 100 nodes; `liars` of them accuse random members of being suspect and dead 10 times a
    /// second each (and send forged and outsiders' claims), through the rest phase and the crash.
    @Test("no false death among 100 nodes with 1 and with 2 liars (k = 3); a real crash is still dead everywhere within 5 s; every honest node names the liars", arguments: [1, 2])
    func liars(count: Int) async {
        await offPool { c in
            for seed in UInt64(1)...2 {
                var configuration = Simulation.Configuration(nodes: 100, seed: seed)
                configuration.liars = count
                var scenario = Scenario(configuration: configuration, statusesAtStart: true)
                scenario.restSeconds = 30
                let report = scenario.run()
                c.expect(report.falseDeaths == 0, "seed \(seed), \(count) liars: \(report.falseDeaths) false deaths")
                c.expect(report.deadEverywhereSeconds.map { $0 < 5 } == true, "seed \(seed): \(String(describing: report.deadEverywhereSeconds))")
                c.expect(report.nodesNamingEveryLiar.map { $0 >= 95 } == true, "seed \(seed): \(String(describing: report.nodesNamingEveryLiar))")
            }
        }
    }

    @Test("one-way faults: 20 pairs of 100 nodes where one cannot reach the other, at 5 % loss: no false death, a crash dead everywhere")
    func oneWayCuts() async {
        await offPool { c in
            var configuration = Simulation.Configuration(nodes: 100, seed: 3, loss: 0.05)
            configuration.oneWayCuts = 20
            var scenario = Scenario(configuration: configuration, statusesAtStart: true)
            scenario.restSeconds = 60
            let report = scenario.run()
            c.expect(report.falseDeaths == 0, "\(report.falseDeaths) false deaths")
            c.expect(report.deadEverywhereSeconds != nil)
        }
    }
}
