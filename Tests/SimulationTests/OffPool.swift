import Dispatch
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

/// One simulation at a time: they are CPU-bound, and the machines have 2 cores.
private let simulationQueue = DispatchQueue(label: "chorus.simulations")

/// Runs a long, synchronous simulation on its own thread (one at a time) instead of Swift's
/// cooperative pool (one thread per core): tests that run in parallel with it, such as the
/// health manager's real-time tests, keep the pool and most of the CPU.
func offPool(_ body: @escaping @Sendable (Expectations) -> Void) async {
    let expectations = Expectations()
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        simulationQueue.async {
            body(expectations)
            continuation.resume()
        }
    }
    expectations.report()
}
