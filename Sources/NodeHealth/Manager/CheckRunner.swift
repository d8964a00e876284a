#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Runs one check invocation under its timeout.
///
/// The checker runs in an unstructured `Task` on its check's ``CheckExecutor``, deliberately: a checker that ignores
/// cancellation must not hold its run past the deadline, and a child task would (a task
/// group always waits for all of its children). At the deadline the run ends with a
/// "timed out" result, the checker's task is cancelled and its late result is dropped.
/// The manager starts no new run of a check while its previous checker task is still alive,
/// so at most one abandoned task exists per check.
enum CheckRunner {
    /// How an invocation ended.
    enum Outcome: Sendable {
        case returned(CheckResult)
        case threw(String)
        case timedOut
        case cancelled
    }

    /// Tracks one checker task: whether it has returned, and the single waiter for its outcome.
    final class Invocation: Sendable {
        private struct State {
            var outcome: Outcome?
            var waiter: CheckedContinuation<Outcome, Never>?
            var waiterCancelled = false
        }

        private let state = Mutex(State())

        /// Whether the checker's task has returned (normally or by throwing).
        var isFinished: Bool { state.withLock { $0.outcome != nil } }

        func finish(_ outcome: Outcome) {
            let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: outcome)
        }

        /// Waits for the checker's outcome; returns `.cancelled` at once if the waiting task is cancelled.
        func wait() async -> Outcome {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let immediate = state.withLock { state -> Outcome? in
                        if let outcome = state.outcome { return outcome }
                        if state.waiterCancelled { return .cancelled }
                        state.waiter = continuation
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
                    state.waiterCancelled = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: .cancelled)
            }
        }
    }

    /// Runs `check` once, enforcing its timeout. Never throws and never outlives the deadline.
    static func execute(_ check: HealthCheck, on executor: CheckExecutor, invocation: Invocation) async -> CheckResult {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + check.timeout
        let context = HealthCheck.Context(name: check.name, deadline: deadline)
        let checker = check.checker
        let worker = Task(executorPreference: executor) {
            do {
                invocation.finish(.returned(try await checker(context)))
            } catch {
                invocation.finish(.threw(String(describing: error)))
            }
        }
        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask { await invocation.wait() }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            return first
        }
        switch outcome {
        case .timedOut, .cancelled: worker.cancel()
        case .returned, .threw: break
        }
        let latency = clock.now - start
        return result(for: outcome, check: check, latency: latency)
    }

    static func result(for outcome: Outcome, check: HealthCheck, latency: Duration) -> CheckResult {
        switch outcome {
        case .returned(var result):
            if result.latency == .zero { result.latency = latency }
            return result
        case .threw(let error):
            return CheckResult(healthy: false, message: "Check failed: \(error)", latency: latency, error: error)
        case .timedOut:
            let limit = TimeFormatting.goDuration(check.timeout)
            return CheckResult(
                healthy: false, message: "Check timed out after \(limit)", latency: latency,
                error: "timed out after \(limit)")
        case .cancelled:
            return CheckResult(healthy: false, message: "Check cancelled", latency: latency, error: "cancelled")
        }
    }
}
