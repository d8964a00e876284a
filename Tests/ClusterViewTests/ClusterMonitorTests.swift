import ClusterView
import Gossip
import MetricsTestKit
import NodeHealth
import Synchronization
import Testing

/// A view source for a monitor: counts its merges, names each view after its merge, and can be
/// held shut so a merge hangs until it is opened.
final class CountingSource: Sendable {
    private let state = Mutex<(merges: Int, open: Bool, waiters: [CheckedContinuation<Void, Never>])>((0, true, []))
    let view: @Sendable (Int) -> ClusterHealth

    init(view: @escaping @Sendable (Int) -> ClusterHealth) { self.view = view }

    var merges: Int { state.withLock { $0.merges } }
    func hold() { state.withLock { $0.open = false } }
    func release() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func merge() async -> ClusterHealth {
        let number = state.withLock { state in
            state.merges += 1
            return state.merges
        }
        await withCheckedContinuation { continuation in
            let wait = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return !state.open
            }
            if !wait { continuation.resume() }
        }
        return view(number)
    }
}

/// Polls `condition` every 10 ms for up to `seconds` (a safety net, not a speed target: a
/// fresh-clone run once stalled the whole test process for over 10 s at its start).
func waitFor(_ seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

@Suite("ClusterMonitor: snapshots for requests, gauges and history")
struct ClusterMonitorTests {
    static func view(_ members: [MemberReport], observer: String = "n0") -> ClusterHealth {
        var health = ClusterHealth.merge(members, policy: ClusterHealthTests.policy)
        health.observer = observer
        return health
    }

    @Test("a request never waits on a merge: an aging snapshot is served while run() makes the next")
    func servesWhileRefreshing() async throws {
        let source = CountingSource { Self.view([ClusterHealthTests.report(0)], observer: "merge \($0)") }
        let monitor = ClusterMonitor(interval: .seconds(3600), factory: TestMetrics()) { await source.merge() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await monitor.run() }
            #expect(await waitFor { source.merges == 1 }, "run() samples at once")
            // The merge counted is not yet kept as the snapshot until the sample ends (its history
            // entry): a request in between merged again on a loaded machine (one fresh-clone run).
            #expect(await waitFor { await !monitor.history().isEmpty }, "the first sample is kept")
            let first = await monitor.serve()
            #expect(first.health.observer == "merge 1")
            #expect(source.merges == 1, "a fresh snapshot is served as it is")

            // The next merge hangs: requests for an aging snapshot still get the old one at once.
            source.hold()
            #expect(await waitFor { ContinuousClock.now - first.at > ClusterMonitor.freshFor })
            let aging = await monitor.serve()
            #expect(aging.at == first.at)
            #expect(await waitFor { source.merges == 2 }, "the aging snapshot asked run() for the next")
            let again = await monitor.serve()
            #expect(again.at == first.at)
            #expect(source.merges == 2, "one refresh at a time")

            source.release()
            #expect(await waitFor { await monitor.serve().health.observer == "merge 2" }, "the new snapshot replaces the old")
            group.cancelAll()
        }
    }

    @Test("without a running monitor, a request for a view past servableFor merges it itself")
    func servesWithoutRun() async throws {
        let source = CountingSource { Self.view([ClusterHealthTests.report(0)], observer: "merge \($0)") }
        let monitor = ClusterMonitor(interval: .seconds(3600), factory: TestMetrics()) { await source.merge() }
        #expect(await monitor.serve().health.observer == "merge 1", "no snapshot yet: the request merges")
        #expect(await monitor.serve().health.observer == "merge 1")
        #expect(await waitFor { await monitor.serve().health.observer == "merge 2" })
    }

    @Test("each sample sets the cluster gauges; the history gains an entry only when something changed")
    func gaugesAndHistory() async throws {
        let metrics = TestMetrics()
        let healthy = (0..<5).map { ClusterHealthTests.report($0) }
        var withDead = healthy
        withDead[4] = ClusterHealthTests.report(4, state: .dead)
        let views = [Self.view(healthy), Self.view(healthy), Self.view(withDead)]
        let source = CountingSource { views[min($0, views.count) - 1] }
        let monitor = ClusterMonitor(interval: .seconds(3600), factory: metrics) { await source.merge() }

        await monitor.sample()
        #expect(try metrics.expectGauge(ClusterMetricNames.status, [("status", "healthy")]).lastValue == 1)
        #expect(try metrics.expectGauge(ClusterMetricNames.nodes, [("status", "healthy")]).lastValue == 5)
        #expect(try metrics.expectGauge(ClusterMetricNames.members, [("state", "alive")]).lastValue == 5)
        #expect(try metrics.expectGauge(ClusterMetricNames.electionAgreement).lastValue == 1)
        #expect(try metrics.expectGauge(ClusterMetricNames.replicationFactor).lastValue == 3)
        await monitor.sample()
        #expect(await monitor.history().count == 1, "nothing changed: no second entry")

        await monitor.sample()
        let history = await monitor.history()
        #expect(history.map(\.status) == ["healthy", "degraded"])
        #expect(history.last?.unknown == 1 && history.last?.healthy == 4)
        #expect(history.last?.reason == "n4 is dead")
        #expect(try metrics.expectGauge(ClusterMetricNames.status, [("status", "degraded")]).lastValue == 1)
        #expect(try metrics.expectGauge(ClusterMetricNames.status, [("status", "healthy")]).lastValue == 0)
        #expect(try metrics.expectGauge(ClusterMetricNames.staleNodes).lastValue == 1)
        #expect(try metrics.expectGauge(ClusterMetricNames.members, [("state", "dead")]).lastValue == 1)
    }
}
