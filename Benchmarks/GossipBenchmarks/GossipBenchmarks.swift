// Costs per status of signing, verifying, encoding and decoding (see BENCHMARKS.md).
//   swift package --disable-sandbox benchmark --target GossipBenchmarks
import Benchmark
import GossipCore

/// A realistic status: the node's 9 checks (disk, memory and the 7 enhanced checks).
func sampleStatus(_ keys: SigningKeyPair) -> StatusProjection {
    let names = [
        "disk-space", "memory-usage", "pubsub-enhanced", "dht-enhanced", "election-health", "replication-health",
        "p2p-connectivity", "resource-health", "task-manager",
    ]
    return StatusProjection(
        publicKey: keys.publicKey, generation: 3, version: 42, issuedAtMillis: 1_764_000_000_000, nodeID: "node-17",
        status: .degraded, message: "Non-critical checks failing: replication-health", uptimeSeconds: 86_400,
        softwareVersion: "0.1.0",
        checks: names.map {
            .init(
                name: $0, healthy: $0 != "replication-health", critical: $0.hasSuffix("enhanced"), latencyMicros: 1_250,
                message: $0 == "replication-health" ? "2 keys under-replicated (R=3)" : "ok")
        },
        extensions: [.init(type: 1, value: Array(repeating: 7, count: 40))])
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], warmupIterations: 100,
        maxDuration: .seconds(2), maxIterations: 100_000)

    let keys = SigningKeyPair()
    let projection = sampleStatus(keys)
    let signed = try! SignedStatus.sign(projection, with: keys)
    var writer = WireWriter()
    signed.encode(into: &writer)
    let wire = writer.bytes

    Benchmark("status: encode payload") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! projection.encodePayload()) }
    }
    Benchmark("status: sign (encode + Ed25519)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! SignedStatus.sign(projection, with: keys)) }
    }
    Benchmark("status: decode from the wire") { benchmark in
        for _ in benchmark.scaledIterations {
            var reader = WireReader(wire)
            blackHole(try! SignedStatus.decode(from: &reader))
        }
    }
    Benchmark("status: verify (Ed25519)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(signed.isSignatureValid) }
    }
}
