import GossipCore
import Synchronization

/// Checks each distinct signature once for all the cores of a simulation.
///
/// Every simulated node receives the same signed statuses and announcements and would check each
/// with libsodium (~60 µs); in a 200-node run that was 58 % of the CPU (perf). The memo remembers
/// libsodium's answer per (key, signature, message); a lookup compares every byte, so a forged or
/// altered message never shares an answer with the genuine one. It holds at most `capacity`
/// answers and starts over when full.
public final class SharedSignatureChecks: Sendable {
    private struct Signed: Hashable {
        let key: PublicKey
        let signature: [UInt8]
        let message: [UInt8]

        /// The signature alone: 64 bytes that differ for every signed message, and hashing the
        /// message too would cost more than it separates.
        func hash(into hasher: inout Hasher) { hasher.combine(signature) }
    }

    private let answers = Mutex<[Signed: Bool]>([:])
    private let capacity: Int

    public init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// A verifier for the cores of one simulation.
    public var verifier: SignatureVerifier {
        SignatureVerifier { [self] key, signature, message in
            let signed = Signed(key: key, signature: signature, message: message)
            if let known = answers.withLock({ $0[signed] }) { return known }
            let valid = SignatureVerifier.libsodium.verify(signature, of: message, by: key)
            answers.withLock {
                if $0.count >= capacity { $0.removeAll(keepingCapacity: true) }
                $0[signed] = valid
            }
            return valid
        }
    }
}
