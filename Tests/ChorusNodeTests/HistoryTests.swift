import ChorusNode
import ClusterEvents
import ClusterView
import Foundation
import GossipCore
import Synchronization
import NodeHealth
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

@Suite("The event stream and a node's history, in process")
struct StreamAndHistoryTests {
    /// Reads `url` as an event stream until `enough` says so (or 20 s pass); returns the events.
    func streamed(_ url: String, headers: [(String, String)] = [], until enough: @escaping @Sendable ([EventsHTTP.Event]) -> Bool)
        async throws -> [EventsHTTP.Event]
    {
        let events = LockedValue<[EventsHTTP.Event]>([])
        let parser = LockedValue(EventsHTTP.StreamParser())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await HTTPClient.stream(
                    url, headers: headers,
                    head: { status, headers in
                        #expect(status == 200)
                        #expect(headers.contains { $0.name.lowercased() == "content-type" && $0.value.hasPrefix("text/event-stream") })
                    },
                    body: { buffer in
                        var p = parser.get()
                        let messages = p.feed(buffer.readableBytesView)
                        parser.set(p)
                        for message in messages {
                            let event = try JSONDecoder().decode(EventsHTTP.Event.self, from: Data(message.data.utf8))
                            #expect(message.id == "\(event.id)")
                            events.set(events.get() + [event])
                        }
                        return !enough(events.get())
                    })
            }
            group.addTask { try await Task.sleep(for: .seconds(20)) }
            try await group.next()
            group.cancelAll()
        }
        return events.get()
    }

    @Test("the stream resumes after Last-Event-ID from the store, then carries new events live, each once and in order")
    func streamResumesThenFollows() async throws {
        try await withNode(configure: { $0.history.path = historyPath() }) { node, base in
            await eventually("its own status is recorded") {
                (try? await eventsPage(base + "/cluster/events?kind=status"))?.events.isEmpty == false
            }
            let stored = try await eventsPage(base + "/cluster/events?limit=1000").events.map(\.id).sorted()
            #expect(stored.count >= 2)
            // Resume after the first: the rest come from the store.
            let resumed = try await streamed(base + "/cluster/events/stream", headers: [("Last-Event-ID", "\(stored[0])")]) {
                $0.count >= stored.count - 1
            }
            #expect(Array(resumed.map(\.id).prefix(stored.count - 1)) == Array(stored.dropFirst()))
            // Live: maintenance changes the node's status while the stream is open. The stream
            // resumes after the newest stored event, so the change arrives whether it is recorded
            // before the stream is open (from the store) or after (live): no race with the request.
            let newest = stored.last!
            async let live = streamed(base + "/cluster/events/stream?kind=status", headers: [("Last-Event-ID", "\(newest)")]) {
                $0.contains { $0.to == "stopping" || $0.to == "degraded" || $0.to == "unhealthy" }
            }
            await node.manager.setMaintenance("stream test")
            let events = try await live
            #expect(!events.isEmpty && events.allSatisfy { $0.kind == .status && $0.id > newest })
            #expect(events.map(\.id) == events.map(\.id).sorted())
        }
    }

    @Test("a stream's bad parameters and Last-Event-ID get a 400", arguments: [
        "?since=1h", "?last_event_id=-1", "?last_event_id=abc", "?last_event_id=99999999999999999999", "?kind=weather",
    ])
    func badStreamRequests(_ query: String) async throws {
        try await withNode(configure: { $0.history.path = historyPath() }) { _, base in
            let response = try await HTTPClient.request(base + "/cluster/events/stream" + query)
            #expect(response.status == 400, "\(query): \(response.text)")
        }
    }

    @Test("a node's history: uptime over 1 h / 24 h / 7 d as this node observed it, checks' last transitions; 404 for a stranger")
    func history() async throws {
        let paths = [historyPath(), historyPath()]
        try await withNodes(2, configure: { i, configuration in configuration.history.path = paths[i] }) { nodes, ports in
            let base = "http://127.0.0.1:\(ports[0])"
            await eventually("node 0 recorded node 1's status") {
                (try? await eventsPage(base + "/cluster/events?node=node-1&kind=status"))?.events.isEmpty == false
            }
            let response = try await HTTPClient.request(base + "/cluster/nodes/node-1/history")
            #expect(response.status == 200, "\(response.text)")
            let history = try JSONDecoder().decode(EventsHTTP.History.self, from: Data(response.body))
            #expect(history.observer == "node-0" && history.node == "node-1")
            #expect(history.nodeKey == nodes[1].configuration.gossip.keyPair.publicKey.hex)
            #expect(history.note.contains("as node-0 observed node-1"))
            #expect(history.windows.map(\.window) == ["1h", "24h", "7d"])
            #expect(history.windows.allSatisfy { $0.observedSeconds > 0 && $0.observedSeconds < 60 && $0.uptime == 1 })
            #expect(history.flapWindow == "10m" && history.flapping == nil)
            // By fingerprint too, and the same answer.
            let byFingerprint = try await HTTPClient.request(base + "/cluster/nodes/\(nodes[1].configuration.gossip.keyPair.publicKey.fingerprint)/history")
            #expect(byFingerprint.status == 200)
            #expect(try await HTTPClient.request(base + "/cluster/nodes/nobody/history").status == 404)
            #expect(try await HTTPClient.request(base + "/cluster/nodes/node-1/history?x=1").status == 400)
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
