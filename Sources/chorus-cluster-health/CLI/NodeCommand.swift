import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ChorusNode
import ClusterEvents
import ClusterNotify
import ClusterView
import Gossip
import GossipCore
import Logging
import Metrics
import NodeHealth
import NodeHealthHTTP
import NodeGRPC
import Prometheus

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node: health checks, the /health probes, gossip with the cluster, and /metrics.",
        discussion: """
            The node signs its status with its Ed25519 key (--key-file, or DATA_DIR/node.key, created \
            on first start) and gossips it over UDP. It accepts the statuses of the keys listed in \
            --trust, or of any key with --trust-any; without either it trusts only itself.
            Stops gracefully on SIGINT or SIGTERM: the probes answer 503 at once, the node tells the \
            cluster it leaves, then the server closes after --drain-delay seconds.
            """
    )

    @Option(help: "HTTP port for the probes and /metrics (0 picks a free port).")
    var httpPort: Int = 8081

    @Option(help: "Address the HTTP server listens on.")
    var httpHost: String = "0.0.0.0"

    @Option(help: "gRPC port of grpc.health.v1.Health, on the HTTP server's address (0 picks a free port).")
    var grpcPort: Int = 9081

    @Flag(help: "Serve no gRPC.")
    var noGrpc = false

    @Option(help: "Most HTTP connections held at once; at the cap the longest-idle one is closed for a newcomer, so probes keep answering.")
    var httpMaxConnections: Int = 512

    @Option(help: ArgumentHelp("Seconds an HTTP connection may stay idle before the server closes it.", valueName: "seconds"))
    var httpIdleTimeout: Double = 30

    @Option(help: "This node's identifier (default: the host name).")
    var nodeId: String?

    @Option(help: ArgumentHelp("A label of this node, signed in its status, e.g. zone=eu-1 (repeatable; keys: a-z 0-9 . _ - /).", valueName: "key=value"))
    var label: [String] = []

    @Option(help: "Path whose file system the disk-space check watches.")
    var diskPath: String = "/"

    @Option(help: "Disk usage ratio (0-1) above which disk-space fails.")
    var diskThreshold: Double = 0.90

    @Option(help: "Memory usage ratio (0-1) above which memory-usage fails.")
    var memoryThreshold: Double = 0.85

    @Option(help: "CPU usage ratio (0-1, the machine's, between two runs) at or above which resource-health is degraded.")
    var cpuThreshold: Double = 0.90

    @Option(help: "Seconds the probes answer 503 before the server closes on shutdown.")
    var drainDelay: Double = 0

    @Flag(inversion: .prefixedNo, help: "Shut the node down gracefully when a critical check fails.")
    var shutdownOnCritical: Bool = true

    @Option(help: "Seconds after start during which a failing critical check does not shut the node down (a cluster still forming).")
    var startupGrace: Double = 300

    @Option(help: "Address the gossip UDP socket listens on.")
    var gossipHost: String = "0.0.0.0"

    @Option(help: "Gossip UDP port (0 picks a free one).")
    var gossipPort: Int = 7946

    @Option(help: ArgumentHelp("Address other nodes reach this one at (default: the gossip address; for 0.0.0.0 the first non-loopback IPv4).", valueName: "host:port"))
    var advertise: String?

    @Option(help: ArgumentHelp("Nodes to join through, comma-separated or repeated; a host name may resolve to several addresses.", valueName: "host:port[,host:port]"))
    var join: [String] = []

    @Option(help: "Private key file (64 hex digits, mode 0600; see keygen). Default DATA_DIR/node.key.")
    var keyFile: String?

    @Option(help: "Directory for the node's key (if no --key-file) and its generation.")
    var dataDir: String = "chorus-data"

    @Option(help: "File of trusted public keys, one per line (64 hex digits, then an optional name).")
    var trust: String?

    @Flag(help: "Accept statuses signed by any key (open mode).")
    var trustAny = false

    @Option(help: "File of cluster keys (64 hex digits per line, the first seals): every datagram is sealed.")
    var clusterKeyFile: String?

    @Option(help: "File holding the admin token (at least 16 characters) that enables POST /admin/maintenance.")
    var adminTokenFile: String?

    @Option(help: "Fewest connected peers for p2p-connectivity to pass (and below which the status says so).")
    var minPeers: Int = 2

    @Option(help: "Distinct members whose signed suspicions a death needs (fewer when fewer members could accuse; 1-16).")
    var accusersForDeath: Int = 3

    @Flag(inversion: .prefixedNo, help: "Register the seven enhanced checks (pub/sub and DHT probes, election, replication, connectivity, resources, tasks).")
    var enhancedChecks: Bool = true

    @Option(help: ArgumentHelp("Run a check at another interval than its default, e.g. pubsub-enhanced=5 (seconds); repeatable.", valueName: "name=seconds"))
    var checkInterval: [String] = []

    @Option(help: ArgumentHelp("task-manager judges the success rate of the tasks finished within this window.", valueName: "seconds"))
    var taskSuccessWindow: Int = 300

    @Option(help: ArgumentHelp("Keep recorded events this long (DATA_DIR/history.sqlite), e.g. 7d, 12h.", valueName: "span"))
    var historyRetention: String = "7d"

    @Option(help: "Keep at most this many recorded events.")
    var historyMaxEvents: Int = 1_000_000

    @Flag(help: "Record no event history (no DATA_DIR/history.sqlite, no /cluster/events).")
    var noHistory = false

    @Option(name: .customLong("notify-webhook"), help: ArgumentHelp("POST a JSON notification here when an incident opens and when it resolves (repeatable; http:// or https://). Only the leader sends.", valueName: "url"))
    var notifyWebhooks: [String] = []

    @Option(help: ArgumentHelp("Also trust the CA certificates in this PEM file for https:// webhooks (an internal CA); the system's store is always trusted.", valueName: "file"))
    var notifyCaFile: String?

    @Option(help: ArgumentHelp("The JSON body of each notification, with {{placeholders}} (see README); default Slack-compatible.", valueName: "file"))
    var notifyTemplate: String?

    @Option(help: ArgumentHelp("At most one failure notification per incident within this span.", valueName: "span"))
    var notifyMinInterval: String = "5m"

    @Option(help: ArgumentHelp("An incident must hold this long before it is notified.", valueName: "span"))
    var notifyHold: String = "10s"

    @Option(help: ArgumentHelp("The dashboard link in notifications (default: this node's /cluster).", valueName: "url"))
    var dashboardUrl: String?

    @Option(help: "A node or check that changes status this many times within --flap-window is flapping (2-100).")
    var flapThreshold: Int = 5

    @Option(help: ArgumentHelp("The flapping window; a flapping node or check is stable again after this long without a change.", valueName: "span"))
    var flapWindow: String = "10m"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port must be 0 to 65535") }
        guard (0...65535).contains(grpcPort) else { throw ValidationError("--grpc-port must be 0 to 65535") }
        guard (0...1).contains(diskThreshold) else { throw ValidationError("--disk-threshold must be 0 to 1") }
        guard taskSuccessWindow > 0 else { throw ValidationError("--task-success-window must be a positive number of seconds") }
        guard (0...1).contains(memoryThreshold) else { throw ValidationError("--memory-threshold must be 0 to 1") }
        guard (0...1).contains(cpuThreshold) else { throw ValidationError("--cpu-threshold must be 0 to 1") }
        guard drainDelay >= 0 else { throw ValidationError("--drain-delay must not be negative") }
        guard startupGrace >= 0, startupGrace <= 86_400 else { throw ValidationError("--startup-grace must be between 0 and 86400 seconds") }
        guard httpMaxConnections >= 1 else { throw ValidationError("--http-max-connections must be at least 1") }
        guard httpIdleTimeout > 0, httpIdleTimeout <= 86_400 else {
            throw ValidationError("--http-idle-timeout must be more than 0 and at most 86400 seconds")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let nodeId, nodeId.isEmpty { throw ValidationError("--node-id must not be empty") }
        do {
            _ = try NodeLabels(parsing: label)
        } catch {
            throw ValidationError("--label: \(error)")
        }
        guard resolvedDiskPath != nil else { throw ValidationError("--disk-path \(diskPath): no such file or directory") }
        guard (0...65535).contains(gossipPort) else { throw ValidationError("--gossip-port must be 0 to 65535") }
        if let advertise {
            guard let (host, _) = AddressResolution.split(advertise), NodeAddress.isIPLiteral(host) else {
                throw ValidationError("--advertise must be IP:PORT (for IPv6: [IP]:PORT), not \(advertise)")
            }
        }
        for entry in joinAddresses where AddressResolution.split(entry) == nil {
            throw ValidationError("--join: \(entry) is not HOST:PORT")
        }
        if trust != nil && trustAny { throw ValidationError("give --trust FILE or --trust-any, not both") }
        if !joinAddresses.isEmpty && trust == nil && !trustAny {
            throw ValidationError("--join needs --trust FILE (the keys to accept) or --trust-any")
        }
        guard minPeers >= 0 else { throw ValidationError("--min-peers must not be negative") }
        guard (1...16).contains(accusersForDeath) else { throw ValidationError("--accusers-for-death must be 1 to 16") }
        guard DurationText.parse(historyRetention) != nil else {
            throw ValidationError("--history-retention must be a positive span such as 90m, 12h or 7d, not \(historyRetention)")
        }
        guard historyMaxEvents >= 1 else { throw ValidationError("--history-max-events must be at least 1") }
        guard FlapPolicy.thresholds.contains(flapThreshold) else {
            throw ValidationError("--flap-threshold must be from \(FlapPolicy.thresholds.lowerBound) to \(FlapPolicy.thresholds.upperBound), not \(flapThreshold)")
        }
        for url in notifyWebhooks {
            do {
                _ = try HTTPClient.split(url)
            } catch {
                throw ValidationError("--notify-webhook \(error): give an http[s]://host[:port]/path URL")
            }
        }
        if let notifyCaFile {
            do {
                _ = try TLSTrust(extraRootsFile: notifyCaFile)
            } catch {
                throw ValidationError("--notify-ca-file \(error)")
            }
        }
        for (flag, text) in [("--notify-min-interval", notifyMinInterval), ("--notify-hold", notifyHold)] {
            guard text == "0s" || DurationText.parse(text) != nil else {
                throw ValidationError("\(flag) must be a span such as 0s, 30s, 5m, not \(text)")
            }
        }
        guard let window = DurationText.parse(flapWindow), window >= .seconds(1) else {
            throw ValidationError("--flap-window must be a span of at least 1s such as 10m, not \(flapWindow)")
        }
        for entry in checkInterval where Self.parseInterval(entry) == nil {
            throw ValidationError("--check-interval: \(entry) is not NAME=SECONDS with positive seconds")
        }
    }

    static func parseInterval(_ entry: String) -> (name: String, interval: Duration)? {
        let parts = entry.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, let seconds = Double(parts[1]), seconds > 0, seconds <= 86_400 else {
            return nil
        }
        return (String(parts[0]), .milliseconds(Int64(seconds * 1000)))
    }

    /// `--join` split at commas.
    var joinAddresses: [String] {
        join.flatMap { $0.split(separator: ",").map { String($0.filter { $0 != " " }) } }.filter { !$0.isEmpty }
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
        // The node records into `registry` through its own factory; anything else in the process
        // that uses the global metrics system lands there too.
        MetricsSystem.bootstrap(HelpfulPrometheusFactory(registry: registry, help: ChorusNode.metricHelp))

        let node: ChorusNode
        do {
            node = try await ChorusNode(configuration: try nodeConfiguration(logger: logger), metrics: registry)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
        let host = httpHost
        do {
            try await node.run { port in
                let shown = host == "0.0.0.0" ? "127.0.0.1" : host
                logger.notice(
                    "node ready",
                    metadata: ["health": "http://\(shown):\(port)/health", "metrics": "http://\(shown):\(port)/metrics"])
            }
        } catch let failure as HealthManager.CriticalCheckFailure {
            logger.critical("stopped: \(failure)")
            throw ExitCode(2)
        } catch {
            logger.critical("stopped: \(describe(error, host: host, port: httpPort))")
            throw ExitCode.failure
        }
    }

    /// The node's configuration from the flags (keys, trust and tokens read from their files).
    func nodeConfiguration(logger: Logger) throws -> NodeConfiguration {
        var configuration = NodeConfiguration(
            nodeID: nodeId ?? ProcessInfo.processInfo.hostName, gossip: try gossipConfiguration())
        configuration.shutdownOnCriticalFailure = shutdownOnCritical
        configuration.startupGrace = .milliseconds(Int64(startupGrace * 1000))
        configuration.drainDelay = .milliseconds(Int64(drainDelay * 1000))
        configuration.http.host = httpHost
        configuration.http.port = httpPort
        if !noGrpc {
            var grpc = NodeConfiguration.GRPC()
            grpc.host = httpHost
            grpc.port = grpcPort
            configuration.grpc = grpc
        }
        configuration.http.maxConnections = httpConnectionCap(logger: logger)
        configuration.http.idleTimeout = .milliseconds(Int64(httpIdleTimeout * 1000))
        configuration.checks.minPeers = minPeers
        configuration.checks.diskPath = resolvedDiskPath ?? diskPath
        configuration.checks.diskThreshold = diskThreshold
        configuration.checks.memoryThreshold = memoryThreshold
        configuration.checks.cpuThreshold = cpuThreshold
        configuration.checks.taskSuccessWindow = .seconds(taskSuccessWindow)
        configuration.enhancedChecks = enhancedChecks
        for entry in checkInterval {
            if let (name, interval) = Self.parseInterval(entry) { configuration.checkIntervals[name] = interval }
        }
        configuration.adminToken = try adminTokenFile.map(readAdminToken)
        configuration.notifications.webhooks = notifyWebhooks
        configuration.notifications.trust = try notifyCaFile.map { try TLSTrust(extraRootsFile: $0) }
        configuration.notifications.policy.minInterval = DurationText.parse(notifyMinInterval) ?? .zero
        configuration.notifications.policy.holdFor = DurationText.parse(notifyHold) ?? .zero
        configuration.notifications.dashboard = dashboardUrl
        if let notifyTemplate {
            let text = try KeyFiles.read(notifyTemplate)
            guard text.utf8.count <= NotificationTemplate.maxBytes else {
                throw ValidationError("--notify-template \(notifyTemplate): at most \(NotificationTemplate.maxBytes) bytes")
            }
            configuration.notifications.template = NotificationTemplate(text: text)
        }
        configuration.flapping = FlapPolicy(threshold: flapThreshold, window: DurationText.parse(flapWindow) ?? .seconds(600))
        if !noHistory {
            configuration.history.path = dataDir + "/history.sqlite"
            configuration.history.retention = DurationText.parse(historyRetention) ?? configuration.history.retention
            configuration.history.maxEvents = historyMaxEvents
        }
        return configuration
    }

    private func describe(_ error: any Error, host: String, port: Int) -> String {
        if let bind = error as? GossipNode.BindError { return bind.description }
        if let listen = error as? GRPCHealthServer.ListenError { return listen.description }
        let reason = ListenFailure.reason(error)
        return reason == String(describing: error) ? reason : ListenFailure.describe(host: host, port: port, what: "HTTP", error)
    }

    /// The admin token in `path`: its first line, trimmed; at least 16 characters.
    private func readAdminToken(_ path: String) throws -> String {
        let line = KeyFiles.meaningfulLines(try KeyFiles.read(path)).first?.1 ?? ""
        guard line.count >= 16 else { throw KeyFileError.io(path: path, reason: "the admin token must be at least 16 characters") }
        return line
    }

    /// The HTTP connection cap: `--http-max-connections`, lowered to leave room for the node's
    /// other descriptors (64) within the process's descriptor limit, which is raised to its hard
    /// limit first and logged.
    func httpConnectionCap(logger: Logger) -> Int {
        guard let limit = DescriptorLimit.raise() else { return httpMaxConnections }
        // 64 for the process's other descriptors, and the gRPC server's connections.
        let room = Int(clamping: limit.soft) - 64 - (noGrpc ? 0 : NodeConfiguration.GRPC().maxConnections)
        let cap = max(1, min(httpMaxConnections, room))
        logger.info(
            "file descriptors", metadata: ["soft_limit": "\(limit.soft)", "hard_limit": "\(limit.hard)", "http_max_connections": "\(cap)"])
        if cap < httpMaxConnections {
            logger.warning(
                "the descriptor limit leaves room for fewer HTTP connections than --http-max-connections",
                metadata: ["limit": "\(limit.soft)", "http_max_connections": "\(cap)"])
        }
        return cap
    }

    /// The gossip settings from the flags: key, generation, trust and cluster keys from their files.
    private func gossipConfiguration() throws -> GossipNode.Configuration {
        try KeyFiles.ensureDirectory(dataDir)
        let keyPair = try keyFile.map { path throws(KeyFileError) in try KeyFiles.readKeyPair(path) }
            ?? KeyFiles.keyPair(inDataDirectory: dataDir)
        let generation = try KeyFiles.nextGeneration(inDataDirectory: dataDir)
        let trustPolicy: TrustPolicy
        if trustAny {
            trustPolicy = .any
        } else if let trust {
            do {
                trustPolicy = .keys(try KeyFiles.trustedKeys(fileContents: try KeyFiles.read(trust)))
            } catch {
                throw KeyFileError.io(path: trust, reason: "\(error)")
            }
        } else {
            trustPolicy = .keys([keyPair.publicKey])
        }
        var configuration = GossipNode.Configuration(keyPair: keyPair, generation: generation, trust: trustPolicy)
        configuration.settings.minPeers = minPeers
        configuration.settings.accusersForDeath = accusersForDeath
        configuration.labels = try NodeLabels(parsing: label)
        if let clusterKeyFile {
            do {
                configuration.clusterKeys = try ClusterKeyRing(fileContents: try KeyFiles.read(clusterKeyFile))
            } catch {
                throw KeyFileError.io(path: clusterKeyFile, reason: "\(error)")
            }
        }
        configuration.bindHost = gossipHost
        configuration.bindPort = gossipPort
        configuration.advertise = advertise.flatMap(AddressResolution.split).map { NodeAddress(host: $0.host, port: $0.port) }
        configuration.join = joinAddresses
        let directory = dataDir
        configuration.onGenerationChange = { generation in
            try? KeyFiles.storeGeneration(generation, inDataDirectory: directory)
        }
        if trust == nil && !trustAny {
            Logger(label: "chorus.gossip").warning("no --trust file and no --trust-any: this node accepts no other node's status")
        }
        return configuration
    }
}
