#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a node listens for gossip.
public struct NodeAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port` (the one parser of both forms); `nil` when malformed,
    /// when the host is empty or longer than 255 bytes.
    public init?(_ text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.utf8.count <= 255, let port = UInt16(portText) else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func < (lhs: NodeAddress, rhs: NodeAddress) -> Bool {
        (lhs.host, lhs.port) < (rhs.host, rhs.port)
    }
}

extension NodeAddress {
    /// Whether `host` is an IPv4 or IPv6 address literal (not a name to resolve).
    public static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}


/// A member's life in the cluster: its generation (restart counter) and incarnation (bumped to
/// refute suspicion), compared as a pair.
public struct Life: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var generation: UInt64
    public var incarnation: UInt64

    public init(generation: UInt64, incarnation: UInt64) {
        self.generation = generation
        self.incarnation = incarnation
    }

    public static func < (lhs: Life, rhs: Life) -> Bool {
        (lhs.generation, lhs.incarnation) < (rhs.generation, rhs.incarnation)
    }

    public var description: String { "g\(generation).i\(incarnation)" }
}

/// The SWIM states of a member.
public enum MemberState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case alive = 0
    case suspect = 1
    case dead = 2
    /// Left gracefully.
    case left = 3

    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }

    /// Dead or left: no longer part of the cluster.
    public var isGone: Bool { self == .dead || self == .left }
}

extension MemberState: Codable {
    /// Encoded by name (`"alive"`, `"suspect"`, `"dead"`, `"left"`), as the HTTP API shows it.
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let state = Self.allCases.first(where: { $0.description == name }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no member state \(name)"))
        }
        self = state
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// One anti-entropy digest entry: what a node knows about a member and its status.
public struct DigestEntry: Sendable, Hashable {
    public var key: PublicKey
    public var life: Life
    public var state: MemberState
    /// The (generation, version) of the member's latest status held, or (0, 0).
    public var statusGeneration: UInt64
    public var statusVersion: UInt64

    public init(key: PublicKey, life: Life, state: MemberState, statusGeneration: UInt64, statusVersion: UInt64) {
        self.key = key
        self.life = life
        self.state = state
        self.statusGeneration = statusGeneration
        self.statusVersion = statusVersion
    }

    /// Encoded size in bytes.
    static let wireSize = 32 + 8 + 8 + 1 + 8 + 8
}

/// One part of a datagram. A datagram is a protocol version byte followed by parts, each a
/// type byte, a 2-byte length and the body; see `docs/wire-format.md`.
public enum GossipPart: Sendable, Hashable {
    /// SWIM direct probe. It names no target: only the member whose pair keys tag it can open
    /// its envelope, so a ping that reaches a reused address is dropped there as `bad_tag`.
    case ping(sequence: UInt32)
    /// Ask the receiver to probe `target` at `address` and forward the ack.
    case pingRequest(sequence: UInt32, target: PublicKey, address: NodeAddress)
    /// Answer to a ping or a forwarded probe.
    case ack(sequence: UInt32)
    /// A member announces itself alive at an address in a life (signed by the member).
    case alive(Announcement)
    /// A member's signed suspicion of another member in one of its lives (``Accusation``).
    case suspect(Accusation)
    /// The signed accusations of distinct members that make the sender hold a member dead
    /// (``DeathCertificate``): evidence for the receiver's own suspicion timer.
    case dead(DeathCertificate)
    /// The member announces that it left gracefully in a life (signed by the member).
    case left(Announcement)
    /// A signed status, relayed byte for byte.
    case status(SignedStatus)
    /// Anti-entropy step 1: a hash of the sender's whole digest and its entry count.
    case summary(hash: UInt64, count: UInt32)
    /// Anti-entropy step 2: the hashes of the 16 digest buckets (by the key's first 4 bits).
    case buckets([UInt64])
    /// Anti-entropy step 3: every entry the sender has in `buckets` (a bit set) whose key
    /// prefix lies in `low...high`, sorted; the pages of one digest cover contiguous ranges from
    /// 0 to `UInt64.max`. `reply` marks the answer to a digest (which gets no digest back).
    case digest(buckets: UInt16, low: UInt64, high: UInt64, reply: Bool, entries: [DigestEntry])
    /// Lifeguard's negative acknowledgement: the sender, asked by a ping request, got no ack from
    /// the target within the probe timeout. The requester counts it as an independent confirmation
    /// when it suspects the target.
    case nack(sequence: UInt32)
    /// Marks the parts after it, in the same datagram, as anti-entropy deltas: the receiver
    /// applies them, but does not spread the join announcements and statuses among them as
    /// rumours (the sender knew them already, and so, most likely, does everybody else; whoever
    /// lacks one gets it from its own digest exchanges).
    case catchUp
    /// A pub/sub message, pushed along the broadcast tree (or sent for a graft or a repair).
    case publish(PubSubMessage)
    /// A DHT request to one node.
    case dhtRequest(DHTRequest)
    /// The answer to a DHT request.
    case dhtResponse(DHTResponse)
    /// Pub/sub pull repair: the ids of the pub/sub messages the sender saw recently (newest
    /// first, at most ``GossipPart/maxMessageIDs``). The receiver sends back, as catch-up
    /// deltas, the recent messages missing from the list, and when it lacks some of the listed
    /// ones, answers with its own list (`reply` set; a reply gets no list back).
    case messageIDs(reply: Bool, ids: [UInt64])
    /// A pub/sub message sent to one member and back (the loopback probe's): the receiver
    /// delivers it to its own subscribers as any message, sends it straight back to the sender as
    /// a ``publish(_:)`` part and relays it nowhere else; nobody keeps it for the pull repair. So a
    /// probe costs a few datagrams however large the cluster (``PubSubReach/loopback``).
    case loopback(PubSubMessage)
    /// Pub/sub's broadcast tree, lazy push: the sender has these messages (ids, at most
    /// ``GossipPart/maxMessageIDs``); a receiver that lacks one asks for it with ``graft(_:)`` if
    /// no copy arrives within ``GossipSettings/pubSubGraftTimeout``.
    case ihave([UInt64])
    /// Send these messages (ids, at most ``GossipPart/maxMessageIDs``; none when a node picks the
    /// receiver as a neighbour) and push the next ones in full to the sender: its link becomes eager.
    case graft([UInt64])
    /// Stop pushing messages in full to the sender (it got one twice): the link becomes lazy.
    case prune

    /// Most ids in one ``messageIDs(reply:ids:)`` part.
    public static let maxMessageIDs = 64

    var typeCode: UInt8 {
        switch self {
        case .ping: 1
        case .pingRequest: 2
        case .ack: 3
        case .alive: 4
        case .suspect: 5
        case .dead: 6
        case .left: 7
        case .status: 8
        case .summary: 9
        case .buckets: 10
        case .digest: 11
        case .nack: 12
        case .catchUp: 13
        case .publish: 14
        case .dhtRequest: 15
        case .dhtResponse: 16
        case .messageIDs: 17
        case .loopback: 18
        case .ihave: 19
        case .graft: 20
        case .prune: 21
        }
    }

    /// A short name for counters and logs.
    public var kind: String { Self.kind(ofTypeCode: typeCode) ?? "unknown" }

    /// The short name of the part with type code `code` (as ``kind``), or `nil` for an unknown code.
    public static func kind(ofTypeCode code: UInt8) -> String? {
        switch code {
        case 1: "ping"
        case 2: "ping_request"
        case 3: "ack"
        case 4: "alive"
        case 5: "suspect"
        case 6: "dead"
        case 7: "left"
        case 8: "status"
        case 9: "summary"
        case 10: "buckets"
        case 11: "digest"
        case 12: "nack"
        case 13: "catch_up"
        case 14: "publish"
        case 15: "dht_request"
        case 16: "dht_response"
        case 17: "message_ids"
        case 18: "loopback"
        case 19: "ihave"
        case 20: "graft"
        case 21: "prune"
        default: nil
        }
    }

    /// The encoded size of this part, header included.
    var encodedSize: Int { 3 + body().count }

    func encode(into writer: inout WireWriter) {
        writer.u8(typeCode)
        writer.bytes16(body())
    }

    private func body() -> [UInt8] {
        var w = WireWriter(capacity: 160)
        switch self {
        case .ping(let sequence):
            w.u32(sequence)
        case .pingRequest(let sequence, let target, let address):
            w.u32(sequence)
            w.raw(target.bytes)
            Self.encode(address, into: &w)
        case .ack(let sequence), .nack(let sequence):
            w.u32(sequence)
        case .catchUp, .prune:
            break
        case .ihave(let ids), .graft(let ids):
            w.u8(UInt8(clamping: min(ids.count, Self.maxMessageIDs)))
            for id in ids.prefix(Self.maxMessageIDs) { w.u64(id) }
        case .publish(let message), .loopback(let message):
            message.encode(into: &w)
        case .dhtRequest(let request):
            request.encode(into: &w)
        case .dhtResponse(let response):
            response.encode(into: &w)
        case .messageIDs(let reply, let ids):
            // The count always matches the ids written (the first 64). A node keeps 64 messages
            // for the pull repair, so its lists are never longer; a longer one would otherwise
            // go out malformed, taking the anti-entropy summary beside it along.
            let written = ids.prefix(Self.maxMessageIDs)
            w.u8(reply ? 1 : 0)
            w.u8(UInt8(written.count))
            for id in written { w.u64(id) }
        case .alive(let announcement), .left(let announcement):
            announcement.encode(into: &w)
        case .suspect(let accusation):
            accusation.encodeSuspicion(into: &w)
        case .dead(let certificate):
            certificate.encode(into: &w)
        case .status(let status):
            w.raw(status.payload)
            w.raw(status.signature)
        case .summary(let hash, let count):
            w.u64(hash)
            w.u32(count)
        case .buckets(let hashes):
            for hash in hashes { w.u64(hash) }
        case .digest(let buckets, let low, let high, let reply, let entries):
            w.u16(buckets)
            w.u64(low)
            w.u64(high)
            w.u8(reply ? 1 : 0)
            w.u16(UInt16(entries.count))
            for entry in entries {
                w.raw(entry.key.bytes)
                Self.encode(entry.life, into: &w)
                w.u8(entry.state.rawValue)
                w.u64(entry.statusGeneration)
                w.u64(entry.statusVersion)
            }
        }
        return w.bytes
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> GossipPart {
        let type = try reader.u8("part type")
        var r = WireReader(try reader.bytes16("part body"))
        let part: GossipPart
        switch type {
        case 1:
            part = .ping(sequence: try r.u32("sequence"))
        case 2:
            part = .pingRequest(sequence: try r.u32("sequence"), target: try key(&r), address: try address(&r))
        case 3:
            part = .ack(sequence: try r.u32("sequence"))
        case 4:
            part = .alive(try Announcement.decode(from: &r, alive: true))
        case 5:
            part = .suspect(try Accusation.decodeSuspicion(from: &r))
        case 6:
            part = .dead(try DeathCertificate.decode(from: &r))
        case 7:
            part = .left(try Announcement.decode(from: &r, alive: false))
        case 8:
            let payloadCount = r.remaining - SigningKeyPair.signatureByteCount
            guard payloadCount > 0 else {
                throw .truncated(field: "status", needed: SigningKeyPair.signatureByteCount + 1, remaining: r.remaining)
            }
            let payload = try r.raw(payloadCount, "status payload")
            part = .status(try SignedStatus(payload: payload, signature: try r.raw(64, "signature")))
        case 9:
            part = .summary(hash: try r.u64("hash"), count: try r.u32("count"))
        case 10:
            var hashes: [UInt64] = []
            for _ in 0..<16 { hashes.append(try r.u64("bucket hash")) }
            part = .buckets(hashes)
        case 11:
            let buckets = try r.u16("buckets")
            let low = try r.u64("low")
            let high = try r.u64("high")
            guard low <= high else { throw .invalidValue(field: "digest range", value: low) }
            let reply = try r.u8("reply")
            guard reply <= 1 else { throw .invalidValue(field: "reply", value: UInt64(reply)) }
            let count = Int(try r.u16("entry count"))
            guard count * DigestEntry.wireSize <= r.remaining else {
                throw .truncated(field: "digest entries", needed: count * DigestEntry.wireSize, remaining: r.remaining)
            }
            var entries: [DigestEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let entryKey = try key(&r)
                let entryLife = try life(&r)
                let code = try r.u8("state")
                guard let state = MemberState(rawValue: code) else {
                    throw .invalidValue(field: "state", value: UInt64(code))
                }
                entries.append(
                    DigestEntry(
                        key: entryKey, life: entryLife, state: state, statusGeneration: try r.u64("status generation"),
                        statusVersion: try r.u64("status version")))
            }
            part = .digest(buckets: buckets, low: low, high: high, reply: reply == 1, entries: entries)
        case 12:
            part = .nack(sequence: try r.u32("sequence"))
        case 13:
            part = .catchUp
        case 14:
            part = .publish(try PubSubMessage.decode(from: &r))
        case 15:
            part = .dhtRequest(try DHTRequest.decode(from: &r))
        case 16:
            part = .dhtResponse(try DHTResponse.decode(from: &r))
        case 17:
            let reply = try r.u8("reply")
            guard reply <= 1 else { throw .invalidValue(field: "reply", value: UInt64(reply)) }
            let count = Int(try r.u8("id count"))
            guard count <= Self.maxMessageIDs else { throw .invalidValue(field: "id count", value: UInt64(count)) }
            var ids: [UInt64] = []
            for _ in 0..<count { ids.append(try r.u64("message id")) }
            part = .messageIDs(reply: reply == 1, ids: ids)
        case 18:
            part = .loopback(try PubSubMessage.decode(from: &r))
        case 19, 20:
            let count = Int(try r.u8("id count"))
            // An announcement names at least one message; a graft may name none ("link me eagerly").
            guard (type == 19 ? 1 : 0)...Self.maxMessageIDs ~= count else {
                throw .invalidValue(field: "id count", value: UInt64(count))
            }
            var ids: [UInt64] = []
            for _ in 0..<count { ids.append(try r.u64("message id")) }
            part = type == 19 ? .ihave(ids) : .graft(ids)
        case 21:
            part = .prune
        default:
            throw .invalidValue(field: "part type", value: UInt64(type))
        }
        try r.expectEnd()
        return part
    }

    static func encode(_ address: NodeAddress, into w: inout WireWriter) {
        w.bytes8(Array(address.host.utf8.prefix(255)))
        w.u16(address.port)
    }

    static func encode(_ life: Life, into w: inout WireWriter) {
        w.u64(life.generation)
        w.u64(life.incarnation)
    }

    static func key(_ r: inout WireReader) throws(WireError) -> PublicKey {
        PublicKey(bytes: try r.raw(PublicKey.byteCount, "key"))!
    }

    static func life(_ r: inout WireReader) throws(WireError) -> Life {
        Life(generation: try r.u64("generation"), incarnation: try r.u64("incarnation"))
    }

    static func address(_ r: inout WireReader) throws(WireError) -> NodeAddress {
        let host = try r.string8("host")
        guard !host.isEmpty else { throw .invalidValue(field: "host", value: 0) }
        return NodeAddress(host: host, port: try r.u16("port"))
    }
}

/// A whole datagram: the protocol version and its parts.
public enum Datagram {
    /// The protocol version byte every datagram starts with.
    /// 2: suspicions and deaths are signed accusations (``Accusation``, ``DeathCertificate``).
    /// 3: a ping names no target (its envelope's tag names the recipient).
    public static let protocolVersion: UInt8 = 3
    /// Bytes before the first part.
    static let headerSize = 1

    /// Encodes `parts` (the caller keeps the total within its budget).
    public static func encode(_ parts: [GossipPart]) -> [UInt8] {
        var writer = WireWriter(capacity: 256)
        writer.u8(protocolVersion)
        for part in parts { part.encode(into: &writer) }
        return writer.bytes
    }

    /// The size of the datagram `parts` encode to, header included.
    static func encodedSize(_ parts: [GossipPart]) -> Int {
        parts.reduce(headerSize) { $0 + $1.encodedSize }
    }

    /// Decodes a datagram; fails on the first malformed part (the whole datagram is dropped).
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> [GossipPart] {
        var reader = WireReader(bytes)
        let version = try reader.u8("protocol version")
        guard version == protocolVersion else { throw .invalidValue(field: "protocol version", value: UInt64(version)) }
        var parts: [GossipPart] = []
        while reader.remaining > 0 {
            parts.append(try GossipPart.decode(from: &reader))
            guard parts.count <= 256 else { throw .tooLarge(field: "parts", size: parts.count, limit: 256) }
        }
        guard !parts.isEmpty else { throw .truncated(field: "parts", needed: 3, remaining: 0) }
        return parts
    }
}

