import Foundation
import NodeHealth
import Testing
import NodeHealthTesting

/// The real binary, as a user runs it, on 127.0.0.1 with an ephemeral port.
@Suite("chorus-cluster-health node, end to end", .serialized)
struct NodeProcessTests {
    @Test("a node answers its four probes and /metrics, which passes promtool")
    func endpointsAndMetrics() async throws {
        let node = try NodeProcess(arguments: [
            "node", "--http-host", "127.0.0.1", "--http-port", "0", "--node-id", "e2e-node", "--disk-path", ".",
            "--no-enhanced-checks",
        ])
        defer { node.terminate() }
        let port = try await node.waitForPort()
        let base = "http://127.0.0.1:\(port)"
        await eventually("healthy") {
            guard let (status, body) = try? await httpGet("\(base)/health/ready") else { return false }
            return status == 200 && (try? decodeJSON(String(decoding: body, as: UTF8.self)))?["status"] == "healthy"
        }
        let (healthStatus, healthBody) = try await httpGet("\(base)/health")
        #expect(healthStatus == 200)
        let health = try decodeJSON(String(decoding: healthBody, as: UTF8.self))
        expectSameShape(health, try decodeJSON(ContractExamples.health))
        #expect(health["node_id"] == "e2e-node")
        #expect(health["checks"]?["disk-space"]?["healthy"] == true)
        let diskPath = health["checks"]?["disk-space"]?["details"]?["path"]?.stringValue ?? ""
        #expect(diskPath.hasPrefix("/") && diskPath != "/", "relative --disk-path is shown absolute: \(diskPath)")
        #expect(health["checks"]?["memory-usage"] != nil)
        let (liveStatus, liveBody) = try await httpGet("\(base)/health/live")
        #expect(liveStatus == 200)
        expectSameShape(try decodeJSON(String(decoding: liveBody, as: UTF8.self)), try decodeJSON(ContractExamples.live))
        let (checksStatus, checksBody) = try await httpGet("\(base)/health/checks")
        #expect(checksStatus == 200)
        #expect(try decodeJSON(String(decoding: checksBody, as: UTF8.self))["total"] == 2)

        let (metricsStatus, metrics) = try await httpGet("\(base)/metrics")
        #expect(metricsStatus == 200)
        let exposition = String(decoding: metrics, as: UTF8.self)
        for name in [
            "chorus_health_checks_passed_total{check_name=\"disk-space\"}",
            "chorus_health_checks_failed_total{check_name=\"memory-usage\"}",
            "chorus_system_health_score", "chorus_health_check_duration_seconds_bucket",
        ] {
            #expect(exposition.contains(name), "\(name) in /metrics")
        }
        let promtool = try #require(which("promtool"), "promtool not found: install Debian's prometheus package (make test does)")
        let lint = try runTool(promtool, ["check", "metrics"], input: metrics)
        #expect(lint.status == 0, "promtool check metrics: \(lint.output)")
    }

    @Test("SIGTERM: probes answer 503 at once, the node drains and exits 0")
    func gracefulSignal() async throws {
        let node = try NodeProcess(arguments: [
            "node", "--http-host", "127.0.0.1", "--http-port", "0", "--drain-delay", "5",  // room to read the drain on a loaded machine
        ])
        defer { node.terminate() }
        let port = try await node.waitForPort()
        let base = "http://127.0.0.1:\(port)"
        await eventually("ready") { (try? await httpGet("\(base)/health/ready"))?.status == 200 }
        node.terminate()  // SIGTERM
        await eventually("readiness fails during the drain") { (try? await httpGet("\(base)/health/ready"))?.status == 503 }
        let (liveStatus, liveBody) = try await httpGet("\(base)/health/live")
        #expect(liveStatus == 503)
        #expect(try decodeJSON(String(decoding: liveBody, as: UTF8.self))["status"] == "stopping")
        #expect(await node.waitForExit() == 0, "log: \(node.log)")
    }

    @Test("a port in use and bad flags give clear errors")
    func clearErrors() async throws {
        let first = try NodeProcess(arguments: ["node", "--http-host", "127.0.0.1", "--http-port", "0"])
        defer { first.terminate() }
        let port = try await first.waitForPort()
        let second = try NodeProcess(arguments: ["node", "--http-host", "127.0.0.1", "--http-port", "\(port)"])
        #expect(await second.waitForExit() == 1)
        #expect(second.log.contains("cannot listen on 127.0.0.1:\(port) (HTTP): the address is already in use"), "\(second.log)")
        let grpcPort = try await GRPCHealthTests.grpcPort(first)
        let third = try NodeProcess(arguments: ["node", "--http-host", "127.0.0.1", "--http-port", "0", "--grpc-port", "\(grpcPort)"])
        #expect(await third.waitForExit() == 1)
        #expect(third.log.contains("cannot listen on 127.0.0.1:\(grpcPort) (gRPC): the address is already in use"), "\(third.log)")

        let bad = try NodeProcess(arguments: ["node", "--disk-threshold", "7"])
        #expect(await bad.waitForExit() == 64)
        #expect(bad.log.contains("--disk-threshold must be 0 to 1"))
        for (flag, value, error) in [
            ("--cpu-threshold", "1.5", "--cpu-threshold must be 0 to 1"),
            ("--task-success-window", "0", "--task-success-window must be a positive number of seconds"),
        ] {
            let refused = try NodeProcess(arguments: ["node", flag, value])
            #expect(await refused.waitForExit() == 64)
            #expect(refused.log.contains(error), "\(refused.log)")
        }

        let missing = try NodeProcess(arguments: ["node", "--disk-path", "/no/such/dir"])
        #expect(await missing.waitForExit() == 64)
        #expect(missing.log.contains("--disk-path /no/such/dir: no such file or directory"))
    }
}
