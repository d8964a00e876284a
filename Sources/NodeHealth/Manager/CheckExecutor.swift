import Dispatch

/// The executor every checker runs on: a concurrent Dispatch queue of default priority (a
/// starved check would report a healthy node as failing), apart
/// from Swift's cooperative thread pool.
///
/// The cooperative pool has one thread per core and also runs the HTTP handlers. A checker
/// that computes for a while, or blocks a thread (synchronous file or socket I/O), would
/// otherwise hold those threads and queue the probes behind it. On this executor such work only
/// competes for CPU under the kernel's scheduler, and probe answers stay prompt.
public final class CheckExecutor: TaskExecutor {
    /// The executor the health manager uses.
    public static let shared = CheckExecutor()

    private let queue = DispatchQueue(label: "chorus.health.checks", attributes: .concurrent)

    private init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
