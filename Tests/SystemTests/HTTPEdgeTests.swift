import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NodeHealth
import Testing

#if canImport(Glibc)
import Glibc
import NodeHealthTesting
import TestSupport
#endif

/// The node's HTTP edge under hostile clients: the real binary on 127.0.0.1.
@Suite("The HTTP edge: connection cap, idle timeout, body limits", .serialized)
struct HTTPEdgeTests {
    @Test("probes answer while idle connections hold the cap; the longest idle are closed for them; idle ones time out")
    func probesAnswerAtTheCap() async throws {
        let node = try NodeProcess(arguments: [
            "node", "--http-host", "127.0.0.1", "--http-port", "0", "--disk-path", ".", "--no-enhanced-checks",
            "--http-max-connections", "20", "--http-idle-timeout", "2",
        ])
        defer { node.terminate() }
        let port = try await node.waitForPort()
        let base = "http://127.0.0.1:\(port)"
        await eventually("healthy") { (try? await httpGet("\(base)/health/ready"))?.status == 200 }

        let flood = try IdleConnections(port: port, count: 200)
        for _ in 0..<10 {
            let (status, _) = try await httpGet("\(base)/health/live")
            #expect(status == 200, "a probe answers while 200 idle connections hold a cap of 20")
        }
        // The server accepts the flood at its own pace: wait until it has, then read the counter.
        var evicted = "no metric"
        await eventually(timeout: .seconds(20), "the longest-idle connections were closed for the newcomers: \(evicted)") {
            guard let (_, metrics) = try? await httpGet("\(base)/metrics") else { return false }
            let line = String(decoding: metrics, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("chorus_http_connections_closed_total{reason=\"evicted\"}") }
            evicted = line.map(String.init) ?? "no metric"
            return (line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= 180
        }
        // The survivors are closed by the idle timeout (2 s here).
        await eventually(timeout: .seconds(20), "every idle connection closed by the server") {
            flood.closedByServer() == flood.descriptors.count
        }
    }

    @Test("an admin body over its limit answers 413, not 500")
    func oversizedBody() async throws {
        let directory = temporaryDirectory()
        let tokenFile = directory + "/token"
        try "an-admin-token-of-sufficient-length\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let node = try NodeProcess(arguments: [
            "node", "--http-host", "127.0.0.1", "--http-port", "0", "--disk-path", ".", "--no-enhanced-checks",
            "--admin-token-file", tokenFile, "--data-dir", directory,
        ])
        defer { node.terminate() }
        let port = try await node.waitForPort()
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/admin/maintenance")!)
        request.httpMethod = "POST"
        request.setValue("Bearer an-admin-token-of-sufficient-length", forHTTPHeaderField: "Authorization")
        request.httpBody = Data(repeating: 0x20, count: 8 * 1024 * 1024)
        request.timeoutInterval = 20
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 413, "\(String(decoding: data, as: UTF8.self))")
        #expect(try decodeJSON(String(decoding: data, as: UTF8.self))["error"] == "request body too large")
    }
}
