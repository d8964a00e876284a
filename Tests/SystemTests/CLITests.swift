import Foundation
import Testing
import NodeHealthTesting
import TestSupport

/// The admin CLI against a real demo cluster: demo, status, verify, maint.
@Suite("The CLI: demo, status, verify, maint, events, history", .serialized)
struct CLITests {
    @Test("demo starts three healthy nodes; status prints them; verify accepts a status and refuses a tampered one; maint takes a node out and back; events --follow sees it; an event's signed status verifies; history reports")
    func demoAndAdminCommands() async throws {
        let dir = temporaryDirectory()
        let offset = Int(getpid() % 500) * 8
        let httpPort = 30000 + offset
        let demo = try NodeProcess(arguments: [
            "demo", "--nodes", "3", "--http-port", "\(httpPort)", "--gossip-port", "\(36000 + offset)", "--dir", dir,
        ])
        defer { demo.terminate() }
        await eventually(timeout: .seconds(70), "the demo reports its cluster ready") {
            demo.log.contains("healthy with one leader") || !demo.isRunning
        }
        #expect(demo.log.contains("dashboard   http://127.0.0.1:\(httpPort)/cluster"), "\(demo.log)")
        let base = "http://127.0.0.1:\(httpPort)"

        let status = try await ClusterProcessTests.run(["status", base])
        #expect(status.status == 0, "\(status.log)")
        #expect(status.log.contains("cluster HEALTHY") && status.log.contains("demo-3") && status.log.contains("leader"), "\(status.log)")
        let filtered = try await ClusterProcessTests.run(["status", base, "--status", "unhealthy"])
        // Counts for the whole cluster, and no node row (none is unhealthy).
        #expect(filtered.status == 0 && filtered.log.contains("3 healthy") && !filtered.log.split(separator: "\n").contains { $0.hasPrefix("demo-") }, "\(filtered.log)")
        let bad = try await ClusterProcessTests.run(["status", base, "--status", "fine"])
        #expect(bad.status == 64 && bad.log.contains("status=fine: expected healthy"), "\(bad.log)")

        let verify = try await ClusterProcessTests.run(["verify", "\(base)/cluster/nodes/demo-2/status", "--trust", "\(dir)/trust"])
        #expect(verify.status == 0 && verify.log.contains("signature valid"), "\(verify.log)")
        // Tamper with one signed byte: the same tool must refuse it.
        let (_, body) = try await httpGet("\(base)/cluster/nodes/demo-2/status")
        var json = try JSONSerialization.jsonObject(with: body) as! [String: Any]
        var payload = Data(base64Encoded: json["payload"] as! String)!
        payload[payload.count - 1] ^= 1
        json["payload"] = payload.base64EncodedString()
        let tampered = "\(dir)/tampered.json"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: tampered))
        let refused = try await ClusterProcessTests.run(["verify", tampered])
        #expect(refused.status == 1 && refused.log.contains("INVALID signature"), "\(refused.log)")

        // events --follow sees the maintenance below as it happens.
        let follow = try NodeProcess(arguments: ["events", base, "--follow", "--kind", "status"])
        defer { follow.terminate() }
        await eventually(timeout: .seconds(10), "events --follow prints the page and follows") { follow.log.contains("following") }

        let on = try await ClusterProcessTests.run([
            "maint", "on", "http://127.0.0.1:\(httpPort + 2)", "--reason", "disk swap", "--token-file", "\(dir)/admin-token",
        ])
        #expect(on.status == 0, "\(on.log)")
        await eventually(timeout: .seconds(5), "node 1's view shows demo-3 out of service with the reason") {
            let view = try? await ClusterProcessTests.run(["status", base])
            return view?.log.contains("disk swap") == true && view?.log.contains("cluster DEGRADED") == true
        }
        let off = try await ClusterProcessTests.run(["maint", "off", "http://127.0.0.1:\(httpPort + 2)", "--token-file", "\(dir)/admin-token"])
        #expect(off.status == 0)
        await eventually(timeout: .seconds(5), "healthy again") {
            (try? await ClusterProcessTests.run(["status", base]))?.log.contains("cluster HEALTHY") == true
        }
        await eventually(timeout: .seconds(10), "events --follow printed demo-3's maintenance") {
            follow.log.contains("demo-3") && follow.log.contains("disk swap")
        }

        // An event's signed status, as `events --json` gives it, passes `verify`.
        let events = try await ClusterProcessTests.run(["events", base, "--node", "demo-3", "--kind", "status", "--json"])
        #expect(events.status == 0, "\(events.log)")
        let page = try JSONSerialization.jsonObject(with: Data(events.log.utf8)) as! [String: Any]
        let signed = try #require((page["events"] as? [[String: Any]])?.compactMap { $0["signed_status"] }.first)
        let proof = "\(dir)/event-status.json"
        try JSONSerialization.data(withJSONObject: signed).write(to: URL(fileURLWithPath: proof))
        let verified = try await ClusterProcessTests.run(["verify", proof, "--trust", "\(dir)/trust"])
        #expect(verified.status == 0 && verified.log.contains("signature valid"), "\(verified.log)")

        let history = try await ClusterProcessTests.run(["history", base, "demo-3"])
        #expect(history.status == 0 && history.log.contains("as demo-1 observed it") && history.log.contains("uptime"), "\(history.log)")
        #expect(try await ClusterProcessTests.run(["history", base, "nobody"]).status == 1)

        let wrongToken = temporaryDirectory() + "/token"
        try "not-the-admin-token-at-all".write(toFile: wrongToken, atomically: true, encoding: .utf8)
        let denied = try await ClusterProcessTests.run(["maint", "on", base, "--token-file", wrongToken])
        #expect(denied.status == 1 && denied.log.contains("401"), "\(denied.log)")

        // Ctrl-C: every node leaves and the demo exits cleanly.
        demo.signal(SIGINT)
        #expect(await demo.waitForExit() == 0)
        #expect(demo.log.contains("stopping the demo cluster"))
        let gone = try? await httpGet("\(base)/health")
        #expect(gone == nil, "the nodes stopped")
    }

    @Test("simulate refuses at once a size whose memory this machine does not have, and says how much it needs")
    func simulateTooLarge() async throws {
        // 20 000 nodes: ~63 GB (150 bytes × N² + 150 KB × N), more than a test machine has (24 GB here).
        let (status, log) = try await ClusterProcessTests.run(["simulate", "--nodes", "20000"])
        #expect(status == 64, "\(log)")
        #expect(log.contains("needs about 63.1 GB") && log.contains("--force"), "\(log)")
    }

    @Test("simulate --serve: a simulated cluster through the real routes, with zones, unhealthy and degraded nodes, and real signed statuses")
    func simulateServe() async throws {
        let simulate = try NodeProcess(arguments: ["simulate", "--nodes", "60", "--serve", "0"])
        defer { simulate.terminate() }
        var base: String?
        await eventually(timeout: .seconds(30), "simulate reports where it serves") {
            if let match = simulate.log.firstMatch(of: #/http://127\.0\.0\.1:(\d+)/cluster/#) { base = "http://127.0.0.1:\(match.1)" }
            return base != nil || !simulate.isRunning
        }
        let url = try #require(base, "\(simulate.log)")
        var seen = ""
        await eventually(timeout: .seconds(90), "node-0 sees all 60, in four zones, some unhealthy and degraded; \(seen)") {
            guard let (_, json) = await ClusterProcessTests.clusterHealth(url) else { return false }
            seen = "\(json["node_count"] ?? nil) nodes, \(json["by_status"] ?? nil)"
            return json["node_count"] == 60 && json["by_label"]?["zone"]?["zone-1"] == 15
                && json["by_status"]?["unhealthy"] != nil && json["by_status"]?["degraded"] != nil
        }
        let (code, body) = try await httpGet("\(url)/cluster/nodes/node-7/status")
        #expect(code == 200)
        let signed = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let document = ["public_key", "payload", "signature"].reduce(into: [String: String]()) { $0[$1] = signed[$1] as? String }
        let (valid, output) = try verifyWithPyNaCl(document)
        #expect(valid == 0 && output.contains("\"status\": \"unhealthy\"") && output.contains("zone-3"), "\(output)")
        let (pageCode, _) = try await httpGet("\(url)/cluster")
        #expect(pageCode == 200)
    }
}
