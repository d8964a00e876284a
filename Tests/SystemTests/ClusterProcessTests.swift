import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NodeHealth
import Testing
import NodeHealthTesting

/// Node processes of the real binary forming a cluster on 127.0.0.1.
@Suite("A cluster of node processes on 127.0.0.1", .serialized)
struct ClusterProcessTests {
    /// What `/cluster/members` of the node at `base` says: node id → (state, generation).
    static func members(_ base: String) async -> [String: (state: String, generation: Int64)] {
        guard let (status, body) = try? await httpGet("\(base)/cluster/members"), status == 200,
            let json = try? decodeJSON(String(decoding: body, as: UTF8.self)), case .array(let members)? = json["members"]
        else { return [:] }
        var result: [String: (String, Int64)] = [:]
        for member in members {
            guard let id = member["node_id"]?.stringValue, let state = member["state"]?.stringValue,
                let generation = member["generation"]?.intValue
            else { continue }
            result[id] = (state, generation)
        }
        return result
    }

    /// The status level node `id` has in `/cluster/members` of the node at `base`.
    static func statusOf(_ id: String, at base: String) async -> String? {
        guard let (status, body) = try? await httpGet("\(base)/cluster/members"), status == 200,
            let json = try? decodeJSON(String(decoding: body, as: UTF8.self)), case .array(let members)? = json["members"]
        else { return nil }
        return members.first { $0["node_id"]?.stringValue == id }?["status"]?["status"]?.stringValue
    }

    static func run(_ arguments: [String]) async throws -> (status: Int32?, log: String) {
        let process = try NodeProcess(arguments: arguments)
        let status = await process.waitForExit()
        return (status, process.log)
    }

    @Test("five processes find each other; a SIGKILLed node is declared dead, and restarted it is alive with a new generation")
    func killAndRestart() async throws {
        let root = temporaryDirectory()
        var publicKeys: [String] = []
        for i in 0..<5 {
            let (status, log) = try await Self.run(["keygen", "--out", "\(root)/keys\(i)"])
            #expect(status == 0, "\(log)")
            publicKeys.append(log.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let again = try await Self.run(["keygen", "--out", "\(root)/keys0"])
        #expect(again.status == 1 && again.log.contains("already exists"), "keygen never overwrites: \(again.log)")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(root)/keys0/node.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let trustFile = "\(root)/trust"
        try publicKeys.enumerated().map { "\($1) node-\($0)" }.joined(separator: "\n").write(toFile: trustFile, atomically: true, encoding: .utf8)

        let adminToken = "admin-token-for-the-test"
        try adminToken.write(toFile: "\(root)/admin-token", atomically: true, encoding: .utf8)
        func start(_ i: Int, join: String?) throws -> NodeProcess {
            var arguments = [
                "node", "--node-id", "p\(i)", "--http-host", "127.0.0.1", "--http-port", "0", "--disk-path", ".",
                "--key-file", "\(root)/keys\(i)/node.key", "--trust", trustFile, "--data-dir", "\(root)/data\(i)",
                "--admin-token-file", "\(root)/admin-token",
            ]
            if let join { arguments += ["--join", join] }
            return try NodeProcess(arguments: arguments)
        }
        var nodes = [try start(0, join: nil)]
        defer { for node in nodes { node.terminate() } }
        let seed = try await nodes[0].waitForGossipAddress()
        for i in 1..<5 { nodes.append(try start(i, join: seed)) }
        var bases: [String] = []
        for node in nodes { bases.append("http://127.0.0.1:\(try await node.waitForPort())") }
        let ids = (0..<5).map { "p\($0)" }

        await eventually(timeout: .seconds(10), "all five list each other as alive") {
            for base in bases {
                let seen = await Self.members(base)
                guard ids.allSatisfy({ seen[$0]?.state == "alive" }) else { return false }
            }
            return true
        }
        let oldGeneration = await Self.members(bases[0])["p4"]?.generation ?? 0

        // Maintenance on p1 reaches every node's view.
        var request = URLRequest(url: URL(string: "\(bases[1])/admin/maintenance")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(adminToken)", forHTTPHeaderField: "Authorization")
        request.httpBody = Data(#"{"enabled": true, "reason": "benchmark"}"#.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        await eventually(timeout: .seconds(5), "every node sees p1 in maintenance") {
            for base in bases where await Self.statusOf("p1", at: base) != "unhealthy" { return false }
            return true
        }

        nodes[4].kill()
        await eventually(timeout: .seconds(15), "the others declare p4 dead") {
            for base in bases.prefix(4) where await Self.members(base)["p4"]?.state != "dead" { return false }
            return true
        }

        nodes[4] = try start(4, join: seed)
        bases[4] = "http://127.0.0.1:\(try await nodes[4].waitForPort())"
        await eventually(timeout: .seconds(10), "p4 is alive again everywhere, with a new generation") {
            for base in bases {
                guard let p4 = await Self.members(base)["p4"], p4.state == "alive", p4.generation > oldGeneration else {
                    return false
                }
            }
            return true
        }
    }

    static func checks(_ base: String) async -> JSONValue? {
        guard let (_, body) = try? await httpGet("\(base)/health/checks") else { return nil }
        return try? decodeJSON(String(decoding: body, as: UTF8.self))["checks"]
    }

    @Test("five processes: all seven enhanced checks pass over the real subsystems; two stop, the DHT repairs and one leader is agreed")
    func enhancedChecksAcrossTheCluster() async throws {
        let fast = [
            "pubsub-enhanced=1", "dht-enhanced=1", "election-health=1", "replication-health=1", "p2p-connectivity=1",
            "resource-health=3600",  // one run: no CPU figure (see passes(_:_:))
        ].flatMap { ["--check-interval", $0] }
        let tokenFile = temporaryDirectory() + "/admin-token"
        try "admin-token-for-the-dht-test".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let cluster = try await LocalCluster("e", count: 5, extra: fast + ["--admin-token-file", tokenFile])
        defer { cluster.stop() }
        let nodes = cluster.nodes
        let bases = cluster.bases
        let enhanced = [
            "pubsub-enhanced", "dht-enhanced", "election-health", "replication-health", "p2p-connectivity",
            "resource-health", "task-manager",
        ]
        await eventually(timeout: .seconds(20), "all seven enhanced checks pass, not degraded, on all five nodes") {
            for base in bases {
                guard let checks = await Self.checks(base) else { return false }
                for name in enhanced where !passes(name, checks[name]) {
                    return false
                }
            }
            return true
        }
        // The summary's figures are those of the latest runs: p2p-connectivity may have last run
        // with three peers, so wait for a run that saw all four. (A probe run every second on a
        // loaded CI machine may miss its deadline now and then, and its score then dips below 1 for
        // a few runs: wait for a moment when the figures are all perfect again.)
        var summary: JSONValue = .null
        await eventually(timeout: .seconds(30), "the summary: healthy, four connected peers, probe scores 1; last: \(summary)") {
            guard let (_, body) = try? await httpGet("\(bases[2])/health/summary"),
                let json = try? decodeJSON(String(decoding: body, as: UTF8.self))
            else { return false }
            summary = json
            return json["status"] == "healthy" && json["key_metrics"]?["connected_peers"] == 4
                && json["component_scores"]?["pubsub"] == 1 && json["component_scores"]?["dht"] == 1
        }
        var leaders: Set<String?> = []
        for base in bases { leaders.insert(await Self.checks(base)?["election-health"]?["details"]?["leader"]?.stringValue) }
        #expect(leaders.count == 1 && leaders.first! != nil, "one leader agreed: \(leaders)")

        // Application keys, stored through the CLI (dht put): each on R = 3 of the five.
        let keys = (0..<9).map { "app/key-\($0)" } + ["app/a key with & = + % ?"]  // the last one percent-encoded
        for key in keys {
            let put = try await Self.run(["dht", "put", bases[0], key, "value of \(key)", "--token-file", tokenFile])
            #expect(put.status == 0, "dht put \(key): \(put.log)")
        }
        #expect(nodes[0].log.contains("key=app/a key with & = + % ?"), "the node stored the key whole: \(nodes[0].log.suffix(2000))")
        let tooLong = try await Self.run(["dht", "put", bases[0], "app/big", String(repeating: "x", count: 2000), "--token-file", tokenFile])
        #expect(tooLong.status == 1 && tooLong.log.contains("400") && tooLong.log.contains("at most 1024 bytes"), "\(tooLong.log)")

        // Stop two of five (when the leader is among them the election moves).
        let survivors = Array(bases.prefix(3))
        var repairedBefore = 0
        var episodesBefore = 0
        for base in survivors {
            let (_, body) = try await httpGet("\(base)/health/checks/replication-health")
            let details = try decodeJSON(String(decoding: body, as: UTF8.self))["details"]
            repairedBefore += Int(details?["repaired_keys"]?.intValue ?? 0)
            episodesBefore += Int(details?["under_replication_episodes"]?.intValue ?? 0)
        }
        nodes[3].kill()
        nodes[4].kill()
        await eventually(timeout: .seconds(15), "the survivors declare e3 and e4 dead") {
            for base in survivors {
                let seen = await Self.members(base)
                guard seen["e3"]?.state == "dead", seen["e4"]?.state == "dead" else { return false }
            }
            return true
        }
        // Every application key is still read, from the replicas that survived.
        for (i, key) in keys.enumerated() {
            let get = try await Self.run(["dht", "get", survivors[i % 3], key, "--token-file", tokenFile])
            #expect(get.status == 0 && get.log.contains("value of \(key)"), "dht get \(key) after two of five stopped: \(get.log)")
        }
        let missing = try await Self.run(["dht", "get", survivors[1], "app/never-stored", "--token-file", tokenFile])
        #expect(missing.status == 2 && missing.log.contains("not found on any replica"), "\(missing.log)")

        // replication-health reports the under-replication (a new episode) and then the repair.
        var seen = ""
        let settled = await eventually(timeout: .seconds(30), "the repair copied keys to new replicas, probes pass, one leader is agreed") {
            var repaired = -repairedBefore
            var episodes = -episodesBefore
            var leaders: Set<String?> = []
            seen = ""
            for base in survivors {
                guard let checks = await Self.checks(base) else { return false }
                seen += "\(base): dht \(checks["dht-enhanced"]?["message"]?.stringValue ?? "?"); pubsub \(checks["pubsub-enhanced"]?["message"]?.stringValue ?? "?"); replication \(checks["replication-health"]?["message"]?.stringValue ?? "?"); election \(checks["election-health"]?["message"]?.stringValue ?? "?")\n"
                guard checks["dht-enhanced"]?["healthy"] == true, checks["pubsub-enhanced"]?["healthy"] == true else { return false }
                let details = checks["replication-health"]?["details"]
                guard details?["under_replicated_keys"] == 0, details?["target_factor"] == 3 else { return false }
                repaired += Int(details?["repaired_keys"]?.intValue ?? 0)
                episodes += Int(details?["under_replication_episodes"]?.intValue ?? 0)
                if case .object(let last)? = details?["last_under_replication"], last["repaired_after_seconds"] == .null { return false }
                leaders.insert(checks["election-health"]?["details"]?["leader"]?.stringValue)
            }
            return repaired > 0 && episodes > 0 && leaders.count == 1 && leaders.first! != nil && !["e3", "e4"].contains(leaders.first!!)
        }
        #expect(settled, "last seen:\n\(seen)")
    }

    /// `/cluster/health` of the node at `base`: its HTTP status and JSON.
    static func clusterHealth(_ base: String) async -> (code: Int, json: JSONValue)? {
        guard let (code, body) = try? await httpGet("\(base)/cluster/health"),
            let json = try? decodeJSON(String(decoding: body, as: UTF8.self))
        else { return nil }
        return (code, json)
    }

    /// The entry for `id` in a `/cluster/health` answer.
    static func node(_ id: String, in json: JSONValue) -> JSONValue? {
        guard case .array(let nodes)? = json["nodes"] else { return nil }
        return nodes.first { $0["node_id"]?.stringValue == id }
    }

    @Test("/cluster/health from every node: healthy; a killed node dead and the cluster degraded; a frozen node unknown, never healthy; both back, healthy")
    func clusterHealthAcrossNodes() async throws {
        var cluster = try await LocalCluster("c", count: 5, extra: ["--no-enhanced-checks", "--label", "zone=eu-1", "--label", "role=test"])
        defer { cluster.stop() }
        let nodes = cluster.nodes
        var bases = cluster.bases

        // The timeouts are safety nets for a loaded machine (normally each takes a few seconds);
        // on a timeout the message says what the first node not yet healthy answered.
        var seen = ""
        func allHealthy(_ which: [String]) async -> Bool {
            for base in which {
                let answer = await Self.clusterHealth(base)
                guard let (code, json) = answer, code == 200, json["status"] == "healthy",
                    json["node_count"] == 5, json["by_status"]?["healthy"] == 5, json["election"]?["agreement"] == 1
                else {
                    seen = "\(base): " + (answer.map { "\($0.code) \($0.json)" } ?? "no answer")
                    return false
                }
            }
            return true
        }
        await eventually(timeout: .seconds(60), "every node's /cluster/health lists five healthy nodes and one leader; \(seen)") {
            await allHealthy(bases)
        }
        let first = await Self.clusterHealth(bases[1])
        #expect(first?.json["election"]?["changes_last_15m"] == 0, "no leadership change while the cluster formed and stood")
        let (_, verbose) = try await httpGet("\(bases[2])/cluster/health?verbose")
        let text = String(decoding: verbose, as: UTF8.self)
        #expect(text.contains("[+]c2 alive healthy") && text.hasSuffix("cluster healthy\n"), "\(text)")
        let (nodeCode, nodeBody) = try await httpGet("\(bases[0])/cluster/nodes/c3")
        let nodeJSON = try decodeJSON(String(decoding: nodeBody, as: UTF8.self))
        #expect(nodeCode == 200 && nodeJSON["state"] == "alive")
        let missing = try await httpGet("\(bases[0])/cluster/nodes/nobody")
        #expect(missing.status == 404)
        #expect(nodeJSON["labels"] == ["role": "test", "zone": "eu-1"], "labels signed in the status: \(nodeJSON)")
        let (_, zoneBody) = try await httpGet("\(bases[1])/cluster/health?label=zone=eu-1&fields=status&summary")
        let zone = try decodeJSON(String(decoding: zoneBody, as: UTF8.self))
        #expect(zone["matched"] == 5 && zone["by_label"]?["zone"]?["eu-1"] == 5 && zone["nodes"] == nil, "\(zone)")

        // Kill c4: within 10 s every survivor shows 3 observed peers for each survivor (the
        // statuses they signed before still say 4), then c4 dead (unknown, stale) and the cluster degraded.
        nodes[4].kill()
        let killedAt = ContinuousClock.now
        await eventually(timeout: .seconds(20), "every survivor's view shows 3 observed peers for each survivor") {
            for base in bases.prefix(4) {
                guard let (_, json) = await Self.clusterHealth(base) else { return false }
                for id in ["c0", "c1", "c2", "c3"] where Self.node(id, in: json)?["observed_peers"] != 3 { return false }
            }
            return true
        }
        let observedAfter = ContinuousClock.now - killedAt
        print("observed peers 3 everywhere \(observedAfter) after the kill")
        #expect(observedAfter < .seconds(10), "3 observed peers everywhere within 10 s of the kill: \(observedAfter)")
        await eventually(timeout: .seconds(45), "the others show c4 dead and the cluster degraded") {
            for base in bases.prefix(4) {
                guard let (code, json) = await Self.clusterHealth(base), code == 200, json["status"] == "degraded",
                    let c4 = Self.node("c4", in: json), c4["state"] == "dead", c4["status"] == "unknown", c4["stale"] == true
                else { return false }
            }
            return true
        }
        try await cluster.restart(4)
        bases = cluster.bases
        await eventually(timeout: .seconds(60), "healthy again everywhere after the restart; \(seen)") { await allHealthy(bases) }

        // Freeze c3 (SIGSTOP): its last status said healthy, but the others must not keep counting it so.
        cluster.nodes[3].pause()
        let others = [bases[0], bases[1], bases[2], bases[4]]
        await eventually(timeout: .seconds(45), "the others show the frozen c3 unknown, not healthy") {
            for base in others {
                guard let (_, json) = await Self.clusterHealth(base), json["status"] == "degraded",
                    let c3 = Self.node("c3", in: json), c3["status"] == "unknown", c3["stale"] == true,
                    c3["reported_status"] == "healthy"
                else { return false }
            }
            return true
        }
        cluster.nodes[3].resume()
        await eventually(timeout: .seconds(60), "healthy again everywhere once c3 runs again; \(seen)") { await allHealthy(bases) }
    }

    @Test("clear errors: --join without trust, an unreadable key, a gossip port in use")
    func gossipFlagErrors() async throws {
        let noTrust = try await Self.run(["node", "--join", "127.0.0.1:7946"])
        #expect(noTrust.status == 64)
        #expect(noTrust.log.contains("--join needs --trust FILE"), "\(noTrust.log)")

        let badJoin = try await Self.run(["node", "--trust-any", "--join", "nonsense"])
        #expect(badJoin.status == 64 && badJoin.log.contains("--join: nonsense is not HOST:PORT"), "\(badJoin.log)")

        let missingKey = try await Self.run(["node", "--http-port", "0", "--key-file", "/no/such/key"])
        #expect(missingKey.status == 1)
        #expect(missingKey.log.contains("/no/such/key"), "\(missingKey.log)")

        let first = try NodeProcess(arguments: ["node", "--http-host", "127.0.0.1", "--http-port", "0"])
        defer { first.terminate() }
        let address = try await first.waitForGossipAddress()
        let port = address.split(separator: ":").last.map(String.init) ?? ""
        let second = try await Self.run([
            "node", "--http-host", "127.0.0.1", "--http-port", "0", "--gossip-host", "127.0.0.1", "--gossip-port", port,
        ])
        #expect(second.status == 1)
        #expect(second.log.contains("cannot listen on 127.0.0.1:\(port) (gossip, UDP): the address is already in use"), "\(second.log)")
    }
}
