import ClusterView
import CompressNIO
import Foundation
import GossipCore
import Hummingbird
import NIOCore
import NodeHealth
import NodeHealthHTTP
import NodeHealthTesting
import Testing

/// `/cluster/health` for machines at scale: the document made from reused node entries, the query
/// parameters, ETags and gzip.
@Suite("ClusterHealthDocument and the /cluster/health query")
struct ClusterHealthDocumentTests {
    static func members(_ count: Int = 5) -> [MemberReport] {
        (0..<count).map { i in
            var report = ClusterHealthTests.report(
                i % 5, status: i == 2 ? .degraded : .healthy, labels: ["zone": i < 3 ? "eu-1" : "us-2"])
            report.stateAge = .seconds(Int64(10 + i))
            return report
        }
    }

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("the whole document says what the encoder says, ages included, plus generated_at")
    func wholeDocument() throws {
        let health = ClusterHealth.merge(Self.members(), policy: ClusterHealthTests.policy)
        let document = ClusterHealthDocument(health: health, previous: nil, wallMillis: 1_700_000_000_000)
        let rendered = try Self.json(document.render(ClusterHealthQuery()))
        var encoded = try Self.json(JSONBytes.encode(health))
        encoded["generated_at"] = "2023-11-14T22:13:20Z"
        #expect(NSDictionary(dictionary: rendered).isEqual(to: encoded))
        let n1 = try #require((rendered["nodes"] as? [[String: Any]])?[1])
        #expect(n1["status_age_seconds"] as? Double == 5 && n1["state_age_seconds"] as? Double == 11)
        #expect(n1["labels"] as? [String: String] == ["zone": "eu-1"])
    }

    @Test("the revision (and the ETag) stays while only ages change, and moves when anything else does")
    func revision() {
        var members = Self.members()
        let first = ClusterHealthDocument(health: ClusterHealth.merge(members, policy: ClusterHealthTests.policy), previous: nil, wallMillis: 0)
        for index in members.indices {
            members[index].statusAge = .seconds(9)
            members[index].stateAge = .seconds(99)
        }
        let aged = ClusterHealthDocument(health: ClusterHealth.merge(members, policy: ClusterHealthTests.policy), previous: first, wallMillis: 1)
        #expect(aged.revision == first.revision && aged.etag == first.etag)
        #expect(aged.render(ClusterHealthQuery()) != first.render(ClusterHealthQuery()), "the ages are current")
        members[3].state = .suspect
        let changed = ClusterHealthDocument(health: ClusterHealth.merge(members, policy: ClusterHealthTests.policy), previous: aged, wallMillis: 2)
        #expect(changed.revision == aged.revision + 1 && changed.etag != aged.etag)
        let fewer = ClusterHealthDocument(health: ClusterHealth.merge(Array(members.prefix(4)), policy: ClusterHealthTests.policy), previous: changed, wallMillis: 3)
        #expect(fewer.revision == changed.revision + 1)
    }

    @Test("filters by status, state, label and node; fields; summary; pages chained by their cursors")
    func queries() throws {
        let health = ClusterHealth.merge(Self.members(), policy: ClusterHealthTests.policy)
        let document = ClusterHealthDocument(health: health, previous: nil, wallMillis: 0)
        func ask(_ parameters: [(String, String)]) throws -> [String: Any] {
            try Self.json(document.render(try ClusterHealthQuery(parameters: parameters.map { (name: $0.0, value: $0.1) })))
        }
        func ids(_ answer: [String: Any]) -> [String] { (answer["nodes"] as? [[String: Any]] ?? []).compactMap { $0["node_id"] as? String } }

        #expect(ids(try ask([("status", "degraded,unhealthy")])) == ["n2"])
        let zone = try ask([("label", "zone=us-2")])
        #expect(ids(zone) == ["n3", "n4"] && zone["matched"] as? Int == 2)
        #expect(ids(try ask([("label", "zone"), ("label", "zone=eu-1"), ("state", "alive")])) == ["n0", "n1", "n2"])
        #expect(ids(try ask([("node", "n3")])) == ["n3"])
        #expect(ids(try ask([("node", String(health.nodes[4].fingerprint.prefix(8)))])) == ["n4"])
        let slim = try ask([("fields", "status,state_age_seconds")])
        let first = try #require((slim["nodes"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["node_id", "status", "state_age_seconds"])
        let summary = try ask([("summary", "")])
        #expect(summary["nodes"] == nil && summary["by_status"] != nil && summary["by_label"] != nil)

        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try ask([("limit", "2")] + (cursor.map { [("cursor", $0)] } ?? []))
            seen += ids(page)
            cursor = page["next_cursor"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(seen == ["n0", "n1", "n2", "n3", "n4"] && pages == 3)
    }

    @Test("bad parameters are refused with what would do, extreme values included")
    func badParameters() {
        for (name, value, says) in [
            ("status", "ok", "expected healthy, degraded"), ("state", "gone", "expected alive"), ("limit", "0", "1 to 10000"),
            ("limit", "18446744073709551615", "1 to 10000"), ("limit", "-9223372036854775808", "1 to 10000"),
            ("cursor", "not-a-cursor!", "not a cursor"), ("cursor", String(repeating: "A", count: 5000), "not a cursor"),
            ("fields", "secret", "expected some of"), ("label", "", "KEY=VALUE"), ("node", "", "prefix"), ("sort", "x", "unknown parameter"),
        ] {
            do {
                _ = try ClusterHealthQuery(parameters: [(name: name, value: value)])
                Issue.record("\(name)=\(value) accepted")
            } catch {
                #expect(error.description.contains(says), "\(name)=\(value): \(error)")
            }
        }
    }

    @Test("over HTTP: 304 for a current ETag, gzip when accepted, 400 for a bad parameter")
    func overHTTP() async throws {
        let monitor = ClusterMonitor { ClusterHealth.merge(Self.members(), policy: ClusterHealthTests.policy) }
        let router = NodeRoutes<BasicRequestContext>.router(serving: [ClusterHTTP.viewRoutes(monitor: monitor)])
        try await Application(router: router).test(.router) { client in
            let plain = try await client.execute(uri: "/cluster/health", method: .get)
            #expect(plain.status == .ok && plain.headers[.cacheControl] == "no-cache" && plain.headers[.vary] == "Accept-Encoding")
            let etag = try #require(plain.headers[.eTag])
            #expect(etag.hasPrefix("W/\""))
            let again = try await client.execute(uri: "/cluster/health?status=degraded", method: .get, headers: [.ifNoneMatch: "\"x\", " + etag])
            #expect(again.status == .notModified && again.body.readableBytes == 0 && again.headers[.eTag] == etag)
            let stale = try await client.execute(uri: "/cluster/health", method: .get, headers: [.ifNoneMatch: "W/\"0-0\""])
            #expect(stale.status == .ok)

            let zipped = try await client.execute(uri: "/cluster/health", method: .get, headers: [.acceptEncoding: "br;q=1, gzip;q=0.5"])
            #expect(zipped.headers[.contentEncoding] == "gzip" && zipped.body.readableBytes < plain.body.readableBytes)
            var body = zipped.body
            let unzipped = try body.decompress(with: .gzip())
            #expect(unzipped == plain.body)
            let refused = try await client.execute(uri: "/cluster/health", method: .get, headers: [.acceptEncoding: "gzip;q=0"])
            #expect(refused.headers[.contentEncoding] == nil)

            let bad = try await client.execute(uri: "/cluster/health?limit=0", method: .get)
            #expect(bad.status == .badRequest && String(buffer: bad.body).contains("limit=0: expected 1 to 10000"))
            let verbose = try await client.execute(uri: "/cluster/health?verbose", method: .get)
            #expect(String(buffer: verbose.body).hasSuffix("cluster degraded\n"))
        }
    }

    @Test("Accept: application/health+json: node:status and each check's responseTime hold one entry per node")
    func healthJSON() async throws {
        var members = Self.members()
        members[4] = ClusterHealthTests.report(
            4, status: .unhealthy,
            checks: [.init(name: "disk-space", healthy: false, critical: true, latencyMicros: 2500, message: "disk full")])
        members[3].statusAge = .seconds(3600)
        let reports = members
        let monitor = ClusterMonitor { ClusterHealth.merge(reports, policy: ClusterHealthTests.policy) }
        let router = NodeRoutes<BasicRequestContext>.router(serving: [ClusterHTTP.viewRoutes(monitor: monitor)])
        try await Application(router: router).test(.router) { client in
            let response = try await client.execute(
                uri: "/cluster/health", method: .get, headers: [.accept: "application/health+json"])
            #expect(response.headers[.contentType] == "application/health+json")
            let body = try Self.json(Array(response.body.readableBytesView))
            #expect(body["status"] as? String == "warn" && body["serviceId"] as? String == "n0")
            let checks = try #require(body["checks"] as? [String: [[String: Any]]])
            let nodes = try #require(checks["node:status"])
            #expect(nodes.map { $0["componentId"] as? String } == ["n0", "n1", "n2", "n3", "n4"])
            #expect(nodes.map { $0["status"] as? String } == ["pass", "pass", "warn", "fail", "fail"])
            #expect(nodes[3]["output"] as? String == "no fresh status (alive)")
            let disk = try #require(checks["disk-space:responseTime"])
            #expect(disk.map { $0["componentId"] as? String } == ["n0", "n1", "n2", "n4"], "a stale status is not measured")
            #expect(disk[3]["status"] as? String == "fail" && disk[3]["observedValue"] as? Double == 2.5)
            #expect(disk[3]["output"] as? String == "disk full" && disk[3]["observedUnit"] as? String == "ms")

            let filtered = try await client.execute(
                uri: "/cluster/health?status=unhealthy", method: .get, headers: [.accept: "application/health+json"])
            let only = try #require((try Self.json(Array(filtered.body.readableBytesView)))["checks"] as? [String: [[String: Any]]])
            #expect(only["node:status"]?.map { $0["componentId"] as? String } == ["n4"])
        }
    }
}
