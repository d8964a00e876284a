import NodeHealth
import Testing

/// The scheduling rules, driven with injected time only.
@Suite("HealthScheduler")
struct SchedulerTests {
    let t0 = Duration.zero

    @Test("an enabled check is due at once, then one interval after each start")
    func cadence() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "a", interval: .seconds(30), enabled: true, now: t0)
        #expect(scheduler.nextWake == t0)
        let first = scheduler.startDueRuns(now: t0)
        #expect(first.map(\.name) == ["a"])
        #expect(scheduler.nextWake == nil, "a running check is not due")
        let finished = scheduler.finish(first[0], now: .milliseconds(20))
        #expect(finished)
        #expect(scheduler.nextWake == .seconds(30), "interval counts from the start of the run")
        let early = scheduler.startDueRuns(now: .seconds(29))
        #expect(early.isEmpty)
        let second = scheduler.startDueRuns(now: .seconds(30))
        #expect(second.map(\.name) == ["a"])
    }

    @Test("the second run comes firstGap intervals after the first, the later ones an interval apart; NaN counts as 1, a negative gap as 0")
    func firstGap() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "a", interval: .seconds(30), enabled: true, now: t0, firstGap: 0.25)
        scheduler.register(name: "b", interval: .seconds(30), enabled: true, now: t0, firstGap: .nan)
        scheduler.register(name: "c", interval: .seconds(30), enabled: true, now: t0, firstGap: -3)
        for run in scheduler.startDueRuns(now: t0) {
            let finished = scheduler.finish(run, now: .milliseconds(5))
            #expect(finished)
        }
        #expect(scheduler.nextWake == .milliseconds(5), "c's negative gap counts as 0: due as soon as its first run finished")
        let due = scheduler.startDueRuns(now: .milliseconds(7500))
        #expect(due.map(\.name) == ["a", "c"])
        for run in due {
            let finished = scheduler.finish(run, now: .milliseconds(7600))
            #expect(finished)
        }
        let later = scheduler.startDueRuns(now: .seconds(30))
        #expect(later.map(\.name) == ["b"], "b's NaN gap counts as a whole interval")
        #expect(scheduler.startDueRuns(now: .milliseconds(37_499)).isEmpty)
        #expect(scheduler.startDueRuns(now: .milliseconds(37_500)).map(\.name) == ["a", "c"], "then an interval apart")
    }

    @Test("each check keeps its own interval")
    func independentIntervals() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "fast", interval: .seconds(1), enabled: true, now: t0)
        scheduler.register(name: "slow", interval: .seconds(10), enabled: true, now: t0)
        var runsOfFast = 0
        var runsOfSlow = 0
        var now = t0
        while now <= .seconds(20) {
            for run in scheduler.startDueRuns(now: now) {
                if run.name == "fast" { runsOfFast += 1 } else { runsOfSlow += 1 }
                let finished = scheduler.finish(run, now: now + .milliseconds(5))
                #expect(finished)
            }
            now += .milliseconds(100)
        }
        #expect(runsOfFast == 21)
        #expect(runsOfSlow == 3)
    }

    @Test("a disabled check never runs")
    func disabled() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "off", interval: .seconds(1), enabled: false, now: t0)
        #expect(scheduler.nextWake == nil)
        let none = scheduler.startDueRuns(now: .seconds(100))
        #expect(none.isEmpty)
    }

    @Test("a check never runs twice at once, and a run longer than its interval is followed at once")
    func noOverlap() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "slow", interval: .seconds(1), enabled: true, now: t0)
        let run = scheduler.startDueRuns(now: t0)[0]
        let overlapping = scheduler.startDueRuns(now: .seconds(5))
        #expect(overlapping.isEmpty)
        let finished = scheduler.finish(run, now: .seconds(5))
        #expect(finished)
        #expect(scheduler.nextWake == .seconds(5))
        let next = scheduler.startDueRuns(now: .seconds(5))
        #expect(next.count == 1)
    }

    @Test("unregistering or replacing a check makes its running run stale")
    func staleRuns() {
        var scheduler = HealthScheduler()
        scheduler.register(name: "a", interval: .seconds(1), enabled: true, now: t0)
        let run = scheduler.startDueRuns(now: t0)[0]
        scheduler.unregister(name: "a")
        let finished = scheduler.finish(run, now: .seconds(1))
        #expect(!finished)
        #expect(scheduler.token(of: "a") == nil)

        scheduler.register(name: "b", interval: .seconds(1), enabled: true, now: t0)
        let old = scheduler.startDueRuns(now: t0)[0]
        let token = scheduler.register(name: "b", interval: .seconds(1), enabled: true, now: .milliseconds(10))
        #expect(token != old.token)
        let finishedOld = scheduler.finish(old, now: .milliseconds(20))
        #expect(!finishedOld)
        let fresh = scheduler.startDueRuns(now: .milliseconds(20))
        #expect(fresh.map(\.token) == [token])
    }

    @Test("nextWake is the earliest due idle check")
    func nextWake() {
        var scheduler = HealthScheduler()
        #expect(scheduler.nextWake == nil)
        scheduler.register(name: "a", interval: .seconds(5), enabled: true, now: .seconds(3))
        scheduler.register(name: "b", interval: .seconds(2), enabled: true, now: .seconds(1))
        #expect(scheduler.nextWake == .seconds(1))
        let runs = scheduler.startDueRuns(now: .seconds(3))
        #expect(runs.map(\.name) == ["a", "b"])
        for run in runs { _ = scheduler.finish(run, now: .seconds(3)) }
        #expect(scheduler.nextWake == .seconds(5))
    }
}
