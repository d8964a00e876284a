@testable import ClusterEvents
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

@Suite("Last transitions and flapping, with time passed in")
struct FlappingTests {
    let minute: Int64 = 60_000

    /// A check `dht` that alternates between healthy and unhealthy at these minutes.
    func flip(_ tracker: inout TransitionTracker, _ key: SigningKeyPair, at minutes: [Int64], from version: UInt64 = 2) -> [ClusterEvent] {
        var out: [ClusterEvent] = []
        for (i, minute) in minutes.enumerated() {
            let level: CheckLevel = i % 2 == 0 ? .unhealthy : .healthy
            let status = signed(key, version: version + UInt64(i), status: .healthy, checks: [("dht", level), ("disk", .healthy)])
            out += tracker.events(for: .status(status), at: minute * self.minute)
        }
        return out
    }

    @Test("a check that changes 5 times within 10 minutes flaps until it has been quiet for 10 minutes")
    func checkFlapsAndSettles() {
        var tracker = TransitionTracker(policy: FlapPolicy(threshold: 5, window: .seconds(600)))
        let key = SigningKeyPair()
        _ = tracker.events(for: .status(signed(key, version: 1, checks: [("dht", .healthy), ("disk", .healthy)])), at: 0)
        let events = flip(&tracker, key, at: [1, 2, 3, 4])
        #expect(!events.contains { $0.kind == .flapping })
        #expect(tracker.transitions(of: key.publicKey)?.checks["dht"]?.flapping == nil)
        let fifth = flip(&tracker, key, at: [5], from: 10).filter { $0.kind == .flapping }
        #expect(fifth.map { [$0.check ?? "", $0.from ?? "", $0.to] } == [["dht", "stable", "flapping"]])
        let transitions = tracker.transitions(of: key.publicKey)
        #expect(transitions?.checks["dht"]?.flapping == Flapping(sinceMillis: 5 * minute, changes: 5))
        #expect(transitions?.checks["dht"]?.lastTransitionMillis == 5 * minute)
        #expect(transitions?.checks["disk"]?.lastTransitionMillis == 0)
        #expect(transitions?.flapping == nil, "the member's own level never changed")
        #expect(tracker.flappingCounts == (0, 1))
        // Still changing: stays flapping, and counts.
        _ = flip(&tracker, key, at: [6, 8], from: 20)  // unchanged at 6, healthy at 8
        #expect(tracker.expire(at: 17 * minute).isEmpty, "quiet for 9 of 10 minutes")
        let settled = tracker.expire(at: 18 * minute)
        #expect(settled.map { [$0.check ?? "", $0.from ?? "", $0.to] } == [["dht", "flapping", "stable"]])
        #expect(settled.first?.message.contains("after 6 changes") == true)
        #expect(tracker.transitions(of: key.publicKey)?.checks["dht"]?.flapping == nil)
        #expect(tracker.flappingCounts == (0, 0))
        #expect(tracker.expire(at: 30 * minute).isEmpty)
    }

    @Test("changes spread wider than the window never flap")
    func slowChangesDoNotFlap() {
        var tracker = TransitionTracker(policy: FlapPolicy(threshold: 5, window: .seconds(600)))
        let key = SigningKeyPair()
        _ = tracker.events(for: .status(signed(key, version: 1, checks: [("dht", .healthy)])), at: 0)
        let events = flip(&tracker, key, at: Array(stride(from: 3, through: 60, by: 3)))
        #expect(!events.contains { $0.kind == .flapping })
        #expect(tracker.flappingCounts == (0, 0))
    }

    @Test("a member that keeps dying and coming back flaps; its memory outlives each death, then goes")
    func memberFlapsThroughDeaths() {
        var tracker = TransitionTracker(policy: FlapPolicy(threshold: 4, window: .seconds(600)))
        let key = SigningKeyPair().publicKey
        let life = Life(generation: 1, incarnation: 0)
        var flaps: [ClusterEvent] = []
        for (i, state) in [MemberState.alive, .dead, .alive, .dead, .alive].enumerated() {
            flaps += tracker.events(for: .member(key, nodeID: "n2", state: state, life: life), at: Int64(i) * minute).filter { $0.kind == .flapping }
        }
        #expect(flaps.map(\.to) == ["flapping"])
        #expect(tracker.transitions(of: key)?.lastTransitionMillis == 4 * minute)
        #expect(tracker.transitions(of: key)?.flapping?.changes == 4)
        _ = tracker.events(for: .member(key, nodeID: nil, state: .dead, life: life), at: 5 * minute)
        #expect(tracker.expire(at: 14 * minute).isEmpty)
        #expect(tracker.transitions(of: key) != nil, "gone, but still flapping")
        #expect(tracker.expire(at: 15 * minute).map(\.to) == ["stable"])
        #expect(tracker.transitions(of: key) == nil, "forgotten: dead for a window and no longer flapping")
    }

    @Test("one restart is two changes (down, up), not one per state and level it passes through; suspicions count nothing")
    func restartIsTwoChanges() {
        var tracker = TransitionTracker(policy: FlapPolicy(threshold: 4, window: .seconds(600)))
        let key = SigningKeyPair()
        let life = Life(generation: 1, incarnation: 0)
        var flaps: [ClusterEvent] = []
        flaps += tracker.events(for: .member(key.publicKey, nodeID: "n", state: .alive, life: life), at: 0)
        flaps += tracker.events(for: .status(signed(key, version: 1, status: .healthy)), at: 1)
        for (i, state) in [MemberState.suspect, .dead, .alive].enumerated() {
            flaps += tracker.events(for: .member(key.publicKey, nodeID: "n", state: state, life: life), at: Int64(2 + i) * minute)
        }
        flaps += tracker.events(for: .status(signed(key, generation: 2, version: 1, status: .starting)), at: 5 * minute)
        flaps += tracker.events(for: .status(signed(key, generation: 2, version: 2, status: .healthy)), at: 6 * minute)
        for i in 0..<6 {  // refuted suspicions
            flaps += tracker.events(for: .member(key.publicKey, nodeID: "n", state: i % 2 == 0 ? .suspect : .alive, life: life), at: 6 * minute + Int64(i))
        }
        #expect(!flaps.contains { $0.kind == .flapping })
        #expect(tracker.transitions(of: key.publicKey)?.lastTransitionMillis == 6 * minute + 5)
        // An unhealthy spell is two changes too: down (the third), up (the fourth).
        flaps += tracker.events(for: .status(signed(key, generation: 2, version: 3, status: .unhealthy)), at: 7 * minute)
        #expect(!flaps.contains { $0.kind == .flapping })
        flaps += tracker.events(for: .status(signed(key, generation: 2, version: 4, status: .healthy)), at: 8 * minute)
        #expect(flaps.filter { $0.kind == .flapping }.map(\.to) == ["flapping"])
    }

    @Test("the last transition moves only when the level changes")
    func lastTransition() {
        var tracker = TransitionTracker()
        let key = SigningKeyPair()
        _ = tracker.events(for: .status(signed(key, version: 1, status: .healthy, checks: [("disk", .healthy)])), at: 100)
        _ = tracker.events(for: .status(signed(key, version: 2, status: .healthy, checks: [("disk", .healthy)])), at: 200)
        #expect(tracker.transitions(of: key.publicKey)?.lastTransitionMillis == 100)
        _ = tracker.events(for: .status(signed(key, version: 3, status: .degraded, checks: [("disk", .degraded)])), at: 300)
        #expect(tracker.transitions(of: key.publicKey)?.lastTransitionMillis == 300)
        #expect(tracker.transitions(of: key.publicKey)?.checks["disk"]?.lastTransitionMillis == 300)
    }

    @Test("the policy keeps its bounds")
    func policyBounds() {
        #expect(FlapPolicy(threshold: 0).threshold == 2 && FlapPolicy(threshold: Int.max).threshold == 100)
        #expect(FlapPolicy(window: .zero).window == .seconds(1))
        // A clock stepped back by a day: changes still count within the window, nothing traps.
        var state = FlapState()
        let policy = FlapPolicy(threshold: 2, window: .seconds(60))
        let first = state.change(at: Int64.max, policy: policy)
        let second = state.change(at: Int64.min, policy: policy)
        #expect(!first && second)
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
            let memory = ClusterMemory(wallMillis: { 5000 }, sink: recorder.record)
            memory.observe(.member(key, nodeID: "n2", state: .alive, life: Life(generation: 1, incarnation: 0)))
            memory.observe(.member(key, nodeID: "n2", state: .suspect, life: Life(generation: 1, incarnation: 0)))
            await recorder.step(now: .now)
            #expect(recorder.availability == .available)
            #expect(try await recorder.events(EventFilter(kind: .member)).events.map(\.to) == ["suspect", "alive"])
            #expect(try await recorder.events(EventFilter(kind: .observer)).events.map(\.to) == ["started"])
        }
        let again = EventRecorder(settings: .init(path: path), wallMillis: { 6000 })
        await again.step(now: .now)
        #expect(try await again.events(EventFilter(kind: .member)).events.map(\.to) == ["suspect", "alive"])
        #expect(try await again.events(EventFilter(kind: .observer)).events.map(\.to) == ["started", "started"])
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
        let memory = ClusterMemory(wallMillis: { 1 }, sink: recorder.record)
        for state in [MemberState.alive, .suspect, .alive, .suspect, .dead] {
            memory.observe(.member(key, nodeID: "n", state: state, life: Life(generation: 1, incarnation: 0)))
        }
        // Repaired (the file replaced): the next open takes the newest three that waited.
        try FileManager.default.removeItem(atPath: path)
        await recorder.step(now: .now + .seconds(3600))
        #expect(recorder.availability == .available)
        #expect(try await recorder.events(EventFilter(kind: .member)).events.map(\.to) == ["dead", "suspect", "alive"])
    }
}

@Suite("A member's uptime and time in each status, as one node observed it")
struct NodeHistoryTests {
    let hour: Int64 = 3_600_000

    func member(_ to: String, at hours: Double, id: Int64) -> ClusterEvent {
        ClusterEvent(id: id, observedAtMillis: Int64(hours * 3_600_000), node: "n2", nodeKey: nil, kind: .member, from: nil, to: to, message: "")
    }

    func status(_ to: String, at hours: Double, id: Int64) -> ClusterEvent {
        ClusterEvent(id: id, observedAtMillis: Int64(hours * 3_600_000), node: "n2", nodeKey: nil, kind: .status, from: nil, to: to, message: "")
    }

    func observer(_ to: String, at hours: Double, id: Int64) -> ClusterEvent {
        ClusterEvent(id: id, observedAtMillis: Int64(hours * 3_600_000), node: "n1", nodeKey: nil, kind: .observer, from: nil, to: to, message: "")
    }

    @Test("time before the first sight is not counted; dead time counts against uptime")
    func uptime() {
        // Seen at hour 2, healthy; degraded 4–5; dead 6–7; healthy again until 10.
        let events = [
            member("alive", at: 2, id: 1), status("healthy", at: 2, id: 2), status("degraded", at: 4, id: 3),
            status("healthy", at: 5, id: 4), member("dead", at: 6, id: 5), member("alive", at: 7, id: 6), status("healthy", at: 7, id: 7),
        ]
        let day = NodeHistory.summarize(events, from: 0, to: 10 * hour)
        #expect(day.observedMillis == 8 * hour)
        #expect(day.timeInStatusMillis == ["healthy": 6 * hour, "degraded": hour, "dead": hour])
        #expect(day.uptime == 7.0 / 8.0)
        #expect(day.changes == 4, "degraded, healthy, dead, alive")
        // The last hour: healthy throughout, known from the events before it.
        let last = NodeHistory.summarize(events, from: 9 * hour, to: 10 * hour)
        #expect(last.observedMillis == hour && last.uptime == 1 && last.changes == 0)
    }

    @Test("the observer's own downtime is left out: between its stop and its start, or after its last event when it crashed")
    func observerDowntime() {
        let events = [
            observer("started", at: 0, id: 1), member("alive", at: 1, id: 2), status("healthy", at: 1, id: 3),
            observer("stopped", at: 3, id: 4), observer("started", at: 5, id: 5),
            // A crash: no stop mark; its last event was at 6.
            status("degraded", at: 6, id: 6), observer("started", at: 8, id: 7),
        ]
        let summary = NodeHistory.summarize(events, from: 0, to: 10 * hour)
        #expect(summary.timeInStatusMillis == ["healthy": 3 * hour, "degraded": 2 * hour])
        #expect(summary.observedMillis == 5 * hour && summary.uptime == 1)
    }

    @Test("nothing observed, an empty or inverted window, extreme times: no uptime, no trap")
    func edges() {
        #expect(NodeHistory.summarize([], from: 0, to: hour).uptime == nil)
        #expect(NodeHistory.summarize([member("alive", at: 1, id: 1)], from: hour, to: 0).observedMillis == 0)
        let extreme = [
            ClusterEvent(id: 1, observedAtMillis: Int64.min, node: "n", nodeKey: nil, kind: .member, from: nil, to: "alive", message: ""),
            ClusterEvent(id: 2, observedAtMillis: Int64.max, node: "n", nodeKey: nil, kind: .member, from: nil, to: "dead", message: ""),
        ]
        let summary = NodeHistory.summarize(extreme, from: -hour, to: hour)
        #expect(summary.observedMillis == 2 * hour && summary.uptime == 1)
    }
}

@Suite("Streaming new events")
struct EventStreamTests {
    @Test("subscribers get each stored event with its id, a keepalive when quiet, and end when the recorder stops")
    func subscribe() async throws {
        var settings = EventRecorder.Settings(path: temporaryPath(), observer: "n1")
        settings.keepaliveInterval = .seconds(15)
        let recorder = EventRecorder(settings: settings, wallMillis: { 1000 })
        let stream = try recorder.subscribe()
        await recorder.step(now: .now)
        recorder.record([event("n2", at: 1001), event("n3", at: 1002)])
        await recorder.step(now: .now)
        let start = ContinuousClock.now
        recorder.keepSubscribersAlive(now: start)
        recorder.keepSubscribersAlive(now: start + .seconds(15))
        var iterator = stream.makeAsyncIterator()
        var seen: [String] = []
        for _ in 0..<4 {
            switch await iterator.next() {
            case .event(let event): seen.append("\(event.id) \(event.to) \(event.node)")
            case .keepalive: seen.append("keepalive")
            case nil: seen.append("end")
            }
        }
        #expect(seen == ["1 started n1", "2 alive n2", "3 alive n3", "keepalive"])
        #expect(recorder.subscriberCount == 1)
    }

    @Test("a subscriber that falls too far behind is ended, not silently skipped")
    func slowSubscriber() async throws {
        var settings = EventRecorder.Settings(path: temporaryPath())
        settings.subscriberBuffer = 2
        let recorder = EventRecorder(settings: settings, wallMillis: { 1000 })
        let stream = try recorder.subscribe()
        await recorder.step(now: .now)
        recorder.record((0..<5).map { event("n\($0)", at: 1000 + Int64($0)) })
        await recorder.step(now: .now)
        var received = 0
        for await _ in stream { received += 1 }
        #expect(received == 2)
        #expect(recorder.subscriberCount == 0)
    }
}
