/// Authenticates every gossip datagram by its sender's identity key, without a shared secret.
///
/// A datagram to a member whose key is known carries a 16-byte tag made with the key the two
/// derive from their Ed25519 identities (``PairKeys``); a datagram to an address whose key is not
/// known yet (a seed, before its first answer) is signed with the sender's Ed25519 key instead.
/// Either way the receiver learns who sent it and drops it unless that key is trusted, and
/// every datagram carries the sender's send counter, so a replayed one is dropped too.
///
/// The envelope (all integers big-endian; layout in `docs/wire-format.md`):
///
///     marker (1: 0xA1 tagged, 0xA2 signed) | sender key (32) | counter (8) | datagram | tag (16) or signature (64)
///
/// The counter is the sender's wall clock in microseconds, raised by one whenever two datagrams
/// would share a value, so it only grows, even across restarts. A receiver accepts a counter
/// within ``maxClockSkew`` of its own clock that it has not seen from that sender: it keeps the
/// highest counter per sender and a 64-datagram window below it (as IPsec and WireGuard do).
/// A replay is dropped whether the receiver remembers the sender or not (then by its age).
///
/// Pure: no clock, no socket; the wall time comes with each call. The shell runs it; the
/// simulator's network is trusted and hands the core the sender's key directly.
public struct DatagramAuthenticator: Sendable {
    /// Why a received datagram was refused before it reached the protocol (a drop reason).
    public enum Refusal: String, Error, Sendable, Hashable, CaseIterable {
        /// Not in an envelope (a datagram of an older version, or noise).
        case unauthenticated
        /// Shorter than its envelope.
        case malformedEnvelope = "malformed_envelope"
        /// Claims to come from this node's own key.
        case ownKey = "own_key"
        /// The sender's key is not in the trust list.
        case untrustedSender = "untrusted_sender"
        /// The sender's key is not a valid Ed25519 point (no pair key can be derived).
        case invalidSenderKey = "invalid_sender_key"
        /// The counter is further from this node's clock than ``DatagramAuthenticator/maxClockSkew``.
        case clockSkew = "clock_skew"
        /// That counter was seen before from that sender, or is older than the replay window.
        case replayed = "replayed_datagram"
        /// The tag does not match: altered, or not made by the claimed sender for this node.
        case badTag = "bad_tag"
        /// The signature does not verify.
        case badSignature = "bad_signature"
    }

    /// First byte of a datagram tagged with a pair key.
    public static let taggedMarker: UInt8 = 0xA1
    /// First byte of a datagram signed with the sender's identity key.
    public static let signedMarker: UInt8 = 0xA2
    /// The tag that starts the bytes a signed envelope's signature covers.
    public static let signatureDomain = Array("CHORUS-DATAGRAM-v1".utf8)
    static let headerSize = 1 + 32 + 8
    /// Bytes a tagged envelope adds to a datagram (57).
    public static let taggedOverhead = headerSize + Sodium.macByteCount
    /// Bytes a signed envelope adds to a datagram (105).
    public static let signedOverhead = headerSize + SigningKeyPair.signatureByteCount
    /// Datagrams received out of order that are still accepted, per sender.
    public static let replayWindow: UInt64 = 64

    /// Counters of what was opened and sealed.
    public struct Stats: Sendable, Hashable {
        public var tagged = 0
        public var signed = 0
        /// Pair keys derived (one X25519 exchange each).
        public var pairKeysDerived = 0
    }

    struct Peer: Sendable {
        var keys: PairKeys
        /// The highest counter accepted and a bit per counter below it (bit i: `highest − i` seen).
        var highest: UInt64 = 0
        var window: UInt64 = 0
        var lastUsed: UInt64
    }

    public let keyPair: SigningKeyPair
    public let trust: TrustPolicy
    /// How far a counter may be from this node's clock, in microseconds.
    public let maxClockSkew: UInt64
    /// Most peers whose keys and replay windows are kept (in the open trust mode anyone can
    /// make keys); the least recently used are forgotten first.
    public let maxPeers: Int
    public private(set) var stats = Stats()
    var peers: [PublicKey: Peer] = [:]
    /// The last counter this node sent.
    var lastCounter: UInt64 = 0

    /// `maxClockSkew` is whole seconds (``GossipSettings/maxClockSkew``).
    public init(keyPair: SigningKeyPair, trust: TrustPolicy, maxClockSkew: Duration = .seconds(30), maxPeers: Int = 8192) {
        self.keyPair = keyPair
        self.trust = trust
        self.maxClockSkew = UInt64(clamping: max(0, maxClockSkew.components.seconds)) &* 1_000_000
        self.maxPeers = max(16, maxPeers)
    }

    // MARK: Sending

    /// The envelope of `datagram` for `recipient` (its key when known: tagged; otherwise
    /// signed). `wallMicros` is the wall clock in microseconds since the Unix epoch.
    public mutating func seal(_ datagram: [UInt8], to recipient: PublicKey?, wallMicros: UInt64) -> [UInt8] {
        lastCounter = max(lastCounter < UInt64.max ? lastCounter + 1 : lastCounter, wallMicros)
        var keys: PairKeys?
        if let recipient { keys = peer(recipient, at: wallMicros)?.keys }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.signedOverhead + datagram.count)
        bytes.append(keys == nil ? Self.signedMarker : Self.taggedMarker)
        bytes += keyPair.publicKey.bytes
        withUnsafeBytes(of: lastCounter.bigEndian) { bytes += $0 }
        bytes += datagram
        if let keys {
            bytes += Sodium.mac(bytes, key: keys.sending)
            stats.tagged += 1
        } else {
            bytes += keyPair.sign(Self.signatureDomain + bytes)
            stats.signed += 1
        }
        return bytes
    }

    // MARK: Receiving

    /// The sender and the datagram inside `bytes`, or why it was refused. Checks, cheapest
    /// first: the envelope's shape, the sender's key (not ours, trusted), the counter against the
    /// clock, then the tag or signature, and last the replay window (only an authentic datagram
    /// moves it).
    public mutating func open(_ bytes: [UInt8], wallMicros: UInt64) throws(Refusal) -> (sender: PublicKey, datagram: [UInt8]) {
        guard let marker = bytes.first, marker == Self.taggedMarker || marker == Self.signedMarker else {
            throw .unauthenticated
        }
        let trailer = marker == Self.taggedMarker ? Sodium.macByteCount : SigningKeyPair.signatureByteCount
        guard bytes.count > Self.headerSize + trailer else { throw .malformedEnvelope }
        let sender = PublicKey(bytes: Array(bytes[1..<33]))!
        guard sender != keyPair.publicKey else { throw .ownKey }
        guard trust.trusts(sender) else { throw .untrustedSender }
        let counter = bytes[33..<41].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let distance = counter > wallMicros ? counter - wallMicros : wallMicros - counter
        guard distance <= maxClockSkew else { throw .clockSkew }
        let end = bytes.count - trailer
        let covered = Array(bytes[..<end])
        let proof = Array(bytes[end...])
        var state: Peer?
        if marker == Self.taggedMarker {
            guard let known = peer(sender, at: wallMicros) else { throw .invalidSenderKey }
            guard Sodium.constantTimeEqual(Sodium.mac(covered, key: known.keys.receiving), proof) else { throw .badTag }
            state = known
        } else {
            guard sender.verify(signature: proof, of: Self.signatureDomain + covered) else { throw .badSignature }
            state = peer(sender, at: wallMicros)
        }
        guard var current = state else { throw .invalidSenderKey }
        guard Self.admit(counter, highest: &current.highest, window: &current.window) else { throw .replayed }
        peers[sender] = current
        if marker == Self.taggedMarker { stats.tagged += 1 } else { stats.signed += 1 }
        return (sender, Array(covered[Self.headerSize...]))
    }

    /// Moves the replay window for `counter`; `false` when it was seen or is older than the window.
    static func admit(_ counter: UInt64, highest: inout UInt64, window: inout UInt64) -> Bool {
        if counter > highest {
            let shift = counter - highest
            window = shift >= replayWindow ? 1 : window << shift | 1
            highest = counter
            return true
        }
        let age = highest - counter
        guard age < replayWindow, window & (1 << age) == 0 else { return false }
        window |= 1 << age
        return true
    }

    /// The state kept for `key`, deriving its pair keys on first use; `nil` for a key that is
    /// not a valid point.
    mutating func peer(_ key: PublicKey, at wallMicros: UInt64) -> Peer? {
        if var known = peers[key] {
            known.lastUsed = wallMicros
            peers[key] = known
            return known
        }
        guard let keys = keyPair.pairKeys(with: key) else { return nil }
        stats.pairKeysDerived += 1
        if peers.count >= maxPeers {
            // Forget the least recently used eighth at once, so this sort is rare. A forgotten
            // sender's replays are still refused by their age (the clock-skew check) once older
            // than the skew, and its window starts afresh.
            let cutoff = peers.values.map(\.lastUsed).sorted()[peers.count / 8]
            peers = peers.filter { $0.value.lastUsed > cutoff }
        }
        let fresh = Peer(keys: keys, lastUsed: wallMicros)
        peers[key] = fresh
        return fresh
    }

    /// Peers whose keys are kept.
    public var peerCount: Int { peers.count }
}
