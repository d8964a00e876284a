import NodeHealth
import Synchronization

/// What `grpc.health.v1.Health` answers, by service name, and who watches which: one board per
/// node, fed by ``GRPCHealthServer`` whenever the node's health changes, read by every RPC.
///
/// Watchers get the newest status only (a slow reader skips intermediate ones, as grpc-go's
/// health server does): a stream holds one pending message at most, whatever the churn.
public final class ServingStatusBoard: Sendable {
    /// `grpc.health.v1.HealthCheckResponse.ServingStatus`, in our own type (the generated ones
    /// stay inside this package).
    public enum Status: Sendable, Hashable {
        case unknown, serving, notServing, serviceUnknown
    }

    /// The services a node serves: `""` its readiness, each check by its name, `cluster` the
    /// cluster view (SERVING when healthy or degraded, as `/health/ready` and `/cluster/health`).
    public static func statuses(of system: SystemStatus, cluster: HealthStatus?) -> [String: Status] {
        var statuses: [String: Status] = ["": system.status.isReady ? .serving : .notServing]
        for (name, result) in system.checks { statuses[name] = result.healthy ? .serving : .notServing }
        if let cluster { statuses[Self.clusterService] = cluster.isReady ? .serving : .notServing }
        return statuses
    }

    /// The service name of the cluster view.
    public static let clusterService = "cluster"

    private struct Watcher {
        let service: String
        let continuation: AsyncStream<Status>.Continuation
    }

    private struct State {
        var statuses: [String: Status] = [:]
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var shutDown = false
    }

    private let state = Mutex(State())

    public init() {}

    /// The status of `service`, or `nil` when there is no such service.
    public func status(of service: String) -> Status? { state.withLock { $0.statuses[service] } }

    /// Every service's status.
    public func snapshot() -> [String: Status] { state.withLock { $0.statuses } }

    /// Open watch streams.
    public var watcherCount: Int { state.withLock { $0.watchers.count } }

    /// Replaces the statuses (ignored once shut down) and tells the watchers of each service
    /// whose status changed, appeared (its status) or went away (SERVICE_UNKNOWN).
    public func update(_ statuses: [String: Status]) {
        let told: [(AsyncStream<Status>.Continuation, Status)] = state.withLock { state in
            guard !state.shutDown, state.statuses != statuses else { return [] }
            let before = state.statuses
            state.statuses = statuses
            return state.watchers.values.compactMap { watcher in
                let now = statuses[watcher.service] ?? .serviceUnknown
                return now == (before[watcher.service] ?? .serviceUnknown) ? nil : (watcher.continuation, now)
            }
        }
        for (continuation, status) in told { continuation.yield(status) }
    }

    /// Shutdown: every service turns NOT_SERVING at once, every watcher is told so and its
    /// stream then ends (a watch that never ended would hold the server's graceful shutdown).
    public func shutDown() {
        let watchers: [Watcher] = state.withLock { state in
            state.shutDown = true
            for service in state.statuses.keys { state.statuses[service] = .notServing }
            defer { state.watchers = [:] }
            return Array(state.watchers.values)
        }
        for watcher in watchers {
            watcher.continuation.yield(.notServing)
            watcher.continuation.finish()
        }
    }

    /// The statuses of `service`: the current one at once (SERVICE_UNKNOWN for an unknown
    /// service, which may appear later), then each change; it ends at shutdown.
    public func watch(_ service: String) -> AsyncStream<Status> {
        let (stream, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        let registered: Int? = state.withLock { state in
            continuation.yield(state.statuses[service] ?? .serviceUnknown)
            guard !state.shutDown else { return nil }
            state.nextWatcher += 1
            state.watchers[state.nextWatcher] = Watcher(service: service, continuation: continuation)
            return state.nextWatcher
        }
        guard let id = registered else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }
}
