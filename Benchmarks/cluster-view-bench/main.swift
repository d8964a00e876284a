// /cluster/health for a large cluster view (see BENCHMARKS.md).
//
//   cluster-view-bench [NODES] [ROUNDS] [SERVE_PORT SERVE_SECONDS] [simulated]   (defaults: 1000 nodes, 2000 rounds)
//
// With SERVE_PORT it then serves that view over HTTP on 127.0.0.1:SERVE_PORT for SERVE_SECONDS
// (the node's own /cluster routes and monitor), for wrk (scripts/bench-cluster-view.sh).
//
// The view: by default NODES statuses signed here (real Ed25519 keys and signatures; nine checks
// with messages, the election, peer, replication and label extensions, 2 % unhealthy, 3 %
// degraded, 1 % dead, in four zones), made in about a second; with `simulated`, the simulator
// (real protocol, real signing) runs until node 0 lists all NODES nodes alive and holds every
// one's signed status (400-700 s at 1000 nodes), and node 0's view is taken. Then it times what
// GET /cluster/health does: ClusterHealth.merge over that view, the JSON of the answer (and the
// ?verbose text), and the snapshots a monitor makes while the statuses' ages grow, as in a node.
// Reports median, p90, p99 and max.
import ClusterView
import ClusterViewTesting
import Gossip
import GossipCore
import Hummingbird
import NodeHealth
import NodeHealthHTTP
import Simulations

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 1000 : 1000
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 2000 : 2000
let servePort = arguments.count > 3 ? Int(arguments[3]) : nil
let serveSeconds = arguments.count > 4 ? Int(arguments[4]) ?? 30 : 30
let clock = ContinuousClock()

func micros(_ d: Duration) -> Double { Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12 }
func report(_ name: String, _ samples: [Double]) {
    let sorted = samples.sorted()
    func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
    func ms(_ us: Double) -> String { "\((us / 10).rounded() / 100) ms" }
    print("\(name): median \(ms(at(0.5))), p90 \(ms(at(0.9))), p99 \(ms(at(0.99))), max \(ms(sorted.last!)) over \(sorted.count) runs")
}

/// Node 0's view after the simulator ran until it listed every node alive and held every status.
func simulatedView() -> (members: [MemberReport], refresh: Duration) {
    var configuration = Simulation.Configuration(nodes: count, seed: 1)
    configuration.seedCount = 3
    let sim = Simulation(configuration)
    let built = clock.now
    sim.start(withStatus: true)
    let full = sim.runUntil(limit: .seconds(600), step: .seconds(1)) { sim in
        let core = sim.nodes[0].core
        return core.liveCount == count - 1 && core.store.statuses.count == count
    }
    guard full != nil else { fatalError("node 0 never held the whole cluster") }
    sim.run(for: .seconds(10))  // elections settle
    print("simulated \(count) nodes until node 0 held all \(count) statuses in \(Int(micros(clock.now - built) / 1e6)) s (wall clock, \(sim.now) simulated)")
    let core = sim.nodes[0].core
    let nowMillis = UInt64(sim.now.components.seconds * 1000)
    func age(_ key: PublicKey) -> Duration? {
        core.store.statuses[key].map { .milliseconds(Int64(nowMillis) - Int64($0.projection.issuedAtMillis)) }
    }
    var members = [MemberReport(key: core.key, state: .alive, life: core.life, isSelf: true, status: core.store.statuses[core.key]?.projection, statusAge: age(core.key))]
    for member in core.members.values {
        members.append(MemberReport(key: member.key, state: member.state, life: member.life, isSelf: false, status: core.store.statuses[member.key]?.projection, statusAge: age(member.key)))
    }
    return (members, core.refreshInterval)
}

let made = clock.now
let fixture = arguments.contains("simulated") ? nil : try SignedClusterFixture(count: count)
let (members, refresh) = fixture.map { ($0.members(), Duration.seconds(43_200)) } ?? simulatedView()
if !arguments.contains("simulated") { print("signed \(count) statuses in \(Int(micros(clock.now - made) / 1000)) ms") }
let policy = ClusterHealthPolicy(staleAfter: refresh * 2)
let sample = ClusterHealth.merge(members, policy: policy)
print("view: \(sample.nodeCount) nodes, status \(sample.status.rawValue), leader \(sample.election.leader ?? "none") (agreement \(sample.election.agreement)), JSON \(JSONBytes.encode(sample).count) bytes")

var merges: [Double] = []
var whole: [Double] = []
var verbose: [Double] = []
for _ in 0..<rounds {
    let start = clock.now
    let health = ClusterHealth.merge(members, policy: policy)
    let merged = clock.now
    let bytes = JSONBytes.encode(health)
    let encoded = clock.now
    precondition(bytes.count > 0)
    merges.append(micros(merged - start))
    whole.append(micros(encoded - start))
    let text = health.verboseText
    precondition(!text.isEmpty)
    verbose.append(micros(clock.now - encoded))
}
report("merge", merges)
report("merge + JSON (what GET /cluster/health computes)", whole)
report("?verbose text (after the merge)", verbose)

// What a snapshot costs in a node: the merge and the document, the ages grown by 250 ms since the last.
var snapshots: [Double] = []
var previous: ClusterHealthDocument?
var aged = members
for _ in 0..<rounds {
    for index in aged.indices { aged[index].statusAge = aged[index].statusAge.map { $0 + .milliseconds(250) } }
    let start = clock.now
    let health = ClusterHealth.merge(aged, policy: policy)
    let document = ClusterHealthDocument(health: health, previous: previous, wallMillis: 0)
    precondition(!document.render(ClusterHealthQuery()).isEmpty)
    snapshots.append(micros(clock.now - start))
    previous = document
}
report("a snapshot: merge + document + first render, ages grown 250 ms (what the monitor makes)", snapshots)

// What a request gets: ClusterMonitor.serve() (the /cluster/health handler's call), 1000 requests
// a second for 5 s while snapshots older than 250 ms are remade in the background.
// As in a node, the statuses' and states' ages grow between snapshots.
let viewMembers = members
let viewStart = clock.now
let monitor = ClusterMonitor {
    let elapsed = clock.now - viewStart
    return ClusterHealth.merge(
        viewMembers.map { member in
            var member = member
            member.statusAge = member.statusAge.map { $0 + elapsed }
            member.stateAge = member.stateAge.map { $0 + elapsed }
            return member
        }, policy: policy)
}
_ = await monitor.refresh()
var served: [Double] = []
// The monitor runs as in a node: it samples every 2 s and makes the snapshots requests ask for.
await withTaskGroup(of: Void.self) { group in
    group.addTask { try? await monitor.run() }
    let until = clock.now + .seconds(5)
    while clock.now < until {
        let start = clock.now
        let snapshot = await monitor.serve()
        precondition(snapshot.document.revision > 0)
        served.append(micros(clock.now - start))
        try? await Task.sleep(for: .milliseconds(1))
    }
    group.cancelAll()
}
report("GET /cluster/health's serve() at ~1000 requests/s (snapshot, remade every 250 ms)", served)

// The same view over HTTP, through the node's own routes, for wrk.
if let servePort {
    let router = NodeRoutes.router(serving: [ClusterHTTP.viewRoutes(monitor: monitor, source: fixture?.source ?? .none)])
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: servePort)))
    await withTaskGroup(of: Void.self) { group in
        group.addTask { try? await monitor.run() }
        group.addTask { try? await app.runService() }
        print("serving the \(count)-node view at http://127.0.0.1:\(servePort)/cluster/health for \(serveSeconds) s")
        fflush(nil)  // the bench script waits for this line (standard output is a pipe there)
        try? await Task.sleep(for: .seconds(serveSeconds))
        group.cancelAll()
    }
}
