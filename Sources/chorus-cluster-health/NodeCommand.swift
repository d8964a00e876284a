import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Logging
import Metrics
import NodeHealth
import Prometheus
import ServiceLifecycle

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node: health checks, the /health probes and /metrics.",
        discussion: """
            Stops gracefully on SIGINT or SIGTERM: the probes answer 503 at once, then the server \
            closes after --drain-delay seconds.
            """
    )

    @Option(help: "HTTP port for the probes and /metrics (0 picks a free port).")
    var httpPort: Int = 8081

    @Option(help: "Address the HTTP server listens on.")
    var httpHost: String = "0.0.0.0"

    @Option(help: "This node's identifier (default: the host name).")
    var nodeId: String?

    @Option(help: "Path whose file system the disk-space check watches.")
    var diskPath: String = "/"

    @Option(help: "Disk usage ratio (0-1) above which disk-space fails.")
    var diskThreshold: Double = 0.90

    @Option(help: "Memory usage ratio (0-1) above which memory-usage fails.")
    var memoryThreshold: Double = 0.85

    @Option(help: "Seconds the probes answer 503 before the server closes on shutdown.")
    var drainDelay: Double = 0

    @Flag(inversion: .prefixedNo, help: "Shut the node down gracefully when a critical check fails.")
    var shutdownOnCritical: Bool = true

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0 to 65535") }
        guard (0...1).contains(diskThreshold) else { throw ValidationError("--disk-threshold must be 0 to 1") }
        guard (0...1).contains(memoryThreshold) else { throw ValidationError("--memory-threshold must be 0 to 1") }
        guard drainDelay >= 0 else { throw ValidationError("--drain-delay must not be negative") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let nodeId, nodeId.isEmpty { throw ValidationError("--node-id must not be empty") }
        guard resolvedDiskPath != nil else { throw ValidationError("--disk-path \(diskPath): no such file or directory") }
    }

    /// `--disk-path` as an absolute path without symbolic links, or `nil` when it does not exist.
    var resolvedDiskPath: String? {
        guard let resolved = realpath(diskPath, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "chorus.node")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(HelpfulPrometheusFactory(registry: registry, help: HealthMetricNames.help))

        let manager = HealthManager(
            settings: .init(
                nodeID: nodeId ?? ProcessInfo.processInfo.hostName,
                version: ProductVersion.current,
                shutdownOnCriticalFailure: shutdownOnCritical,
                drainDelay: .milliseconds(Int64(drainDelay * 1000)),
                logger: Logger(label: "chorus.health")))
        try await manager.register(.createDiskSpaceCheck(path: resolvedDiskPath ?? diskPath, threshold: diskThreshold))
        try await manager.register(.createMemoryCheck(threshold: memoryThreshold))

        let router = HealthHTTP.makeRouter(manager: manager, additionalPaths: ["/metrics"])
        router.get("/metrics") { _, _ in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let host = httpHost
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: httpPort), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shown = host == "0.0.0.0" ? "127.0.0.1" : host
                logger.notice(
                    "node ready",
                    metadata: [
                        "health": "http://\(shown):\(port)/health",
                        "metrics": "http://\(shown):\(port)/metrics",
                    ])
            },
            logger: Logger(label: "chorus.http"))
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: app),
                    .init(service: manager, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let failure as HealthManager.CriticalCheckFailure {
            logger.critical("stopped: \(failure)")
            throw ExitCode(2)
        } catch {
            logger.critical("stopped: \(describe(error, host: host, port: httpPort))")
            throw ExitCode.failure
        }
    }

    private func describe(_ error: any Error, host: String, port: Int) -> String {
        let text = String(describing: error)
        if text.contains("Address already in use") || text.contains("errno: 98") {
            return "cannot listen on \(host):\(port): the address is already in use"
        }
        return text
    }
}
