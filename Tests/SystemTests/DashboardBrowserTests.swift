import Foundation
import Testing
import NodeHealthTesting

/// The `/cluster` page in a real browser: Debian's headless chromium renders it from three node processes.
@Suite("The dashboard in headless chromium", .enabled(if: which("chromium") != nil, "needs Debian's chromium (make test installs it)"))
struct DashboardBrowserTests {
    @Test("/cluster renders the node grid with the leader marked, and a screenshot shows it")
    func rendersTheGrid() async throws {
        let tokenFile = temporaryDirectory() + "/admin-token"
        try "admin-token-for-the-dashboard".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let cluster = try await LocalCluster("b", count: 3, extra: ["--no-enhanced-checks", "--admin-token-file", tokenFile])
        defer { cluster.stop() }
        let base = cluster.bases[0]
        await eventually(timeout: .seconds(20), "the cluster is healthy with three nodes") {
            guard let (code, body) = try? await httpGet("\(base)/cluster/health"), code == 200,
                let json = try? decodeJSON(String(decoding: body, as: UTF8.self))
            else { return false }
            return json["status"] == "healthy" && json["node_count"] == 3
        }
        let (pageCode, page) = try await httpGet("\(base)/cluster")
        #expect(pageCode == 200)
        let html = String(decoding: page, as: UTF8.self)
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external assets")

        let chromium = which("chromium")!
        let profile = temporaryDirectory()
        let common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)",
                      "--window-size=1280,900", "--virtual-time-budget=3000"]
        let (status, dom) = try runTool(chromium, common + ["--dump-dom", "\(base)/cluster"], input: Data())
        #expect(status == 0)
        let tiles = dom.matches(of: #/class="node( stale)?"/#).count  // rendered tiles, not the script's template
        #expect(tiles == 3, "three node tiles in the rendered DOM: \(tiles)")
        #expect(dom.contains("★ leader"), "the leader is marked")
        #expect(dom.contains(">healthy</span>"), "the badge shows the cluster healthy")
        for id in ["b0", "b1", "b2"] { #expect(dom.contains(">\(id)"), "tile for \(id)") }

        let shot = "\(profile)/dashboard.png"
        let (shotStatus, _) = try runTool(chromium, common + ["--screenshot=\(shot)", "\(base)/cluster"], input: Data())
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(shotStatus == 0 && png.starts(with: [0x89, 0x50, 0x4e, 0x47]) && png.count > 20_000, "a screenshot of \(png.count) bytes")

        // A node in maintenance: its tile says why, and so does the page's list of reasons.
        let maint = try await ClusterProcessTests.run(["maint", "on", cluster.bases[1], "--reason", "disk swap", "--token-file", tokenFile])
        #expect(maint.status == 0, "\(maint.log)")
        await eventually(timeout: .seconds(10), "b0 sees b1 in maintenance") {
            guard let (_, json) = await ClusterProcessTests.clusterHealth(base) else { return false }
            return json["status"] == "degraded"
        }
        let (_, degraded) = try runTool(chromium, common + ["--dump-dom", "\(base)/cluster"], input: Data())
        #expect(degraded.contains(">degraded</span>"), "the badge shows the cluster degraded")
        #expect(degraded.contains("<div class=\"line\">Maintenance: disk swap</div>"), "b1's tile says why")
        #expect(degraded.contains("<li>b1 is unhealthy: Maintenance: disk swap</li>"), "and so do the reasons")
    }
}
