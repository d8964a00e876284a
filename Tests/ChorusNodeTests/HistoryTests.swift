import ChorusNode
import ClusterEvents
import ClusterView
import Foundation
import GossipCore
import Synchronization
import NodeHealthHTTP
import NodeHealthTesting
import TestSupport
import Testing

/// A fresh directory for a node's history database.
func historyPath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-history-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("history.sqlite").path
}

func eventsPage(_ url: String) async throws -> EventsHTTP.Page {
    let response = try await HTTPClient.request(url)
    guard response.status == 200 else { throw HTTPClient.URLError(description: "\(url): \(response.status) \(response.text)") }
    return try JSONDecoder().decode(EventsHTTP.Page.self, from: Data(response.body))
}

@Suite("The event history of a whole node, in process")
struct HistoryTests {
    @Test("a node records another's arrival and status; the signed status of an event verifies with PyNaCl")
    func recordsAndProves() async throws {
        let paths = [historyPath(), historyPath()]
        try await withNodes(2, configure: { i, configuration in configuration.history.path = paths[i] }) { nodes, ports in
            let base = "http://127.0.0.1:\(ports[0])"
            await eventually("node 0 recorded node 1's status") {
                (try? await eventsPage(base + "/cluster/events?node=node-1&kind=status"))?.events.isEmpty == false
            }
            let page = try await eventsPage(base + "/cluster/events?node=node-1")
            #expect(page.observer == "node-0")
            let status = try #require(page.events.first { $0.kind == .status })
            #expect(status.to == "healthy" || status.to == "starting")
            let signed = try #require(status.signedStatus)
            #expect(signed.publicKey == nodes[1].configuration.gossip.keyPair.publicKey.hex)
            let (code, output) = try verifyWithPyNaCl(["public_key": signed.publicKey, "payload": signed.payload, "signature": signed.signature])
            #expect(code == 0, "\(output)")
            // The same status on its own, in the shape `verify` reads.
            let alone = try await HTTPClient.request(base + "/cluster/events/\(status.id)/status")
            #expect(alone.status == 200)
            #expect(try JSONDecoder().decode(ClusterHTTP.SignedStatusBody.self, from: Data(alone.body)).payload == signed.payload)
            // Node 1 appears as a member too; its own events are in its own history.
            #expect(page.events.contains { $0.kind == .member && $0.to == "alive" })
            let own = try await eventsPage("http://127.0.0.1:\(ports[1])/cluster/events?node=node-1&kind=status")
            #expect(own.observer == "node-1" && !own.events.isEmpty)
        }
    }

    @Test("bad parameters get a 400 that says which and why", arguments: [
        ("limit=0", "limit"), ("limit=1001", "limit"), ("kind=weather", "kind"), ("since=yesterday", "since"),
        ("until=-5m", "until"), ("cursor=AAAAAAAAAAA", "cursor"), ("cursor=%00", "cursor"), ("colour=red", "unknown parameter"),
        ("since=9223372036854775807d", "since"),
    ])
    func badParameters(_ query: String, _ named: String) async throws {
        try await withNode(configure: { $0.history.path = historyPath() }) { _, base in
            let response = try await HTTPClient.request(base + "/cluster/events?" + query)
            #expect(response.status == 400, "\(query): \(response.text)")
            #expect(response.text.contains(named), "\(query): \(response.text)")
        }
    }

    @Test("a garbage database: the node starts and answers its probes; the history answers 503 with the reason")
    func garbageDatabase() async throws {
        let path = historyPath()
        try Data(repeating: 0x5A, count: 10_000).write(to: URL(fileURLWithPath: path))
        try await withNode(configure: { $0.history.path = path }) { node, base in
            #expect(try await HTTPClient.request(base + "/health/live").status == 200)
            await eventually("the history says why it cannot answer") {
                guard let response = try? await HTTPClient.request(base + "/cluster/events") else { return false }
                return response.status == 503 && response.text.contains("not a database")
            }
            #expect(try await HTTPClient.request(base + "/health/ready").status == 200)
            let metrics = try await HTTPClient.request(base + "/metrics").text
            #expect(metrics.contains("chorus_history_available 0"))
            #expect(metrics.contains(#"chorus_history_errors_total{operation="open"}"#))
        }
    }

    @Test("a node restarted on the same data directory serves the events it recorded before")
    func survivesRestart() async throws {
        let path = historyPath()
        let before = LockedValue<[Int64]>([])
        try await withNode(configure: { $0.history.path = path }) { _, base in
            await eventually("its own status is recorded") {
                (try? await eventsPage(base + "/cluster/events?kind=status"))?.events.isEmpty == false
            }
            before.set(try await eventsPage(base + "/cluster/events").events.map(\.id))
        }
        try await withNode(configure: { $0.history.path = path }) { _, base in
            let after = try await eventsPage(base + "/cluster/events?limit=1000").events.map(\.id)
            #expect(!before.get().isEmpty)
            #expect(Set(before.get()).isSubset(of: Set(after)), "before \(before.get()), after \(after)")
        }
    }
}

/// A value tests hand between tasks.
final class LockedValue<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ new: Value) { value.withLock { $0 = new } }
    func get() -> Value { value.withLock { $0 } }
}
