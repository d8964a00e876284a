@testable import ClusterNotify
import Testing

@Suite("What to notify and when, with time passed in")
struct NotificationPlannerTests {
    let dead = Incident(kind: .node, node: "n3", fingerprint: "aaaa", status: "dead")
    let degraded = Incident(kind: .cluster, status: "degraded", reasons: ["n3 is dead"])

    func policy(hold: Duration = .seconds(10), interval: Duration = .seconds(300), maxOpen: Int = 50) -> NotificationPolicy {
        var policy = NotificationPolicy()
        policy.holdFor = hold
        policy.minInterval = interval
        policy.maxOpen = maxOpen
        return policy
    }

    func map(_ incidents: Incident...) -> [String: Incident] { Dictionary(uniqueKeysWithValues: incidents.map { ($0.id, $0) }) }

    @Test("an incident fires after it held for the hold time, once until it changes, and resolves once")
    func lifecycle() {
        var planner = NotificationPlanner(policy: policy())
        #expect(planner.plan(map(dead, degraded), at: 0, sending: true, by: "n1").isEmpty)
        #expect(planner.plan(map(dead, degraded), at: 9_999, sending: true, by: "n1").isEmpty, "held 9.999 s of 10")
        let fired = planner.plan(map(dead, degraded), at: 10_000, sending: true, by: "n1")
        #expect(fired == [.firing(degraded, previous: nil), .firing(dead, previous: nil)])
        #expect(planner.plan(map(dead, degraded), at: 20_000, sending: true, by: "n1").isEmpty, "notified once until it changes")
        var worse = degraded
        worse.status = "unhealthy"
        #expect(planner.plan(map(dead, worse), at: 400_000, sending: true, by: "n1") == [.firing(worse, previous: "degraded")])
        #expect(planner.plan([:], at: 401_000, sending: true, by: "n1") == [.resolved(worse), .resolved(dead)])
        #expect(planner.plan([:], at: 402_000, sending: true, by: "n1").isEmpty)
    }

    @Test("a blip shorter than the hold time tells nobody; a re-opened incident waits for the minimum interval")
    func holdAndInterval() {
        var planner = NotificationPlanner(policy: policy(hold: .seconds(10), interval: .seconds(300)))
        _ = planner.plan(map(dead), at: 0, sending: true, by: "n1")
        #expect(planner.plan([:], at: 5_000, sending: true, by: "n1").isEmpty, "over before it held")
        _ = planner.plan(map(dead), at: 6_000, sending: true, by: "n1")
        #expect(planner.plan(map(dead), at: 16_000, sending: true, by: "n1").count == 1)
        #expect(planner.plan([:], at: 17_000, sending: true, by: "n1") == [.resolved(dead)])
        _ = planner.plan(map(dead), at: 18_000, sending: true, by: "n1")
        #expect(planner.plan(map(dead), at: 300_000, sending: true, by: "n1").isEmpty, "within 5 minutes of the last firing")
        #expect(planner.plan(map(dead), at: 316_000, sending: true, by: "n1") == [.firing(dead, previous: nil)])
    }

    @Test("not the leader: nothing is sent, but the hold time runs")
    func follower() {
        var planner = NotificationPlanner(policy: policy())
        #expect(planner.plan(map(dead), at: 0, sending: false, by: "n1").isEmpty)
        #expect(planner.plan(map(dead), at: 10_000, sending: false, by: "n1").isEmpty)
        #expect(planner.plan(map(dead), at: 10_001, sending: true, by: "n1") == [.firing(dead, previous: nil)])
    }

    @Test("a new leader that adopts the ledger repeats nothing and resolves what its predecessor opened")
    func adoption() {
        var planner = NotificationPlanner(policy: policy(hold: .zero))
        _ = planner.plan(map(dead, degraded), at: 0, sending: false, by: "n2")
        planner.adopt([SentRecord(incident: dead, atMillis: -5_000, by: "n1"), SentRecord(incident: degraded, atMillis: -5_000, by: "n1")])
        #expect(planner.plan(map(dead, degraded), at: 1_000, sending: true, by: "n2").isEmpty)
        #expect(planner.plan(map(degraded), at: 2_000, sending: true, by: "n2") == [.resolved(dead)])
    }

    @Test("a mass failure: at most maxOpen node and check incidents fire; the cluster incident always does")
    func storm() {
        var planner = NotificationPlanner(policy: policy(hold: .zero, maxOpen: 3))
        var incidents = map(degraded)
        for i in 0..<10 {
            let incident = Incident(kind: .node, node: "n\(i)", fingerprint: "f\(i)", status: "dead")
            incidents[incident.id] = incident
        }
        let fired = planner.plan(incidents, at: 0, sending: true, by: "n1")
        #expect(fired.count == 4 && fired.contains(.firing(degraded, previous: nil)))
        #expect(planner.suppressed == 7)
    }
}

@Suite("The notification body and the ledger")
struct NotificationFormatTests {
    @Test("placeholders are replaced by JSON-escaped text; unknown ones stay; the default is JSON with a text")
    func template() throws {
        let template = NotificationTemplate(text: #"{"a": "{{node}}", "b": "{{nope}}", "c": "{{reasons}}"}"#)
        let body = template.render(["node": "n\"1\n", "reasons": "x\\y\u{1}"])
        #expect(String(decoding: body, as: UTF8.self) == #"{"a": "n\"1\n", "b": "{{nope}}", "c": "x\\y\u0001"}"#)
        let incident = Incident(kind: .check, node: "n3", fingerprint: "ab", check: "dht", status: "unhealthy", reasons: ["put \"failed\""])
        let values = NotificationTemplate.values(.firing(incident, previous: nil), time: "T", dashboard: "http://d/cluster", sender: "n1")
        let standard = NotificationTemplate.standard.render(values)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(standard)) as? [String: String])
        #expect(json["text"]?.contains("check dht on n3 is unhealthy") == true && json["text"]?.contains("http://d/cluster") == true)
        #expect(json["state"] == "firing" && json["incident"] == "check/ab/dht" && json["reasons"] == #"put "failed""#)
    }

    @Test("the ledger: records and the index round-trip; what a member could have written there is checked")
    func ledger() async throws {
        let store = DictionaryStore()
        let dead = Incident(kind: .node, node: "n3", fingerprint: "aaaa", status: "dead", reasons: [String(repeating: "r", count: 5000)])
        let entries = [
            NotificationLedger.Entry(record: SentRecord(incident: dead, atMillis: 1, by: "n1"), state: .delivered),
            NotificationLedger.Entry(record: SentRecord(incident: Incident(kind: .cluster, status: "degraded"), atMillis: 2, by: "n1"), state: .firing),
        ]
        for entry in entries {
            let bytes = NotificationLedger.encode(entry)
            #expect(bytes.count <= 1024, "reasons are left out of the record")
            try await store.store(bytes, at: NotificationLedger.key(of: entry.record.incident.id))
        }
        try await store.store(NotificationLedger.encodeIndex(entries.map { NotificationLedger.key(of: $0.record.incident.id) }), at: NotificationLedger.indexKey)
        let (adopt, open) = try await NotificationLedger.load(from: store)
        #expect(adopt.map(\.incident.id) == ["node/aaaa"], "one still firing is left to be sent again")
        #expect(open == ["node/aaaa", "cluster"])
        // Garbage in the index and the records: skipped, nothing thrown.
        try await store.store(Array("zz,,\u{0},".utf8) + [UInt8](repeating: 0xFF, count: 100), at: NotificationLedger.indexKey)
        #expect(try await NotificationLedger.load(from: store).adopt.isEmpty)
        try await store.store(NotificationLedger.encodeIndex([NotificationLedger.key(of: "node/aaaa")]), at: NotificationLedger.indexKey)
        try await store.store(Array("{not json".utf8), at: NotificationLedger.key(of: "node/aaaa"))
        #expect(try await NotificationLedger.load(from: store).adopt.isEmpty)
        #expect(NotificationLedger.decodeIndex([UInt8](repeating: 0x61, count: 2000)).isEmpty)
    }
}

import Foundation
import Synchronization

/// A ledger store in memory, as the DHT would be for every node.
final class DictionaryStore: NotificationLedgerStore {
    let values = Mutex<[String: [UInt8]]>([:])
    let failing = Atomic<Bool>(false)

    struct Unavailable: Error {}

    /// Records in the delivered state.
    var delivered: Int {
        values.withLock { values in
            values.values.count { String(decoding: $0, as: UTF8.self).contains(#""state":"delivered""#) }
        }
    }

    func value(of key: String) async throws -> [UInt8]? {
        if failing.load(ordering: .relaxed) { throw Unavailable() }
        return values.withLock { $0[key] }
    }

    func store(_ value: [UInt8], at key: String) async throws {
        if failing.load(ordering: .relaxed) { throw Unavailable() }
        values.withLock { $0[key] = value }
    }
}
