import CoreMetrics
import Foundation
import Logging
import NodeHealth
import Synchronization
import Testing

/// A switch a check reads, flipped by the test.
public final class Switch: Sendable {
    private let state: Mutex<Bool>
    public init(_ value: Bool) { state = Mutex(value) }
    public var value: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// Counts events (check runs) from any task.
public final class RunCounter: Sendable {
    public init() {}
    private let state = Mutex(0)
    public func increment() { state.withLock { $0 += 1 } }
    public var value: Int { state.withLock { $0 } }
}

/// Whether a check from `/health` passes, not degraded. (Tests that need every check to pass run
/// `resource-health` once only: its CPU figure needs a second run, and would measure how busy the
/// two cores this suite shares with CPU-bound simulations are, not the node.)
public func passes(_ name: String, _ check: JSONValue?) -> Bool {
    guard let check else { return false }
    return check["healthy"] == true && check["details"]?["level"] == nil
}

/// Hands a check its results one run at a time: `next()` waits until the test calls `allow(_:)`.
/// After `finish()` every run passes at once (so the manager can stop).
public final class Stepper: Sendable {
    public init() {}
    private let state = Mutex<(allowed: [Bool], waiter: CheckedContinuation<Bool, Never>?, finished: Bool)>(([], nil, false))

    public func next() async -> Bool {
        await withCheckedContinuation { continuation in
            let ready: Bool? = state.withLock { state in
                if state.finished { return true }
                if !state.allowed.isEmpty { return state.allowed.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    public func allow(_ result: Bool) {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter else {
                state.allowed.append(result)
                return nil as CheckedContinuation<Bool, Never>?
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: result)
    }

    public func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: true)
    }
}

/// Suspends for `duration` without honouring cancellation, and without blocking a thread:
/// a checker that ignores its deadline.
public func uncancellableSleep(_ duration: Duration) async {
    let seconds = duration.seconds
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
    }
}

/// A check whose health is read from `healthy` on every run, counting runs in `runs`.
public func switchCheck(
    _ name: String, healthy: Switch, runs: RunCounter = RunCounter(), critical: Bool = false,
    interval: Duration = .milliseconds(50), failureThreshold: Int = 1, successThreshold: Int = 1
) -> HealthCheck {
    HealthCheck(
        name: name, interval: interval, timeout: .seconds(2), critical: critical,
        failureThreshold: failureThreshold, successThreshold: successThreshold
    ) { _ in
        runs.increment()
        return healthy.value ? .pass("\(name) ok") : .fail("\(name) broken")
    }
}

/// Waits (polling every 10 ms, at most `timeout`) until `condition` holds; records an issue if it never does.
/// The generous default only matters when something is wrong, or the machine is saturated.
@discardableResult
public func eventually(
    timeout: Duration = .seconds(20), _ what: @autoclosure () -> String = "condition",
    sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    let final = await condition()
    if !final { Issue.record("timed out waiting for \(what())", sourceLocation: sourceLocation) }
    return final
}

/// A manager with test settings.
public func makeManager(
    nodeID: String = "node-123", shutdownOnCriticalFailure: Bool = false,
    drainDelay: Duration = .zero, metricsFactory: (any MetricsFactory)? = nil
) -> HealthManager {
    HealthManager(
        settings: .init(
            nodeID: nodeID, version: "v1.0.0", shutdownOnCriticalFailure: shutdownOnCriticalFailure,
            drainDelay: drainDelay, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            metricsFactory: metricsFactory))
}


/// Runs `manager` for the duration of `body`, then stops it and waits for `run()` to return.
public func withRunning<T: Sendable>(
    _ manager: HealthManager, _ body: (HealthManager) async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await manager.run() }
        do {
            let value = try await body(manager)
            manager.stop()
            try await group.waitForAll()
            return value
        } catch {
            manager.stop()
            try? await group.waitForAll()
            throw error
        }
    }
}
