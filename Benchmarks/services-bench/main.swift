// Pub/sub and DHT figures between real gossip nodes on 127.0.0.1 (see BENCHMARKS.md).
//
//   services-bench [NODES] [ROUNDS]          (defaults: 16 nodes, 30 rounds)
//
// Starts NODES gossip nodes in this process, each with its own UDP socket and health manager,
// waits until they all see each other, then measures, side by side in one run:
//   - pub/sub: the time from a publish until the last of the NODES subscribers got the message
//     (ROUNDS messages, each from another node);
//   - DHT: a put from one node, then a get from another that must come from a remote replica;
//   - the probes' traffic: the bytes all nodes send during ROUNDS pub/sub loopback probes and
//     ROUNDS DHT put/get probes (the real ActiveProbes over the real adapters), less the cluster's
//     rate at rest over the same time. A node probes once per interval, so one probe's
//     cluster-wide bytes divided by the interval is the cost per node per second.
import Gossip
import GossipCore
import Logging
import NodeHealth
import Synchronization

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 16 : 16
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
let clock = ContinuousClock()

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func ms(_ duration: Duration) -> Double { Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000 }

func format(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return "\(scaled)"
}

/// Bytes all nodes have sent so far.
func totalBytes(_ nodes: [GossipNode]) async -> Int {
    var total = 0
    for node in nodes { total += await node.trafficStats()?.bytesSent ?? 0 }
    return total
}

let keys = (0..<count).map { _ in SigningKeyPair() }
let trust = TrustPolicy.keys(Set(keys.map(\.publicKey)))
try await withThrowingTaskGroup(of: Void.self) { group in
    var nodes: [GossipNode] = []
    var seed: NodeAddress?
    for i in 0..<count {
        var configuration = GossipNode.Configuration(keyPair: keys[i], generation: 1, trust: trust)
        configuration.bindHost = "127.0.0.1"
        configuration.bindPort = 0
        configuration.logger.logLevel = .warning
        if let seed { configuration.join = [seed.description] }
        var healthLogger = Logger(label: "chorus.health")
        healthLogger.logLevel = .warning
        let manager = HealthManager(nodeID: "bench-\(i)", version: "bench", logger: healthLogger)
        try await manager.register(HealthCheck(name: "always", interval: .seconds(30), timeout: .seconds(1), critical: false) { _ in
            CheckResult(healthy: true, message: "fine")
        })
        let node = GossipNode(configuration: configuration, health: manager)
        group.addTask { try await manager.run() }
        group.addTask { try await node.run() }
        nodes.append(node)
        if i == 0 {
            while node.boundAddress == nil { try await Task.sleep(for: .milliseconds(10)) }
            seed = node.boundAddress
        }
    }
    print("services-bench: \(count) nodes on 127.0.0.1, \(rounds) rounds each")
    let formed = clock.now
    while true {
        var ready = true
        for node in nodes where await node.liveCount() < count - 1 { ready = false }
        var leaders = Set<PublicKey?>()
        for node in nodes { leaders.insert(await node.election()?.view.leader) }
        if ready && leaders.count == 1 && leaders.first! != nil { break }
        guard clock.now - formed < .seconds(60) else { fatalError("the cluster did not form within 60 s") }
        try await Task.sleep(for: .milliseconds(100))
    }
    print("formed, one leader agreed, in \(format(ms(clock.now - formed))) ms; settling 10 s")
    try await Task.sleep(for: .seconds(10))

    // Pub/sub: delivery to every subscriber.
    let arrivals = Mutex<[String: [Int: ContinuousClock.Instant]]>([:])
    for (i, node) in nodes.enumerated() {
        await node.subscribe(topic: "bench/latency") { message in
            let tag = String(decoding: message.payload, as: UTF8.self)
            let now = ContinuousClock.now
            arrivals.withLock { $0[tag, default: [:]][i] = now }
        }
    }
    var deliveries: [Double] = []
    var lost = 0
    var publishParts = 0
    for node in nodes { publishParts -= await node.trafficStats()?.partsSent["publish"] ?? 0 }
    for round in 0..<rounds {
        let tag = "message-\(round)"
        let start = clock.now
        _ = try await nodes[round % count].publish(topic: "bench/latency", payload: Array(tag.utf8))
        while arrivals.withLock({ $0[tag]?.count ?? 0 }) < count && clock.now - start < .seconds(5) {
            try await Task.sleep(for: .milliseconds(1))
        }
        let got = arrivals.withLock { $0[tag] ?? [:] }
        if got.count < count { lost += 1 } else { deliveries.append(ms(got.values.max()! - start)) }
        try await Task.sleep(for: .milliseconds(300))
    }
    for node in nodes { publishParts += await node.trafficStats()?.partsSent["publish"] ?? 0 }
    // Full copies of messages sent (the pub/sub probes' returns during the phase included: a few dozen).
    print("pub/sub: \(format(Double(publishParts) / Double(rounds * count))) copies sent per message per node")
    print("pub/sub delivery to all \(count): median \(format(median(deliveries))) ms, p90 \(format(percentile(deliveries, 0.9))) ms, max \(format(deliveries.max() ?? .nan)) ms; \(lost) of \(rounds) not delivered to all within 5 s")

    // DHT: put from one node, get from another (remote replicas only).
    var puts: [Double] = []
    var gets: [Double] = []
    var failures = 0
    for round in 0..<rounds {
        let key = "bench/key-\(round)"
        let value = Array("value \(round) ".utf8) + [UInt8](repeating: 0x2a, count: 48)
        let start = clock.now
        let stored = await nodes[round % count].dhtPut(key: key, value: value, ttl: .seconds(600))
        let putDone = clock.now
        let read = await nodes[(round + count / 2) % count].dhtGet(key: key, remoteOnly: true)
        let getDone = clock.now
        guard case .stored = stored, read == .value(value) else {
            failures += 1
            continue
        }
        puts.append(ms(putDone - start))
        gets.append(ms(getDone - putDone))
        try await Task.sleep(for: .milliseconds(100))
    }
    let both = zip(puts, gets).map { $0 + $1 }
    print("DHT put: median \(format(median(puts))) ms, p90 \(format(percentile(puts, 0.9))) ms; get (remote): median \(format(median(gets))) ms, p90 \(format(percentile(gets, 0.9))) ms; put+get median \(format(median(both))) ms; \(failures) of \(rounds) failed")

    // The probes' traffic, against the rate at rest measured just before.
    try await Task.sleep(for: .seconds(5))
    let restWindow = Duration.seconds(30)
    let restStart = (clock.now, await totalBytes(nodes))
    try await Task.sleep(for: restWindow)
    let restRate = Double(await totalBytes(nodes) - restStart.1) / (Double(ms(clock.now - restStart.0)) / 1000)
    let inboxes = nodes.map { PubSubProbeInbox(adapter: GossipPubSubAdapter(node: $0)) }
    let dhtAdapters = nodes.map { GossipDHTAdapter(node: $0) }
    func probeCost(_ name: String, _ probe: @Sendable (Int) async -> ProbeOutcome) async throws -> Double {
        var succeeded = 0
        let start = (clock.now, await totalBytes(nodes))
        for round in 0..<rounds {
            if await probe(round % count).succeeded { succeeded += 1 }
            try await Task.sleep(for: .milliseconds(500))
        }
        let seconds = Double(ms(clock.now - start.0)) / 1000
        let bytes = Double(await totalBytes(nodes) - start.1) - restRate * seconds
        print("\(name): \(succeeded) of \(rounds) succeeded; \(format(bytes / Double(rounds))) bytes sent cluster-wide per probe")
        return bytes / Double(rounds)
    }
    let pubSubBytes = try await probeCost("pub/sub loopback probe") { i in
        await ActiveProbes.pubSubLoopback(inbox: inboxes[i], nodeID: "bench-\(i)", wait: .seconds(10))
    }
    let dhtBytes = try await probeCost("DHT put/get probe") { i in
        await ActiveProbes.dhtPutGet(adapter: dhtAdapters[i], nodeID: "bench-\(i)")
    }
    let config = HealthConfig()
    let pubSubInterval = Double(config.pubSubProbeInterval.components.seconds)
    let dhtInterval = Double(config.dhtProbeInterval.components.seconds)
    let perNode = pubSubBytes / pubSubInterval + dhtBytes / dhtInterval
    print("at rest: \(format(restRate / Double(count))) B/s per node; the probes at their default intervals (pub/sub every \(Int(pubSubInterval)) s, DHT every \(Int(dhtInterval)) s) add \(format(perNode)) B/s per node (\(format(100 * perNode / (restRate / Double(count))))% of rest)")
    group.cancelAll()
}
