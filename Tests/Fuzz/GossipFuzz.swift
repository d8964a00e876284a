// The libFuzzer target over everything a datagram meets: the authentication envelope, the
// datagram codec and the protocol core's `receive`, then a tick that runs every timer over the
// state the datagram left. Built and run by `scripts/fuzz.sh` (`make fuzz`, part of `make test`).
// Any trap (an overflow, an out-of-range index, a force unwrap) or sanitizer report is a crash.
import GossipCore

#if canImport(Glibc)
import Glibc
#endif

let keys = (1...3).map { SigningKeyPair(seed: [UInt8](repeating: UInt8($0), count: 32))! }
let wallClock: UInt64 = 1_800_000_000
func address(_ i: Int) -> NodeAddress { NodeAddress(host: "10.0.0.\(i + 1)", port: 7946) }

/// Three cores that joined each other, published statuses, a pub/sub message and a DHT key,
/// with every datagram they exchanged (the seed corpus: real datagrams, bare and enveloped).
let cluster: (cores: [GossipCore], captured: [[UInt8]]) = {
    let trust = TrustPolicy.keys(Set(keys.map(\.publicKey)))
    var cores = (0..<3).map { i in
        GossipCore(
            keyPair: keys[i], address: address(i), generation: 1, trust: trust, seeds: i == 0 ? [] : [address(0)],
            randomSeed: UInt64(i), wallClockOrigin: wallClock)
    }
    var authenticators = (0..<3).map { DatagramAuthenticator(keyPair: keys[$0], trust: trust) }
    var captured: [[UInt8]] = []
    var queue: [(from: Int, to: Int, bytes: [UInt8])] = []
    func collect(_ directives: [GossipCore.Directive], from i: Int) {
        for case .send(let bytes, let target) in directives {
            guard let j = (0..<3).first(where: { address($0) == target.address }) else { continue }
            queue.append((i, j, bytes))
        }
    }
    func settle(at now: Duration) {
        while !queue.isEmpty {
            let (from, to, bytes) = queue.removeFirst()
            if captured.count < 400 {
                captured.append(bytes)
                captured.append(authenticators[from].seal(bytes, to: keys[to].publicKey, wallMicros: wallClock * 1_000_000)!)
            }
            collect(cores[to].receive(bytes, from: address(from), sender: keys[from].publicKey, now: now), from: to)
        }
    }
    var now = Duration.zero
    for i in 0..<3 { collect(cores[i].start(now: now), from: i) }
    settle(at: now)
    for i in 0..<3 {
        let draft = StatusDraft(
            issuedAtMillis: 1, nodeID: "n\(i)", status: .healthy,
            message: "ok", uptimeSeconds: 1, softwareVersion: "fuzz",
            checks: [.init(name: "disk", healthy: true, critical: true, latencyMicros: 5, message: "fine")])
        collect(cores[i].publish(draft, now: now), from: i)
    }
    settle(at: now)
    for step in 1...60 {
        now = .milliseconds(100 * step)
        for i in 0..<3 { collect(cores[i].tick(now: now), from: i) }
        if step == 20, let (_, out) = try? cores[1].publishMessage(topic: "fuzz", payload: [1, 2, 3], now: now) { collect(out, from: 1) }
        if step == 30 { collect(cores[2].dhtPut(key: "k", value: [9], version: 1, ttl: .seconds(60), now: now).directives, from: 2) }
        settle(at: now)
    }
    return (cores, captured)
}()

let receiver = DatagramAuthenticator(keyPair: keys[0], trust: .keys(Set(keys.map(\.publicKey))))
let stranger = SigningKeyPair(seed: [UInt8](repeating: 9, count: 32))!.publicKey

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    // With CHORUS_FUZZ_SEEDS=DIR, write the captured datagrams there first (libFuzzer reads the
    // corpus directory after this returns).
    guard let directory = getenv("CHORUS_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    for (index, bytes) in cluster.captured.enumerated() {
        guard let file = fopen("\(directory)/seed-\(index)", "wb") else { continue }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data!, count: size)) : []
    // The envelope: a valid one (a seed) hands its datagram to the core as the shell does.
    var authenticator = receiver
    var core = cluster.cores[0]
    let now = Duration.seconds(7)
    if let (sender, datagram) = try? authenticator.open(bytes, wallMicros: wallClock * 1_000_000) {
        _ = core.receive(datagram, from: address(1), sender: sender, now: now)
    } else {
        // A bare datagram, as from member 1, member 2 or a stranger (the last byte chooses).
        let senders = [keys[1].publicKey, keys[2].publicKey, stranger]
        let sender = senders[Int(bytes.last ?? 0) % senders.count]
        _ = core.receive(bytes, from: address(1), sender: sender, now: now)
    }
    // The timers over what the datagram left: probes, suspicions, forwards, DHT retries.
    _ = core.tick(now: now + .seconds(2))
    return 0
}
