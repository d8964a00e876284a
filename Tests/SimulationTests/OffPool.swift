import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing

/// Expectations recorded on another thread, reported from the test's own task.
final class Expectations: Sendable {
    private let records = Mutex<[(Bool, String, SourceLocation)]>([])

    func expect(_ condition: Bool, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        records.withLock { $0.append((condition, comment, sourceLocation)) }
    }

    func report() {
        for (condition, comment, location) in records.withLock({ $0 }) {
            #expect(condition, Comment(rawValue: comment), sourceLocation: location)
        }
    }
}

/// How many simulations run at once: one by default (they are CPU-bound, the machines have 2
/// cores, and real-time tests may be running beside them); `CHORUS_SIMULATIONS_PARALLEL=N` lets
/// `make test` run N at once in its second phase, when the simulations run alone.
private let simulationSlots: DispatchSemaphore = {
    let requested = getenv("CHORUS_SIMULATIONS_PARALLEL").flatMap { Int(String(cString: $0)) } ?? 1
    return DispatchSemaphore(value: max(1, min(requested, 16)))
}()
private let simulationQueue = DispatchQueue(label: "chorus.simulations", attributes: .concurrent)

/// Runs a long, synchronous simulation on its own thread (at most ``simulationSlots`` at a
/// time) instead of Swift's cooperative pool (one thread per core): tests that run in parallel
/// with it, such as the health manager's real-time tests, keep the pool and most of the CPU.
func offPool(_ body: @escaping @Sendable (Expectations) -> Void) async {
    let expectations = Expectations()
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        simulationQueue.async {
            simulationSlots.wait()
            defer { simulationSlots.signal() }
            body(expectations)
            continuation.resume()
        }
    }
    expectations.report()
}
