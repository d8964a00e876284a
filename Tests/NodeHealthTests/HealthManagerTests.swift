import Foundation
import Logging
import NodeHealth
import ServiceLifecycle
import Synchronization
import Testing
import NodeHealthTesting

@Suite("HealthManager with real time")
struct HealthManagerTests {
    @Test("the documented integration test: 1 s interval, healthy after the first run")
    func documentedIntegration() async throws {
        let manager = makeManager(nodeID: "test-node")
        try await manager.register(
            HealthCheck(name: "mock-check", interval: .seconds(1), timeout: .milliseconds(500)) { _ in
                CheckResult(healthy: true, message: "Mock check passed")
            })
        #expect(manager.status().status == .starting, "starting before the manager runs")
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            let status = manager.status()
            #expect(status.checks["mock-check"]?.message == "Mock check passed")
            #expect(status.nodeID == "test-node")
            #expect(status.version == "v1.0.0")
            let check = try #require(await manager.check(named: "mock-check"))
            #expect(check.lastRun != nil)
            #expect(check.lastResult?.healthy == true)
        }
        #expect(manager.status().status == .stopping, "stopping after stop, and it stays")
    }

    @Test("a thrown error becomes an unhealthy result carrying the error text")
    func thrownError() async throws {
        struct BrokenPipe: Error, CustomStringConvertible { var description: String { "pipe broke" } }
        let manager = makeManager()
        try await manager.register(HealthCheck(name: "thrower", interval: .seconds(1)) { _ in throw BrokenPipe() })
        try await withRunning(manager) { manager in
            await eventually("a result") { manager.status().checks["thrower"] != nil }
            let result = try #require(manager.status().checks["thrower"])
            #expect(!result.healthy)
            #expect(result.error == "pipe broke")
            #expect(result.message.contains("pipe broke"))
            #expect(manager.status().status == .degraded)
        }
    }

    @Test("a check that ignores cancellation times out at its deadline while others keep their cadence")
    func timeoutContained() async throws {
        let manager = makeManager()
        let hangs = RunCounter()
        let returned = RunCounter()
        let ticks = RunCounter()
        // The checker waits, ignoring cancellation, until the test releases it: whatever the load
        // on the machine, the timeout result must come while it still hangs. The next run (4 s)
        // leaves 3.8 s after the timeout to read that result: CI runs this beside CPU-bound
        // simulations on two cores, and a poll there has been seen to wait 2 s for its turn.
        let release = Stepper()
        try await manager.register(
            HealthCheck(name: "hung", interval: .seconds(4), timeout: .milliseconds(200), critical: true) { _ in
                hangs.increment()
                _ = await release.next()
                returned.increment()
                return .pass("too late")
            })
        try await manager.register(switchCheck("steady", healthy: Switch(true), runs: ticks, interval: .milliseconds(50)))
        try await withRunning(manager) { manager in
            defer { release.finish() }
            await eventually("the timeout result") { manager.status().checks["hung"] != nil }
            let result = try #require(manager.status().checks["hung"])
            #expect(!result.healthy)
            #expect(result.message == "Check timed out after 200ms")
            #expect(result.error == "timed out after 200ms")
            #expect(returned.value == 0, "the result arrives at the deadline, not when the checker returns")
            #expect(manager.status().status == .unhealthy)
            // Meanwhile the other check keeps running on its own interval.
            let before = ticks.value
            await eventually("steady keeps its cadence") { ticks.value >= before + 5 }
            // At its next run the hung checker has still not returned: no second copy is started,
            // and the result says why.
            await eventually("the next run reports the hang") {
                manager.status().checks["hung"]?.error == "previous run still in progress"
            }
            #expect(hangs.value == 1 && returned.value == 0)
            #expect(manager.status().status == .unhealthy)
        }
    }

    @Test("checks can be registered and unregistered while running")
    func registerWhileRunning() async throws {
        let manager = makeManager()
        let runs = RunCounter()
        try await withRunning(manager) { manager in
            await eventually("healthy with no checks") { manager.status().status == .healthy }
            try await manager.register(switchCheck("late", healthy: Switch(false), runs: runs))
            await eventually("the late check ran") { manager.status().checks["late"] != nil }
            #expect(manager.status().status == .degraded)
            #expect(manager.status().message == "Non-critical checks failing: late")
            #expect(await manager.unregister("late"))
            #expect(manager.status().checks["late"] == nil)
            #expect(manager.status().status == .healthy)
            let after = runs.value
            try await Task.sleep(for: .milliseconds(200))
            #expect(runs.value <= after + 1, "an unregistered check stops running (one run may have been in flight)")
            #expect(manager.lookup("late") == .unknown)
            #expect(!(await manager.unregister("late")))
        }
    }

    @Test("disabled checks never run and do not count")
    func disabledChecks() async throws {
        let manager = makeManager()
        let runs = RunCounter()
        var check = switchCheck("off", healthy: Switch(false), runs: runs)
        check.enabled = false
        try await manager.register(check)
        try await manager.register(switchCheck("on", healthy: Switch(true)))
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            try await Task.sleep(for: .milliseconds(150))
            #expect(runs.value == 0)
            #expect(manager.lookup("off") == .disabled)
        }
    }

    @Test("hysteresis: failureThreshold failures before failing, successThreshold passes before passing")
    func hysteresisEndToEnd() async throws {
        let manager = makeManager()
        // Each run waits for the test to hand it a result, so the test sees every step whatever the
        // machine's load (polling a 50 ms check for "exactly one failure" once missed it on CI).
        let results = Stepper()
        try await manager.register(
            HealthCheck(
                name: "flaky", interval: .milliseconds(10), timeout: .seconds(600), critical: true,
                failureThreshold: 3, successThreshold: 2
            ) { _ in await results.next() ? .pass("flaky ok") : .fail("flaky broken") })
        try await withRunning(manager) { manager in
            results.allow(true)
            await eventually("one first pass") { await manager.state(of: "flaky")?.consecutiveSuccesses == 1 }
            #expect(manager.status().status == .starting, "successThreshold counts from the start too")
            results.allow(true)
            await eventually("healthy") { manager.status().status == .healthy }
            results.allow(false)
            let passed = try #require(manager.status().checks["flaky"])
            #expect(passed.lastTransition == passed.timestamp, "the run that made it pass is its last transition")
            await eventually("one failed run") { await manager.state(of: "flaky")?.consecutiveFailures == 1 }
            #expect(manager.status().status == .healthy, "one failure of three does not fail the check")
            let failedOnce = try #require(manager.status().checks["flaky"])
            #expect(!failedOnce.healthy && failedOnce.timestamp > passed.timestamp)
            #expect(failedOnce.lastTransition == passed.timestamp, "a failure below the threshold is no transition")
            results.allow(false)
            await eventually("two failed runs") { await manager.state(of: "flaky")?.consecutiveFailures == 2 }
            #expect(manager.status().status == .healthy, "two failures of three do not fail the check")
            results.allow(false)
            await eventually("unhealthy after three failures") { manager.status().status == .unhealthy }
            #expect(await manager.state(of: "flaky")?.consecutiveFailures == 3)
            let failing = try #require(manager.status().checks["flaky"])
            #expect(failing.lastTransition == failing.timestamp && failing.timestamp > failedOnce.timestamp)
            results.allow(true)
            await eventually("one passing run") { await manager.state(of: "flaky")?.consecutiveSuccesses == 1 }
            #expect(manager.status().status == .unhealthy, "one pass of two does not restore the check")
            results.allow(true)
            await eventually("healthy after two passes") { manager.status().status == .healthy }
            #expect(await manager.state(of: "flaky")?.consecutiveSuccesses == 2)
            results.finish()
        }
    }

    @Test("a run() after stop() returns at once; a second run() throws")
    func lifecycleEdges() async throws {
        let manager = makeManager()
        manager.stop()
        try await manager.run()
        #expect(manager.status().status == .stopping)
        await #expect(throws: HealthManager.AlreadyRunError.self) { try await manager.run() }
    }

    @Test("invalid checks are refused with a clear error")
    func validation() async throws {
        let manager = makeManager()
        await #expect(throws: HealthCheckError.invalid(name: "", reason: "name must not be empty")) {
            try await manager.register(HealthCheck(name: "") { _ in .pass("x") })
        }
        await #expect(throws: HealthCheckError.invalid(name: "x", reason: "interval must be positive")) {
            try await manager.register(HealthCheck(name: "x", interval: .zero) { _ in .pass("x") })
        }
        await #expect(throws: HealthCheckError.self) {
            try await manager.register(HealthCheck(name: "x", failureThreshold: 0) { _ in .pass("x") })
        }
        #expect(await manager.registeredChecks().isEmpty)
    }
}

/// A service that runs until graceful shutdown and records that it saw it.
private struct WaitingService: Service {
    let sawShutdown: Switch
    func run() async throws {
        try? await gracefulShutdown()
        sawShutdown.value = true
    }
}

@Suite("Shutdown the ServiceLifecycle way")
struct ShutdownTests {
    @Test("a failing critical check shuts the whole service group down gracefully")
    func criticalFailureEndsGroup() async throws {
        let manager = makeManager(shutdownOnCriticalFailure: true)
        try await manager.register(switchCheck("database-connectivity", healthy: Switch(false), critical: true))
        let other = Switch(false)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: WaitingService(sawShutdown: other)),
                    .init(service: manager, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        await #expect(throws: HealthManager.CriticalCheckFailure.self) { try await group.run() }
        #expect(other.value, "the other service was shut down gracefully")
        let status = manager.status()
        #expect(status.status == .stopping)
        #expect(status.message.contains("database-connectivity"))
    }

    @Test("within the startup grace a failing critical check leaves the node running, unhealthy, even after it passed")
    func startupGrace() async throws {
        let manager = HealthManager(
            settings: .init(
                nodeID: "node-123", version: "v1.0.0", shutdownOnCriticalFailure: true, startupGrace: .seconds(3600),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        let healthy = Switch(false)
        let runs = RunCounter()
        try await manager.register(switchCheck("dht", healthy: healthy, runs: runs, critical: true))
        try await withRunning(manager) { manager in
            // Ten failed runs (every 50 ms): unhealthy, not stopping.
            // Generous: a loaded fresh-clone run once gave this check fewer than ten 50-ms runs in 20 s.
            await eventually(timeout: .seconds(60), "ten runs") { runs.value >= 10 }
            #expect(manager.status().status == .unhealthy)
            // It passes, as a DHT probe may with the first few members, then fails again.
            healthy.value = true
            await eventually("healthy") { manager.status().status == .healthy }
            healthy.value = false
            let failedFrom = runs.value
            await eventually(timeout: .seconds(60), "ten more runs") { runs.value >= failedFrom + 10 }
            #expect(manager.status().status == .unhealthy)
        }
    }

    @Test("without shutdown on critical failure the node only turns unhealthy")
    func criticalFailureWithoutShutdown() async throws {
        let manager = makeManager(shutdownOnCriticalFailure: false)
        try await manager.register(switchCheck("db", healthy: Switch(false), critical: true))
        try await withRunning(manager) { manager in
            await eventually("unhealthy") { manager.status().status == .unhealthy }
            try await Task.sleep(for: .milliseconds(120))
            #expect(manager.status().status == .unhealthy)
        }
    }

    @Test("graceful shutdown turns the status to stopping at once, before the drain delay ends")
    func stoppingImmediately() async throws {
        let manager = makeManager(drainDelay: .milliseconds(300))
        try await manager.register(switchCheck("a", healthy: Switch(true)))
        let finished = Switch(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await manager.run()
                finished.value = true
            }
            await eventually("healthy") { manager.status().status == .healthy }
            manager.stop()
            #expect(manager.status().status == .stopping, "stopping the moment shutdown begins")
            #expect(!manager.status().status.isLive)
            #expect(!finished.value, "run() is still draining")
            try await group.waitForAll()
        }
        #expect(finished.value)
        #expect(manager.status().status == .stopping)
    }
}
