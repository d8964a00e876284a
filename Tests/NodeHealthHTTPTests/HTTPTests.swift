import Foundation
import Hummingbird
import NodeHealth
import Testing
import NodeHealthHTTP
import NodeHealthTesting

/// A router over `manager`, as the node serves it.
func makeApp(_ manager: HealthManager) -> some ApplicationProtocol {
    Application(router: HealthHTTP.makeRouter(manager: manager))
}

@Suite("HTTP endpoints against the documented examples")
struct HTTPTests {
    /// A running manager with one passing check carrying details and one plain passing check.
    func withHealthyNode(_ body: (HealthManager) async throws -> Void) async throws {
        let manager = makeManager()
        try await manager.register(
            HealthCheck(name: "database-connectivity", interval: .seconds(3600), critical: true) { _ in
                .pass("Database connectivity OK")
            })
        try await manager.register(
            HealthCheck(name: "p2p-connectivity", interval: .seconds(3600), critical: true) { _ in
                .pass("5 peers connected", details: ["connected_peers": 5, "min_peers": 3])
            })
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            try await body(manager)
        }
    }

    @Test("GET /health has the documented fields, kinds and formats")
    func health() async throws {
        try await withHealthyNode { manager in
            try await makeApp(manager).test(.router) { client in
                let response = try await client.execute(uri: "/health", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let body = try decodeJSON(response.body)
                expectSameShape(body, try decodeJSON(ContractExamples.health))
                for name in ["database-connectivity", "p2p-connectivity"] {
                    #expect(isRFC3339UTC(body["checks"]?[name]?["last_transition"]), "last_transition of \(name)")
                }
                #expect(body["status"] == "healthy")
                #expect(body["message"] == "All health checks passing")
                #expect(body["node_id"] == "node-123")
                #expect(body["version"] == "v1.0.0")
                #expect((body["uptime"]?.intValue ?? -1) >= 0, "uptime is integer nanoseconds")
                for key in ["start_time", "last_update"] {
                    #expect(isRFC3339UTC(body[key]), "\(key)")
                }
                let db = try #require(body["checks"]?["database-connectivity"])
                #expect(db["details"] == nil, "details omitted when empty")
                #expect(db["error"] == nil, "error omitted when empty")
                #expect(db["latency"]?.intValue != nil, "latency is integer nanoseconds")
                #expect(isRFC3339UTC(db["timestamp"]))
                let p2p = try #require(body["checks"]?["p2p-connectivity"])
                #expect(p2p["details"] == ["connected_peers": 5, "min_peers": 3])
            }
        }
    }

    @Test("GET /health/ready, /health/live and /health/checks have the documented shapes")
    func probes() async throws {
        try await withHealthyNode { manager in
            try await makeApp(manager).test(.router) { client in
                let ready = try await client.execute(uri: "/health/ready", method: .get)
                #expect(ready.status == .ok)
                let readyBody = try decodeJSON(ready.body)
                expectSameShape(readyBody, try decodeJSON(ContractExamples.ready))
                #expect(readyBody == (try decodeJSON(ContractExamples.ready)), "exactly the documented example")

                let live = try await client.execute(uri: "/health/live", method: .get)
                #expect(live.status == .ok)
                let liveBody = try decodeJSON(live.body)
                expectSameShape(liveBody, try decodeJSON(ContractExamples.live))
                #expect(liveBody["live"] == true)
                #expect(liveBody["status"] == "healthy")
                let uptime = try #require(liveBody["uptime"]?.stringValue)
                #expect(isGoDuration(uptime), "Go duration string, got \(uptime)")

                let checks = try await client.execute(uri: "/health/checks", method: .get)
                #expect(checks.status == .ok)
                let checksBody = try decodeJSON(checks.body)
                expectSameShape(checksBody, try decodeJSON(ContractExamples.checks))
                #expect(checksBody["total"] == 2)
                #expect(checksBody["checks"]?["p2p-connectivity"]?["message"] == "5 peers connected")
            }
        }
    }

    @Test("assembled answers decode to exactly the manager's status, awkward strings included")
    func assembledEqualsEncoded() async throws {
        let manager = makeManager(nodeID: #"node "quoted" \ ü"#)
        try await manager.register(
            HealthCheck(name: #"we"ird name ✓"#, interval: .seconds(3600)) { _ in
                .fail("line one\nline \"two\" \t\u{1}", details: ["nested": ["a": [1, 2.5, "x", nil, true]]])
            })
        try await withRunning(manager) { manager in
            await eventually("a result") { manager.status().checks.count == 1 }
            try await makeApp(manager).test(.router) { client in
                let response = try await client.execute(uri: "/health", method: .get)
                let decoded = try JSONDecoder().decode(SystemStatus.self, from: Data(response.body.readableBytesView))
                // The wire keeps microseconds: compare with the Codable form of the manager's status.
                var expected = try JSONDecoder().decode(
                    SystemStatus.self, from: JSONEncoder().encode(manager.status()))
                expected.uptime = decoded.uptime
                #expect(decoded == expected)
                let ready = try decodeJSON(try await client.execute(uri: "/health/ready", method: .get).body)
                #expect(ready["message"] == .string(expected.message))
                let checks = try decodeJSON(try await client.execute(uri: "/health/checks", method: .get).body)
                let decodedChecks = try JSONDecoder().decode(
                    [String: CheckResult].self, from: JSONEncoder().encode(checks["checks"]))
                #expect(decodedChecks == expected.checks)
            }
        }
    }

    @Test("GET /health/checks/{name}: the result, 503 when failing, 404 when unknown")
    func singleCheck() async throws {
        let manager = makeManager()
        try await manager.register(switchCheck("good", healthy: Switch(true), interval: .seconds(3600)))
        try await manager.register(switchCheck("bad", healthy: Switch(false), interval: .seconds(3600)))
        try await withRunning(manager) { manager in
            await eventually("results") { manager.status().checks.count == 2 }
            try await makeApp(manager).test(.router) { client in
                let good = try await client.execute(uri: "/health/checks/good", method: .get)
                #expect(good.status == .ok)
                #expect(try decodeJSON(good.body)["message"] == "good ok")
                let bad = try await client.execute(uri: "/health/checks/bad", method: .get)
                #expect(bad.status == .serviceUnavailable)
                #expect(try decodeJSON(bad.body)["healthy"] == false)
                let encoded = try await client.execute(uri: "/health/checks/g%6Fod", method: .get)
                #expect(encoded.status == .ok, "percent-encoded names are decoded")
                let unknown = try await client.execute(uri: "/health/checks/nope", method: .get)
                #expect(unknown.status == .notFound)
                #expect(try decodeJSON(unknown.body)["error"] == "no health check named 'nope'")
            }
        }
    }

    @Test("status codes follow the status level", arguments: HealthStatus.allCases)
    func statusCodes(level: HealthStatus) async throws {
        let manager = makeManager()
        let expectedReady: HTTPResponse.Status = level.isReady ? .ok : .serviceUnavailable
        let expectedLive: HTTPResponse.Status = level == .stopping ? .serviceUnavailable : .ok
        try await withThrowingTaskGroup(of: Void.self) { group in
            switch level {
            case .starting:
                break  // never run
            case .healthy:
                try await manager.register(switchCheck("a", healthy: Switch(true)))
            case .degraded:
                try await manager.register(switchCheck("a", healthy: Switch(false)))
            case .unhealthy:
                try await manager.register(switchCheck("a", healthy: Switch(false), critical: true))
            case .stopping:
                manager.stop()
            }
            if level != .starting { group.addTask { try await manager.run() } }
            await eventually("status \(level)") { manager.status().status == level }
            try await makeApp(manager).test(.router) { client in
                #expect(try await client.execute(uri: "/health", method: .get).status == expectedReady)
                let ready = try await client.execute(uri: "/health/ready", method: .get)
                #expect(ready.status == expectedReady)
                #expect(try decodeJSON(ready.body)["ready"] == .bool(level.isReady))
                #expect(try decodeJSON(ready.body)["status"] == .string(level.rawValue))
                let live = try await client.execute(uri: "/health/live", method: .get)
                #expect(live.status == expectedLive)
                #expect(try decodeJSON(live.body)["live"] == .bool(level != .stopping))
                #expect(try await client.execute(uri: "/health/checks", method: .get).status == .ok)
            }
            manager.stop()
            try await group.waitForAll()
        }
    }

    @Test("unknown paths get a JSON 404; other methods on known paths a 405 with Allow", arguments: [
        ("/nope", HTTPRequest.Method.get, HTTPResponse.Status.notFound),
        ("/health/extra/deep", .get, .notFound),
        ("/health", .post, .methodNotAllowed),
        ("/health/ready", .delete, .methodNotAllowed),
        ("/health/live", .put, .methodNotAllowed),
        ("/health/checks", .patch, .methodNotAllowed),
        ("/health/checks/any", .post, .methodNotAllowed),
    ])
    func badPathsAndMethods(path: String, method: HTTPRequest.Method, expected: HTTPResponse.Status) async throws {
        try await makeApp(makeManager()).test(.router) { client in
            let response = try await client.execute(uri: path, method: method)
            #expect(response.status == expected)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            let body = try decodeJSON(response.body)
            #expect(body["status"] == .int(Int64(expected.code)))
            #expect(body["path"] == .string(path))
            if expected == .methodNotAllowed { #expect(response.headers[.allow] == "GET, HEAD") }
        }
    }

    @Test("HEAD answers every probe with its GET status and no body", arguments: [
        "/health", "/health/ready", "/health/live", "/health/checks", "/health/checks/a",
    ])
    func head(path: String) async throws {
        let manager = makeManager()
        try await manager.register(switchCheck("a", healthy: Switch(true), interval: .seconds(3600)))
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            try await makeApp(manager).test(.router) { client in
                let get = try await client.execute(uri: path, method: .get)
                let head = try await client.execute(uri: path, method: .head)
                #expect(head.status == get.status)
                #expect(head.body.readableBytes == 0)
                #expect(head.headers[.contentType] == "application/json; charset=utf-8")
            }
        }
    }

    @Test("probes never run a check, and a hung check delays no answer")
    func probesServeLatestResults() async throws {
        let manager = makeManager()
        let runs = RunCounter()
        let hangs = RunCounter()
        try await manager.register(switchCheck("counted", healthy: Switch(true), runs: runs, interval: .seconds(3600)))
        try await manager.register(
            HealthCheck(name: "hung", interval: .seconds(3600), timeout: .seconds(30)) { _ in
                hangs.increment()
                await uncancellableSleep(.seconds(30))
                return .pass("never seen")
            })
        try await withRunning(manager) { manager in
            await eventually("both started") { runs.value == 1 && hangs.value == 1 }
            try await makeApp(manager).test(.live) { client in
                for path in ["/health", "/health/ready", "/health/live", "/health/checks", "/health/checks/counted"] {
                    for _ in 0..<10 { _ = try await client.execute(uri: path, method: .get) }
                }
                let ready = try await client.execute(uri: "/health/ready", method: .get)
                #expect(ready.status == .serviceUnavailable, "the hung check has no result yet: starting")
                #expect(try decodeJSON(ready.body)["message"] == "Waiting for first results: hung")
                let hung = try await client.execute(uri: "/health/checks/hung", method: .get)
                #expect(hung.status == .serviceUnavailable)
                #expect(try decodeJSON(hung.body)["error"] == "health check 'hung' has no result yet")
            }
            #expect(runs.value == 1, "51 probe requests ran no check")
            #expect(manager.status().checks["hung"] == nil, "answered while the check was still hanging")
        }
    }

    @Test("GET /health/summary has the documented shape with the figures")
    func summaryEndpoint() async throws {
        let manager = makeManager()
        let fakes = FakeSubsystems()
        let enhanced = try await EnhancedHealthChecks(
            manager: manager, election: fakes, dht: MockDHTAdapter(), pubsub: MockPubSubAdapter(), replication: fakes,
            connectivity: fakes, tasks: WorkTracker())
        _ = await enhanced.runElection()
        _ = await enhanced.runConnectivity()
        _ = enhanced.runResources()
        let app = Application(router: NodeRoutes.router(serving: [HealthHTTP.routes(manager: manager, enhanced: enhanced)]))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/summary", method: .get) { response in
                #expect(response.status == .ok)
                let json = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: response.body))
                guard case .object(let summary) = json else { Issue.record("not an object"); return }
                for key in ["status", "overall_score", "last_check", "total_checks", "component_scores", "key_metrics"] {
                    #expect(summary[key] != nil, "\(key)")
                }
                guard case .object(let metrics) = summary["key_metrics"], case .object(let scores) = summary["component_scores"]
                else { Issue.record("missing objects"); return }
                #expect(metrics["connected_peers"] == 4)
                #expect(metrics["admin_uptime"] == "2h30m15s")
                #expect(metrics["leadership_changes"] == 1)
                guard case .object(let utilization) = metrics["resource_utilization"] else { Issue.record("no utilization"); return }
                #expect(Set(utilization.keys) == ["cpu", "memory", "disk"])
                // JSON numbers decode as integers when whole.
                #expect(scores["election"] == 1 && scores["p2p"] == 1)
            }
        }
    }
}
