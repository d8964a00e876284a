import GossipCore

/// The standard scenario behind `chorus-cluster-health simulate` and BENCHMARKS.md:
///
/// 1. **join**: N nodes start within 0.5 s through 3 seeds; runs until every node lists every
///    other as alive (and holds its status, when nodes publish one at start);
/// 2. **change**: one node publishes a meaningful status change; counts, per 200 ms round, how
///    many nodes hold it, until all do;
/// 3. **rest**: nothing changes for `restSeconds`; bytes sent per node per second;
/// 4. **pub/sub** (when `messages` > 0): that many cluster-wide messages, one at a time from
///    rotating publishers 100 ms apart; full copies and announcements sent per message per node,
///    and the time until every running node delivered each (followed in 5-ms steps);
/// 5. **crash**: one node stops without a word; time until the first suspicion and until every
///    live node considers it dead.
public struct Scenario: Sendable {
    public var configuration: Simulation.Configuration
    /// Whether every node publishes a status when it starts (N² signature checks; off for large N).
    public var statusesAtStart: Bool
    public var joinLimit: Duration = .seconds(120)
    public var changeLimit: Duration = .seconds(30)
    public var restSeconds: Int = 60
    public var crashLimit: Duration = .seconds(60)
    /// Cluster-wide pub/sub messages of the pub/sub phase (0: no such phase).
    public var messages: Int = 0
    /// How long one message is followed before it counts as not delivered to all.
    public var messageLimit: Duration = .seconds(5)
    /// Whether every node runs its network probes during the rest phase, as the `pubsub-enhanced`
    /// and `dht-enhanced` checks do at their default intervals: a pub/sub loopback every 30 s, a
    /// DHT put and a read from another replica every 60 s, each node at its own offset.
    public var probes = false
    public var pubSubProbeInterval: Duration = .seconds(30)
    public var dhtProbeInterval: Duration = .seconds(60)

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
        /// Bytes sent per node per second over the `restSeconds` (30 at most) after the crash was
        /// dead everywhere: the rest with one dead member (reconnect attempts included).
        public var restAfterCrashBytesPerNodePerSecond: Double?
        /// Times a node declared a running node dead, over the whole run (should be 0).
        public var falseDeaths: Int
        public var datagramsLost: Int
        public var datagramsDelivered: Int
        /// The pub/sub phase, when it ran.
        public var pubSub: PubSubReport?
        /// Whether the rest phase included the nodes' network probes (``Scenario/probes``).
        public var probes = false
        /// Lying members and one-way cuts (``Simulation/Configuration``).
        public var liars = 0
        public var oneWayCuts = 0
        /// Honest running nodes that, at the end of the rest phase, hold every liar for an
        /// unreliable accuser (its claims weigh nothing there).
        public var nodesNamingEveryLiar: Int?
        /// Accusations signed and verified per node per second over the rest phase.
        public var accusationsSignedPerNodePerSecond = 0.0
        public var accusationsVerifiedPerNodePerSecond = 0.0
    }

    /// What the pub/sub phase measured.
    public struct PubSubReport: Sendable, Codable, Hashable {
        public var messages: Int
        /// Full copies sent (`publish` parts, grafted ones included) per message per node.
        public var copiesPerMessagePerNode: Double
        /// Message ids announced (`ihave` parts) per message per node.
        public var announcementsPerMessagePerNode: Double
        /// Milliseconds from the publish until every running node delivered it: median, p90, max
        /// over the messages delivered to all.
        public var deliveredToAllMedianMs: Double?
        public var deliveredToAllP90Ms: Double?
        public var deliveredToAllMaxMs: Double?
        /// Milliseconds from the publish until one node delivered it, over every delivery of
        /// every message (the publisher's own echo included): median, p90, max.
        public var deliveryMedianMs: Double?
        public var deliveryP90Ms: Double?
        public var deliveryMaxMs: Double?
        /// Messages some running node had not delivered within `messageLimit`.
        public var notDeliveredToAll: Int
    }

    /// Runs the scenario; `progress` receives a line per phase, and within a phase a line about
    /// every `progressEvery` of wall-clock time with the virtual time reached and an estimate of
    /// the wall-clock time left (a 10,000-node run takes long enough to want one). The wall clock
    /// is read for these lines only; the run itself depends on the seed alone.
    public func run(progressEvery: Duration = .seconds(15), progress: @escaping (String) -> Void = { _ in }) -> Report {
        let sim = Simulation(configuration)
        let n = configuration.nodes
        var falseDeaths = 0
        // Virtual seconds each phase is expected to take: the limits for join and crash are upper
        // bounds, so the estimate uses typical figures (BENCHMARKS.md) once those phases are reached.
        // After the crash: its detection (~5 s, 10 allowed for), then up to 30 s of rest.
        let crashRest = Double(min(restSeconds, 30))
        let afterRest = Double(messages) * 0.2 + 10 + crashRest
        let meter = ProgressMeter(every: progressEvery, nodes: n, settings: configuration.settings, remainingAfter: [
            .join: 2 + 10 + Double(restSeconds) + afterRest, .change: 10 + Double(restSeconds) + afterRest, .rest: afterRest,
            .pubSub: 10 + crashRest, .crash: crashRest, .afterCrash: 0,
        ])
        let joinDetail: (Simulation) -> String = { sim in "\(sim.fullViewCount) of \(n) nodes see every member" }
        meter.detail = joinDetail
        sim.start(withStatus: statusesAtStart)
        // Within a step too: the phase's last progress detail, read again.
        sim.pulse = { sim in meter.tick(sim, progress) }
        progress("join: \(n) nodes starting")
        let joined = sim.runUntil(limit: joinLimit, step: .milliseconds(500)) { sim in
            meter.tick(sim, progress, phase: .join, joinDetail)
            return sim.isConverged
        }
        progress("join: \(joined.map { "converged after \(seconds($0)) s" } ?? "not converged within \(seconds(joinLimit)) s")")

        let publisher = 0
        sim.publish(publisher, status: .degraded)
        var holders: [Int] = []
        var rounds: Int?
        _ = sim.runUntil(limit: changeLimit, step: configuration.settings.gossipInterval) { sim in
            let count = sim.holders(ofLatestStatusOf: publisher)
            meter.tick(sim, progress, phase: .change) { sim in "\(sim.holders(ofLatestStatusOf: publisher)) of \(n - 1) hold the change" }
            holders.append(count)
            if count == sim.upCount - 1 { rounds = holders.count }
            return rounds != nil
        }
        progress("change: \(rounds.map { "every node holds it after \($0) rounds" } ?? "not everywhere within \(seconds(changeLimit)) s")")

        sim.run(for: .seconds(10))
        let before = sim.totalBytesSent
        let partsBefore = sim.totalPartsSent
        let (signedBefore, verifiedBefore) = sim.accusationsSignedAndVerified
        let restStart = sim.now
        let restEnd = sim.now + .seconds(Int64(restSeconds))
        var probesRun = 0
        sim.run(for: .seconds(Int64(restSeconds)), step: probes ? .milliseconds(500) : .seconds(5)) { sim in
            falseDeaths = max(falseDeaths, sim.falselyDead)
            if probes { probesRun += runProbes(sim, between: sim.now - .milliseconds(500), and: sim.now, restStart: restStart) }
            meter.tick(sim, progress, phase: .rest, phaseEnd: restEnd) { _ in probes ? "at rest, \(probesRun) probes run" : "at rest" }
        }
        let rest = Double(sim.totalBytesSent - before) / Double(restSeconds) / Double(n)
        progress("rest: \(Int(rest.rounded())) bytes per node per second")
        let restParts = sim.totalPartsSent.merging(partsBefore, uniquingKeysWith: -).mapValues {
            (Double($0) / Double(restSeconds) / Double(n)).rounded(toPlaces: 3)
        }
        let (signedAfter, verifiedAfter) = sim.accusationsSignedAndVerified
        let perNodeSecond = { (count: Int) in (Double(count) / Double(restSeconds) / Double(n)).rounded(toPlaces: 3) }
        let naming = sim.liars.isEmpty ? nil : sim.nodesNamingEveryLiar

        let pubSub = messages > 0 ? runPubSub(sim, meter: meter, progress: progress) : nil

        let victim = n - 1
        sim.crash(victim)
        let crashedAt = sim.now
        var firstSuspicion: Duration?
        let deadEverywhere = sim.runUntil(limit: crashLimit) { sim in
            if firstSuspicion == nil && sim.observers(of: victim, in: .suspect) > 0 { firstSuspicion = sim.now - crashedAt }
            falseDeaths = max(falseDeaths, sim.falselyDead)
            let buried = sim.nodesThatBuried(victim)
            meter.tick(sim, progress, phase: .crash) { sim in "\(sim.nodesThatBuried(victim)) of \(sim.upCount) consider the crashed node dead" }
            return buried == sim.upCount
        }
        progress("crash: \(deadEverywhere.map { "dead everywhere after \(seconds($0)) s" } ?? "not detected within \(seconds(crashLimit)) s")")
        var restAfterCrash: Double?
        if deadEverywhere != nil {
            let seconds = min(restSeconds, 30)
            let before = sim.totalBytesSent
            let end = sim.now + .seconds(Int64(seconds))
            sim.run(for: .seconds(Int64(seconds)), step: .seconds(5)) { sim in
                falseDeaths = max(falseDeaths, sim.falselyDead)
                meter.tick(sim, progress, phase: .afterCrash, phaseEnd: end) { _ in "at rest with one dead member" }
            }
            restAfterCrash = (Double(sim.totalBytesSent - before) / Double(seconds) / Double(sim.upCount)).rounded(toPlaces: 1)
            progress("rest after the crash: \(Int(restAfterCrash!.rounded())) bytes per node per second")
        }

        return Report(
            nodes: n, seed: configuration.seed, loss: configuration.loss, joinSeconds: joined.map(seconds),
            changeHoldersPerRound: holders, changeRounds: rounds, restBytesPerNodePerSecond: rest,
            restPartsPerNodePerSecond: restParts,
            firstSuspicionSeconds: firstSuspicion.map(seconds), deadEverywhereSeconds: deadEverywhere.map(seconds),
            restAfterCrashBytesPerNodePerSecond: restAfterCrash,
            falseDeaths: max(falseDeaths, sim.falseDeathEvents.count), datagramsLost: sim.lost, datagramsDelivered: sim.delivered,
            pubSub: pubSub, probes: probes, liars: sim.liars.count, oneWayCuts: sim.cutLinks.count, nodesNamingEveryLiar: naming,
            accusationsSignedPerNodePerSecond: perNodeSecond(signedAfter - signedBefore),
            accusationsVerifiedPerNodePerSecond: perNodeSecond(verifiedAfter - verifiedBefore))
    }

    /// Starts the probes due in (`from`, `to`]: node `i`'s pub/sub loopback at
    /// `restStart + (i / n + k) × pubSubProbeInterval`, its DHT put likewise, and the read of
    /// the key it put half a second after the put. Returns how many probes started.
    func runProbes(_ sim: Simulation, between from: Duration, and to: Duration, restStart: Duration) -> Int {
        var started = 0
        let n = sim.nodes.count
        func due(_ i: Int, every interval: Duration, delay: Duration = .zero) -> Int? {
            // The k-th run of node i's schedule, if it falls in (from, to].
            let offset = interval * (Double(i) / Double(n)) + delay
            let elapsed = to - restStart - offset
            guard elapsed >= .zero else { return nil }
            let k = Int(elapsed / interval)
            let at = restStart + offset + interval * k
            return at > from ? k : nil
        }
        // The probes' own sizes: a 32-hex-digit nonce, a node id, an RFC 3339 time, as the checks'
        // JSON (`ActiveChecks`): ~110-byte messages on a 21-byte topic, ~55-byte keys, ~95-byte values.
        func nonce(_ i: Int, _ k: Int, _ kind: UInt64) -> String {
            let word = String(UInt64(i) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(k) &* 0xBF58_476D_1CE4_E5B9 ^ kind, radix: 16)
            return String(repeating: "0", count: 32 - word.count) + word
        }
        let time = "\"timestamp\":\"2026-12-07T12:00:00.000Z\""
        for i in 0..<n where sim.nodes[i].up {
            if let k = due(i, every: pubSubProbeInterval) {
                let message = "{\"id\":\"\(nonce(i, k, 1))\",\"node_id\":\"node-\(i)\",\(time),\"type\":\"health-probe\"}"
                if (try? sim.publishMessage(i, topic: "CHORUS/health-test/v1", payload: Array(message.utf8), reach: .loopback)) != nil {
                    started += 1
                }
            }
            let key = { (k: Int) in "health-test/node-\(i)/\(nonce(i, k, 2))" }
            if let k = due(i, every: dhtProbeInterval) {
                let value = "{\"node_id\":\"node-\(i)\",\"nonce\":\"\(nonce(i, k, 2))\",\(time)}"
                sim.dhtPut(i, key: key(k), value: Array(value.utf8), ttl: .seconds(300))
                started += 1
            }
            if let k = due(i, every: dhtProbeInterval, delay: .milliseconds(500)) {
                sim.dhtGet(i, key: key(k), remoteOnly: true)
            }
        }
        return started
    }

    /// The pub/sub phase: `messages` messages one at a time, each followed until every running
    /// node delivered it (or `messageLimit` passed), then 100 ms of quiet before the next.
    func runPubSub(_ sim: Simulation, meter: ProgressMeter, progress: (String) -> Void) -> PubSubReport {
        let n = configuration.nodes
        let partsBefore = sim.totalPartsSent
        var times: [Double] = []
        var deliveries: [Double] = []
        var missed = 0
        for m in 0..<messages {
            let publisher = (m * 7919) % n
            guard sim.nodes[publisher].up, let id = try? sim.publishMessage(publisher, payload: Array("message \(m)".utf8)) else {
                missed += 1
                continue
            }
            let publishedAt = sim.now
            let took = sim.runUntil(limit: messageLimit, step: .milliseconds(5)) { sim in
                meter.tick(sim, progress, phase: .pubSub) { _ in "message \(m + 1) of \(messages)" }
                return (sim.messageDeliveries[id]?.count ?? 0) >= sim.upCount
            }
            if let took { times.append(milliseconds(took)) } else { missed += 1 }
            sim.run(for: .milliseconds(100))
            deliveries += (sim.messageDeliveryTimes[id] ?? []).map { milliseconds($0 - publishedAt) }
        }
        let parts = sim.totalPartsSent.merging(partsBefore, uniquingKeysWith: -)
        let perMessageNode = Double(messages * n)
        times.sort()
        deliveries.sort()
        func at(_ q: Double, _ values: [Double]) -> Double? {
            values.isEmpty ? nil : values[min(values.count - 1, Int(q * Double(values.count)))]
        }
        let report = PubSubReport(
            messages: messages,
            copiesPerMessagePerNode: (Double(parts["publish", default: 0]) / perMessageNode).rounded(toPlaces: 3),
            announcementsPerMessagePerNode: (Double(parts["ihave", default: 0]) / perMessageNode).rounded(toPlaces: 3),
            deliveredToAllMedianMs: at(0.5, times), deliveredToAllP90Ms: at(0.9, times), deliveredToAllMaxMs: times.last,
            deliveryMedianMs: at(0.5, deliveries), deliveryP90Ms: at(0.9, deliveries), deliveryMaxMs: deliveries.last,
            notDeliveredToAll: missed)
        progress("pub/sub: \(report.copiesPerMessagePerNode) copies per message per node, delivered to all in \(report.deliveredToAllMedianMs.map { "\($0) ms" } ?? "—") median")
        return report
    }
}

/// Progress lines within a phase, at most one per `every` of wall-clock time, with an estimate of
/// the wall-clock time left (``TimeLeft``). A class: the scenario's steps set the phase, and the
/// simulation's pulse reads it between steps.
final class ProgressMeter {
    enum Phase: String { case join, change, rest, pubSub = "pub/sub", crash, afterCrash = "rest after the crash" }
    let every: Duration
    let estimate: TimeLeft
    /// Virtual seconds the phases after each phase are expected to take.
    let remainingAfter: [Phase: Double]
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    var lastLine: ContinuousClock.Instant
    /// Where the stretch the pace is measured over began (the last line, or the phase's start if
    /// later): when, at which virtual time, after how many datagrams.
    var windowStart: ContinuousClock.Instant
    var windowVirtual: Duration = .zero
    var windowDatagrams = 0
    var phase = Phase.join
    /// Where the phase ends in virtual time, when known.
    var phaseEnd: Duration?
    var detail: (Simulation) -> String = { _ in "" }

    init(every: Duration, nodes: Int, settings: GossipSettings, remainingAfter: [Phase: Double]) {
        self.every = every
        estimate = TimeLeft(nodes: nodes, settings: settings)
        self.remainingAfter = remainingAfter
        started = clock.now
        lastLine = started
        windowStart = started
    }

    /// Enters `phase` (its detail read by `detail`), then ticks.
    func tick(
        _ sim: Simulation, _ progress: (String) -> Void, phase: Phase, phaseEnd: Duration? = nil,
        _ detail: @escaping (Simulation) -> String
    ) {
        if phase != self.phase { (windowStart, windowVirtual, windowDatagrams) = (clock.now, sim.now, sim.delivered + sim.lost) }
        self.phase = phase
        self.phaseEnd = phaseEnd
        self.detail = detail
        tick(sim, progress)
    }

    /// A line when `every` has passed since the last one.
    func tick(_ sim: Simulation, _ progress: (String) -> Void) {
        let now = clock.now
        guard now - lastLine >= every else { return }
        let window = TimeLeft.Window(
            wallSeconds: (now - windowStart) / .seconds(1), virtualSeconds: (sim.now - windowVirtual) / .seconds(1),
            datagrams: sim.delivered + sim.lost - windowDatagrams)
        lastLine = now
        (windowStart, windowVirtual, windowDatagrams) = (now, sim.now, sim.delivered + sim.lost)
        let wall = (now - started) / .seconds(1)
        var line = "\(phase.rawValue): virtual \((sim.now / .seconds(1)).rounded(toPlaces: 1)) s, \(detail(sim)); \(Int(wall)) s of wall clock so far"
        let phaseLeft = phaseEnd.map { max(0, ($0 - sim.now) / .seconds(1)) }
        if let left = estimate.seconds(
            window: window, inJoin: phase == .join, phaseLeft: phaseLeft, laterPhases: remainingAfter[phase] ?? 0)
        {
            line += phase == .join ? ", then about \(Int(left.rounded())) s more" : ", about \(Int(left.rounded())) s left"
        }
        progress(line)
    }
}

/// The wall-clock time a run still needs, from the pace of its last stretch (`Window`).
///
/// After the join, the phases are alike (a settled cluster: probes, acks, summaries, a rumour),
/// so the last stretch's wall clock per virtual second holds for what is left. During the join it
/// does not: the join is much denser in datagrams (at 10 000 nodes its 15.5 virtual seconds took
/// 2538 s of wall clock, the 80 after it about 85 s), and the pace of the join made
/// `simulate --nodes 10000` announce up to ~120 000 s where ~2600 were left. A datagram costs
/// about the same in either (~55 µs at 10 000 nodes, BENCHMARKS.md), so during the join the
/// later phases are estimated as the datagrams a settled cluster sends in their virtual time, at
/// the last stretch's cost per datagram. The join's own end is not estimated: its pace says
/// nothing about how far the membership still has to go.
public struct TimeLeft: Sendable {
    /// A stretch of the run: its wall clock, virtual time and datagrams (delivered or lost).
    public struct Window: Sendable {
        public var wallSeconds: Double
        public var virtualSeconds: Double
        public var datagrams: Int

        public init(wallSeconds: Double, virtualSeconds: Double, datagrams: Int) {
            self.wallSeconds = wallSeconds
            self.virtualSeconds = virtualSeconds
            self.datagrams = datagrams
        }
    }

    public let nodes: Int
    /// Datagrams a node sends a second in a settled cluster: a probe and its ack each probe
    /// interval, a heartbeat to the leader and its ack, an anti-entropy summary (2.6 with the
    /// defaults, as `ScenarioTests` measures).
    public let settledDatagramsPerNodeSecond: Double

    public init(nodes: Int, settings: GossipSettings) {
        self.nodes = nodes
        settledDatagramsPerNodeSecond =
            2 * (1 / (settings.probeInterval / .seconds(1)) + 1 / (settings.leaderHeartbeatInterval / .seconds(1)))
            + 1 / (settings.antiEntropyInterval / .seconds(1))
    }

    /// Seconds of wall clock left: `phaseLeft` virtual seconds of the current phase (when known)
    /// and `laterPhases` after it; during the join, only the phases after it. `nil` when the
    /// window holds nothing to measure a pace by.
    public func seconds(window: Window, inJoin: Bool, phaseLeft: Double?, laterPhases: Double) -> Double? {
        if inJoin {
            guard window.datagrams > 0 else { return nil }
            let perDatagram = window.wallSeconds / Double(window.datagrams)
            return laterPhases * Double(nodes) * settledDatagramsPerNodeSecond * perDatagram
        }
        guard window.virtualSeconds > 0 else { return nil }
        return ((phaseLeft ?? 0) + laterPhases) * window.wallSeconds / window.virtualSeconds
    }
}

/// `duration` in milliseconds, to the microsecond.
func milliseconds(_ duration: Duration) -> Double {
    (duration / .milliseconds(1)).rounded(toPlaces: 3)
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
