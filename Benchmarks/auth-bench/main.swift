// The cost of authenticating a datagram: sealing and opening each envelope form, and deriving a
// pair's keys. `make bench-auth` (release build); figures in BENCHMARKS.md.
import GossipCore

let sender = SigningKeyPair()
let recipient = SigningKeyPair()
let wall: UInt64 = 1_800_000_000_000_000

/// Median over `rounds` rounds of the time per call, in nanoseconds.
func measure(_ label: String, rounds: Int = 25, calls: Int = 2000, _ body: () -> Void) {
    var samples: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<calls { body() }
        let elapsed = ContinuousClock.now - start
        samples.append(Double(elapsed.components.attoseconds) / 1e9 / Double(calls) + Double(elapsed.components.seconds) * 1e9 / Double(calls))
    }
    samples.sort()
    print("\(label): median \(Int(samples[samples.count / 2].rounded())) ns, p90 \(Int(samples[samples.count * 9 / 10].rounded())) ns")
}

for size in [64, 1300] {
    let datagram = [UInt8](repeating: 0x42, count: size)
    var out = DatagramAuthenticator(keyPair: sender, trust: .keys([recipient.publicKey]))
    var counter = wall
    // Each call gets a fresh counter, as real traffic does, so the replay window accepts it.
    let tagged = (0..<50_000).map { _ in counter += 1; return out.seal(datagram, to: recipient.publicKey, wallMicros: counter) }
    let signed = (0..<2_000).map { _ in counter += 1; return out.seal(datagram, to: nil, wallMicros: counter) }
    var inbox = DatagramAuthenticator(keyPair: recipient, trust: .keys([sender.publicKey]))
    _ = try! inbox.open(tagged[0], wallMicros: wall)
    measure("seal tagged, \(size)-byte datagram", calls: 2000) { counter += 1; _ = out.seal(datagram, to: recipient.publicKey, wallMicros: counter) }
    var next = 1
    measure("open tagged, \(size)-byte datagram", rounds: 24, calls: 2000) { _ = try? inbox.open(tagged[next], wallMicros: wall); next += 1 }
    measure("seal signed, \(size)-byte datagram", rounds: 10, calls: 100) { counter += 1; _ = out.seal(datagram, to: nil, wallMicros: counter) }
    var signedNext = 0
    measure("open signed, \(size)-byte datagram", rounds: 10, calls: 100) { _ = try? inbox.open(signed[signedNext], wallMicros: wall); signedNext += 1 }
    var garbage = tagged[0]
    garbage[garbage.count - 1] ^= 1
    measure("refuse an altered tagged datagram, \(size) bytes", calls: 2000) { _ = try? inbox.open(garbage, wallMicros: wall) }
}
let outsiderBytes = [DatagramAuthenticator.taggedMarker] + [UInt8](repeating: 7, count: 200)
var guardian = DatagramAuthenticator(keyPair: recipient, trust: .keys([sender.publicKey]))
measure("refuse an outsider's datagram (unknown prefix)", calls: 2000) { _ = try? guardian.open(outsiderBytes, wallMicros: wall) }
measure("derive a pair's keys (X25519 + crypto_kx)", rounds: 10, calls: 200) { _ = sender.pairKeys(with: recipient.publicKey) }
