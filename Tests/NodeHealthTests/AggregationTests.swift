import NodeHealth
import Testing

@Suite("Aggregation rules and hysteresis")
struct AggregationTests {
    typealias Input = HealthAggregator.Input

    @Test("starting before start, stopping once shutdown begins")
    func phases() {
        let passing = [Input(name: "a", critical: true, verdict: .passing)]
        #expect(HealthAggregator.evaluate(passing, phase: .notStarted).status == .starting)
        let stopping = HealthAggregator.evaluate(passing, phase: .stopping(reason: "System is shutting down"))
        #expect(stopping.status == .stopping)
        #expect(stopping.message == "System is shutting down")
    }

    @Test("starting until every enabled check has a first result")
    func pending() {
        let result = HealthAggregator.evaluate(
            [Input(name: "b", critical: false, verdict: .pending), Input(name: "a", critical: false, verdict: .passing)],
            phase: .running)
        #expect(result.status == .starting)
        #expect(result.message == "Waiting for first results: b")
    }

    @Test("healthy when everything passes, with the documented message; healthy with no checks")
    func healthy() {
        let result = HealthAggregator.evaluate(
            [Input(name: "a", critical: true, verdict: .passing), Input(name: "b", critical: false, verdict: .passing)],
            phase: .running)
        #expect(result.status == .healthy)
        #expect(result.message == "All health checks passing")
        #expect(HealthAggregator.evaluate([], phase: .running).status == .healthy)
    }

    @Test("degraded when only non-critical checks fail; the message names them")
    func degraded() {
        let result = HealthAggregator.evaluate(
            [
                Input(name: "disk", critical: false, verdict: .failing),
                Input(name: "db", critical: true, verdict: .passing),
                Input(name: "cache", critical: false, verdict: .failing),
            ], phase: .running)
        #expect(result.status == .degraded)
        #expect(result.message == "Non-critical checks failing: cache, disk")
    }

    @Test("unhealthy when a critical check fails, even while others are pending")
    func unhealthy() {
        let result = HealthAggregator.evaluate(
            [
                Input(name: "db", critical: true, verdict: .failing),
                Input(name: "disk", critical: false, verdict: .failing),
                Input(name: "new", critical: false, verdict: .pending),
            ], phase: .running)
        #expect(result.status == .unhealthy)
        #expect(result.message == "Critical checks failing: db; non-critical checks failing: disk")
    }

    @Test("score is the passing share of decided checks")
    func score() {
        #expect(HealthAggregator.score([]) == 1.0)
        let inputs = [
            Input(name: "a", critical: true, verdict: .passing), Input(name: "b", critical: false, verdict: .failing),
            Input(name: "c", critical: false, verdict: .pending), Input(name: "d", critical: false, verdict: .passing),
            Input(name: "e", critical: false, verdict: .passing),
        ]
        #expect(HealthAggregator.score(inputs) == 0.75)
    }

    @Test("default thresholds: every run decides")
    func defaultThresholds() {
        var state = CheckState()
        #expect(state.verdict == .pending)
        var changed = state.record(healthy: false, failureThreshold: 1, successThreshold: 1)
        #expect(changed)
        #expect(state.verdict == .failing)
        changed = state.record(healthy: true, failureThreshold: 1, successThreshold: 1)
        #expect(changed)
        #expect(state.verdict == .passing)
        changed = state.record(healthy: true, failureThreshold: 1, successThreshold: 1)
        #expect(!changed)
    }

    @Test("failureThreshold and successThreshold hold the verdict until enough runs in a row")
    func hysteresis() {
        var state = CheckState()
        state.record(healthy: true, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .pending, "one success of two needed")
        state.record(healthy: true, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .passing)
        state.record(healthy: false, failureThreshold: 3, successThreshold: 2)
        state.record(healthy: false, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .passing, "two failures of three needed")
        state.record(healthy: true, failureThreshold: 3, successThreshold: 2)
        #expect(state.consecutiveFailures == 0, "a pass resets the failure count")
        for _ in 0..<2 { state.record(healthy: false, failureThreshold: 3, successThreshold: 2) }
        #expect(state.verdict == .passing)
        state.record(healthy: false, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .failing)
        #expect(state.consecutiveFailures == 3)
        state.record(healthy: true, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .failing, "one success of two needed to pass again")
        state.record(healthy: true, failureThreshold: 3, successThreshold: 2)
        #expect(state.verdict == .passing)
    }
}
