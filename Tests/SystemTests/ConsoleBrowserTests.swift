import ClusterView
import ClusterViewTesting
import Foundation
import GossipCore
import Hummingbird
import NodeHealthHTTP
import NodeHealthTesting
import Testing
import TestSupport

/// Runs a plan of steps in Debian's headless chromium through scripts/cdp.py (the DevTools
/// protocol on a pipe); returns the steps' results. Runs on its own thread: the server under
/// test keeps the cooperative pool.
func browse(_ steps: [[String: Any]], width: Int = 1440, height: Int = 900) async throws -> [Any] {
    let chromium = try #require(which("chromium"), "needs Debian's chromium (make test installs it)")
    let plan = try JSONSerialization.data(withJSONObject: ["width": width, "height": height, "steps": steps])
    let script = repositoryRoot().appendingPathComponent("scripts/cdp.py").path
    let (status, output) = try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runTool(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, chromium.path], input: plan) })
        }
    }
    let answer = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "cdp.py printed \(output)")
    #expect(status == 0, "cdp.py: \(answer["error"] ?? output)")
    return answer["results"] as? [Any] ?? []
}

/// The value of a `wait` step's result, or nil when it timed out.
func waited(_ result: Any?) -> Any? {
    guard let result = result as? [String: Any], result["ok"] as? Bool == true else { return nil }
    return result["value"]
}

/// The console at `/cluster` in a real browser: 1000 nodes of signed statuses served in process
/// through the node's own routes, then a real three-node cluster.
@Suite("The console in headless chromium", .enabled(if: which("chromium") != nil, "needs Debian's chromium (make test installs it)"))
struct ConsoleBrowserTests {
    static let cells = "document.querySelectorAll('.cell[data-node]')"

    @Test("1000 nodes: a cell each on one screen; filters narrow them; a drill-down verifies the signature and refuses a tampered one; an event recolours a cell")
    func thousandNodes() async throws {
        let fixture = try SignedClusterFixture(count: 1000)
        let monitor = fixture.monitor(interval: .milliseconds(200))
        let health = ClusterHealth.merge(fixture.members(), policy: ClusterHealthPolicy(staleAfter: .seconds(86_400)))
        let unhealthy = health.byStatus["unhealthy"] ?? 0
        let zone1 = health.byLabel["zone"]?["zone-1"] ?? 0
        #expect(unhealthy > 0 && zone1 == 250)
        let healthyCell = try #require(health.nodes.first { $0.status == .healthy && $0.nodeID != "node-0" }).nodeID
        fixture.tamper(3)
        let signal = temporaryDirectory() + "/page-ready"
        let router = NodeRoutes<BasicRequestContext>.router(serving: [ClusterHTTP.viewRoutes(monitor: monitor, source: fixture.source)])
        // The monitor runs as in a node: it makes the snapshots that requests ask for.
        try await Application(router: router, services: [monitor]).test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            // The page tells the test when it shows the cluster; the test then turns one node
            // unhealthy, and the change must reach the page over the live stream.
            let flip = Task {
                while !FileManager.default.fileExists(atPath: signal) { try await Task.sleep(for: .milliseconds(50)) }
                try fixture.set(Int(healthyCell.dropFirst(5))!, to: .unhealthy)
            }
            defer { flip.cancel() }
            let results = try await browse([
                ["navigate": "\(base)/cluster"],
                ["wait": "\(Self.cells).length === 1000 && document.getElementById('live').textContent.startsWith('live')", "timeout": 30],
                ["eval": "new Set([...\(Self.cells)].map(c => c.dataset.node)).size"],
                ["eval": "[document.documentElement.scrollHeight <= innerHeight, document.documentElement.scrollWidth <= innerWidth, performance.getEntriesByName('first-render')[0]?.startTime ?? -1]"],
                ["screenshot": temporaryDirectory() + "/console-1000.png"],
                ["signal": signal],
                ["wait": "document.querySelector('[data-node=\"\(healthyCell)\"]')?.classList.contains('s-unhealthy')", "timeout": 15],
                ["navigate": "\(base)/cluster?status=unhealthy"],
                ["wait": "\(Self.cells).length > 0 && [...\(Self.cells)].every(c => c.classList.contains('s-unhealthy')) && \(Self.cells).length", "timeout": 30],
                ["navigate": "\(base)/cluster?label=zone=zone-1&group=zone"],
                ["wait": "\(Self.cells).length === \(zone1) && document.querySelectorAll('.group').length", "timeout": 30],
                ["navigate": "\(base)/cluster#node=node-7"],
                ["wait": "document.querySelector('[data-verification]')?.dataset.verification", "timeout": 30],
                ["eval": "document.getElementById('drill-body').textContent"],
                ["navigate": "\(base)/cluster#node=node-3"],
                ["wait": "document.querySelector('[data-verification]')?.dataset.verification", "timeout": 30],
                ["navigate": "\(base)/cluster"],
                ["wait": "\(Self.cells).length === 1000", "timeout": 30],
                ["eval": "document.querySelector('.cell[tabindex=\"0\"]').focus(); document.activeElement.dataset.node"],
                ["key": "ArrowRight"],
                ["key": "Enter"],
                ["wait": "!document.getElementById('drill').hidden && document.activeElement.dataset.node", "timeout": 10],
                ["viewport": [390, 844]],
                ["eval": "document.documentElement.scrollWidth <= innerWidth"],
                ["eval": Self.hostilePayloads],
            ])
            #expect(results.count == 25)
            guard results.count == 25 else { return }
            #expect(waited(results[1]) != nil, "1000 cells rendered, live over the stream")
            #expect(results[2] as? Int == 1000, "every node has its own data-node cell")
            let layout = results[3] as? [Any]
            #expect(layout?[0] as? Bool == true && layout?[1] as? Bool == true, "1000 nodes on one 1440×900 screen without scrolling")
            #expect(waited(results[6]) != nil, "a Server-Sent Event recoloured \(healthyCell)")
            print("console: first render \(results[3]); recoloured \((results[6] as? [String: Any])?["waited"] ?? "-") s after the change was asked for")
            #expect(waited(results[8]) as? Int == unhealthy + 1, "?status=unhealthy shows only the unhealthy")
            #expect(waited(results[10]) as? Int == 1, "?label=zone=zone-1 shows its 250 nodes in one group")
            #expect(waited(results[12]) as? String == "verified", "node-7's signature verified in the browser: \(results[13])")
            #expect((results[13] as? String)?.contains("by a key in the serving node's trust list") == true)
            #expect(waited(results[15]) as? String == "not-verified", "a tampered status is not verified")
            let focused = results[18] as? String
            #expect(focused != nil && waited(results[21]) as? String != focused, "the arrow key moved the focus, Enter opened the node")
            #expect(results[23] as? Bool == true, "no horizontal scrolling at phone width")
            let hostile = (results[24] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(hostile?["whole"] as? String == "node-7", "\(results[24])")
            #expect(hostile?["accepted"] as? Int == 0, "every truncation of a payload is refused: \(results[24])")
            #expect((hostile?["other"] as? [Any])?.isEmpty == true, "refused with the decoder's own errors, not TypeError or RangeError")
            #expect(hostile?["status"] as? String == "unknown status code 255")
            #expect((hostile?["when"] as? String)?.hasPrefix("an impossible time") == true, "issued at 2^64−1 ms is shown, not thrown")
            #expect(hostile?["generation"] as? String == "18446744073709551615")
            #expect(hostile?["protoLabel"] as? String == "x", "a label named __proto__ is a label like any other")
            #expect(hostile?["junkLabels"] as? Int == 0, "a malformed labels extension shows no labels")
        }
    }

    /// The page's payload decoder fed hostile bytes: every truncation of a real signed payload, an
    /// unknown status code, the extremes 2^64−1 for the issue time and the generation, a label
    /// named `__proto__` and a labels extension that lies about its count. (Offsets per
    /// docs/wire-format.md: tag 0–15, format 16, key 17–48, generation 49, version 57, issued 65, status 73.)
    static let hostilePayloads = """
        (async () => {
          const doc = await (await fetch('/cluster/nodes/node-7/status')).json();
          const p = Uint8Array.from(atob(doc.payload), c => c.charCodeAt(0));
          const whole = decodePayload(p).nodeID;
          let accepted = 0; const other = [];
          for (let n = 0; n < p.length; n++) {
            try { decodePayload(p.slice(0, n)); accepted++; }
            catch (e) { if (e instanceof TypeError || e instanceof RangeError) other.push(n + ': ' + e); }
          }
          let status;
          const bad = p.slice(); bad[73] = 255;
          try { decodePayload(bad); } catch (e) { status = e.message; }
          const far = p.slice(); far.fill(255, 65, 73);
          const old = p.slice(); old.fill(255, 49, 57);
          const proto = decodeLabels(Uint8Array.of(0, 1, 9, ...new TextEncoder().encode('__proto__'), 1, 120));
          const junk = decodeLabels(Uint8Array.of(0, 5, 255, 255));
          return JSON.stringify({ whole, accepted, other, status, when: isoTime(decodePayload(far).issuedAt),
            generation: decodePayload(old).generation.toString(), protoLabel: proto['__proto__'], junkLabels: Object.keys(junk).length });
        })()
        """

    @Test("three node processes: the console shows them, the leader, a maintenance and the reasons; a status verifies")
    func threeNodes() async throws {
        let tokenFile = temporaryDirectory() + "/admin-token"
        try "admin-token-for-the-console".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let cluster = try await LocalCluster(
            "b", count: 3, extra: ["--no-enhanced-checks", "--admin-token-file", tokenFile, "--label", "zone=eu-1"])
        defer { cluster.stop() }
        let base = cluster.bases[0]
        await eventually(timeout: .seconds(30), "the cluster is healthy with three nodes") {
            guard let (code, json) = await ClusterProcessTests.clusterHealth(base), code == 200 else { return false }
            return json["status"] == "healthy" && json["node_count"] == 3
        }
        let (pageCode, page) = try await httpGet("\(base)/cluster")
        let html = String(decoding: page, as: UTF8.self)
        #expect(pageCode == 200 && !html.contains("src=\"http") && !html.contains("href=\"http"), "no external assets")
        let maint = try await ClusterProcessTests.run(["maint", "on", cluster.bases[1], "--reason", "disk swap", "--token-file", tokenFile])
        #expect(maint.status == 0, "\(maint.log)")
        let shot = temporaryDirectory() + "/console-3.png"
        let results = try await browse([
            ["navigate": "\(base)/cluster#node=b1"],
            ["wait": "\(Self.cells).length === 3 && document.querySelectorAll('.cell.leader[data-node]').length === 1 && document.getElementById('badge').textContent", "timeout": 30],
            ["wait": "[...document.querySelectorAll('#reasons li')].map(l => l.textContent).find(t => t.includes('Maintenance: disk swap'))", "timeout": 30],
            ["wait": "document.querySelector('[data-verification]')?.dataset.verification", "timeout": 30],
            ["screenshot": shot],
        ])
        #expect(results.count == 5)
        guard results.count == 5 else { return }
        #expect(waited(results[1]) as? String != nil, "three cells, one leader, a badge")
        #expect(waited(results[2]) as? String == "b1 is unhealthy: Maintenance: disk swap")
        #expect(waited(results[3]) as? String == "verified", "b1's status verified in the browser")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4e, 0x47]) && png.count > 20_000, "a screenshot of \(png.count) bytes")
    }
}
