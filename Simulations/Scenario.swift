import GossipCore

/// The standard scenario behind `chorus-cluster-health simulate` and BENCHMARKS.md:
///
/// 1. **join**: N nodes start within 0.5 s through 3 seeds; runs until every node lists every
///    other as alive (and holds its status, when nodes publish one at start);
/// 2. **change**: one node publishes a meaningful status change; counts, per 200 ms round, how
///    many nodes hold it, until all do;
/// 3. **rest**: nothing changes for `restSeconds`; bytes sent per node per second;
/// 4. **crash**: one node stops without a word; time until the first suspicion and until every
///    live node considers it dead.
public struct Scenario: Sendable {
    public var configuration: Simulation.Configuration
    /// Whether every node publishes a status when it starts (N² signature checks; off for large N).
    public var statusesAtStart: Bool
    public var joinLimit: Duration = .seconds(120)
    public var changeLimit: Duration = .seconds(30)
    public var restSeconds: Int = 60
    public var crashLimit: Duration = .seconds(60)

    public init(configuration: Simulation.Configuration, statusesAtStart: Bool) {
        self.configuration = configuration
        self.statusesAtStart = statusesAtStart
    }

    /// What a run measured. Times are seconds of virtual time; `nil` when the limit passed first.
    public struct Report: Sendable, Codable, Hashable {
        public var nodes: Int
        public var seed: UInt64
        public var loss: Double
        public var joinSeconds: Double?
        /// Nodes (other than the publisher) holding the changed status after each 200 ms round.
        public var changeHoldersPerRound: [Int]
        /// Rounds of 200 ms until every other node held the change.
        public var changeRounds: Int?
        public var restBytesPerNodePerSecond: Double
        /// Parts sent per node per second at rest, by kind (ping, ack, alive, suspect, …).
        public var restPartsPerNodePerSecond: [String: Double]
        public var firstSuspicionSeconds: Double?
        public var deadEverywhereSeconds: Double?
        /// Times a node declared a running node dead, over the whole run (should be 0).
        public var falseDeaths: Int
        public var datagramsLost: Int
        public var datagramsDelivered: Int
    }

    /// Runs the scenario; `progress` receives a line per phase.
    public func run(progress: (String) -> Void = { _ in }) -> Report {
        let sim = Simulation(configuration)
        let n = configuration.nodes
        var falseDeaths = 0
        sim.start(withStatus: statusesAtStart)
        progress("join: \(n) nodes starting")
        let joined = sim.runUntil(limit: joinLimit, step: .milliseconds(500)) { $0.isConverged }
        progress("join: \(joined.map { "converged after \(seconds($0)) s" } ?? "not converged within \(seconds(joinLimit)) s")")

        let publisher = 0
        sim.publish(publisher, status: .degraded)
        var holders: [Int] = []
        var rounds: Int?
        _ = sim.runUntil(limit: changeLimit, step: configuration.settings.gossipInterval) { sim in
            let count = sim.holders(ofLatestStatusOf: publisher)
            holders.append(count)
            if count == sim.upCount - 1 { rounds = holders.count }
            return rounds != nil
        }
        progress("change: \(rounds.map { "every node holds it after \($0) rounds" } ?? "not everywhere within \(seconds(changeLimit)) s")")

        sim.run(for: .seconds(10))
        let before = sim.totalBytesSent
        let partsBefore = sim.totalPartsSent
        sim.run(for: .seconds(Int64(restSeconds)), step: .seconds(5)) { sim in falseDeaths = max(falseDeaths, sim.falselyDead) }
        let rest = Double(sim.totalBytesSent - before) / Double(restSeconds) / Double(n)
        progress("rest: \(Int(rest.rounded())) bytes per node per second")
        let restParts = sim.totalPartsSent.merging(partsBefore, uniquingKeysWith: -).mapValues {
            (Double($0) / Double(restSeconds) / Double(n)).rounded(toPlaces: 3)
        }

        let victim = n - 1
        sim.crash(victim)
        let crashedAt = sim.now
        var firstSuspicion: Duration?
        let deadEverywhere = sim.runUntil(limit: crashLimit) { sim in
            if firstSuspicion == nil && sim.observers(of: victim, in: .suspect) > 0 { firstSuspicion = sim.now - crashedAt }
            falseDeaths = max(falseDeaths, sim.falselyDead)
            return sim.nodesThatBuried(victim) == sim.upCount
        }
        progress("crash: \(deadEverywhere.map { "dead everywhere after \(seconds($0)) s" } ?? "not detected within \(seconds(crashLimit)) s")")

        return Report(
            nodes: n, seed: configuration.seed, loss: configuration.loss, joinSeconds: joined.map(seconds),
            changeHoldersPerRound: holders, changeRounds: rounds, restBytesPerNodePerSecond: rest,
            restPartsPerNodePerSecond: restParts,
            firstSuspicionSeconds: firstSuspicion.map(seconds), deadEverywhereSeconds: deadEverywhere.map(seconds),
            falseDeaths: max(falseDeaths, sim.falseDeathEvents.count), datagramsLost: sim.lost, datagramsDelivered: sim.delivered)
    }
}

/// `duration` in seconds, to the millisecond.
func seconds(_ duration: Duration) -> Double {
    (duration / .seconds(1)).rounded(toPlaces: 3)
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}
