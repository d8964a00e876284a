/// How the protocol core checks an Ed25519 signature: of a status (``StatusStore/offer(_:now:)``)
/// and of a membership announcement (``GossipCore/verify(_:now:)``).
///
/// A node checks each one with libsodium (``libsodium``, about 60 µs). The seam exists for the
/// simulator, which runs hundreds of cores in one process that all receive the very same signed
/// bytes: there each distinct signature is checked once and the other cores get the same answer
/// (`Simulations.SharedSignatureChecks`, exact because it compares every byte). Ed25519 took 58 %
/// of the simulation suite's CPU before (perf, BENCHMARKS.md).
public struct SignatureVerifier: Sendable {
    private let check: @Sendable (_ key: PublicKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool

    /// A verifier that answers with `check`, which must give libsodium's answer.
    public init(_ check: @escaping @Sendable (_ key: PublicKey, _ signature: [UInt8], _ message: [UInt8]) -> Bool) {
        self.check = check
    }

    /// Whether `signature` is `key`'s valid signature of `message`.
    public func verify(_ signature: [UInt8], of message: [UInt8], by key: PublicKey) -> Bool {
        check(key, signature, message)
    }

    /// Every signature checked by libsodium.
    public static let libsodium = SignatureVerifier { key, signature, message in
        key.verify(signature: signature, of: message)
    }
}
