import ClusterEvents
import Foundation
import GRDB
import Gossip
import GossipCore
import Testing

/// A fresh directory for one test's database.
func temporaryPath(_ name: String = "history.sqlite") -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-events-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// A signed status of `keyPair` with these checks (name → level).
func signed(
    _ keyPair: SigningKeyPair, node: String = "n1", generation: UInt64 = 1, version: UInt64, status: StatusLevel = .healthy,
    checks: [(String, CheckLevel)] = []
) -> SignedStatus {
    let projection = StatusProjection(
        publicKey: keyPair.publicKey, generation: generation, version: version, issuedAtMillis: 1_700_000_000_000 &+ version,
        nodeID: node, status: status, message: "status \(version)", uptimeSeconds: 10, softwareVersion: "test",
        checks: checks.map { name, level in
            .init(name: name, healthy: level != .unhealthy, critical: true, degraded: level == .degraded, latencyMicros: 5, message: "\(name) \(level)")
        })
    return try! SignedStatus.sign(projection, with: keyPair)
}

func event(_ node: String, at millis: Int64, kind: EventKind = .member, to: String = "alive", status: SignedStatus? = nil) -> ClusterEvent {
    ClusterEvent(
        observedAtMillis: millis, node: node, nodeKey: status?.projection.publicKey, kind: kind, from: nil, to: to, message: "m",
        signedStatus: status)
}

@Suite("The event store: SQLite through GRDB")
struct EventStoreTests {
    @Test("events come back newest first, filtered, a page at a time, with their signed statuses")
    func queries() throws {
        let store = try EventStore(path: temporaryPath())
        let key = SigningKeyPair()
        let status = signed(key, version: 7, checks: [("disk", .unhealthy)])
        var batch: [ClusterEvent] = []
        let statusOfB = signed(SigningKeyPair(), node: "b", version: 3)
        for i in 0..<25 {
            let node = i % 2 == 0 ? "a" : "b"
            let shown = i % 5 != 0 ? nil : node == "a" ? status : statusOfB
            batch.append(event(node, at: Int64(1000 + i), kind: i % 5 == 0 ? .status : .member, status: shown))
        }
        let stored = try store.append(batch)
        #expect(stored.map(\.id) == Array(1...25))

        let first = try store.events(EventFilter(limit: 10))
        #expect(first.events.map(\.id) == Array((16...25).reversed()))
        let second = try store.events(EventFilter(beforeID: first.nextBeforeID, limit: 10))
        #expect(second.events.map(\.id) == Array((6...15).reversed()))
        let last = try store.events(EventFilter(beforeID: second.nextBeforeID, limit: 10))
        #expect(last.events.map(\.id) == Array((1...5).reversed()) && last.nextBeforeID == nil)

        let onlyA = try store.events(EventFilter(node: "a", limit: 1000))
        #expect(onlyA.events.count == 13 && onlyA.events.allSatisfy { $0.node == "a" })
        let statuses = try store.events(EventFilter(kind: .status, sinceMillis: 1005, untilMillis: 1020))
        #expect(statuses.events.map(\.observedAtMillis) == [1015, 1010, 1005])
        // The signed status comes back byte for byte, and still verifies.
        #expect(statuses.events.allSatisfy { $0.signedStatus?.isSignatureValid == true })
        #expect(statuses.events.filter { $0.node == "a" }.allSatisfy { $0.signedStatus == status })
        // Stored once, however many events refer to it.
        let copies = try DatabaseQueue(path: store.path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM signed_status") }
        #expect(copies == 2)
    }

    @Test("a member named by its key's prefix before its first status is found by the name it has since")
    func nameArrivesLater() throws {
        let store = try EventStore(path: temporaryPath())
        let key = SigningKeyPair()
        let early = ClusterEvent(
            observedAtMillis: 1, node: key.publicKey.fingerprint, nodeKey: key.publicKey, kind: .member, from: nil, to: "alive", message: "alive")
        _ = try store.append([early, event("n9", at: 2, kind: .status, to: "healthy", status: signed(key, node: "n9", version: 1))])
        _ = try store.append([event("other", at: 3)])
        #expect(try store.events(EventFilter(node: "n9")).events.map(\.to) == ["healthy", "alive"])
        #expect(try store.events(EventFilter(node: "nobody")).events.isEmpty)
    }

    @Test("a store opened again on the same file serves what was recorded before")
    func survivesReopening() throws {
        let path = temporaryPath()
        do {
            let store = try EventStore(path: path)
            _ = try store.append((0..<3).map { event("n\($0)", at: Int64($0)) })
        }
        let reopened = try EventStore(path: path)
        #expect(try reopened.events(EventFilter()).events.map(\.node) == ["n2", "n1", "n0"])
        _ = try reopened.append([event("n3", at: 3)])
        #expect(try reopened.events(EventFilter(limit: 1)).events.first?.id == 4)
    }

    @Test("pruning holds both limits, a chunk at a time, and drops statuses nothing refers to")
    func pruning() throws {
        let store = try EventStore(path: temporaryPath())
        let key = SigningKeyPair()
        let old = signed(key, version: 1)
        let kept = signed(key, version: 2)
        _ = try store.append((0..<100).map { i in event("n", at: Int64(i), status: i < 50 ? old : kept) })
        // Age: everything observed before 30 goes, at most 20 per call.
        #expect(try store.prune(olderThan: 30, keeping: 1000, chunk: 20) == 20)
        #expect(try store.prune(olderThan: 30, keeping: 1000, chunk: 20) == 10)
        #expect(try store.prune(olderThan: 30, keeping: 1000, chunk: 20) == 0)
        #expect(try store.count() == 70)
        // Count: only the newest 40 stay.
        while try store.prune(olderThan: 0, keeping: 40, chunk: 7) > 0 {}
        #expect(try store.count() == 40)
        let remaining = try store.events(EventFilter(limit: 1000)).events
        #expect(remaining.map(\.observedAtMillis) == Array((60..<100).reversed()))
        let statuses = try DatabaseQueue(path: store.path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM signed_status") }
        #expect(statuses == 1, "the status only pruned events referred to is gone")
    }

    @Test("a file that is not a database is refused with SQLite's reason")
    func garbage() throws {
        let path = temporaryPath()
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try EventStore(path: path)
        } throws: { error in
            "\(error)".contains("not a database")
        }
    }

    @Test("rows damaged in the file are skipped and counted, never served", arguments: [
        "UPDATE event SET kind = 'nonsense' WHERE id = 2",
        "UPDATE event SET node_key = x'0102' WHERE id = 2",
        "UPDATE event SET node = printf('%.2000c', 'x') WHERE id = 2",
        "UPDATE signed_status SET signature = x'00'",
        "UPDATE signed_status SET payload = x'00112233'",
    ])
    func damagedRows(_ damage: String) throws {
        let store = try EventStore(path: temporaryPath())
        let status = signed(SigningKeyPair(), version: 1)
        _ = try store.append([event("a", at: 1), event("b", at: 2, kind: .status, status: status), event("c", at: 3)])
        try DatabaseQueue(path: store.path).write { try $0.execute(sql: damage) }
        let page = try store.events(EventFilter())
        #expect(page.events.map(\.node) == ["c", "a"])
        #expect(store.skippedRows == 1)
    }
}

@Suite("Transitions worth recording")
struct TransitionTrackerTests {
    @Test("member states: each change once, with the state before")
    func members() {
        var tracker = TransitionTracker()
        let key = SigningKeyPair().publicKey
        let life = Life(generation: 1, incarnation: 0)
        #expect(tracker.events(for: .member(key, nodeID: "n2", state: .alive, life: life), at: 1).map(\.to) == ["alive"])
        #expect(tracker.events(for: .member(key, nodeID: "n2", state: .alive, life: life), at: 2).isEmpty)
        let suspect = tracker.events(for: .member(key, nodeID: nil, state: .suspect, life: life), at: 3)
        #expect(suspect.map { [$0.node, $0.from, $0.to] } == [["n2", "alive", "suspect"]])
        #expect(tracker.events(for: .member(key, nodeID: nil, state: .dead, life: life), at: 4).map(\.to) == ["dead"])
    }

    @Test("statuses: the first one by its level and its failing checks; then each change of level or check; a restart")
    func statuses() {
        var tracker = TransitionTracker()
        let key = SigningKeyPair()
        let first = tracker.events(for: .status(signed(key, version: 1, status: .degraded, checks: [("disk", .healthy), ("dht", .degraded)])), at: 1)
        #expect(first.map { [$0.kind.rawValue, $0.check ?? "", $0.from ?? "-", $0.to] } == [["status", "", "-", "degraded"], ["check", "dht", "-", "degraded"]])
        #expect(first.allSatisfy { $0.signedStatus?.projection.version == 1 })
        // Same levels, newer version: nothing.
        #expect(tracker.events(for: .status(signed(key, version: 2, status: .degraded, checks: [("disk", .healthy), ("dht", .degraded)])), at: 2).isEmpty)
        let change = tracker.events(for: .status(signed(key, version: 3, status: .unhealthy, checks: [("disk", .unhealthy), ("dht", .degraded)])), at: 3)
        #expect(change.map { [$0.check ?? "", $0.from ?? "-", $0.to] } == [["", "degraded", "unhealthy"], ["disk", "healthy", "unhealthy"]])
        let restart = tracker.events(for: .status(signed(key, generation: 2, version: 1, status: .unhealthy, checks: [("disk", .unhealthy)])), at: 4)
        #expect(restart.map { [$0.kind.rawValue, $0.check ?? "", $0.to] } == [["member", "", "restarted"], ["check", "dht", "removed"]])
    }

    @Test("extreme but well-formed numbers from the wire are recorded as they are")
    func extremes() throws {
        var tracker = TransitionTracker()
        let key = SigningKeyPair()
        let events = tracker.events(for: .status(signed(key, generation: UInt64.max, version: UInt64.max, status: .unhealthy)), at: Int64.max)
        let store = try EventStore(path: temporaryPath())
        let stored = try store.append(events)
        let back = try store.events(EventFilter()).events
        #expect(back == stored)
        #expect(back.first?.signedStatus?.projection.generation == UInt64.max)
    }

    @Test("the leader: each change once, none included")
    func leader() {
        var tracker = TransitionTracker()
        let key = SigningKeyPair().publicKey
        #expect(tracker.events(for: .leader(key, nodeID: "n1", term: 1), at: 1).map { [$0.from ?? "-", $0.to] } == [["-", "n1"]])
        #expect(tracker.events(for: .leader(key, nodeID: "n1", term: 1), at: 2).isEmpty)
        #expect(tracker.events(for: .leader(nil, nodeID: nil, term: 1), at: 3).map { [$0.from ?? "-", $0.to] } == [["n1", "none"]])
    }
}

@Suite("The recorder: batches off the event loop, survives a bad database")
struct EventRecorderTests {
    @Test("observations are written in batches and served after a restart on the same file")
    func recordsAndReopens() async throws {
        let path = temporaryPath()
        let key = SigningKeyPair().publicKey
        do {
            let recorder = EventRecorder(settings: .init(path: path), wallMillis: { 5000 })
            recorder.observe(.member(key, nodeID: "n2", state: .alive, life: Life(generation: 1, incarnation: 0)))
            recorder.observe(.member(key, nodeID: "n2", state: .suspect, life: Life(generation: 1, incarnation: 0)))
            await recorder.step(now: .now)
            #expect(recorder.availability == .available)
            #expect(try await recorder.events(EventFilter()).events.map(\.to) == ["suspect", "alive"])
        }
        let again = EventRecorder(settings: .init(path: path), wallMillis: { 6000 })
        await again.step(now: .now)
        #expect(try await again.events(EventFilter()).events.map(\.to) == ["suspect", "alive"])
    }

    @Test("a garbage database: the reason is reported, observations wait (bounded), nothing throws")
    func garbageDatabase() async throws {
        let path = temporaryPath()
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: path))
        var settings = EventRecorder.Settings(path: path)
        settings.maxBacklog = 3
        let recorder = EventRecorder(settings: settings, wallMillis: { 1 })
        await recorder.step(now: .now)
        guard case .unavailable(let reason) = recorder.availability else {
            Issue.record("available on garbage: \(recorder.availability)")
            return
        }
        #expect(reason.contains("not a database"), "\(reason)")
        await #expect(throws: EventRecorder.Unavailable.self) { try await recorder.events(EventFilter()) }
        let key = SigningKeyPair().publicKey
        for state in [MemberState.alive, .suspect, .alive, .suspect, .dead] {
            recorder.observe(.member(key, nodeID: "n", state: state, life: Life(generation: 1, incarnation: 0)))
        }
        // Repaired (the file replaced): the next open takes the newest three that waited.
        try FileManager.default.removeItem(atPath: path)
        await recorder.step(now: .now + .seconds(3600))
        #expect(recorder.availability == .available)
        #expect(try await recorder.events(EventFilter()).events.map(\.to) == ["dead", "suspect", "alive"])
    }
}
