/// Authenticates every gossip datagram by its sender's identity key, without a shared secret.
///
/// A datagram to a member whose key is known carries a 16-byte tag made with the key the two
/// derive from their Ed25519 identities (``PairKeys``). It names the sender by its key prefix
/// (the first 8 bytes) when the recipient surely knows the sender's key (it holds every trusted
/// key, or its last datagram was tagged, which it could only make with our key), and by the whole
/// key otherwise (the open trust mode, at first contact or after the peer restarted). A datagram to an address whose key is not known yet (a seed, before
/// its first answer) is signed with the sender's Ed25519 key instead. Either way the receiver learns who sent it and drops
/// it unless that key is trusted, and every datagram carries the sender's send counter, so a
/// replayed one is dropped too.
///
/// The envelopes (all integers big-endian; layout in `docs/wire-format.md`):
///
///     tagged:          0xA1 | sender key prefix (8) | counter (8) | datagram | tag (16)           33 bytes more
///     tagged with key: 0xA3 | sender key (32)       | counter (8) | datagram | tag (16)           57 bytes more
///     signed:          0xA2 | sender key (32)       | counter (8) | datagram | signature (64)     105 bytes more
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
        /// A tagged datagram from a key prefix this node does not know (it sends signed ones
        /// until it has heard from the sender).
        case unknownSender = "unknown_sender"
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
        /// Too many signed envelopes failed this second: further ones are refused unchecked
        /// until the next (an Ed25519 verification costs ~75 µs; a flood of them must not take a
        /// core).
        case signatureBudget = "signature_budget"
    }

    /// First byte of a datagram tagged with a pair key.
    public static let taggedMarker: UInt8 = 0xA1
    /// First byte of a datagram signed with the sender's identity key.
    public static let signedMarker: UInt8 = 0xA2
    /// First byte of a datagram tagged with a pair key that names its sender by the whole key.
    public static let keyedMarker: UInt8 = 0xA3
    /// The tag that starts the bytes a signed envelope's signature covers.
    public static let signatureDomain = Array("CHORUS-DATAGRAM-v1".utf8)
    static let taggedHeaderSize = 1 + 8 + 8
    static let signedHeaderSize = 1 + 32 + 8
    /// Bytes a tagged envelope adds to a datagram (33).
    public static let taggedOverhead = taggedHeaderSize + Sodium.macByteCount
    /// Bytes a tagged envelope that carries the whole sender key adds to a datagram (57).
    public static let keyedOverhead = signedHeaderSize + Sodium.macByteCount
    /// Bytes a signed envelope adds to a datagram (105).
    public static let signedOverhead = signedHeaderSize + SigningKeyPair.signatureByteCount
    /// Datagrams received out of order that are still accepted, per sender.
    public static let replayWindow: UInt64 = 64
    /// Signed envelopes that may fail verification per second, from all senders together (their
    /// sender field is not authenticated until the signature is, so the budget cannot be per
    /// sender). Legitimate signed envelopes are rare (a join's first datagrams). 256 a second is
    /// ~2 % of a core.
    public static let failedSignaturesPerSecond = 256

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
        /// A tagged datagram came from this peer: it knows this node's key, so it is sent tagged ones.
        var knowsUs = false
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
    /// Keys by prefix: every trusted key, and the keys of peers heard from (for tagged datagrams).
    var prefixes: [UInt64: PublicKey] = [:]
    /// The last counter this node sent.
    var lastCounter: UInt64 = 0
    /// Failed signature checks in the current second (which started at `failureWindow`, in µs).
    var failedSignatures = 0
    var failureWindow: UInt64 = 0

    /// `maxClockSkew` is whole seconds (``GossipSettings/maxClockSkew``).
    public init(keyPair: SigningKeyPair, trust: TrustPolicy, maxClockSkew: Duration = .seconds(30), maxPeers: Int = 8192) {
        self.keyPair = keyPair
        self.trust = trust
        self.maxClockSkew = UInt64(clamping: max(0, maxClockSkew.components.seconds)) &* 1_000_000
        self.maxPeers = max(16, maxPeers)
        if case .keys(let keys) = trust {
            for key in keys.sorted() where prefixes[key.prefix] == nil { prefixes[key.prefix] = key }
        }
    }

    /// Registers a member's key (the core learned it), so that its tagged datagrams, which name it
    /// by prefix, can be opened before this node ever sent it anything.
    public mutating func learn(_ key: PublicKey) {
        guard key != keyPair.publicKey, trust.trusts(key), prefixes[key.prefix] == nil else { return }
        prefixes[key.prefix] = key
    }

    /// Whether the recipient can resolve this node's prefix: with a trust list it holds every
    /// trusted key; in the open mode only a peer that sent a tagged datagram surely knows ours.
    func recipientKnowsUs(_ peer: Peer) -> Bool {
        if case .keys = trust { return true }
        return peer.knowsUs
    }

    // MARK: Sending

    /// The envelope of `datagram` for `recipient` (its key when known: tagged; otherwise
    /// signed). `wallMicros` is the wall clock in microseconds since the Unix epoch.
    ///
    /// Nil for a key no pair keys derive from (libsodium cannot convert it to X25519): only a tagged
    /// envelope names its recipient, and the protocol counts on that (a ping carries no target),
    /// so a datagram for a known member is never sent signed. Keys made by `keygen` always derive.
    public mutating func seal(_ datagram: [UInt8], to recipient: PublicKey?, wallMicros: UInt64) -> [UInt8]? {
        var keys: PairKeys?
        var byPrefix = false
        if let recipient {
            guard let known = peer(recipient, at: wallMicros) else { return nil }
            keys = known.keys
            byPrefix = recipientKnowsUs(known)
            // Sending to it, this node can also name it by prefix when it answers.
            if prefixes[recipient.prefix] == nil { prefixes[recipient.prefix] = recipient }
        }
        lastCounter = max(lastCounter < UInt64.max ? lastCounter + 1 : lastCounter, wallMicros)
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.signedOverhead + datagram.count)
        if keys != nil && byPrefix {
            bytes.append(Self.taggedMarker)
            withUnsafeBytes(of: keyPair.publicKey.prefix.bigEndian) { bytes += $0 }
        } else {
            bytes.append(keys == nil ? Self.signedMarker : Self.keyedMarker)
            bytes += keyPair.publicKey.bytes
        }
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
        guard let marker = bytes.first, [Self.taggedMarker, Self.keyedMarker, Self.signedMarker].contains(marker) else {
            throw .unauthenticated
        }
        let tagged = marker != Self.signedMarker
        let header = marker == Self.taggedMarker ? Self.taggedHeaderSize : Self.signedHeaderSize
        let trailer = tagged ? Sodium.macByteCount : SigningKeyPair.signatureByteCount
        guard bytes.count > header + trailer else { throw .malformedEnvelope }
        let sender: PublicKey
        if marker == Self.taggedMarker {
            let prefix = bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard let known = prefixes[prefix] else { throw .unknownSender }
            sender = known
        } else {
            sender = PublicKey(bytes: Array(bytes[1..<33]))!
        }
        guard sender != keyPair.publicKey else { throw .ownKey }
        guard trust.trusts(sender) else { throw .untrustedSender }
        let counter = bytes[(header - 8)..<header].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let distance = counter > wallMicros ? counter - wallMicros : wallMicros - counter
        guard distance <= maxClockSkew else { throw .clockSkew }
        let end = bytes.count - trailer
        let covered = Array(bytes[..<end])
        let proof = Array(bytes[end...])
        if !tagged {
            if wallMicros >= failureWindow &+ 1_000_000 || wallMicros < failureWindow {
                failureWindow = wallMicros
                failedSignatures = 0
            }
            guard failedSignatures < Self.failedSignaturesPerSecond else { throw .signatureBudget }
            guard sender.verify(signature: proof, of: Self.signatureDomain + covered) else {
                failedSignatures += 1
                throw .badSignature
            }
        }
        guard var current = peer(sender, at: wallMicros) else { throw .invalidSenderKey }
        if tagged {
            guard Sodium.constantTimeEqual(Sodium.mac(covered, key: current.keys.receiving), proof) else { throw .badTag }
        }
        guard Self.admit(counter, highest: &current.highest, window: &current.window) else { throw .replayed }
        // A tagged datagram (either form) was made with our key: its sender can resolve our
        // prefix. A signed one says the sender does not know our key (it restarted, say).
        current.knowsUs = tagged
        peers[sender] = current
        if prefixes[sender.prefix] == nil { prefixes[sender.prefix] = sender }
        if tagged { stats.tagged += 1 } else { stats.signed += 1 }
        return (sender, Array(covered[header...]))
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
            if case .any = trust { prefixes = prefixes.filter { peers[$0.value] != nil } }
        }
        let fresh = Peer(keys: keys, lastUsed: wallMicros)
        peers[key] = fresh
        return fresh
    }

    /// Peers whose keys are kept.
    public var peerCount: Int { peers.count }
}
