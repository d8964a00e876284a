// The event history's costs (see BENCHMARKS.md), for scripts/bench-history.sh:
//
//   history-bench fill PATH EVENTS           a fresh store at PATH with EVENTS events, in the
//                                            recorder's batches: events/s and bytes per event
//   history-bench serve PATH PORT SECONDS    /cluster/events over that store on 127.0.0.1:PORT
//   history-bench probes PORT SECONDS RATE   the probes of a manager with 20 checks on PORT while
//                                            RATE events/s are recorded (RATE 0: no history)
//
// Events are a realistic mix: 1000 members, member, status and check kinds, every third with one
// of 200 distinct signed statuses (a status is stored once however many events refer to it).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import ClusterEvents
import ClusterView
import GossipCore
import Hummingbird
import Logging
import NodeHealth
import NodeHealthHTTP
import ServiceLifecycle

let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let wallMillis: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

let keys = (0..<1000).map { _ in SigningKeyPair() }
let statuses: [SignedStatus] = (0..<200).map { i in
    let key = keys[i % keys.count]
    let projection = StatusProjection(
        publicKey: key.publicKey, generation: 1, version: UInt64(i), issuedAtMillis: 1_764_000_000_000, nodeID: "n\(i % 1000)",
        status: i % 7 == 0 ? .degraded : .healthy, message: "status \(i)", uptimeSeconds: 100, softwareVersion: "0.1.0",
        checks: (0..<9).map { .init(name: "check-\($0)", healthy: true, critical: $0 < 2, latencyMicros: 900, message: "ok") })
    return try! SignedStatus.sign(projection, with: key)
}

func event(_ i: Int, at millis: Int64) -> ClusterEvent {
    let status = i % 3 == 0 ? statuses[i % statuses.count] : nil
    let kinds: [EventKind] = [.member, .status, .check]
    return ClusterEvent(
        observedAtMillis: millis, node: "n\(i % 1000)", nodeKey: keys[i % 1000].publicKey, kind: kinds[i % 3],
        check: i % 3 == 2 ? "check-\(i % 9)" : nil, from: "healthy", to: i % 2 == 0 ? "degraded" : "healthy",
        message: "event \(i): something changed", signedStatus: status)
}

func fileBytes(_ path: String) -> Int {
    [path, path + "-wal", path + "-shm"].reduce(0) { total, file in
        total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "fill" where arguments.count == 3:
    let path = arguments[1]
    let total = Int(arguments[2]) ?? 1_000_000
    let batch = 1000
    let start = ContinuousClock.now
    do {
        // Closed at the end of this scope: SQLite checkpoints the WAL into the database.
        let store = try EventStore(path: path)
        var written = 0
        let base = wallMillis() - Int64(total)
        while written < total {
            let count = min(batch, total - written)
            _ = try store.append((written..<written + count).map { event($0, at: base + Int64($0)) })
            written += count
        }
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("filled \(total) events in batches of \(batch): \(Int(Double(total) / seconds)) events/s")
    print("on disk after closing: \(fileBytes(path)) bytes, \(fileBytes(path) / total) bytes per event (the database file; 1 in 3 events refers to one of 200 signed statuses)")

case "serve" where arguments.count == 4:
    guard let port = Int(arguments[2]), let seconds = Int(arguments[3]) else { exit(64) }
    let recorder = EventRecorder(settings: .init(path: arguments[1], observer: "bench"), logger: quiet, wallMillis: wallMillis)
    await recorder.step(now: .now)
    let memory = ClusterMemory(wallMillis: wallMillis)
    let app = Application(
        responder: NodeRoutes.router(serving: [EventsHTTP.routes(recorder: recorder, memory: memory, observer: "bench", wallMillis: wallMillis)])
            .buildResponder(),
        configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: quiet)
    print("serving /cluster/events on 127.0.0.1:\(port) for \(seconds) s")
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        try await Task.sleep(for: .seconds(seconds))
        group.cancelAll()
    }

case "probes" where arguments.count == 4:
    guard let port = Int(arguments[1]), let seconds = Int(arguments[2]), let rate = Int(arguments[3]) else { exit(64) }
    let manager = HealthManager(settings: .init(nodeID: "bench", version: "bench", logger: quiet))
    for index in 0..<20 {
        try await manager.register(HealthCheck(name: "check-\(index)", interval: .seconds(1), timeout: .seconds(5)) { _ in .pass("ok") })
    }
    let directory = FileManager.default.temporaryDirectory.path + "/history-bench-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let recorder = rate > 0 ? EventRecorder(settings: .init(path: directory + "/history.sqlite"), logger: quiet, wallMillis: wallMillis) : nil
    let app = Application(
        router: HealthHTTP.makeRouter(manager: manager), configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: quiet)
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app), .init(service: manager)]
    if let recorder { services.append(.init(service: recorder)) }
    let group = ServiceGroup(configuration: .init(services: services, logger: quiet))
    print("probes on 127.0.0.1:\(port) for \(seconds) s, recording \(rate) events/s")
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        // The events arrive as the gossip node would hand them over: a few at a time, spread
        // over each second (every 10 ms).
        let perTick = rate / 100
        var i = 0
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(seconds) {
            if let recorder, perTick > 0 {
                let now = wallMillis()
                recorder.record((i..<i + perTick).map { event($0, at: now) })
                i += perTick
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        if let recorder {
            let stored = (try? await recorder.events(EventFilter(limit: 1)).events.first?.id) ?? 0
            print("recorded \(i) events, stored \(stored) in \(seconds) s: \(Int(stored) / seconds) events/s stored")
        }
        await group.triggerGracefulShutdown()
        tasks.cancelAll()
    }

default:
    print("usage: history-bench fill PATH EVENTS | serve PATH PORT SECONDS | probes PORT SECONDS RATE")
    exit(64)
}
