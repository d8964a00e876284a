import ClusterView
import Foundation
import Gossip
import Hummingbird
import NIOCore
import NIOPosix
import NodeHealth
import Testing
import GossipCore
import NodeHealthTesting

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
/// The timeout is a safety net for a loaded CI machine, not a performance target (those are
/// measured by the benchmarks in BENCHMARKS.md).
@discardableResult
func within(_ timeout: Duration, _ what: String, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    let held = await condition()
    if !held { Issue.record("not within \(timeout): \(what)") }
    return held
}

/// Gossip nodes on 127.0.0.1 with free ports, in this process, each with a health manager.
struct ShellCluster {
    var nodes: [GossipNode] = []
    var managers: [HealthManager] = []

    /// Runs `count` nodes (the first is the others' seed) and `body`, then stops them all.
    static func run(
        _ count: Int, configure: @Sendable (Int, inout GossipNode.Configuration) -> Void = { _, _ in },
        _ body: @Sendable (ShellCluster) async throws -> Void
    ) async throws {
        let keys = (0..<count).map { _ in SigningKeyPair() }
        let trust = TrustPolicy.keys(Set(keys.map(\.publicKey)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var cluster = ShellCluster()
            var seed: NodeAddress?
            for i in 0..<count {
                var configuration = GossipNode.Configuration(keyPair: keys[i], generation: 1, trust: trust)
                configuration.bindHost = "127.0.0.1"
                configuration.bindPort = 0
                configuration.randomSeed = UInt64(i + 1)
                if let seed { configuration.join = [seed.description] }
                configure(i, &configuration)
                let manager = HealthManager(nodeID: "node-\(i)", version: "test")
                try await manager.register(HealthCheck(name: "always", interval: .seconds(30), timeout: .seconds(1), critical: false) { _ in
                    CheckResult(healthy: true, message: "fine")
                })
                let node = GossipNode(configuration: configuration, health: manager)
                group.addTask { try await manager.run() }
                group.addTask { try await node.run() }
                cluster.nodes.append(node)
                cluster.managers.append(manager)
                if i == 0 {
                    // A generous net: at the start of `make test` every suite and the fuzzer start at once on two
                    // cores, and a bind has been seen to wait over 5 s for its turn there.
                    await within(.seconds(30), "the seed binds") { node.boundAddress != nil }
                    seed = node.boundAddress
                }
            }
            try await body(cluster)
            group.cancelAll()
        }
    }

    /// Whether node `i` lists every key in `others` as alive.
    func sees(_ i: Int, alive others: [PublicKey]) async -> Bool {
        let views = await nodes[i].memberViews()
        return others.allSatisfy { key in views.contains { $0.key == key && $0.state == .alive } }
    }
}

/// Sends raw datagrams to a node from a socket of its own.
struct RawSender {
    let channel: Channel

    static func make() async throws -> RawSender {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        return RawSender(channel: channel)
    }

    func send(_ bytes: [UInt8], to address: NodeAddress) async throws {
        let remote = try SocketAddress(ipAddress: address.host, port: Int(address.port))
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: bytes))).get()
    }

    func close() async { try? await channel.close().get() }
}

@Suite("Gossip on real UDP sockets (127.0.0.1)", .serialized)
struct ShellTests {
    @Test("five nodes list each other as alive and hold each other's statuses (how fast: make bench-cluster)")
    func fiveNodesConverge() async throws {
        try await ShellCluster.run(5) { cluster in
            let keys = cluster.nodes.map(\.key)
            await within(.seconds(30), "every node lists every other as alive") {
                for i in 0..<5 where await !cluster.sees(i, alive: keys.filter { $0 != keys[i] }) { return false }
                return true
            }
            await within(.seconds(30), "every node holds every status") {
                for i in 0..<5 {
                    for key in keys where await cluster.nodes[i].signedStatus(of: key.hex) == nil { return false }
                }
                return true
            }
        }
    }

    @Test("a node with a wrong cluster key, or an untrusted key, never enters the others' views")
    func outsidersStayOut() async throws {
        let ring = ClusterKeyRing(primary: SymmetricKey())
        let wrong = ClusterKeyRing(primary: SymmetricKey())
        let outsider = SigningKeyPair()
        try await ShellCluster.run(5, configure: { i, configuration in
            configuration.clusterKeys = i == 3 ? wrong : ring
            if i == 4 {
                // Signs with a key nobody trusts (it trusts everyone itself).
                configuration.keyPair = outsider
                configuration.trust = .any
            }
        }) { cluster in
            let insiders = [0, 1, 2].map { cluster.nodes[$0].key }
            await within(.seconds(15), "the three insiders see each other") {
                for i in 0..<3 where await !cluster.sees(i, alive: insiders.filter { $0 != insiders[i] }) { return false }
                return true
            }
            try await Task.sleep(for: .seconds(2))
            for i in 0..<3 {
                let views = await cluster.nodes[i].memberViews()
                #expect(!views.contains { $0.key == cluster.nodes[3].key }, "wrong cluster key stays out")
                #expect(!views.contains { $0.key == outsider.publicKey }, "untrusted key stays out")
                #expect(await cluster.nodes[i].signedStatus(of: outsider.publicKey.hex) == nil)
            }
            #expect(cluster.nodes[0].drops()["wrong_cluster_key", default: 0] > 0, "\(cluster.nodes[0].drops())")
            #expect(cluster.nodes[0].drops()["untrusted_sender", default: 0] > 0, "\(cluster.nodes[0].drops())")
            #expect(await cluster.nodes[3].memberViews().count == 1, "the wrong-key node sees nobody either")
        }
    }

    @Test("hostile input is dropped and counted, and the node keeps serving")
    func hostileInput() async throws {
        let ring = ClusterKeyRing(primary: SymmetricKey())
        let absent = SigningKeyPair()  // trusted, but not running: the test signs its statuses
        try await ShellCluster.run(2, configure: { _, configuration in
            configuration.clusterKeys = ring
            if case .keys(let keys) = configuration.trust { configuration.trust = .keys(keys.union([absent.publicKey])) }
        }) { cluster in
            let target = cluster.nodes[0]
            let address = try #require(target.boundAddress)
            await within(.seconds(15), "the two nodes see each other") { await cluster.sees(0, alive: [cluster.nodes[1].key]) }
            let sender = try await RawSender.make()
            defer { Task { await sender.close() } }
            func status(_ keys: SigningKeyPair, version: UInt64, message: String = "ok") throws -> SignedStatus {
                let projection = StatusProjection(
                    publicKey: keys.publicKey, generation: 1, version: version, issuedAtMillis: 1, nodeID: "absent",
                    status: .healthy, message: message, uptimeSeconds: 1, softwareVersion: "t", checks: [])
                return try SignedStatus.sign(projection, with: keys)
            }
            let v5 = try status(absent, version: 5)
            let good = Datagram.encode([.status(v5)])
            var random = SystemRandomNumberGenerator()
            let garbage = [1] + (0..<200).map { _ in UInt8.random(in: 0...255, using: &random) }
            let tamperedPayload = try status(absent, version: 9, message: "all good").payload
            let tampered = try SignedStatus(payload: tamperedPayload, signature: v5.signature)
            // The test speaks as `absent`, a key holder (its datagrams are authenticated), and as
            // an outsider whose key nobody trusts.
            var holder = DatagramAuthenticator(keyPair: absent, trust: .any)
            var outsider = DatagramAuthenticator(keyPair: SigningKeyPair(), trust: .any)
            func wall() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000_000) }
            func signed(_ datagram: [UInt8]) -> [UInt8] { holder.seal(datagram, to: target.key, wallMicros: wall())! }

            try await sender.send(ring.seal(signed(garbage)), to: address)  // malformed
            try await sender.send(ring.seal(signed(Array(good.prefix(good.count / 2)))), to: address)  // truncated
            try await sender.send([UInt8](repeating: 0xC5, count: 3000), to: address)  // oversized
            try await sender.send(signed(good), to: address)  // not sealed
            try await sender.send(ClusterKeyRing(primary: SymmetricKey()).seal(signed(good)), to: address)  // wrong key
            try await sender.send(ring.seal(good), to: address)  // sealed, but no envelope
            try await sender.send(ring.seal(outsider.seal(good, to: target.key, wallMicros: wall())!), to: address)  // untrusted
            var flipped = signed(good)
            flipped[60] ^= 1
            try await sender.send(ring.seal(flipped), to: address)  // altered
            let once = ring.seal(signed(good))
            try await sender.send(once, to: address)  // accepted
            try await sender.send(once, to: address)  // the same datagram again
            var earlier = DatagramAuthenticator(keyPair: absent, trust: .any)  // its counter is not ahead
            try await sender.send(ring.seal(earlier.seal(good, to: target.key, wallMicros: wall() - 120_000_000)!), to: address)  // old
            try await sender.send(ring.seal(signed(Datagram.encode([.status(try status(absent, version: 3))]))), to: address)  // stale
            try await sender.send(ring.seal(signed(good)), to: address)  // the same status again
            try await sender.send(ring.seal(signed(Datagram.encode([.status(tampered)]))), to: address)  // tampered
            try await sender.send(ring.seal(signed(Datagram.encode([.status(try status(SigningKeyPair(), version: 1))]))), to: address)

            let expected = [
                "malformed", "oversized", "unsealed", "wrong_cluster_key", "unauthenticated", "untrusted_sender",
                "bad_tag", "replayed_datagram", "clock_skew", "status_stale", "status_replayed", "status_tampered",
                "status_untrusted",
            ]
            await within(.seconds(15), "every hostile datagram is counted: \(target.drops())") {
                let drops = target.drops()
                return expected.allSatisfy { drops[$0, default: 0] > 0 } && drops["malformed", default: 0] >= 2
            }
            #expect(await target.signedStatus(of: absent.publicKey.hex)?.projection.version == 5)
            // Still serving: the peer keeps it alive through more probe rounds.
            try await Task.sleep(for: .seconds(2))
            #expect(await cluster.sees(1, alive: [target.key]))
            #expect(await cluster.sees(0, alive: [cluster.nodes[1].key]))
        }
    }

    @Test("a destination the kernel refuses (a broadcast address) costs its own datagrams: the socket stays open, the peers stay alive")
    func refusedDestination() async throws {
        // sendto(2) to 255.255.255.255 without SO_BROADCAST fails with EACCES, as a firewall's
        // reject or a route to nowhere fails a send. SwiftNIO closed its datagram channel on
        // such an error, and the node was deaf and mute until it bound again.
        try await ShellCluster.run(2, configure: { i, configuration in
            if i == 1 { configuration.join.append("255.255.255.255:7946") }
        }) { cluster in
            let keys = cluster.nodes.map(\.key)
            await within(.seconds(15), "the two nodes see each other") {
                let first = await cluster.sees(0, alive: [keys[1]])
                let second = await cluster.sees(1, alive: [keys[0]])
                return first && second
            }
            await within(.seconds(15), "the refused join is counted: \(cluster.nodes[1].drops())") {
                cluster.nodes[1].drops()["send_refused", default: 0] > 0
            }
            #expect(cluster.nodes[1].socketReopens() == 0)
            #expect(await cluster.sees(0, alive: [keys[1]]))
            #expect(await cluster.sees(1, alive: [keys[0]]))
        }
    }
}
