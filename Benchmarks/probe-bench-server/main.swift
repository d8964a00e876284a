// A node with many registered checks, for measuring probe latency with wrk (see BENCHMARKS.md).
//
//   probe-bench-server PORT CHECKS BUSY
//
// registers CHECKS checks every second; BUSY of them burn about 20 ms of CPU per run, the rest
// return at once. Serves the health endpoints on 127.0.0.1:PORT until SIGINT or SIGTERM.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import NodeHealth
import NodeHealthHTTP
import ServiceLifecycle

let arguments = CommandLine.arguments
guard arguments.count == 4, let port = Int(arguments[1]), let total = Int(arguments[2]), let busy = Int(arguments[3]),
    busy <= total
else {
    print("usage: probe-bench-server PORT CHECKS BUSY")
    exit(64)
}

/// About 20 ms of CPU: hashing in a loop, so the work cannot be optimised away.
@Sendable func burn() -> UInt64 {
    var hash: UInt64 = 1_469_598_103_934_665_603
    let deadline = ContinuousClock.now + .milliseconds(20)
    while ContinuousClock.now < deadline {
        for byte in 0..<1024 { hash = (hash ^ UInt64(byte & 0xff)) &* 1_099_511_628_211 }
    }
    return hash
}

let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let manager = HealthManager(settings: .init(nodeID: "bench", version: "bench", logger: quiet))
for index in 0..<total {
    let isBusy = index < busy
    try await manager.register(
        HealthCheck(name: "check-\(index < 10 ? "0" : "")\(index)", interval: .seconds(1), timeout: .seconds(5)) { _ in
            if isBusy {
                let hash = burn()
                return .pass("busy check done", details: ["hash": .integer(hash % 1000)])
            }
            return .pass("ok", details: ["index": .integer(index)])
        })
}
let app = Application(
    router: HealthHTTP.makeRouter(manager: manager),
    configuration: .init(address: .hostname("127.0.0.1", port: port)),
    logger: quiet)
let group = ServiceGroup(
    configuration: .init(
        services: [.init(service: app), .init(service: manager)],
        gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
try await group.run()
