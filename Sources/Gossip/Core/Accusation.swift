/// A member's signed claim that another member, in one life, does not answer: "I suspect it" or
/// "I hold it dead". Nobody is taken out of the cluster on one member's word: a member becomes
/// dead only when ``GossipSettings/accusersForDeath`` distinct trusted members signed such a claim
/// about the same life and the suspicion timeout ran out (or on its own signed leave). A claim
/// is bound to its subject's key and life and to its author's key, so it cannot be moved to
/// another member, another life or another author, and it carries the author's wall-clock time,
/// so that an old one cannot be replayed once ``GossipSettings/accusationLifetime`` has passed.
///
/// The signed bytes (big-endian; see `docs/wire-format.md`), 105 bytes:
///
///     "CHORUS-ACCUSE-v1" (16) | verdict (1: 1 suspect, 2 dead) | subject key (32)
///     | subject generation (8) | subject incarnation (8) | accuser key (32) | issued at (8, Unix ms)
///
/// Receivers relay the bytes unchanged: a claim is signed once by its author and verified once
/// by each receiver.
public struct Accusation: Sendable, Hashable {
    public enum Verdict: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case suspect = 1
        case dead = 2

        public var description: String { self == .suspect ? "suspect" : "dead" }
    }

    /// The domain tag the signed bytes start with; no other signed message of this project starts with it.
    public static let domainTag = Array("CHORUS-ACCUSE-v1".utf8)
    /// Bytes of an accusation on the wire after the subject and its life (which a death
    /// certificate holds once for all its accusations): verdict, accuser, time, signature.
    static let claimWireSize = 1 + PublicKey.byteCount + 8 + SigningKeyPair.signatureByteCount

    public let verdict: Verdict
    public let subject: PublicKey
    /// The subject's life the claim is about.
    public let life: Life
    public let accuser: PublicKey
    /// When the accuser signed it, in Unix milliseconds by its clock.
    public let issuedAt: UInt64
    public let signature: [UInt8]

    /// Signs `keyPair`'s member's claim about `subject` in `life`.
    public static func sign(
        _ keyPair: SigningKeyPair, _ verdict: Verdict, subject: PublicKey, life: Life, issuedAt: UInt64
    ) -> Accusation {
        let unsigned = Accusation(
            verdict: verdict, subject: subject, life: life, accuser: keyPair.publicKey, issuedAt: issuedAt, signature: [])
        return Accusation(
            verdict: verdict, subject: subject, life: life, accuser: keyPair.publicKey, issuedAt: issuedAt,
            signature: keyPair.sign(unsigned.signedBytes))
    }

    init(verdict: Verdict, subject: PublicKey, life: Life, accuser: PublicKey, issuedAt: UInt64, signature: [UInt8]) {
        self.verdict = verdict
        self.subject = subject
        self.life = life
        self.accuser = accuser
        self.issuedAt = issuedAt
        self.signature = signature
    }

    /// Whether the accuser signed it (an Ed25519 verification: call it once per distinct claim).
    public func verify(_ verifier: SignatureVerifier = .libsodium) -> Bool {
        verifier.verify(signature, of: signedBytes, by: accuser)
    }

    /// The bytes the signature covers.
    public var signedBytes: [UInt8] {
        var writer = WireWriter(capacity: 112)
        writer.raw(Self.domainTag)
        writer.u8(verdict.rawValue)
        writer.raw(subject.bytes)
        GossipPart.encode(life, into: &writer)
        writer.raw(accuser.bytes)
        writer.u64(issuedAt)
        return writer.bytes
    }

    /// A `suspect` part's body: subject, life, accuser, time, signature (the verdict is the part's type).
    func encodeSuspicion(into writer: inout WireWriter) {
        writer.raw(subject.bytes)
        GossipPart.encode(life, into: &writer)
        encodeClaim(into: &writer, withVerdict: false)
    }

    static func decodeSuspicion(from reader: inout WireReader) throws(WireError) -> Accusation {
        let subject = try GossipPart.key(&reader)
        let life = try GossipPart.life(&reader)
        return try decodeClaim(from: &reader, verdict: .suspect, subject: subject, life: life)
    }

    /// The claim without its subject and life, as a death certificate lists it.
    func encodeClaim(into writer: inout WireWriter, withVerdict: Bool) {
        if withVerdict { writer.u8(verdict.rawValue) }
        writer.raw(accuser.bytes)
        writer.u64(issuedAt)
        writer.raw(signature)
    }

    static func decodeClaim(
        from reader: inout WireReader, verdict: Verdict? = nil, subject: PublicKey, life: Life
    ) throws(WireError) -> Accusation {
        let resolved: Verdict
        if let verdict {
            resolved = verdict
        } else {
            let code = try reader.u8("verdict")
            guard let decoded = Verdict(rawValue: code) else { throw .invalidValue(field: "verdict", value: UInt64(code)) }
            resolved = decoded
        }
        let accuser = try GossipPart.key(&reader)
        let issuedAt = try reader.u64("issued at")
        let signature = try reader.raw(SigningKeyPair.signatureByteCount, "signature")
        return Accusation(verdict: resolved, subject: subject, life: life, accuser: accuser, issuedAt: issuedAt, signature: signature)
    }
}

/// Why a member is held dead: the signed accusations of distinct members about one life of it
/// (a `dead` part). Each receiver checks every accusation it has not seen, counts the distinct
/// trusted accusers and runs its own suspicion timer: a certificate is evidence, never a verdict.
public struct DeathCertificate: Sendable, Hashable {
    /// Most accusations in one certificate (8 × 105 bytes fit a datagram with room to spare).
    public static let maxAccusations = 8

    public let subject: PublicKey
    public let life: Life
    /// About `subject` in `life`, from distinct accusers; 1 to ``maxAccusations``.
    public let accusations: [Accusation]

    /// `nil` unless `accusations` is non-empty and all of them are about `subject` in `life`.
    public init?(subject: PublicKey, life: Life, accusations: [Accusation]) {
        guard !accusations.isEmpty, accusations.allSatisfy({ $0.subject == subject && $0.life == life }) else { return nil }
        self.subject = subject
        self.life = life
        var seen = Set<PublicKey>()
        self.accusations = Array(accusations.filter { seen.insert($0.accuser).inserted }.prefix(Self.maxAccusations))
    }

    func encode(into writer: inout WireWriter) {
        writer.raw(subject.bytes)
        GossipPart.encode(life, into: &writer)
        writer.u8(UInt8(accusations.count))
        for accusation in accusations { accusation.encodeClaim(into: &writer, withVerdict: true) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> DeathCertificate {
        let subject = try GossipPart.key(&reader)
        let life = try GossipPart.life(&reader)
        let count = Int(try reader.u8("accusation count"))
        guard 1...maxAccusations ~= count else { throw .invalidValue(field: "accusation count", value: UInt64(count)) }
        guard count * Accusation.claimWireSize <= reader.remaining else {
            throw .truncated(field: "accusations", needed: count * Accusation.claimWireSize, remaining: reader.remaining)
        }
        var accusations: [Accusation] = []
        for _ in 0..<count { accusations.append(try Accusation.decodeClaim(from: &reader, subject: subject, life: life)) }
        // Distinct accusers: a repeated one would be counted once anyway; on the wire it is malformed.
        guard Set(accusations.map(\.accuser)).count == count else { throw .invalidValue(field: "repeated accuser", value: UInt64(count)) }
        return DeathCertificate(subject: subject, life: life, accusations: accusations)!
    }
}
