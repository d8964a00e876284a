/// A member's own claim about its life: "alive at this address" or "left", signed with the
/// member's key. Only these set a member's generation and incarnation, so no other member and
/// no outsider can raise them (which evicted nodes for good) or announce a member's departure.
///
/// The signed bytes (big-endian; see `docs/wire-format.md`):
///
///     "CHORUS-MEMBER-v1" (16) | state (1: 0 alive, 3 left) | key (32) | generation (8) | incarnation (8)
///     | alive only: str8 host | port (2)
///
/// On the wire the part body is the same bytes without the tag and the state (the part type
/// gives it), followed by the 64-byte Ed25519 signature. Receivers relay the bytes unchanged.
public struct Announcement: Sendable, Hashable {
    /// The domain tag the signed bytes start with; no other signed message of this project
    /// starts with it.
    public static let domainTag = Array("CHORUS-MEMBER-v1".utf8)

    public let key: PublicKey
    public let life: Life
    /// Where the member listens: set for an alive announcement, `nil` for a leave.
    public let address: NodeAddress?
    public let signature: [UInt8]

    /// Alive (with an address) or left.
    public var state: MemberState { address == nil ? .left : .alive }

    /// Signs an announcement of `life` by the key pair's own member: alive at `address`, or left
    /// when `address` is `nil`.
    public static func sign(_ keyPair: SigningKeyPair, life: Life, address: NodeAddress?) -> Announcement {
        let unsigned = Announcement(key: keyPair.publicKey, life: life, address: address, signature: [])
        return Announcement(key: keyPair.publicKey, life: life, address: address, signature: keyPair.sign(unsigned.signedBytes))
    }

    init(key: PublicKey, life: Life, address: NodeAddress?, signature: [UInt8]) {
        self.key = key
        self.life = life
        self.address = address
        self.signature = signature
    }

    /// Whether the signature is the member's own (an Ed25519 verification, ≈ 60 µs: call it
    /// only for an announcement that would change something).
    public func verify(_ verifier: SignatureVerifier = .libsodium) -> Bool {
        verifier.verify(signature, of: signedBytes, by: key)
    }

    /// The bytes the signature covers.
    public var signedBytes: [UInt8] {
        var writer = WireWriter(capacity: 128)
        writer.raw(Self.domainTag)
        writer.u8(state.rawValue)
        writeBody(into: &writer)
        return writer.bytes
    }

    func encode(into writer: inout WireWriter) {
        writeBody(into: &writer)
        writer.raw(signature)
    }

    private func writeBody(into writer: inout WireWriter) {
        writer.raw(key.bytes)
        GossipPart.encode(life, into: &writer)
        if let address { GossipPart.encode(address, into: &writer) }
    }

    static func decode(from reader: inout WireReader, alive: Bool) throws(WireError) -> Announcement {
        let key = try GossipPart.key(&reader)
        let life = try GossipPart.life(&reader)
        let address = alive ? try GossipPart.address(&reader) : nil
        let signature = try reader.raw(SigningKeyPair.signatureByteCount, "signature")
        return Announcement(key: key, life: life, address: address, signature: signature)
    }
}
