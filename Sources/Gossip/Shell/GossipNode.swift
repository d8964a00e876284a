#if canImport(FoundationEssentials)
import GossipCore
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Metrics
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import NodeHealth
import ServiceLifecycle
import Synchronization

/// The gossip protocol on a real UDP socket: an actor and swift-service-lifecycle `Service` that
/// owns a SwiftNIO datagram channel, feeds received datagrams and timer ticks (with the real
/// monotonic clock) into ``GossipCore``, carries out its directives, signs the node's status
/// from the ``NodeHealth/HealthManager``'s updates, and leaves gracefully on shutdown.
public actor GossipNode: Service {
    public struct Configuration: Sendable {
        /// Address the UDP socket binds to. Default 0.0.0.0.
        public var bindHost: String = "0.0.0.0"
        /// UDP port; 0 picks a free one. Default 7946.
        public var bindPort: Int = 7946
        /// The address other members use to reach this node. Default: the bound address, or
        /// for a wildcard bind, the first non-loopback IPv4 address of the host.
        public var advertise: NodeAddress?
        /// Members to join through, as `host:port`; a host name may resolve to several addresses
        /// (a Kubernetes headless service), all of which are tried.
        public var join: [String] = []
        public var keyPair: SigningKeyPair
        /// Larger than any generation this key used before (see ``KeyFiles/nextGeneration(inDataDirectory:)``).
        public var generation: UInt64
        public var trust: TrustPolicy
        /// When set, every datagram is sealed with the ring's primary key.
        public var clusterKeys: ClusterKeyRing?
        public var settings = GossipSettings()
        public var randomSeed: UInt64 = UInt64.random(in: 0...UInt64.max)
        public var logger = Logger(label: "chorus.gossip")
        /// Where the gossip metrics go; default the global `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)?
        /// Called when the node had to take a new generation (it had been declared left); persist it.
        public var onGenerationChange: @Sendable (UInt64) -> Void = { _ in }
        /// Called on the node's actor for every change it observes (for the event history); must
        /// return at once (hand the observation on, never wait).
        public var observe: @Sendable (Observation) -> Void = { _ in }
        /// This node's labels, signed in every status it publishes (extension type 4).
        public var labels: NodeLabels = .none

        public init(keyPair: SigningKeyPair, generation: UInt64, trust: TrustPolicy) {
            self.keyPair = keyPair
            self.generation = generation
            self.trust = trust
        }
    }

    /// A change this node observed, as it happened.
    public enum Observation: Sendable {
        /// A member's state changed (also when it first appears as alive); `nodeID` from its
        /// status when one arrived.
        case member(PublicKey, nodeID: String?, state: MemberState, life: Life)
        /// A newer verified status of a member (this node's own included).
        case status(SignedStatus)
        /// The leader this node follows changed (`nil`: none agreed).
        case leader(PublicKey?, nodeID: String?, term: UInt64)
    }

    /// One member as this node sees it (itself included), for `/cluster/members`.
    public struct MemberView: Sendable, Hashable {
        public var key: PublicKey
        public var nodeID: String?
        public var address: NodeAddress
        public var state: MemberState
        public var life: Life
        public var isSelf: Bool
        /// Generation and version of the latest status held, if any.
        public var statusGeneration: UInt64?
        public var statusVersion: UInt64?
        public var status: StatusLevel?
        /// The verified projection of that status.
        public var projection: StatusProjection?
        /// Time since this node accepted that status (for itself: since it signed it).
        public var statusAge: Duration?
        /// Time since the member's state last changed.
        public var stateAge: Duration
        /// What its accusations of other members came to, as this node saw them (`nil`: it made none).
        public var accusations: AccuserRecord?
        /// The members whose signed suspicions of it this node holds (empty unless it is suspect).
        public var suspectedBy: [PublicKey] = []
        /// Time since this node last heard from it directly (`nil`: not while it was live).
        public var heardAge: Duration?
    }

    /// The UDP socket could not be bound.
    public struct BindError: Error, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var underlying: any Error
        public var description: String {
            ListenFailure.describe(host: host, port: port, what: "gossip, UDP", underlying)
        }
    }

    public let configuration: Configuration
    private let health: HealthManager?
    private let logger: Logger
    private let metrics: GossipMetrics
    private let origin = ContinuousClock.now
    private let originWall = Date()
    private let maxInbound: Int
    private let maxOutbound: Int
    private let bound = Mutex<NodeAddress?>(nil)

    private var core: GossipCore?
    private var authenticator: DatagramAuthenticator
    /// The socket's send side while it is open (see ``DatagramSocket``).
    private var sender: DatagramSocket?
    private var resolved: [NodeAddress: SocketAddress] = [:]
    private var lastDropped: [DropReason: Int] = [:]
    private var lastRejections: [StatusRejection: Int] = [:]
    private var nextJoinAt: Duration = .seconds(1)
    private var joinBackoff: Duration = .milliseconds(500)
    private var nextSeedCheckAt: Duration = .zero
    /// Pub/sub handlers by topic, and DHT operations awaited (or finished before anyone awaited them).
    private var handlers: [String: [@Sendable (PubSubMessage) -> Void]] = [:]
    private var dhtWaiters: [UInt32: CheckedContinuation<DHTOutcome, Never>] = [:]
    private var dhtFinished: [UInt32: DHTOutcome] = [:]
    private var stopped = false
    /// Wakes ``repairLoop()`` when a broadcast-tree repair is pending (at most one signal waits).
    private let (repairSignals, repairSignal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    public init(configuration: Configuration, health: HealthManager? = nil) {
        self.configuration = configuration
        self.health = health
        self.logger = configuration.logger
        self.metrics = GossipMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        // Room for the largest envelope (a signed one) and the cluster key's sealing.
        let sealing = configuration.clusterKeys == nil ? 0 : ClusterKeyRing.overhead
        self.maxInbound = configuration.settings.maxDatagramBytes + DatagramAuthenticator.signedOverhead + sealing
        // What this node sends stays within the budget (1400 by default): the core's datagram,
        // a tagged envelope (with the whole key at worst) and the sealing. A signed envelope (to
        // an address whose key is not known yet) is 48 bytes larger; only small join
        // announcements go out that way.
        self.maxOutbound = configuration.settings.maxDatagramBytes + DatagramAuthenticator.keyedOverhead + sealing
        self.authenticator = DatagramAuthenticator(
            keyPair: configuration.keyPair, trust: configuration.trust, maxClockSkew: configuration.settings.maxClockSkew)
    }

    /// This node's public key.
    public nonisolated var key: PublicKey { configuration.keyPair.publicKey }

    /// The advertised address once the socket is bound, else `nil`.
    public nonisolated var boundAddress: NodeAddress? { bound.withLock { $0 } }

    // MARK: Service

    public func run() async throws {
        let socket = try await bind()
        let local = socket.channel.channel.localAddress
        let address = try advertisedAddress(boundTo: local)
        var core = GossipCore(
            keyPair: configuration.keyPair, address: address, generation: configuration.generation,
            settings: configuration.settings, trust: configuration.trust, randomSeed: configuration.randomSeed,
            wallClockOrigin: UInt64(clamping: Int64(originWall.timeIntervalSince1970.rounded(.down))))
        let started = core.start(now: elapsed())
        self.core = core
        bound.withLock { $0 = address }
        logger.notice(
            "gossip ready",
            metadata: [
                "listen": "\(local.map { "\($0)" } ?? "?")", "advertise": "\(address)", "key": "\(key.fingerprint)",
                "generation": "\(configuration.generation)",
                "cluster_key": "\(configuration.clusterKeys == nil ? "off" : "on")",
            ])
        let health = self.health
        let port = local?.port ?? configuration.bindPort
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await self.serve(socket, port: port, started: started) }
                    group.addTask { try await self.tickLoop() }
                    group.addTask { try await self.repairLoop() }
                    if let health {
                        group.addTask {
                            for await update in health.updates() { await self.publish(update) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Shutting down.
        }
        stopped = true
        for (_, waiter) in dhtWaiters { waiter.resume(returning: .failed("the gossip node stopped")) }
        dhtWaiters = [:]
        logger.notice("gossip stopped")
    }

    /// Receives on the socket until shutdown, then leaves the cluster through it. Should the
    /// socket close under the node (a read error SwiftNIO deems fatal), the node binds the same
    /// port again, backing off up to 5 s, and carries on with its state intact (a cut-off node
    /// must hear the cluster again).
    private func serve(_ first: BoundSocket, port: Int, started: [GossipCore.Directive]) async throws {
        var socket = first
        var opening: [GossipCore.Directive]? = started
        var openedAt = elapsed()
        var backoff = Duration.milliseconds(50)
        while true {
            try await serve(socket, opening: opening)
            opening = nil
            try Task.checkCancellation()
            // Closed under us. A series of closes backs off to one bind every 5 s and logs only
            // its first close.
            let now = elapsed()
            backoff = now - openedAt > .seconds(30) ? .milliseconds(100) : min(backoff * 2, .seconds(5))
            metrics.socketReopened()
            if backoff == .milliseconds(100) {
                logger.warning("gossip socket closed; binding it again", metadata: ["port": "\(port)"])
            }
            socket = try await rebind(port: port, backoff: &backoff)
            openedAt = elapsed()
        }
    }

    /// Serves one bound socket until it closes (first carrying out `opening`, the start's
    /// directives, and joining the seeds); its send side is closed with it.
    private func serve(_ socket: BoundSocket, opening: [GossipCore.Directive]?) async throws {
        sender = socket.sender
        defer {
            sender = nil
            socket.sender.closeSending()
        }
        try await socket.channel.executeThenClose { inbound, _ in
            if let opening {
                await self.perform(opening)
                await self.joinSeeds()
            }
            do {
                for try await envelope in inbound { await self.receive(envelope) }
            } catch where !Task.isCancelled {
                self.logger.warning("gossip socket failed", metadata: ["error": "\(error)"])
            }
            // Shutting down: say goodbye while the socket is open.
            if Task.isCancelled { await self.leave() }
        }
    }

    private func rebind(port: Int, backoff: inout Duration) async throws -> BoundSocket {
        while true {
            try await Task.sleep(for: backoff)
            do {
                return try await bindSocket(port: port)
            } catch {
                backoff = min(backoff * 2, .seconds(5))
                logger.warning("cannot bind the gossip socket again", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Pub/sub

    /// Calls `handler` with every message published on `topic` anywhere in the cluster, this
    /// node's own included once they came back from the network.
    public func subscribe(topic: String, handler: @escaping @Sendable (PubSubMessage) -> Void) {
        handlers[topic, default: []].append(handler)
    }

    /// Publishes `payload` on `topic` to every node of the cluster, or with `reach` ``PubSubReach/loopback``
    /// to a few members and back (see ``GossipCore/publishMessage(topic:payload:reach:now:)``).
    /// Throws for an invalid topic, a payload over the limit, a node that is not running, or a
    /// loopback with no other live member.
    @discardableResult
    public func publish(topic: String, payload: [UInt8], reach: PubSubReach = .cluster) async throws(PubSubError) -> UInt64 {
        guard core != nil, !stopped else { throw .notRunning }
        let (id, directives) = try core!.publishMessage(topic: topic, payload: payload, reach: reach, now: elapsed())
        metrics.published()
        await perform(directives)
        return id
    }

    // MARK: DHT

    /// Stores `value` under `key` on its replicas (a majority must store it).
    public func dhtPut(key: String, value: [UInt8], ttl: Duration) async -> DHTOutcome {
        let version = UInt64(max(0, Date().timeIntervalSince1970 * 1000)) << 12 | UInt64.random(in: 0..<4096)
        return await dhtOperation { core, now in core.dhtPut(key: key, value: value, version: version, ttl: ttl, now: now) }
    }

    /// Reads `key` from its replicas; `remoteOnly` skips this node's own copy.
    public func dhtGet(key: String, remoteOnly: Bool = false) async -> DHTOutcome {
        await dhtOperation { core, now in core.dhtGet(key: key, remoteOnly: remoteOnly, now: now) }
    }

    /// Announces this node as a provider of `key`.
    public func dhtProvide(key: String, ttl: Duration) async -> DHTOutcome {
        await dhtOperation { core, now in core.dhtProvide(key: key, ttl: ttl, now: now) }
    }

    /// The providers of `key`.
    public func dhtFindProviders(key: String) async -> DHTOutcome {
        await dhtOperation { core, now in core.dhtFindProviders(key: key, now: now) }
    }

    private func dhtOperation(
        _ start: (inout GossipCore, Duration) -> (id: UInt32, directives: [GossipCore.Directive])
    ) async -> DHTOutcome {
        guard core != nil, !stopped else { return .failed("the gossip node is not running") }
        let (id, directives) = start(&core!, elapsed())
        await perform(directives)
        // A reply may have been handled while the requests were written: look before waiting.
        if let outcome = dhtFinished.removeValue(forKey: id) { return outcome }
        return await withCheckedContinuation { dhtWaiters[id] = $0 }
    }

    // MARK: Election and figures

    /// The election as this node sees it, with the leader's node id.
    public func election() -> (view: ElectionView, leaderNodeID: String?, now: Duration)? {
        guard let core else { return nil }
        let view = core.electionView
        let nodeID = view.leader.flatMap { core.store.statuses[$0]?.projection.nodeID } ?? view.leader?.fingerprint
        return (view, nodeID, elapsed())
    }

    /// The replication figures and counters; `resetPeak` starts a new window for the peak.
    public func replication(resetPeak: Bool) -> (figures: ReplicationFigures, stats: DHTStats, now: Duration)? {
        guard core != nil else { return nil }
        let now = elapsed()
        let figures = core!.replicationFigures(now: now)
        let stats = core!.dhtStats
        if resetPeak { core!.resetReplicationPeak(now: now, figures: figures) }
        return (figures, stats, now)
    }

    /// DHT repair copies in flight, acknowledged and unanswered (the node's repair work).
    public func repairWork() -> (inFlight: Int, succeeded: Int, failed: Int)? {
        guard let core else { return nil }
        return (core.dhtRepairsInFlight, core.dhtStats.repairsSucceeded, core.dhtStats.repairsFailed)
    }

    /// The core's traffic counters (bytes and datagrams sent and received, drops).
    public func trafficStats() -> GossipCore.Stats? { core?.stats }

    /// Live peers (alive or suspect members besides this node).
    public func liveCount() -> Int { core?.liveCount ?? 0 }

    /// Pub/sub counters.
    public func pubSubStats() -> PubSubStats { core?.pubSubStats ?? PubSubStats() }

    private typealias Channel = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>
    private struct BoundSocket {
        var channel: Channel
        var sender: DatagramSocket
    }

    private func bind() async throws -> BoundSocket {
        do {
            return try await bindSocket(port: configuration.bindPort)
        } catch {
            throw BindError(host: configuration.bindHost, port: configuration.bindPort, underlying: error)
        }
    }

    private func bindSocket(port: Int) async throws -> BoundSocket {
        let socket = try DatagramSocket.bind(host: configuration.bindHost, port: port)
        do {
            let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 2048))
                .withBoundSocket(socket.channelDescriptor).get()
            // Wrapped once registered: the async `withBoundSocket(_:channelInitializer:)` of
            // SwiftNIO 2.101 fails this socket with "operation unsupported". A datagram that
            // arrives in between is dropped, as UDP may drop any.
            let wrapped = try await channel.eventLoop.submit { try Channel(wrappingChannelSynchronously: channel) }.get()
            return BoundSocket(channel: wrapped, sender: socket)
        } catch {
            socket.closeSending()  // the channel's descriptor is SwiftNIO's, closed on its failure
            throw error
        }
    }

    private func advertisedAddress(boundTo local: SocketAddress?) throws -> NodeAddress {
        if let advertise = configuration.advertise { return advertise }
        let port = UInt16(clamping: local?.port ?? configuration.bindPort)
        let host = configuration.bindHost
        if host != "0.0.0.0" && host != "::" && host != "" {
            return NodeAddress(host: local?.ipAddress ?? host, port: port)
        }
        let devices = (try? System.enumerateDevices()) ?? []
        let candidate = devices.compactMap { device -> String? in
            guard case .v4 = device.address, let ip = device.address?.ipAddress, !ip.hasPrefix("127.") else { return nil }
            return ip
        }.first
        return NodeAddress(host: candidate ?? "127.0.0.1", port: port)
    }

    // MARK: Inputs

    private func elapsed() -> Duration { ContinuousClock.now - origin }

    /// The wall clock in microseconds since the Unix epoch (the envelopes' counters).
    private static func wallMicros() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(clamping: Int64(now.tv_sec)) &* 1_000_000 &+ UInt64(clamping: Int64(now.tv_nsec / 1000))
    }

    /// Runs `step` on the core in place and carries out its directives. In place matters: a
    /// copy of the core mutated while `self.core` still shares its tables would copy every
    /// table it touches (members, statuses) on every datagram.
    @discardableResult
    private func drive(_ step: (inout GossipCore, Duration) -> [GossipCore.Directive]) async -> Int {
        guard core != nil else { return 0 }
        let directives = step(&core!, elapsed())
        if core?.nextRepairAt != nil { repairSignal.yield() }
        countCoreDrops()
        await perform(directives)
        return directives.count
    }

    private func receive(_ envelope: AddressedEnvelope<ByteBuffer>) async {
        guard core != nil else { return }
        let size = envelope.data.readableBytes
        guard let ip = envelope.remoteAddress.ipAddress, let port = envelope.remoteAddress.port, port > 0 else {
            metrics.dropped("bad_source")
            return
        }
        guard size <= maxInbound else {
            metrics.dropped("oversized")
            return
        }
        let opened: (sender: PublicKey, datagram: [UInt8])
        do {
            let plain = try configuration.clusterKeys.inbound(Array(envelope.data.readableBytesView))
            opened = try authenticator.open(plain, wallMicros: Self.wallMicros())
        } catch let refusal as ClusterKeyRing.Refusal {
            metrics.dropped(refusal.rawValue)
            return
        } catch let refusal as DatagramAuthenticator.Refusal {
            metrics.dropped(refusal.rawValue)
            return
        } catch {
            metrics.dropped("unreadable")
            return
        }
        metrics.received(kind: GossipMetrics.kind(ofDatagram: opened.datagram), bytes: size)
        let address = NodeAddress(host: ip, port: UInt16(port))
        await drive { core, now in core.receive(opened.datagram, from: address, sender: opened.sender, now: now) }
    }

    private func tickLoop() async throws {
        let interval = configuration.settings.tickInterval
        while true {
            try await Task.sleep(for: interval)
            await tick()
        }
    }

    /// Asks for lost pub/sub messages when they are due (``GossipCore/nextRepairAt``), between
    /// ticks: a graft timeout (30 ms) is shorter than a tick (100 ms). A repair set while one is
    /// pending is never due before it (each is a graft timeout after it was set), so sleeping
    /// until the pending one is right; when none is pending, ``drive(_:)`` signals a new one.
    private func repairLoop() async throws {
        for await _ in repairSignals {
            while let due = core?.nextRepairAt {
                let now = elapsed()
                if due > now { try await Task.sleep(for: due - now) }
                await drive { core, now in core.repairTick(now: now) }
            }
        }
    }

    private func tick() async {
        await drive { core, now in core.tick(now: now) }
        let now = elapsed()
        if now >= nextSeedCheckAt, let core {
            nextSeedCheckAt = now + .seconds(1)
            if core.liveCount == 0 && !configuration.join.isEmpty {
                // Alone with seeds configured: re-resolve them now and then (their addresses
                // may have changed, as a headless service's do) and try again.
                // The first try may have reached seeds not yet listening: retry after 1 s,
                // then back off to every 8 s.
                if now >= nextJoinAt {
                    joinBackoff = min(joinBackoff * 2, .seconds(8))
                    nextJoinAt = now + joinBackoff
                    await joinSeeds()
                }
            } else {
                joinBackoff = .milliseconds(500)
                nextJoinAt = now + .seconds(1)
            }
        }
    }

    private func publish(_ update: HealthManager.Update) async {
        var draft = StatusDraft(status: update.status, critical: update.critical, issuedAt: Date())
        if let labels = configuration.labels.encoded { draft.extensions.append(labels) }
        await drive { core, now in core.publish(draft, now: now) }
    }

    private func joinSeeds() async {
        guard !configuration.join.isEmpty, core != nil else { return }
        let seeds = await AddressResolution.resolve(configuration.join, logger: logger)
        await drive { core, now in core.join(seeds, now: now) }
    }

    private func leave() async {
        let told = await drive { core, now in core.leave(now: now) }
        logger.info("left the cluster", metadata: ["told": "\(told) members"])
    }

    // MARK: Directives

    private func perform(_ directives: [GossipCore.Directive]) async {
        for directive in directives {
            switch directive {
            case .send(let bytes, let target):
                guard let remote = socketAddress(for: target.address) else {
                    metrics.dropped("unresolvable_address")
                    continue
                }
                guard let sealed = authenticator.seal(bytes, to: target.key, wallMicros: Self.wallMicros()) else {
                    metrics.dropped("untaggable_recipient")
                    continue
                }
                let wire = configuration.clusterKeys.outbound(sealed)
                guard wire.count <= maxOutbound else {
                    metrics.dropped("oversized_outbound")
                    continue
                }
                guard let sender else {
                    metrics.dropped("socket_closed")
                    continue
                }
                switch sender.send(wire, to: remote) {
                case .sent: metrics.sent(kind: GossipMetrics.kind(ofDatagram: bytes), bytes: wire.count)
                case .bufferFull: metrics.dropped("send_buffer_full")
                case .refused: metrics.dropped("send_refused")
                }
            case .memberChanged(let member, let state):
                if state == .alive { authenticator.learn(member) }
                if let life = core?.members[member]?.life {
                    configuration.observe(.member(member, nodeID: core?.store.statuses[member]?.projection.nodeID, state: state, life: life))
                }
                logger.info("member \(state)", metadata: ["key": "\(member.fingerprint)", "address": "\(core?.members[member]?.address.description ?? "?")"])
            case .statusAccepted(let member):
                metrics.statusAccepted()
                if let status = core?.store.statuses[member] { configuration.observe(.status(status)) }
            case .generationChanged(let generation):
                logger.warning("rejoined with a new generation", metadata: ["generation": "\(generation)"])
                configuration.onGenerationChange(generation)
            case .delivered(let message):
                metrics.delivered()
                for handler in handlers[message.topic] ?? [] { handler(message) }
            case .dhtCompleted(let id, let outcome):
                if let waiter = dhtWaiters.removeValue(forKey: id) {
                    waiter.resume(returning: outcome)
                } else {
                    dhtFinished[id] = outcome
                    if dhtFinished.count > 1000 { dhtFinished.removeAll() }  // nobody awaits these
                }
            case .leaderChanged(let leader):
                let name = leader.flatMap { core?.store.statuses[$0]?.projection.nodeID } ?? leader?.fingerprint ?? "none"
                let term = core?.electionView.term ?? 0
                configuration.observe(.leader(leader, nodeID: leader.flatMap { core?.store.statuses[$0]?.projection.nodeID }, term: term))
                logger.info("leader changed", metadata: ["leader": "\(name)", "term": "\(term)"])
            }
        }
    }

    private func socketAddress(for address: NodeAddress) -> SocketAddress? {
        if let known = resolved[address] { return known }
        guard let socket = try? SocketAddress(ipAddress: address.host, port: Int(address.port)) else { return nil }
        if resolved.count > 10_000 { resolved.removeAll() }
        resolved[address] = socket
        return socket
    }

    // MARK: Metrics

    private func countCoreDrops() {
        guard let core else { return }
        let dropped = core.stats.dropped
        if dropped != lastDropped {
            for (reason, count) in dropped where count > lastDropped[reason, default: 0] {
                metrics.dropped(reason.rawValue, count: count - lastDropped[reason, default: 0])
            }
            lastDropped = dropped
        }
        let rejections = core.store.rejections
        if rejections != lastRejections {
            for (reason, count) in rejections where count > lastRejections[reason, default: 0] {
                metrics.dropped("status_\(reason.rawValue)", count: count - lastRejections[reason, default: 0])
            }
            lastRejections = rejections
        }
    }

    /// Records the gauges that have one series per member (status ages, accusers) and the member
    /// counts: O(N), so they are computed when `/metrics` is read (``ChorusNode``), not on a timer —
    /// once a second on every node they were 5.4 % of the CPU of 128 node processes forming.
    public func recordMemberGauges() {
        guard let core else { return }
        let now = elapsed()
        var byState: [MemberState: Int] = [.alive: 1]
        for member in core.members.values { byState[member.state, default: 0] += 1 }
        metrics.members(byState)
        var ages: [String: Double] = [:]
        for (member, at) in core.store.acceptedAt where member == key || core.members[member]?.state.isGone == false {
            ages[label(for: member, in: core)] = (now - at).seconds
        }
        metrics.statusAges(ages)
        var accusers: [String: AccuserRecord] = [:]
        for (accuser, record) in core.accuserRecords where record.recentAccusations > 0 || record.isUnreliable {
            accusers[label(for: accuser, in: core)] = record
        }
        metrics.accusers(accusers)
        metrics.accusations(signed: core.accusationsSigned, verified: core.accusationsVerified, expired: core.suspicionsExpired)
        metrics.localHealth(core.localHealth)
    }

    private func label(for member: PublicKey, in core: GossipCore) -> String {
        core.store.statuses[member]?.projection.nodeID ?? member.fingerprint
    }

    // MARK: Reading

    /// Every member this node knows, itself first.
    public func memberViews() -> [MemberView] {
        guard let core else { return [] }
        let now = elapsed()
        let records = core.accuserRecords
        let accusers = core.suspicionAccusers
        func view(_ member: PublicKey, address: NodeAddress, state: MemberState, life: Life, since: Duration, isSelf: Bool)
            -> MemberView
        {
            let status = core.store.statuses[member]
            return MemberView(
                key: member, nodeID: status?.projection.nodeID, address: address, state: state, life: life, isSelf: isSelf,
                statusGeneration: status?.projection.generation, statusVersion: status?.projection.version,
                status: status?.projection.status, projection: status?.projection, statusAge: core.store.acceptedAt[member].map { now - $0 },
                stateAge: now - since, accusations: records[member], suspectedBy: accusers[member] ?? [],
                heardAge: isSelf ? .zero : core.lastHeard(from: member).map { now - $0 })
        }
        var views = [view(key, address: core.address, state: core.hasLeft ? .left : .alive, life: core.life, since: .zero, isSelf: true)]
        for member in core.members.values.sorted(by: { $0.key < $1.key }) {
            views.append(view(member.key, address: member.address, state: member.state, life: member.life, since: member.since, isSelf: false))
        }
        return views
    }

    /// The slow refresh interval for the current cluster size (see ``GossipCore/refreshInterval``).
    public func refreshInterval() -> Duration { core?.refreshInterval ?? GossipSettings().statusRefreshInterval }

    /// The latest signed status of the member named `id`: its node id, its full public key in
    /// hex, or its key fingerprint.
    /// The keys whose statuses this node accepts (`--trust`, or any with `--trust-any`).
    public func trustPolicy() -> TrustPolicy { configuration.trust }

    public func signedStatus(of id: String) -> SignedStatus? {
        guard let core else { return nil }
        let lowered = id.lowercased()
        if let key = PublicKey(hex: lowered) { return core.store.statuses[key] }
        return core.store.statuses.values.first { $0.projection.nodeID == id }
            ?? core.store.statuses.first { $0.key.fingerprint == lowered }?.value
    }

    /// Datagrams, parts and statuses dropped since start, by reason (as in the
    /// `chorus_gossip_dropped_total` metric).
    public nonisolated func drops() -> [String: Int] { metrics.droppedTotals.withLock { $0 } }

    /// Times the socket closed under the node and was bound again.
    public nonisolated func socketReopens() -> Int { metrics.reopenedTotal.load(ordering: .relaxed) }

    /// Status rejections by reason.
    public func rejections() -> [StatusRejection: Int] { core?.store.rejections ?? [:] }
}
