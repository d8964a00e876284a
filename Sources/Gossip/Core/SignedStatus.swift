#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The compact projection of a node's health status that it signs and gossips.
///
/// Its byte layout is specified in `docs/wire-format.md`; ``encodePayload()`` and
/// ``decode(payload:)`` are exact inverses, and there is only one encoding of each projection
/// (checks sorted by name, extensions by type, no trailing bytes).
public struct StatusProjection: Sendable, Hashable {
    /// The 16 ASCII bytes every signed payload starts with (domain separation): a signature
    /// over them can never be taken for a signature of anything else.
    public static let domainTag = Array("CHORUS-STATUS-v1".utf8)
    /// The payload format this code writes and reads.
    public static let formatVersion: UInt8 = 1

    /// Longest node id, in UTF-8 bytes.
    public static let maxNodeIDBytes = 64
    /// Longest software version, in UTF-8 bytes.
    public static let maxSoftwareVersionBytes = 32
    /// Longest overall message, in UTF-8 bytes (longer ones are cut on a character boundary).
    public static let maxMessageBytes = 200
    /// Longest check name, in UTF-8 bytes.
    public static let maxCheckNameBytes = 64
    /// Longest check message, in UTF-8 bytes (longer ones are cut on a character boundary).
    public static let maxCheckMessageBytes = 96
    /// Most checks in one status.
    public static let maxChecks = 32
    /// Most extensions in one status.
    public static let maxExtensions = 16
    /// Largest payload in bytes, so that a signed status (payload, signature, framing) fits in
    /// one datagram of the default 1400-byte budget with room for the message header.
    public static let maxPayloadBytes = 1100

    /// One check as the cluster sees it.
    public struct Check: Sendable, Hashable {
        public var name: String
        public var healthy: Bool
        public var critical: Bool
        /// Passing, but reporting itself degraded (a check that passes but says it is degraded).
        public var degraded: Bool
        /// Latency of the last run in microseconds, saturating at `UInt32.max`.
        public var latencyMicros: UInt32
        /// A short message: cut to ``StatusProjection/maxCheckMessageBytes``, and dropped for
        /// passing checks when the status would otherwise not fit.
        public var message: String

        public init(
            name: String, healthy: Bool, critical: Bool, degraded: Bool = false, latencyMicros: UInt32, message: String
        ) {
            self.name = name
            self.healthy = healthy
            self.critical = critical
            self.degraded = degraded && healthy
            self.latencyMicros = latencyMicros
            self.message = message
        }
    }

    /// A typed field that later protocol parts add (election view, peer count, replication
    /// figures). Readers keep extensions they do not know, so old nodes relay new statuses intact.
    public struct Extension: Sendable, Hashable {
        public var type: UInt8
        /// At most 255 bytes.
        public var value: [UInt8]

        public init(type: UInt8, value: [UInt8]) {
            self.type = type
            self.value = value
        }
    }

    public var publicKey: PublicKey
    /// Bumped on every restart of the node (persisted), so a restarted node supersedes its old self.
    public var generation: UInt64
    /// Bumped on every change within a generation.
    public var version: UInt64
    /// Wall-clock time of signing, Unix milliseconds.
    public var issuedAtMillis: UInt64
    public var nodeID: String
    public var status: StatusLevel
    public var message: String
    public var uptimeSeconds: UInt32
    public var softwareVersion: String
    /// Sorted by name, names unique.
    public var checks: [Check]
    /// Sorted by type, types unique.
    public var extensions: [Extension]

    public init(
        publicKey: PublicKey, generation: UInt64, version: UInt64, issuedAtMillis: UInt64, nodeID: String,
        status: StatusLevel, message: String, uptimeSeconds: UInt32, softwareVersion: String,
        checks: [Check], extensions: [Extension] = []
    ) {
        self.publicKey = publicKey
        self.generation = generation
        self.version = version
        self.issuedAtMillis = issuedAtMillis
        self.nodeID = nodeID
        self.status = status
        self.message = message
        self.uptimeSeconds = uptimeSeconds
        self.softwareVersion = softwareVersion
        self.checks = checks.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        self.extensions = extensions.sorted { $0.type < $1.type }
    }

    /// Whether a node holding `other` must re-sign and republish to show this projection: the
    /// overall level or message, the node id or software version, the set of checks, a check's
    /// health, degradation or criticality, a failing check's message, or an extension's meaningful
    /// part (``Extension/meaningfulBytes``) changed. Latencies, uptime, the signing time, passing
    /// checks' messages and extension figures ride on the slow refresh.
    public func differsMeaningfully(from other: StatusProjection) -> Bool {
        guard status == other.status, message == other.message, nodeID == other.nodeID,
            softwareVersion == other.softwareVersion, extensions.count == other.extensions.count,
            checks.count == other.checks.count
        else { return true }
        for (mine, theirs) in zip(extensions, other.extensions)
        where mine.type != theirs.type || mine.meaningfulBytes != theirs.meaningfulBytes {
            return true
        }
        for (mine, theirs) in zip(checks, other.checks) {
            if mine.name != theirs.name || mine.healthy != theirs.healthy || mine.critical != theirs.critical
                || mine.degraded != theirs.degraded
            {
                return true
            }
            if !mine.healthy && mine.message != theirs.message { return true }
        }
        return false
    }

    // MARK: Encoding

    /// The canonical payload bytes, which the signature covers. Strings longer than their
    /// limits are cut on a character boundary; if the payload would still exceed
    /// ``maxPayloadBytes``, passing checks' messages are dropped, then failing checks' messages
    /// cut to 32 bytes.
    public func encodePayload() throws(WireError) -> [UInt8] {
        guard checks.count <= Self.maxChecks else {
            throw .tooLarge(field: "checks", size: checks.count, limit: Self.maxChecks)
        }
        guard extensions.count <= Self.maxExtensions else {
            throw .tooLarge(field: "extensions", size: extensions.count, limit: Self.maxExtensions)
        }
        for item in extensions where item.value.count > Int(UInt8.max) {
            throw .tooLarge(field: "extension \(item.type)", size: item.value.count, limit: Int(UInt8.max))
        }
        for (index, item) in extensions.enumerated().dropFirst() where item.type <= extensions[index - 1].type {
            throw .notCanonical(field: "extensions")
        }
        for (index, check) in checks.enumerated().dropFirst()
        where !checks[index - 1].name.utf8.lexicographicallyPrecedes(check.name.utf8) {
            throw .notCanonical(field: "checks")
        }
        for check in checks where check.name.utf8.count > Self.maxCheckNameBytes || check.name.isEmpty {
            throw .tooLarge(field: "check name", size: check.name.utf8.count, limit: Self.maxCheckNameBytes)
        }
        var payload = encode(checkMessageLimit: { _ in Self.maxCheckMessageBytes })
        if payload.count > Self.maxPayloadBytes {
            payload = encode(checkMessageLimit: { $0.healthy ? 0 : Self.maxCheckMessageBytes })
        }
        if payload.count > Self.maxPayloadBytes {
            payload = encode(checkMessageLimit: { $0.healthy ? 0 : 32 })
        }
        guard payload.count <= Self.maxPayloadBytes else {
            throw .tooLarge(field: "status payload", size: payload.count, limit: Self.maxPayloadBytes)
        }
        return payload
    }

    private func encode(checkMessageLimit: (Check) -> Int) -> [UInt8] {
        var writer = WireWriter(capacity: 512)
        writer.raw(Self.domainTag)
        writer.u8(Self.formatVersion)
        publicKey.write(into: &writer)
        writer.u64(generation)
        writer.u64(version)
        writer.u64(issuedAtMillis)
        writer.u8(status.wireCode)
        writer.u32(uptimeSeconds)
        writer.bytes8(nodeID.utf8Prefix(Self.maxNodeIDBytes))
        writer.bytes8(softwareVersion.utf8Prefix(Self.maxSoftwareVersionBytes))
        writer.bytes16(message.utf8Prefix(Self.maxMessageBytes))
        writer.u8(UInt8(checks.count))
        for check in checks {
            writer.bytes8(Array(check.name.utf8))
            writer.u8((check.healthy ? 1 : 0) | (check.critical ? 2 : 0) | (check.degraded ? 4 : 0))
            writer.u32(check.latencyMicros)
            writer.bytes8(check.message.utf8Prefix(checkMessageLimit(check)))
        }
        writer.u8(UInt8(extensions.count))
        for item in extensions {
            writer.u8(item.type)
            writer.bytes8(item.value)
        }
        return writer.bytes
    }

    /// Parses payload bytes (no signature check), enforcing every limit and the canonical form.
    public static func decode(payload: [UInt8]) throws(WireError) -> StatusProjection {
        guard payload.count <= maxPayloadBytes else {
            throw .tooLarge(field: "status payload", size: payload.count, limit: maxPayloadBytes)
        }
        var reader = WireReader(payload)
        guard try reader.raw(domainTag.count, "domain tag") == domainTag else {
            throw .invalidValue(field: "domain tag", value: 0)
        }
        let format = try reader.u8("format version")
        guard format == formatVersion else { throw .invalidValue(field: "format version", value: UInt64(format)) }
        guard let publicKey = PublicKey(bytes: try reader.raw(PublicKey.byteCount, "public key")) else {
            throw .invalidValue(field: "public key", value: 0)
        }
        let generation = try reader.u64("generation")
        let version = try reader.u64("version")
        let issuedAt = try reader.u64("issued at")
        let code = try reader.u8("status")
        guard let status = StatusLevel(wireCode: code) else { throw .invalidValue(field: "status", value: UInt64(code)) }
        let uptime = try reader.u32("uptime")
        let nodeID = try reader.string8("node id")
        guard nodeID.utf8.count <= maxNodeIDBytes else {
            throw .tooLarge(field: "node id", size: nodeID.utf8.count, limit: maxNodeIDBytes)
        }
        let softwareVersion = try reader.string8("software version")
        guard softwareVersion.utf8.count <= maxSoftwareVersionBytes else {
            throw .tooLarge(field: "software version", size: softwareVersion.utf8.count, limit: maxSoftwareVersionBytes)
        }
        let message = try reader.string16("message")
        guard message.utf8.count <= maxMessageBytes else {
            throw .tooLarge(field: "message", size: message.utf8.count, limit: maxMessageBytes)
        }
        let checkCount = Int(try reader.u8("check count"))
        guard checkCount <= maxChecks else { throw .tooLarge(field: "checks", size: checkCount, limit: maxChecks) }
        var checks: [Check] = []
        checks.reserveCapacity(checkCount)
        for _ in 0..<checkCount {
            let name = try reader.string8("check name")
            guard !name.isEmpty, name.utf8.count <= maxCheckNameBytes else {
                throw .tooLarge(field: "check name", size: name.utf8.count, limit: maxCheckNameBytes)
            }
            if let previous = checks.last, !previous.name.utf8.lexicographicallyPrecedes(name.utf8) {
                throw .notCanonical(field: "checks")
            }
            let flags = try reader.u8("check flags")
            guard flags & ~7 == 0, flags & 5 != 4 else { throw .invalidValue(field: "check flags", value: UInt64(flags)) }
            let latency = try reader.u32("check latency")
            let checkMessage = try reader.string8("check message")
            guard checkMessage.utf8.count <= maxCheckMessageBytes else {
                throw .tooLarge(field: "check message", size: checkMessage.utf8.count, limit: maxCheckMessageBytes)
            }
            checks.append(
                Check(
                    name: name, healthy: flags & 1 != 0, critical: flags & 2 != 0, degraded: flags & 4 != 0, latencyMicros: latency,
                    message: checkMessage))
        }
        let extensionCount = Int(try reader.u8("extension count"))
        guard extensionCount <= maxExtensions else {
            throw .tooLarge(field: "extensions", size: extensionCount, limit: maxExtensions)
        }
        var extensions: [Extension] = []
        for _ in 0..<extensionCount {
            let type = try reader.u8("extension type")
            if let previous = extensions.last, previous.type >= type { throw .notCanonical(field: "extensions") }
            extensions.append(Extension(type: type, value: try reader.bytes8("extension value")))
        }
        try reader.expectEnd()
        return StatusProjection(
            publicKey: publicKey, generation: generation, version: version, issuedAtMillis: issuedAt, nodeID: nodeID,
            status: status, message: message, uptimeSeconds: uptime, softwareVersion: softwareVersion,
            checks: checks, extensions: extensions)
    }
}

/// What a node says about itself before the core signs it: every field of a
/// ``StatusProjection`` but the signer's identity (key, generation, version), which the core owns.
public struct StatusDraft: Sendable, Hashable {
    /// Wall-clock time the status was taken, Unix milliseconds.
    public var issuedAtMillis: UInt64
    public var nodeID: String
    public var status: StatusLevel
    public var message: String
    public var uptimeSeconds: UInt32
    public var softwareVersion: String
    public var checks: [StatusProjection.Check]
    /// Extensions of the node's own; the core adds (and replaces) its election, peers and
    /// replication extensions.
    public var extensions: [StatusProjection.Extension]

    public init(
        issuedAtMillis: UInt64, nodeID: String, status: StatusLevel, message: String, uptimeSeconds: UInt32,
        softwareVersion: String, checks: [StatusProjection.Check], extensions: [StatusProjection.Extension] = []
    ) {
        self.issuedAtMillis = issuedAtMillis
        self.nodeID = nodeID
        self.status = status
        self.message = message
        self.uptimeSeconds = uptimeSeconds
        self.softwareVersion = softwareVersion
        self.checks = checks
        self.extensions = extensions
    }

    /// The projection of this draft signed by `publicKey` in its `generation`, at `version`.
    public func projection(publicKey: PublicKey, generation: UInt64, version: UInt64) -> StatusProjection {
        StatusProjection(
            publicKey: publicKey, generation: generation, version: version, issuedAtMillis: issuedAtMillis,
            nodeID: nodeID, status: status, message: message, uptimeSeconds: uptimeSeconds,
            softwareVersion: softwareVersion, checks: checks, extensions: extensions)
    }
}

/// A node's overall health level as it signs and gossips it. The cases and their names are
/// NodeHealth's `HealthStatus`, case for case; the core keeps its own type so that it depends on
/// no health-manager code, and the shell maps one to the other (`StatusLevel(_:)`).
public enum StatusLevel: String, Sendable, Hashable, Codable, CaseIterable {
    case healthy, degraded, unhealthy, starting, stopping

    /// The level's one-byte code on the wire.
    public var wireCode: UInt8 {
        switch self {
        case .healthy: 0
        case .degraded: 1
        case .unhealthy: 2
        case .starting: 3
        case .stopping: 4
        }
    }

    /// The level for a wire code; `nil` for codes above 4.
    public init?(wireCode: UInt8) {
        switch wireCode {
        case 0: self = .healthy
        case 1: self = .degraded
        case 2: self = .unhealthy
        case 3: self = .starting
        case 4: self = .stopping
        default: return nil
        }
    }
}

/// A signed status: the exact payload bytes, the Ed25519 signature over them, and the decoded
/// projection. Receivers keep and relay `payload` and `signature` unchanged.
public struct SignedStatus: Sendable, Hashable {
    /// The bytes the signature covers (they start with ``StatusProjection/domainTag``).
    public let payload: [UInt8]
    /// The 64-byte detached Ed25519 signature of `payload` by `projection.publicKey`.
    public let signature: [UInt8]
    /// The decoded payload.
    public let projection: StatusProjection

    /// Why a status could not be signed.
    public enum SigningError: Error, Sendable, Hashable {
        /// The projection names another key than the signing key pair's.
        case keyMismatch
        /// The projection does not encode.
        case encoding(WireError)
    }

    /// Encodes `projection` and signs it with `keyPair`, whose public key MUST be the projection's.
    public static func sign(_ projection: StatusProjection, with keyPair: SigningKeyPair) throws(SigningError)
        -> SignedStatus
    {
        guard projection.publicKey == keyPair.publicKey else { throw .keyMismatch }
        let payload: [UInt8]
        do { payload = try projection.encodePayload() } catch { throw .encoding(error) }
        // Decode the canonical bytes so `projection` shows exactly what was signed (cut strings included).
        let signed: StatusProjection
        do { signed = try StatusProjection.decode(payload: payload) } catch { throw .encoding(error) }
        return SignedStatus(payload: payload, signature: keyPair.sign(payload), projection: signed)
    }

    /// Parses a received payload and signature. Checks the structure, not the signature: see ``isSignatureValid``.
    public init(payload: [UInt8], signature: [UInt8]) throws(WireError) {
        guard signature.count == SigningKeyPair.signatureByteCount else {
            throw .truncated(field: "signature", needed: SigningKeyPair.signatureByteCount, remaining: signature.count)
        }
        self.projection = try StatusProjection.decode(payload: payload)
        self.payload = payload
        self.signature = signature
    }

    private init(payload: [UInt8], signature: [UInt8], projection: StatusProjection) {
        self.payload = payload
        self.signature = signature
        self.projection = projection
    }

    /// Whether the signature is valid for the payload under the key the payload names (~60 µs).
    public var isSignatureValid: Bool { isSignatureValid(.libsodium) }

    /// Whether the signature is valid for the payload under the key the payload names, checked by `verifier`.
    public func isSignatureValid(_ verifier: SignatureVerifier) -> Bool {
        verifier.verify(signature, of: payload, by: projection.publicKey)
    }

    /// Writes the wire form: payload length (u16), payload, signature (64 bytes).
    public func encode(into writer: inout WireWriter) {
        writer.bytes16(payload)
        writer.raw(signature)
    }

    /// Reads the wire form written by ``encode(into:)``.
    public static func decode(from reader: inout WireReader) throws(WireError) -> SignedStatus {
        let payload = try reader.bytes16("status payload")
        let signature = try reader.raw(SigningKeyPair.signatureByteCount, "signature")
        return try SignedStatus(payload: payload, signature: signature)
    }

    /// Size of the wire form in bytes.
    public var wireSize: Int { 2 + payload.count + signature.count }
}
