import Foundation
import NodeHealth
import Testing
import NodeHealthTesting

/// Five node processes on five hosts in network namespaces: one host's link goes down.
@Suite("A node cut off the network", .enabled(if: NetworkLab.available, "needs root and iproute2 for network namespaces"))
struct IsolationTests {
    /// `/health` of node `i`: the overall status and the checks by name.
    static func health(_ lab: NetworkLab, _ i: Int, port: Int) async -> (status: String, checks: JSONValue)? {
        guard let (_, body) = await lab.httpGet(i, port: port, "/health"), let json = try? decodeJSON(body),
            let status = json["status"]?.stringValue
        else { return nil }
        var checks: [String: JSONValue] = [:]
        if case .array(let list)? = json["checks"] {
            for check in list { if let name = check["name"]?.stringValue { checks[name] = check } }
        } else if case .object(let map)? = json["checks"] {
            checks = map
        }
        return (status, .object(checks))
    }

    /// Prints each node's status and its checks that do not pass: what a timed-out wait saw.
    static func report(_ lab: NetworkLab, _ ports: [Int: Int]) async {
        for i in 1...5 {
            guard let (status, checks) = await health(lab, i, port: ports[i]!) else {
                print("h\(i): no answer")
                continue
            }
            var failing: [String] = []
            if case .object(let map) = checks {
                for (name, check) in map.sorted(by: { $0.key < $1.key }) where check["status"]?.stringValue != "passing" {
                    failing.append("\(name)=\(check["status"]?.stringValue ?? "?") \(check["message"]?.stringValue ?? "")")
                }
            }
            print("h\(i): \(status); not passing: \(failing.joined(separator: "; "))")
        }
    }

    @Test("its pub/sub and DHT probes fail and it reports degraded, while the rest stay healthy; reconnected, it recovers")
    func isolatedNode() async throws {
        let intervals = [
            "pubsub-enhanced=2", "dht-enhanced=2", "election-health=2", "replication-health=2", "p2p-connectivity=3",
            // At its default 30 s, task-manager judged the cut's failed probes up to 30 s after the
            // window had moved past them: recovery took 44–46 s instead of ~20.
            "task-manager=2",
            "resource-health=3600",  // one run: no CPU figure (see passes(_:_:))
        ].flatMap { ["--check-interval", $0] }
        let cluster = try await LabCluster(hosts: 5, extra: ["--task-success-window", "20"] + intervals)
        defer { cluster.stop() }
        let lab = cluster.lab
        let ports = cluster.ports
        let node3 = cluster.nodes[3]!
        let probes = ["pubsub-enhanced", "dht-enhanced"]
        // Each phase's duration, printed: this test bounds the real-time phase of `make test`.
        var phaseStart = ContinuousClock.now
        func phase(_ name: String) {
            print("isolation: \(name) after \(ContinuousClock.now - phaseStart)")
            phaseStart = ContinuousClock.now
        }

        // 60 s: on a loaded 2-core CI machine the five took over 40 s once (one run in seven).
        let ready = await eventually(timeout: .seconds(60), "all five healthy, their probes passing over the bridge") {
            for i in 1...5 {
                guard let (status, checks) = await Self.health(lab, i, port: ports[i]!), status == "healthy",
                    probes.allSatisfy({ checks[$0]?["details"]?["outcome"] == "success" })
                else { return false }
            }
            return true
        }
        if !ready { await Self.report(lab, ports) }
        phase("all five healthy")

        // Cut host 3 off: its probes must fail, and it must say so, not fall silent.
        try lab.setLink(3, up: false)
        var sawDegraded = false
        var failedProbes: [String: String] = [:]
        var othersUnhealthy: [String] = []
        var othersFailedProbes: [String] = []
        await eventually(timeout: .seconds(45), "node 3 degraded with both probes failing") {
            if let (status, checks) = await Self.health(lab, 3, port: ports[3]!) {
                if status == "degraded" { sawDegraded = true }
                for probe in probes {
                    if let outcome = checks[probe]?["details"]?["outcome"]?.stringValue, outcome != "success" {
                        failedProbes[probe] = outcome
                    }
                }
            }
            for i in [1, 2, 4, 5] {
                guard let (status, checks) = await Self.health(lab, i, port: ports[i]!) else {
                    othersUnhealthy.append("h\(i): no answer")
                    continue
                }
                if status == "unhealthy" { othersUnhealthy.append("h\(i): \(checks)") }
                for probe in probes where checks[probe]?["healthy"] == false { othersFailedProbes.append("h\(i) \(probe)") }
            }
            return sawDegraded && failedProbes.count == 2
        }
        phase("node 3 cut off and degraded")
        #expect(sawDegraded)
        #expect(failedProbes.values.allSatisfy { ["timeout", "failure"].contains($0) }, "\(failedProbes)")

        // The rest declare it dead, repair the DHT without it, and are healthy, all checks passing.
        await eventually(timeout: .seconds(30), "the other four healthy without node 3") {
            for i in [1, 2, 4, 5] {
                guard let (status, checks) = await Self.health(lab, i, port: ports[i]!), status == "healthy",
                    case .object(let all) = checks, all.allSatisfy({ passes($0.key, $0.value) }),
                    checks["p2p-connectivity"]?["details"]?["connected_peers"] == 3
                else { return false }
            }
            return true
        }
        phase("the other four healthy")
        #expect(othersUnhealthy.isEmpty, "\(othersUnhealthy)")
        #expect(othersFailedProbes.isEmpty, "the others' probes kept passing: \(othersFailedProbes)")

        // Reconnected, node 3 rejoins and its probes pass again.
        // Healthy again takes the rejoin plus up to nine passing probes in a row per probe check (the
        // score is a moving average, alpha 0.3, that must climb back to 0.95 from near 0: 18 s at the
        // 2-s intervals above); on a loaded 2-core CI machine that has taken over 60 s.
        try lab.setLink(3, up: true)
        var lastSeen = "no answer"
        await eventually(
            timeout: .seconds(150),
            "node 3 healthy again (last seen: \(lastSeen); running: \(node3.isRunning); log: \(node3.log.suffix(3000)))"
        ) {
            guard let (status, checks) = await Self.health(lab, 3, port: ports[3]!) else { return false }
            var notHealthy: [String] = []
            if case .object(let all) = checks {
                for (name, check) in all.sorted(by: { $0.key < $1.key })
                where !passes(name, check) || probes.contains(name) {
                    notHealthy.append("\(name): \(check["message"]?.stringValue ?? "-")")
                }
            }
            lastSeen = "\(status): " + notHealthy.joined(separator: "; ")
            return status == "healthy" && probes.allSatisfy { checks[$0]?["details"]?["outcome"] == "success" }
        }
        phase("node 3 healthy again")
    }
}
