import Foundation
import Hummingbird
import NodeHealth
import NodeHealthHTTP
import NodeHealthTesting
import Testing

/// The conventions other tools bring: kube-apiserver's `?exclude=NAME` and `?verbose` on the
/// probes, and the IETF draft's `application/health+json`.
@Suite("Probe conventions: exclude, verbose, application/health+json")
struct ProbeConventionTests {
    /// The first measurement under `key` in a health+json body.
    static func first(_ body: JSONValue, _ key: String) -> JSONValue? {
        guard case .array(let items)? = body["checks"]?[key] else { return nil }
        return items.first
    }

    /// `disk-space` critical and failing, `database` passing, `cache` non-critical and failing.
    func withBrokenDisk(_ body: (HealthManager) async throws -> Void) async throws {
        let manager = makeManager()
        try await manager.register(switchCheck("disk-space", healthy: Switch(false), critical: true, interval: .seconds(3600)))
        try await manager.register(switchCheck("database", healthy: Switch(true), critical: true, interval: .seconds(3600)))
        try await manager.register(switchCheck("cache", healthy: Switch(false), interval: .seconds(3600)))
        try await withRunning(manager) { manager in
            await eventually("results") { manager.status().checks.count == 3 }
            try await body(manager)
        }
    }

    @Test("?exclude=NAME: the status without those checks; names that are no check are listed, not refused")
    func exclude() async throws {
        try await withBrokenDisk { manager in
            try await makeApp(manager).test(.router) { client in
                let plain = try await client.execute(uri: "/health/ready", method: .get)
                #expect(plain.status == .serviceUnavailable)
                let ready = try await client.execute(uri: "/health/ready?exclude=disk-space", method: .get)
                #expect(ready.status == .ok)
                let readyBody = try decodeJSON(ready.body)
                #expect(readyBody["status"] == "degraded" && readyBody["ready"] == true)
                #expect(readyBody["excluded"] == ["disk-space"] && readyBody["unknown_exclusions"] == [])
                #expect(readyBody["message"] == "Non-critical checks failing: cache")

                let health = try await client.execute(uri: "/health?exclude=disk-space&exclude=cache&exclude=nope", method: .get)
                #expect(health.status == .ok)
                let body = try decodeJSON(health.body)
                #expect(body["status"] == "healthy" && body["excluded"] == ["cache", "disk-space"])
                #expect(body["unknown_exclusions"] == ["nope"])
                #expect(body["checks"]?["disk-space"]?["healthy"] == false, "an excluded check's result still shows")
                #expect(body["node_id"] == "node-123")

                #expect(try await client.execute(uri: "/health/ready?exclude=", method: .get).status == .badRequest)
                let many = (0...ProbeQuery.maxExclusions).map { "exclude=c\($0)" }.joined(separator: "&")
                let tooMany = try await client.execute(uri: "/health/ready?" + many, method: .get)
                #expect(tooMany.status == .badRequest)
                #expect(try decodeJSON(tooMany.body)["error"] == .string("exclude: at most \(ProbeQuery.maxExclusions) checks"))
                #expect(try await client.execute(uri: "/health/ready?cachebust=1", method: .get).status == .serviceUnavailable)

                await manager.setMaintenance("draining")
                let maintenance = try await client.execute(uri: "/health/ready?exclude=disk-space&exclude=cache", method: .get)
                #expect(maintenance.status == .serviceUnavailable, "maintenance is no check: nothing excludes it")
                #expect(try decodeJSON(maintenance.body)["message"] == "Maintenance: draining")
            }
        }
    }

    @Test("?verbose: a line per check in kube-apiserver's shape, then the verdict")
    func verbose() async throws {
        try await withBrokenDisk { manager in
            try await makeApp(manager).test(.router) { client in
                let failed = try await client.execute(uri: "/health/ready?verbose", method: .get)
                #expect(failed.status == .serviceUnavailable && failed.headers[.contentType] == "text/plain; charset=utf-8")
                #expect(String(buffer: failed.body) == """
                    [-]cache failed (non-critical): cache broken
                    [+]database ok
                    [-]disk-space failed: disk-space broken
                    ready check failed: unhealthy: Critical checks failing: disk-space; non-critical checks failing: cache

                    """)
                let passed = try await client.execute(uri: "/health?verbose=1&exclude=disk-space&exclude=cache&exclude=no%20such", method: .get)
                #expect(passed.status == .ok)
                #expect(String(buffer: passed.body) == """
                    [+]cache excluded: ok
                    [+]database ok
                    [+]disk-space excluded: ok
                    warn: some health checks cannot be excluded: no matches for "no such"
                    health check passed

                    """)
                let off = try await client.execute(uri: "/health/ready?verbose=false", method: .get)
                #expect(off.headers[.contentType] == "application/json; charset=utf-8")
                let head = try await client.execute(uri: "/health/ready?verbose", method: .head)
                #expect(head.status == .serviceUnavailable && head.body.readableBytes == 0)
            }
        }
    }

    @Test("Accept: application/health+json answers the draft's shape: pass/warn/fail, name:measurement arrays")
    func healthJSON() async throws {
        let manager = makeManager()
        try await manager.register(switchCheck("database", healthy: Switch(true), critical: true, interval: .seconds(3600)))
        try await manager.register(switchCheck("cache", healthy: Switch(false), interval: .seconds(3600)))
        try await manager.register(
            HealthCheck(name: "disk-space", interval: .seconds(3600)) { _ in
                .pass("Disk usage 42 %", details: ["usage_ratio": .double(0.4213)])
            })
        try await withRunning(manager) { manager in
            await eventually("results") { manager.status().checks.count == 3 }
            try await makeApp(manager).test(.router) { client in
                let accept: HTTPFields = [.accept: "application/health+json"]
                let warn = try await client.execute(uri: "/health", method: .get, headers: accept)
                #expect(warn.status == .ok && warn.headers[.contentType] == "application/health+json")
                let body = try decodeJSON(warn.body)
                #expect(body["status"] == "warn" && body["serviceId"] == "node-123" && body["version"] == "v1.0.0")
                #expect(body["output"] == "Non-critical checks failing: cache")
                let cache = try #require(Self.first(body, "cache:responseTime"))
                #expect(cache["status"] == "fail" && cache["output"] == "cache broken" && cache["componentId"] == "node-123")
                #expect(cache["observedUnit"] == "ms" && cache["observedValue"]?.doubleValue != nil && isRFC3339UTC(cache["time"]))
                let database = try #require(Self.first(body, "database:responseTime"))
                #expect(database["status"] == "pass" && database["output"] == nil, "no output when it passes")
                let disk = try #require(Self.first(body, "disk-space:utilization"))
                #expect(disk["observedValue"] == 42.1 && disk["observedUnit"] == "percent" && disk["status"] == "pass")

                let excluded = try await client.execute(uri: "/health?exclude=cache", method: .get, headers: accept)
                let excludedBody = try decodeJSON(excluded.body)
                #expect(excludedBody["status"] == "pass" && excludedBody["output"] == nil)
                #expect(excludedBody["notes"] == ["excluded: cache"])

                for other in ["application/json", "*/*", "application/json, application/health+json;q=0.5", "application/health+json;q=0"] {
                    let plain = try await client.execute(uri: "/health", method: .get, headers: [.accept: other])
                    #expect(plain.headers[.contentType] == "application/json; charset=utf-8", "Accept: \(other)")
                }
                await manager.setMaintenance("draining")
                let fail = try await client.execute(uri: "/health", method: .get, headers: accept)
                #expect(try fail.status == .serviceUnavailable && decodeJSON(fail.body)["status"] == "fail")
            }
        }
    }

    @Test("Accept's weights decide; a wildcard never picks the draft's type", arguments: [
        ("application/health+json", true), ("application/health+json;q=0.9, application/json;q=0.8", true),
        ("APPLICATION/HEALTH+JSON", true), ("application/json, application/health+json", true),
        ("application/json;q=1, application/health+json;q=0.5", false), ("application/health+json;q=0", false),
        ("*/*", false), ("", false), ("application/health+json;q=nan", false),
    ])
    func negotiation(accept: String, prefers: Bool) {
        #expect(HTTPNegotiation.prefers([.accept: accept], mediaType: APIHealthDocument.mediaType) == prefers)
    }

    @Test("a message with control characters stays on its line")
    func oneLine() {
        let evaluation = HealthManager.Evaluation(
            status: .unhealthy, message: "a\nb", checks: [.init(name: "x", critical: true, verdict: .failing)],
            results: ["x": .fail("line one\nline two\r\u{0}")], excluded: [], unknown: ["p\nq"])
        let text = ProbeQuery.verboseText(evaluation, probe: "ready")
        #expect(text == "[-]x failed: line one line two  \nwarn: some health checks cannot be excluded: no matches for \"p q\"\nready check failed: unhealthy: a b\n")
    }
}
