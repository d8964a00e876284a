import Foundation
import NodeHealth
import NodeHealthTesting
import Testing
import TestSupport

/// `grpc.health.v1.Health` of a node process, spoken to by Python's grpcio and
/// grpcio-health-checking (`make test` installs them when missing) through
/// scripts/grpc_health_client.py.
@Suite("gRPC health checking, with a real client")
struct GRPCHealthTests {
    /// The strings of a JSON array.
    static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    /// The port of the node's `grpc ready` log line.
    static func grpcPort(_ node: NodeProcess) async throws -> Int {
        var port: Int?
        await eventually(timeout: .seconds(20), "the gRPC server listens") {
            if let match = node.log.firstMatch(of: #/grpc=127\.0\.0\.1:(\d+)/#) { port = Int(match.1) }
            return port != nil
        }
        return try #require(port, "no grpc ready line: \(node.log.suffix(2000))")
    }

    @Test("Check, List and Watch from grpcio: NOT_FOUND and SERVICE_UNKNOWN for an unknown service, maintenance seen within 1 s, NOT_SERVING before the streams close at shutdown")
    func realClient() async throws {
        let root = temporaryDirectory()
        let tokenFile = "\(root)/admin-token"
        try "an-admin-token-of-sufficient-length\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let node = try NodeProcess(arguments: [
            "node", "--node-id", "grpc-node", "--http-host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
            "--disk-path", ".", "--no-enhanced-checks", "--admin-token-file", tokenFile,
        ])
        defer { node.terminate() }
        let httpPort = try await node.waitForPort()
        let grpcPort = try await Self.grpcPort(node)
        let script = repositoryRoot().appendingPathComponent("scripts/grpc_health_client.py").path
        // The cluster view of a lone node is whole once its own signed status is in (a second or two).
        await eventually(timeout: .seconds(20), "the cluster service SERVING") {
            let check = try? await runAsync(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, "check", "127.0.0.1:\(grpcPort)", "cluster"])
            return check?.output.hasPrefix("SERVING") == true
        }
        let (status, output) = try await runAsync(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["python3", script, "scenario", "127.0.0.1:\(grpcPort)", "http://127.0.0.1:\(httpPort)", tokenFile, "\(node.child.pid)"])
        try #require(status == 0, "the client failed: \(output)")
        let result = try decodeJSON(String(output.split(separator: "\n").last ?? ""))

        #expect(result["check"]?[""] == "SERVING")
        #expect(result["check"]?["cluster"] == "SERVING")
        let someCheck = try #require(result["some_check"]?.stringValue)
        #expect(result["check"]?[someCheck] == "SERVING")
        #expect(result["check"]?["no-such-service"] == "NOT_FOUND")
        for service in ["", "cluster", "disk-space", "memory-usage"] {
            #expect(result["list"]?[service] == "SERVING", "List has \(service): \(String(describing: result["list"]))")
        }
        #expect(Self.strings(result["watch_unknown"]?["statuses"]) == ["SERVICE_UNKNOWN"])
        #expect(result["watch_unknown"]?["open_after_1s"] == true)
        let on = try #require(result["maintenance_on_seconds"]?.doubleValue, "NOT_SERVING never arrived: \(result)")
        #expect(on <= 1.0, "maintenance on → NOT_SERVING after \(on) s")
        #expect(result["maintenance_off_seconds"]?.doubleValue != nil, "SERVING again: \(result)")
        #expect(Self.strings(result["watch_ready"]) == ["SERVING", "NOT_SERVING", "SERVING"])
        guard case .array(let streams)? = result["shutdown"] else {
            Issue.record("no shutdown result: \(result)")
            return
        }
        for stream in streams {
            #expect(Self.strings(stream["statuses"]) == ["SERVING", "NOT_SERVING"], "NOT_SERVING before the stream closed: \(stream)")
            #expect(stream["ended"] == "OK", "closed cleanly: \(stream)")
        }
        #expect(await node.waitForExit() == 0, "exits 0 after SIGTERM: \(node.log.suffix(1500))")
        print("grpc: maintenance seen by Watch after \(on) s")
    }

    @Test("hostile gRPC clients (garbage, a 16 MiB frame header, rapid reset, PING and SETTINGS floods, 4000 half-open streams asked, 200 slow connections, malformed messages): the node lives, its HTTP probe keeps answering, Check answers after each")
    func hostileClients() async throws {
        let node = try NodeProcess(arguments: [
            "node", "--node-id", "grpc-target", "--http-host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
            "--disk-path", ".", "--no-enhanced-checks",
        ])
        defer { node.terminate() }
        let httpPort = try await node.waitForPort()
        let grpcPort = try await Self.grpcPort(node)
        let script = repositoryRoot().appendingPathComponent("scripts/grpc_hostile_client.py").path
        let (status, output) = try await runAsync(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, "127.0.0.1:\(grpcPort)", "http://127.0.0.1:\(httpPort)"])
        try #require(status == 0, "the client failed: \(output)")
        let result = try decodeJSON(String(output.split(separator: "\n").last ?? ""))
        guard case .object(let after)? = result["check_after"] else {
            Issue.record("no result: \(output)")
            return
        }
        for (attack, check) in after {
            #expect(check["status"] == "SERVING", "Check after \(attack): \(check) — \(String(describing: result["attacks"]?[attack]))")
        }
        #expect(node.isRunning, "the node lives: \(node.log.suffix(1500))")
        let probe = try #require(result["probe"])
        #expect(Self.strings(probe["failures"]).isEmpty, "every HTTP probe answered: \(probe)")
        // A kubelet's default probe timeout is 1 s: no probe may come near it.
        let slowest = try #require(probe["max_ms"]?.doubleValue)
        #expect(slowest < 1000, "the slowest HTTP probe took \(slowest) ms: \(probe)")
        #expect(result["attacks"]?["garbage"]?["closed"] == true, "garbage closes the connection: \(String(describing: result["attacks"]))")
        #expect(result["attacks"]?["oversized_frame"]?["goaway"] == 6, "FRAME_SIZE_ERROR: \(String(describing: result["attacks"]))")
        // grpc-swift resets a stream whose message is over the limit (RST_STREAM CANCEL, grpcio says CANCELLED).
        let overLimit = result["attacks"]?["malformed_messages"]?["over_limit"]?.stringValue
        #expect(overLimit != "OK" && overLimit != nil, "a message over 4 KiB is refused: \(String(describing: overLimit))")
        let justOver = result["attacks"]?["malformed_messages"]?["just_over_limit"]?.stringValue
        #expect(justOver != "OK" && justOver != nil, "5000 bytes are over the 4 KiB limit: \(String(describing: justOver))")
        #expect(result["attacks"]?["malformed_messages"]?["long_name"] == "NOT_FOUND", "a 1000-byte name is read and unknown")
        // The connections over the cap of 128 (the four half-open ones among them) were closed, oldest first.
        let slow = result["attacks"]?["slow_prefaces"]
        let held = try #require(slow?["connections"]?.intValue)
        #expect((slow?["closed_by_server"]?.intValue ?? 0) >= held - 128, "closed at the cap: \(String(describing: slow))")
        #expect(result["attacks"]?["malformed_messages"]?["compressed_flag"]?["answered"] == true)
        let notProtobuf = result["attacks"]?["malformed_messages"]?["not_protobuf"]?.stringValue
        #expect(notProtobuf != "OK" && notProtobuf != nil, "bytes that are no protobuf are refused: \(String(describing: notProtobuf))")
        print("grpc hostile: \(output)")
    }
}
