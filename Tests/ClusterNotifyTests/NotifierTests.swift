@testable import ClusterNotify
import ClusterView
import Foundation
import Gossip
import GossipCore
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import NodeHealth
import Synchronization
import NodeHealthHTTP
import NodeHealthTesting
import TestSupport
import Testing

/// The wall clock the test sets.
final class TestClock: Sendable {
    let millis: Atomic<Int64>
    init(_ start: Int64) { millis = Atomic(start) }
}

/// A cluster view the test sets.
final class ScriptedView: Sendable {
    let health = Mutex<ClusterHealth?>(nil)
    let leader = Mutex<String>("n1")

    /// Three members; `leader` claims and the others follow it.
    static func view(dead: [String], leader: Int = 1) -> ClusterHealth {
        let keys = (0..<3).map { SigningKeyPair(seed: [UInt8](repeating: UInt8($0 + 1), count: 32))!.publicKey }
        let reports = (0..<3).map { i in
            let election = ElectionExtension(
                leaderPrefix: keys[leader].prefix, term: 1, claiming: i == leader, heartbeatMillis: 1, leadershipChanges: 0,
                leaderAgeSeconds: 600)
            let projection = StatusProjection(
                publicKey: keys[i], generation: 1, version: 1, issuedAtMillis: 0, nodeID: "n\(i)", status: .healthy, message: "",
                uptimeSeconds: 100, softwareVersion: "test", checks: [],
                extensions: [election.encoded, PeersExtension(belowMinimum: false, connectedPeers: 2).encoded])
            return MemberReport(
                key: keys[i], state: dead.contains("n\(i)") ? .dead : .alive, life: Life(generation: 1, incarnation: 0), isSelf: i == 0,
                status: projection, statusAge: .seconds(1))
        }
        return ClusterHealth.merge(reports, policy: ClusterHealthPolicy(staleAfter: .seconds(60)))
    }
}

@Suite("The notifier: once per incident for the cluster, retried, never blocking", .serialized)
struct NotifierTests {
    func notifier(
        _ name: String, webhooks: [String], store: DictionaryStore, view: ScriptedView, clock: TestClock, trust: TLSTrust? = nil
    ) -> Notifier {
        var settings = Notifier.Settings(webhooks: webhooks, dashboard: "http://d/cluster", sender: name)
        settings.trust = trust
        settings.policy.holdFor = .zero
        settings.settle = .zero
        settings.initialBackoff = .milliseconds(20)
        settings.attempts = 4
        // Long enough for a loaded CI machine: an attempt that times out after the receiver took it
        // is retried, and the receiver sees it twice (at least once, by design).
        settings.attemptTimeout = .seconds(10)
        return Notifier(
            settings: settings, store: store, wallMillis: { clock.millis.load(ordering: .relaxed) },
            isLeader: { view.leader.withLock { $0 } == name }, source: { view.health.withLock { $0 }! })
    }

    @Test("two nodes share a ledger: the leader sends; its successor repeats nothing and sends the resolution")
    func leaderHandOver() async throws {
        let receiver = WebhookReceiver()
        try await receiver.serve { url in
            let store = DictionaryStore()
            let view = ScriptedView()
            let clock = TestClock(1_000_000)
            view.health.withLock { $0 = ScriptedView.view(dead: ["n0"], leader: 1) }
            let n1 = notifier("n1", webhooks: [url], store: store, view: view, clock: clock)
            let n2 = notifier("n2", webhooks: [url], store: store, view: view, clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await n1.run() }
                group.addTask { try await n2.run() }
                await n1.tick()
                await n2.tick()
                await eventually("the firing notifications arrive") { receiver.received.count == 2 }
                #expect(Set(receiver.received.map { "\($0["state"]!) \($0["incident"]!)" }).count == 2)
                #expect(receiver.received.allSatisfy { $0["state"] == "firing" && $0["sender"] == "n1" })
                await eventually("the ledger records both deliveries") { store.delivered == 2 }
                // n1 is gone; n2 leads, adopts the ledger, repeats nothing.
                view.leader.withLock { $0 = "n2" }
                view.health.withLock { $0 = ScriptedView.view(dead: ["n0"], leader: 2) }
                clock.millis.add(1000, ordering: .relaxed)
                await n2.tick()
                await n2.tick()
                try await Task.sleep(for: .milliseconds(200))
                #expect(receiver.received.count == 2)
                // The node comes back: n2 resolves both, once.
                view.health.withLock { $0 = ScriptedView.view(dead: [], leader: 2) }
                await n2.tick()
                await n2.tick()
                await eventually("the resolutions arrive") { receiver.received.count == 4 }
                try await Task.sleep(for: .milliseconds(200))
                let resolved = receiver.received.suffix(2)
                #expect(resolved.allSatisfy { $0["state"] == "resolved" && $0["sender"] == "n2" }, "\(receiver.received)")
                #expect(receiver.received.count == 4)
                group.cancelAll()
            }
        }
    }

    @Test("a leader that cannot read the ledger holds notifications, then sends without it after its patience")
    func ledgerUnreadable() async throws {
        let receiver = WebhookReceiver()
        try await receiver.serve { url in
            let store = DictionaryStore()
            store.failing.store(true, ordering: .relaxed)
            let view = ScriptedView()
            view.health.withLock { $0 = ScriptedView.view(dead: ["n2"]) }
            let clock = TestClock(0)
            let n1 = notifier("n1", webhooks: [url], store: store, view: view, clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await n1.run() }
                await n1.tick()
                clock.millis.store(29_000, ordering: .relaxed)
                await n1.tick()
                try await Task.sleep(for: .milliseconds(200))
                #expect(receiver.received.isEmpty, "held while the ledger cannot be read")
                clock.millis.store(30_000, ordering: .relaxed)
                await n1.tick()
                await n1.tick()
                await eventually("sent without the ledger") { receiver.received.count == 2 }
                group.cancelAll()
            }
        }
    }

    @Test("a receiver that answers with an endless body is cut off at 64 KiB: the attempt fails instead of holding the body")
    func oversizedAnswer() async throws {
        let router = Router()
        router.post("/hook") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                for _ in 0..<1000 { try await writer.write(ByteBuffer(repeating: 0x41, count: 64 * 1024)) }
                try await writer.finish(nil)
            })
        }
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "big")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            var settings = Notifier.Settings(webhooks: [], dashboard: "", sender: "n1")
            settings.attempts = 1
            let notifier = Notifier(
                settings: settings, store: DictionaryStore(), wallMillis: { 0 }, isLeader: { true },
                source: { ScriptedView.view(dead: []) })
            let ok = await notifier.post(Array("{}".utf8), to: "http://127.0.0.1:\(port.withLock { $0 }!)/hook")
            #expect(!ok)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("a receiver that answers 500 is retried until it takes it; one that hangs delays no other webhook and no tick")
    func retriesAndHangs() async throws {
        let flaky = WebhookReceiver(failFirst: 2)
        let hanging = WebhookReceiver(hang: true)
        try await flaky.serve { flakyURL in
            try await hanging.serve { hangingURL in
                let view = ScriptedView()
                view.health.withLock { $0 = ScriptedView.view(dead: ["n2"]) }
                let clock = TestClock(0)
                let n1 = notifier("n1", webhooks: [hangingURL, flakyURL], store: DictionaryStore(), view: view, clock: clock)
                await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await n1.run() }
                    let start = ContinuousClock.now
                    await n1.tick()
                    await n1.tick()
                    #expect(ContinuousClock.now - start < .seconds(1), "ticks never wait on a webhook")
                    await eventually("the flaky receiver gets both after its two 500s") { flaky.received.count == 2 }
                    #expect(flaky.requests.load(ordering: .relaxed) == 4)
                    #expect(hanging.received.isEmpty)
                    group.cancelAll()
                }
            }
        }
    }

    @Test("an https:// webhook whose certificate chains to the configured authority gets the notification")
    func https() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let receiver = WebhookReceiver(tls: (certificates.certificateFile, certificates.keyFile))
        try await receiver.serve { url in
            let view = ScriptedView()
            view.health.withLock { $0 = ScriptedView.view(dead: ["n2"]) }
            let n1 = notifier(
                "n1", webhooks: [url], store: DictionaryStore(), view: view, clock: TestClock(0),
                trust: try TLSTrust(extraRootsFile: certificates.authorityFile))
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await n1.run() }
                await n1.tick()
                // Two incidents: n2 dead, and the cluster degraded by it.
                await eventually("the receiver gets both notifications over TLS") { receiver.received.count == 2 }
                #expect(receiver.received.contains { $0["text"]?.contains("n2") == true }, "\(receiver.received)")
                group.cancelAll()
            }
        }
    }
}
