import MetricsTestKit
import NodeHealth
import Testing
import NodeHealthTesting

@Suite("Metrics with their documented names")
struct MetricsTests {
    @Test("passed and failed counters by check_name, duration timer, health score and status gauges")
    func emitted() async throws {
        let metrics = TestMetrics()
        let manager = makeManager(metricsFactory: metrics)
        let healthy = Switch(true)
        let goodRuns = RunCounter()
        try await manager.register(switchCheck("good", healthy: Switch(true), runs: goodRuns))
        try await manager.register(switchCheck("bad", healthy: healthy))
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            healthy.value = false
            await eventually("degraded") { manager.status().status == .degraded }
            let passed = try metrics.expectCounter(HealthMetricNames.checksPassed, [("check_name", "good")])
            #expect(passed.totalValue >= 1)
            let failed = try metrics.expectCounter(HealthMetricNames.checksFailed, [("check_name", "bad")])
            #expect(failed.totalValue >= 1)
            let timer = try metrics.expectTimer(HealthMetricNames.checkDuration, [("check_name", "good")])
            #expect(!timer.values.isEmpty)
            let score = try metrics.expectGauge(HealthMetricNames.systemHealthScore)
            #expect(score.lastValue == 0.5)
            let degraded = try metrics.expectGauge(HealthMetricNames.status, [("status", "degraded")])
            #expect(degraded.lastValue == 1.0)
            let healthyGauge = try metrics.expectGauge(HealthMetricNames.status, [("status", "healthy")])
            #expect(healthyGauge.lastValue == 0.0)
        }
    }

    @Test("every metric name has help text for exporters")
    func helpTexts() {
        for name in [
            HealthMetricNames.checksPassed, HealthMetricNames.checksFailed, HealthMetricNames.systemHealthScore,
            HealthMetricNames.checkDuration, HealthMetricNames.status,
        ] {
            #expect(HealthMetricNames.help[name]?.isEmpty == false, "\(name)")
        }
    }
}
