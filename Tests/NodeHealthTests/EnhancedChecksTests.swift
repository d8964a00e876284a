import Foundation
import Hummingbird
import Synchronization
import Testing

@testable import NodeHealth
import NodeHealthHTTP
import NodeHealthTesting

@Suite("Active probes, adapters and the enhanced checks")
struct EnhancedChecksTests {
    @Test("pub/sub loopback: success, timeout, garbled message, publish error — each reported distinctly")
    func pubSubLoopback() async {
        let mock = MockPubSubAdapter()
        let inbox = PubSubProbeInbox(adapter: mock)
        let ok = await ActiveProbes.pubSubLoopback(inbox: inbox, nodeID: "n1", wait: .seconds(5))
        #expect(ok.kind == .success)
        #expect(mock.published.first?.topic == "CHORUS/health-test/v1")
        #expect(ok.result.healthy && ok.result.details["outcome"] == "success")

        mock.setDelivery(false)
        let lost = await ActiveProbes.pubSubLoopback(inbox: inbox, nodeID: "n1", wait: .milliseconds(50))
        #expect(lost.kind == .timeout)
        #expect(!lost.result.healthy)

        mock.setDelivery(true)
        mock.setCorruption(true)
        let garbled = await ActiveProbes.pubSubLoopback(inbox: inbox, nodeID: "n1", wait: .milliseconds(200))
        #expect(garbled.kind == .integrityViolation)
        #expect(garbled.result.details["outcome"] == "integrity_violation")

        mock.setCorruption(false)
        mock.setPublishError(MockAdapterError(description: "no route"))
        let failed = await ActiveProbes.pubSubLoopback(inbox: inbox, nodeID: "n1", wait: .milliseconds(50))
        #expect(failed.kind == .failure)
        #expect(failed.message.contains("no route"))
    }

    @Test("the active checks over the mock adapters")
    func activeChecks() async throws {
        let pubsub = HealthCheck.createActivePubSubCheck(MockPubSubAdapter())
        #expect(pubsub.interval == .seconds(60) && pubsub.timeout == .seconds(15) && !pubsub.critical)
        let context = HealthCheck.Context(name: pubsub.name, deadline: .now + .seconds(15))
        #expect(try await pubsub.checker(context).healthy)

        let dhtMock = MockDHTAdapter()
        let dht = HealthCheck.createActiveDHTCheck(dhtMock)
        #expect(dht.interval == .seconds(90) && dht.timeout == .seconds(20) && !dht.critical)
        let passed = try await dht.checker(context)
        #expect(passed.healthy && passed.details["outcome"] == "success")
        #expect(dhtMock.count == 1)

        dhtMock.setCorruption(true)
        let corrupted = try await dht.checker(context)
        #expect(!corrupted.healthy && corrupted.details["outcome"] == "integrity_violation")
        dhtMock.setCorruption(false)
        dhtMock.setPutError("no replicas")
        let failed = try await dht.checker(context)
        #expect(!failed.healthy && failed.details["outcome"] == "failure")
        #expect(failed.message.contains("DHT put failed"))
        dhtMock.setPutError(nil)
        dhtMock.setGetError("timeout")
        let getFailed = try await dht.checker(context)
        #expect(getFailed.message.contains("DHT get failed"))
    }

    @Test("HealthConfig has every documented default")
    func configDefaults() {
        let config = HealthConfig.defaultHealthConfig()
        #expect(config.pubSubProbeInterval == .seconds(30) && config.dhtProbeInterval == .seconds(60))
        #expect(config.electionProbeInterval == .seconds(15))
        #expect(config.pubSubProbeTimeout == .seconds(10) && config.dhtProbeTimeout == .seconds(20))
        #expect(config.electionProbeTimeout == .seconds(5))
        #expect(config.maxFailedProbes == 3 && config.healthyThreshold == 0.95 && config.degradedThreshold == 0.75)
        #expect(config.maxHistoryEntries == 1000 && config.historyCleanupInterval == .seconds(3600))
        #expect(config.enablePubSubProbes && config.enableDHTProbes && config.enableElectionProbes)
        #expect(config.enableReplicationProbes)
    }

    @Test("the seven checks register with their documented names, criticality and intervals")
    func registration() async throws {
        let manager = makeManager()
        let fakes = FakeSubsystems()
        _ = try await EnhancedHealthChecks(
            manager: manager, election: fakes, dht: MockDHTAdapter(), pubsub: MockPubSubAdapter(), replication: fakes,
            connectivity: fakes, tasks: WorkTracker())
        let checks = Dictionary(uniqueKeysWithValues: await manager.registeredChecks().map { ($0.name, $0) })
        let expected: [(String, Bool, Duration)] = [
            ("pubsub-enhanced", true, .seconds(30)), ("dht-enhanced", true, .seconds(60)),
            ("election-health", false, .seconds(15)), ("replication-health", false, .seconds(120)),
            ("p2p-connectivity", true, .seconds(30)), ("resource-health", false, .seconds(60)),
            ("task-manager", false, .seconds(30)),
        ]
        for (name, critical, interval) in expected {
            #expect(checks[name]?.critical == critical, "\(name) critical")
            #expect(checks[name]?.interval == interval, "\(name) interval")
        }
        #expect(checks.count == 7)
    }

    @Test("a failing probe degrades, fails after MaxFailedProbes in a row, then recovers through degraded")
    func probeLevels() async throws {
        let manager = makeManager()
        let mock = MockPubSubAdapter()
        var config = HealthConfig()
        config.pubSubProbeTimeout = .milliseconds(50)
        let enhanced = try await EnhancedHealthChecks(
            manager: manager, election: nil, dht: nil, pubsub: mock, replication: nil, config: config)
        let first = await enhanced.runPubSub()
        #expect(first.healthy && !first.degraded)
        #expect(first.score == 1)

        mock.setDelivery(false)
        let one = await enhanced.runPubSub()
        #expect(one.healthy && one.degraded, "the first failure degrades")
        #expect(one.message.contains("1 of 3"))
        let two = await enhanced.runPubSub()
        #expect(two.degraded)
        let three = await enhanced.runPubSub()
        #expect(!three.healthy, "the third failure in a row fails")
        #expect(three.details["consecutive_failures"] == 3)

        mock.setDelivery(true)
        let back = await enhanced.runPubSub()
        #expect(back.healthy && back.degraded, "recovering: the score is still low")
        var runs = 1
        while await enhanced.runPubSub().degraded { runs += 1 }
        #expect(runs < 10)
        let metrics = enhanced.healthMetrics()
        #expect(metrics.pubSubConsecutiveFails == 0)
        #expect(metrics.pubSubHealthScore >= 0.95)
        #expect(metrics.pubSubSuccessRate < 1 && metrics.pubSubSuccessRate > 0)
        #expect(metrics.pubSubLastSuccess != nil)
        #expect(enhanced.history(of: "pubsub").count == 5 + runs)
    }

    @Test("a node that never had a peer skips its probes; one cut off from its peers runs them, and they fail")
    func loneVersusCutOff() async throws {
        let fakes = FakeSubsystems()
        fakes.state.withLock { $0.peers = 0 }
        let mock = MockPubSubAdapter()
        var config = HealthConfig()
        config.peerWait = .zero
        config.pubSubProbeTimeout = .milliseconds(50)
        let enhanced = try await EnhancedHealthChecks(
            manager: makeManager(), election: nil, dht: nil, pubsub: mock, replication: nil, connectivity: fakes,
            config: config)
        let lone = await enhanced.runPubSub()
        #expect(lone.healthy && lone.degraded && lone.details["outcome"] == "skipped")
        #expect(mock.published.isEmpty, "nothing to probe through: nothing published")

        fakes.state.withLock { $0.peers = 3 }
        #expect(await enhanced.runPubSub().details["outcome"] == "success")
        fakes.state.withLock { $0.peers = 0 }
        mock.setDelivery(false)  // cut off: nothing comes back
        let cut = await enhanced.runPubSub()
        #expect(cut.degraded && cut.details["outcome"] == "timeout", "the probe ran and failed: \(cut.message)")
        _ = await enhanced.runPubSub()
        #expect(await !enhanced.runPubSub().healthy, "a lasting cut fails the probe")
    }

    @Test("election-health judges stability over its window: a burst of changes degrades it until the window passes")
    func electionWindow() async throws {
        let fakes = FakeSubsystems()
        var config = HealthConfig()
        config.electionProbeTimeout = .seconds(1)
        config.electionStabilityWindow = .seconds(600)
        let enhanced = try await EnhancedHealthChecks(
            manager: makeManager(), election: fakes, dht: nil, pubsub: nil, replication: nil, connectivity: nil, tasks: nil,
            config: config)
        let start = ContinuousClock.now
        fakes.state.withLock { $0.election.leadershipChanges = 1 }
        let first = await enhanced.runElection(now: start)
        #expect(!first.degraded && first.details["window_changes"] == 0, "the first change of a young node is free")
        // A partition heals: 8 changes (as measured on five processes).
        fakes.state.withLock { $0.election.leadershipChanges = 9 }
        let burst = await enhanced.runElection(now: start + .seconds(30))
        #expect(burst.degraded && burst.details["window_changes"] == 8 && burst.message.contains("8 leadership changes since start"))
        let still = await enhanced.runElection(now: start + .seconds(300))
        #expect(still.degraded)
        // Ten minutes after the first sample the window has moved past the start: the baseline is
        // the count then (1), and the burst still counts; once it too is older, nothing does.
        let later = await enhanced.runElection(now: start + .seconds(601))
        #expect(later.details["window_changes"] == 8)
        let healed = await enhanced.runElection(now: start + .seconds(940))
        #expect(!healed.degraded && healed.details["window_changes"] == 0 && healed.message.contains("in the last 10m0s"))
        #expect(healed.details["leadership_changes"] == 9, "the lifetime count is still shown")
    }

    @Test("figure checks: election, replication, connectivity and tasks read their subsystems")
    func figureChecks() async throws {
        let manager = makeManager()
        let fakes = FakeSubsystems()
        let tasks = WorkTracker(capacity: 2)
        var config = HealthConfig()
        config.peerWait = .zero
        config.electionProbeTimeout = .seconds(1)  // no wait for a leader
        let enhanced = try await EnhancedHealthChecks(
            manager: manager, election: fakes, dht: nil, pubsub: nil, replication: fakes, connectivity: fakes,
            tasks: tasks, config: config)
        let election = await enhanced.runElection()
        #expect(election.healthy && !election.degraded)
        #expect(election.details["leader"] == "node-1")
        #expect(election.details["admin_uptime"] == "2h30m15s")

        fakes.state.withLock { $0.election.lastHeartbeatAge = .seconds(30) }
        #expect(await enhanced.runElection().degraded, "a silent leader degrades the election")
        fakes.state.withLock { $0.election.leader = nil }
        #expect(await enhanced.runElection().degraded)

        #expect(await !enhanced.runReplication().degraded)
        fakes.state.withLock {
            $0.replication.underReplicatedKeys = 2
            $0.replication.averageFactor = 2.5
        }
        let under = await enhanced.runReplication()
        #expect(under.degraded && under.message.contains("2 of 4 keys under-replicated"))
        fakes.state.withLock {
            $0.replication.underReplicatedKeys = 0
            $0.replication.averageFactor = 3
            $0.replication.peakUnderReplicated = 2
            $0.replication.repairedKeys = 2
        }
        let repaired = await enhanced.runReplication()
        #expect(!repaired.degraded && repaired.message.contains("repaired"))

        #expect(await enhanced.runConnectivity().details["connected_peers"] == 4)
        fakes.state.withLock { $0.peers = 1 }
        #expect(await enhanced.runConnectivity().degraded)
        fakes.state.withLock { $0.peers = 0 }
        #expect(await enhanced.runConnectivity().degraded)
        #expect(await enhanced.runConnectivity().degraded)
        #expect(await !enhanced.runConnectivity().healthy, "no peers three times in a row fails")

        _ = await tasks.run({ 1 })
        _ = try? await tasks.run({ () async throws -> Int in throw MockAdapterError(description: "x") })
        let taskResult = await enhanced.runTasks()
        #expect(taskResult.details["completed_tasks"] == 1 && taskResult.details["failed_tasks"] == 1)
        #expect(taskResult.degraded, "a 50 % success rate is below the degraded threshold")

        let resources = enhanced.runResources()
        #expect(resources.details["memory"] != nil && resources.details["disk"] != nil)
    }

    @Test("task-manager judges the tasks of its window: a burst of failures ages out")
    func taskWindow() async throws {
        let tasks = WorkTracker()
        var config = HealthConfig()
        config.taskSuccessWindow = .seconds(60)
        let enhanced = try await EnhancedHealthChecks(
            manager: makeManager(), election: nil, dht: nil, pubsub: nil, replication: nil, connectivity: nil,
            tasks: tasks, config: config)
        func finish(_ succeeded: Int, _ failed: Int) async {
            for _ in 0..<succeeded { _ = await tasks.run({ 1 }) }
            for _ in 0..<failed { _ = await tasks.run({ 0 }, succeeded: { $0 == 1 }) }
        }
        let t0 = ContinuousClock.now
        await finish(1, 3)  // an outage
        let during = await enhanced.runTasks(now: t0)
        #expect(during.degraded && during.details["success_rate"] == 0.25 && during.details["window_failed"] == 3)
        await finish(4, 0)
        let younger = await enhanced.runTasks(now: t0 + .seconds(30))
        #expect(younger.degraded && younger.details["success_rate"] == 0.625, "younger than the window: since start (5 of 8)")
        #expect(younger.message.hasSuffix("success rate 62.5% since start"), "\(younger.message)")
        await finish(4, 0)
        let after = await enhanced.runTasks(now: t0 + .seconds(70))
        #expect(!after.degraded && after.healthy, "\(after.message)")
        #expect(after.details["success_rate"] == 1.0 && after.details["window_completed"] == 8 && after.details["window_failed"] == 0, "\(after.details)")
        #expect(after.details["completed_tasks"] == 9 && after.details["failed_tasks"] == 3, "lifetime totals stay in the details")
        #expect(after.message.hasSuffix("success rate 100.0% over the last 1m0s"), "\(after.message)")
        #expect(enhanced.healthMetrics().taskSuccessRate == 1)
    }

    @Test("a degraded check makes the node degraded, not unhealthy; the score averages check scores")
    func aggregation() {
        let inputs = [
            HealthAggregator.Input(name: "a", critical: true, verdict: .passing, degraded: true, score: 0.7),
            HealthAggregator.Input(name: "b", critical: false, verdict: .passing),
        ]
        let (status, message) = HealthAggregator.evaluate(inputs, phase: .running)
        #expect(status == .degraded)
        #expect(message == "Checks degraded: a")
        #expect(abs(HealthAggregator.score(inputs) - 0.85) < 1e-9)
    }

    @Test("history is bounded by MaxHistoryEntries and cleaned of old entries")
    func history() async throws {
        var config = HealthConfig()
        config.maxHistoryEntries = 5
        config.historyCleanupInterval = .seconds(60)
        let fakes = FakeSubsystems()
        let enhanced = try await EnhancedHealthChecks(
            manager: makeManager(), election: nil, dht: nil, pubsub: nil, replication: nil, connectivity: fakes,
            config: config)
        for _ in 0..<8 { _ = await enhanced.runConnectivity() }
        #expect(enhanced.history(of: "p2p").count == 5)
        enhanced.cleanupHistory(now: Date().addingTimeInterval(120))
        #expect(enhanced.history(of: "p2p").isEmpty)
    }
}
