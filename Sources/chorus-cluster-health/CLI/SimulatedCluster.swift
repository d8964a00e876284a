#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import ClusterView
import Gossip
import GossipCore
import Simulations
import Synchronization

/// `simulate --serve`: a simulated cluster as its node 0 sees it, for the real `/cluster` routes
/// and console. The simulator (the real protocol and signatures under a virtual clock) runs on a
/// thread of its own, paced to run no faster than real time; every virtual second node 0's view
/// is copied here (its members, the statuses it holds) and its changes are fed to a
/// ``ClusterMemory``, as gossip feeds a node's, so last transitions and flapping are real too.
///
/// The cluster: four zones (label `zone`); 2 % of the nodes unhealthy (a failing DHT probe), 3 %
/// degraded, 0.5 % never sign a status (stale: unknown), 0.5 % flap between healthy and unhealthy
/// every 5 s of simulated time (flapping after five changes), and 1 % crash once the cluster has
/// formed (dead; gone from the view when their tombstones are reaped, 60 s later, as in a node).
final class SimulatedCluster: Sendable {
    private struct View {
        var members: [MemberReport] = []
        var statuses: [String: SignedStatus] = [:]
        var refreshInterval: Duration = .seconds(300)
    }

    let nodes: Int
    let seed: UInt64
    let loss: Double
    let memory: ClusterMemory
    private let view = Mutex(View())
    /// The simulation's clock as a wall clock: now at virtual time zero, then virtual time.
    private final class VirtualClock: Sendable {
        let origin = Int64(Date().timeIntervalSince1970 * 1000)
        let elapsedMillis = Atomic<Int64>(0)
        var millis: Int64 { origin + elapsedMillis.load(ordering: .relaxed) }
    }
    private let clock = VirtualClock()

    init(nodes: Int, seed: UInt64, loss: Double) {
        self.nodes = nodes
        self.seed = seed
        self.loss = loss
        let clock = self.clock
        memory = ClusterMemory(wallMillis: { clock.millis })
    }

    static func level(of i: Int) -> StatusLevel? {
        if i % 200 == 99 { return nil }  // never signs
        if i % 50 == 7 { return .unhealthy }
        if i % 33 == 5 { return .degraded }
        return .healthy
    }
    static func flaps(_ i: Int) -> Bool { i % 200 == 13 }
    static func crashes(_ i: Int) -> Bool { i % 100 == 50 }

    static func draft(_ i: Int, level: StatusLevel) -> StatusDraft {
        let checks: [StatusProjection.Check] = [
            .init(name: "disk-space", healthy: true, critical: true, latencyMicros: 120, message: "31 % used"),
            .init(name: "memory-usage", healthy: true, critical: true, latencyMicros: 80, message: "44 % used"),
            .init(name: "dht-enhanced", healthy: level != .unhealthy, critical: false, degraded: level == .degraded,
                  latencyMicros: 2_400, message: level == .unhealthy ? "put: 1 of 3 replicas answered" : level == .degraded ? "get: 2 of 3 replicas" : "put and get in 3 ms"),
        ]
        let labels = try? NodeLabels(["zone": "zone-\(i % 4)", "rack": "r\(i % 16)"]).encoded
        return StatusDraft(
            issuedAtMillis: 0, nodeID: "node-\(i)", status: level,
            message: level == .healthy ? "All health checks passing" : "dht-enhanced: " + (checks[2].message),
            uptimeSeconds: 0, softwareVersion: "sim", checks: checks, extensions: labels.map { [$0] } ?? [])
    }

    /// Runs the simulation until the task is cancelled; progress on standard error.
    func run(progress: @escaping @Sendable (String) -> Void) async {
        var configuration = Simulation.Configuration(nodes: nodes, seed: seed, loss: loss)
        configuration.seedCount = 3
        let sim = Simulation(configuration)
        sim.start(withStatus: false)
        for i in 0..<nodes { if let level = Self.level(of: i) { sim.publish(i, draft: Self.draft(i, level: level)) } }
        let wallStart = ContinuousClock.now
        var formed: Duration?
        var crashed = false
        let flapEvery = Duration.seconds(5)
        var nextFlap = flapEvery
        var previous: (states: [PublicKey: MemberState], versions: [PublicKey: UInt64]) = ([:], [:])
        var lastProgress = ContinuousClock.now
        while !Task.isCancelled {
            sim.run(for: .seconds(1))
            let now = sim.now
            clock.elapsedMillis.store(Int64(now / .milliseconds(1)), ordering: .relaxed)
            let core = sim.nodes[0].core
            if formed == nil, core.liveCount == nodes - 1 { formed = now }
            if let formed, !crashed, now - formed >= .seconds(20) {
                for i in 0..<nodes where Self.crashes(i) { sim.crash(i) }
                crashed = true
            }
            if now >= nextFlap {
                let up = (now / flapEvery).rounded(.down).truncatingRemainder(dividingBy: 2) == 0
                for i in 0..<nodes where Self.flaps(i) && sim.nodes[i].up {
                    sim.publish(i, draft: Self.draft(i, level: up ? .healthy : .unhealthy))
                }
                nextFlap = now + flapEvery
            }
            previous = copyView(of: core, now: now, previous: previous)
            if ContinuousClock.now - lastProgress >= .seconds(5) {
                lastProgress = ContinuousClock.now
                let wall = (ContinuousClock.now - wallStart).components.seconds
                progress("virtual \(now.components.seconds) s (wall \(wall) s): node 0 sees \(core.liveCount + 1) of \(nodes) live and holds \(core.store.statuses.count) statuses" + (formed == nil ? ", forming" : crashed ? "" : ", formed"))
            }
            // No faster than real time, so that ages and the flapping window read as they would.
            let ahead = now - (ContinuousClock.now - wallStart)
            if ahead > .zero { try? await Task.sleep(for: ahead) } else { await Task.yield() }
        }
    }

    /// Copies node 0's view and tells the memory what changed since `previous`.
    private func copyView(
        of core: GossipCore, now: Duration, previous: (states: [PublicKey: MemberState], versions: [PublicKey: UInt64])
    ) -> (states: [PublicKey: MemberState], versions: [PublicKey: UInt64]) {
        var members: [MemberReport] = []
        var statuses: [String: SignedStatus] = [:]
        var states: [PublicKey: MemberState] = [core.key: .alive]
        var versions: [PublicKey: UInt64] = [:]
        let held = core.store.statuses
        func age(_ key: PublicKey) -> Duration? { core.store.acceptedAt[key].map { now - $0 } }
        members.append(MemberReport(key: core.key, state: .alive, life: core.life, isSelf: true, status: held[core.key]?.projection, statusAge: age(core.key), stateAge: now))
        for member in core.members.values {
            states[member.key] = member.state
            members.append(MemberReport(
                key: member.key, state: member.state, life: member.life, isSelf: false, status: held[member.key]?.projection,
                statusAge: age(member.key), stateAge: now - member.since))
            if member.state != previous.states[member.key] {
                memory.observe(.member(member.key, nodeID: held[member.key]?.projection.nodeID, state: member.state, life: member.life))
            }
        }
        for (key, signed) in held {
            statuses[signed.projection.nodeID] = signed
            statuses[key.fingerprint] = signed
            versions[key] = signed.projection.version
            if previous.versions[key] != signed.projection.version { memory.observe(.status(signed)) }
        }
        let refresh = core.refreshInterval
        view.withLock { $0 = View(members: members, statuses: statuses, refreshInterval: refresh) }
        return (states, versions)
    }

    /// The merged view now, with the memory's transitions; stale after twice the refresh interval.
    func health() -> ClusterHealth {
        memory.expire()
        let (members, refresh) = view.withLock { ($0.members, $0.refreshInterval) }
        let transitions = memory.transitions(of: members.map(\.key))
        let reports = members.map { member -> MemberReport in
            var member = member
            member.transitions = transitions[member.key]
            return member
        }
        return ClusterHealth.merge(reports, policy: ClusterHealthPolicy(staleAfter: refresh * 2))
    }

    var source: ClusterHTTP.Source {
        ClusterHTTP.Source(signedStatus: { [self] id in view.withLock { $0.statuses[id] ?? $0.statuses[id.lowercased()] } }, trust: { .any })
    }
}
