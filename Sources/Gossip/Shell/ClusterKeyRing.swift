import GossipCore

/// The optional cluster key: every datagram sealed with XChaCha20-Poly1305, so that only holders
/// of a cluster key can speak to the cluster at all (signed statuses are unforgeable either way).
///
/// A ring holds the primary key, which seals, and further accepted keys, which open too: rotate
/// without downtime by (1) adding the new key as accepted everywhere, (2) making it primary
/// everywhere, (3) removing the old one.
///
/// A sealed datagram is `0xC5 | nonce (24) | ciphertext | tag (16)`, with the marker byte as
/// additional data; a plain one starts with an envelope marker (`0xA1`–`0xA3`), so the two never mix up.
public struct ClusterKeyRing: Sendable {
    /// The first byte of every sealed datagram.
    public static let marker: UInt8 = 0xC5
    /// Bytes sealing adds: marker, nonce and tag (41).
    public static let overhead = 1 + SymmetricKey.overhead

    /// Why a received datagram was refused before it reached the protocol.
    public enum Refusal: String, Sendable, Hashable, CaseIterable, Error {
        /// This node has a cluster key and the datagram was not sealed.
        case unsealed
        /// Sealed, but with a key not in the ring, or altered.
        case wrongClusterKey = "wrong_cluster_key"
        /// Sealed, but this node has no cluster key.
        case sealedWithoutKey = "sealed_without_key"
    }

    /// The key that seals.
    public let primary: SymmetricKey
    /// Further keys that open (during a rotation).
    public let accepted: [SymmetricKey]

    public init(primary: SymmetricKey, accepted: [SymmetricKey] = []) {
        self.primary = primary
        self.accepted = accepted
    }

    /// Reads a key file: one key per line as 64 hex digits, the first one primary; blank lines
    /// and lines starting with `#` are ignored.
    public init(fileContents: String) throws(KeyFileError) {
        var keys: [SymmetricKey] = []
        for (number, line) in KeyFiles.meaningfulLines(fileContents) {
            guard let bytes = Hex.decode(line), let key = SymmetricKey(bytes: bytes) else {
                throw .invalid(line: number, reason: "expected a cluster key of 64 hex digits")
            }
            keys.append(key)
        }
        guard let first = keys.first else { throw .invalid(line: 0, reason: "no cluster key in the file") }
        self.init(primary: first, accepted: Array(keys.dropFirst()))
    }

    /// Seals a datagram with the primary key.
    public func seal(_ datagram: [UInt8]) -> [UInt8] {
        [Self.marker] + primary.seal(datagram, additionalData: [Self.marker])
    }

    /// Opens a sealed datagram with any key of the ring.
    public func open(_ bytes: [UInt8]) throws(Refusal) -> [UInt8] {
        guard bytes.first == Self.marker else { throw .unsealed }
        let sealed = Array(bytes.dropFirst())
        if let plain = primary.open(sealed, additionalData: [Self.marker]) { return plain }
        for key in accepted {
            if let plain = key.open(sealed, additionalData: [Self.marker]) { return plain }
        }
        throw .wrongClusterKey
    }
}

extension Optional where Wrapped == ClusterKeyRing {
    /// What goes on the wire for `datagram`: sealed when there is a ring.
    func outbound(_ datagram: [UInt8]) -> [UInt8] {
        switch self {
        case .some(let ring): ring.seal(datagram)
        case .none: datagram
        }
    }

    /// The datagram inside `bytes`, or why it was refused.
    func inbound(_ bytes: [UInt8]) throws(ClusterKeyRing.Refusal) -> [UInt8] {
        switch self {
        case .some(let ring): return try ring.open(bytes)
        case .none:
            guard bytes.first != ClusterKeyRing.marker else { throw .sealedWithoutKey }
            return bytes
        }
    }
}
