import Dispatch

/// The executor one check's checker runs on: a serial Dispatch queue of its own, of default
/// priority (a starved check would report a healthy node as failing), apart from Swift's
/// cooperative thread pool.
///
/// The cooperative pool has one thread per core and also runs the HTTP handlers. A checker
/// that computes for a while, or blocks a thread (synchronous file or socket I/O), would
/// otherwise hold those threads and queue the probes behind it.
///
/// Why a serial queue per check and not one concurrent queue for all: on Linux a concurrent
/// queue targets libdispatch's width-limited default root queue, the same pool of one thread per
/// core that Swift's global executor runs on, so ten checks burning CPU held both threads again
/// (busy-10 `/health/ready` p99 92 ms, BENCHMARKS.md). A serial queue targets the overcommit
/// root queue, which gives a busy queue a thread of its own; the work then only competes for
/// CPU under the kernel's scheduler. A check never runs twice at once (the manager starts no
/// run while the previous checker is alive), so serial costs nothing.
public final class CheckExecutor: TaskExecutor {
    private let queue: DispatchQueue

    /// An executor for the check called `name` (the name labels the thread in a debugger).
    public init(name: String) {
        queue = DispatchQueue(label: "chorus.health.check.\(name)")
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
