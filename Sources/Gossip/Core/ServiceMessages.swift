/// A pub/sub message as it travels between nodes (part type 14). See `docs/wire-format.md`.
public struct PubSubMessage: Sendable, Hashable {
    /// Longest topic, in UTF-8 bytes.
    public static let maxTopicBytes = 128
    /// Largest payload, in bytes: with the topic and framing it fits one datagram.
    public static let maxPayloadBytes = 1024

    /// Random, unique per message: receivers drop copies they have seen.
    public var id: UInt64
    /// The first 8 bytes of the publisher's key.
    public var origin: UInt64
    /// Relays so far (0 when sent by the publisher).
    public var hops: UInt8
    public var topic: String
    public var payload: [UInt8]

    public init(id: UInt64, origin: UInt64, hops: UInt8, topic: String, payload: [UInt8]) {
        self.id = id
        self.origin = origin
        self.hops = hops
        self.topic = topic
        self.payload = payload
    }

    func encode(into w: inout WireWriter) {
        w.u64(id)
        w.u64(origin)
        w.u8(hops)
        w.bytes8(Array(topic.utf8))
        w.bytes16(payload)
    }

    static func decode(from r: inout WireReader) throws(WireError) -> PubSubMessage {
        let id = try r.u64("message id")
        let origin = try r.u64("origin")
        let hops = try r.u8("hops")
        let topic = try r.string8("topic")
        guard !topic.isEmpty, topic.utf8.count <= maxTopicBytes else {
            throw .tooLarge(field: "topic", size: topic.utf8.count, limit: maxTopicBytes)
        }
        let payload = try r.bytes16("message payload")
        guard payload.count <= maxPayloadBytes else {
            throw .tooLarge(field: "message payload", size: payload.count, limit: maxPayloadBytes)
        }
        return PubSubMessage(id: id, origin: origin, hops: hops, topic: topic, payload: payload)
    }
}

/// A DHT request (part type 15): put, get, replicate (a repair or hand-off copy), provide, or
/// find providers. See `docs/wire-format.md`.
public struct DHTRequest: Sendable, Hashable {
    public enum Operation: UInt8, Sendable, Hashable {
        case put = 1
        case get = 2
        case replicate = 3
        case provide = 4
        case findProviders = 5
    }

    /// Longest key, in UTF-8 bytes.
    public static let maxKeyBytes = 200
    /// Largest value, in bytes.
    public static let maxValueBytes = 1024

    /// Chosen by the requester; the response carries it back.
    public var id: UInt32
    public var operation: Operation
    public var key: String
    /// The value (put, replicate), or the provider's address as `host:port` (provide).
    public var value: [UInt8]
    /// Put and replicate: the value's version (newer wins). Provide: the provider's key prefix.
    public var version: UInt64
    /// How long the value or record lives, in seconds.
    public var ttlSeconds: UInt32

    public init(id: UInt32, operation: Operation, key: String, value: [UInt8] = [], version: UInt64 = 0, ttlSeconds: UInt32 = 0) {
        self.id = id
        self.operation = operation
        self.key = key
        self.value = value
        self.version = version
        self.ttlSeconds = ttlSeconds
    }

    func encode(into w: inout WireWriter) {
        w.u32(id)
        w.u8(operation.rawValue)
        w.bytes8(Array(key.utf8))
        w.bytes16(value)
        w.u64(version)
        w.u32(ttlSeconds)
    }

    static func decode(from r: inout WireReader) throws(WireError) -> DHTRequest {
        let id = try r.u32("request id")
        let code = try r.u8("operation")
        guard let operation = Operation(rawValue: code) else { throw .invalidValue(field: "operation", value: UInt64(code)) }
        let key = try r.string8("key")
        guard !key.isEmpty, key.utf8.count <= maxKeyBytes else {
            throw .tooLarge(field: "key", size: key.utf8.count, limit: maxKeyBytes)
        }
        let value = try r.bytes16("value")
        guard value.count <= maxValueBytes else { throw .tooLarge(field: "value", size: value.count, limit: maxValueBytes) }
        return DHTRequest(
            id: id, operation: operation, key: key, value: value, version: try r.u64("version"),
            ttlSeconds: try r.u32("ttl"))
    }
}

/// The answer to a ``DHTRequest`` (part type 16).
public struct DHTResponse: Sendable, Hashable {
    public enum Status: UInt8, Sendable, Hashable {
        /// Done; for put and replicate the receiver already held this version or a newer one.
        case ok = 0
        case notFound = 1
        case rejected = 2
        /// Put or replicate: the receiver stored a version it did not hold before.
        case stored = 3
    }

    public var id: UInt32
    public var status: Status
    public var version: UInt64
    /// Get: the value. Find providers: `host:port` lines.
    public var value: [UInt8]

    public init(id: UInt32, status: Status, version: UInt64 = 0, value: [UInt8] = []) {
        self.id = id
        self.status = status
        self.version = version
        self.value = value
    }

    func encode(into w: inout WireWriter) {
        w.u32(id)
        w.u8(status.rawValue)
        w.u64(version)
        w.bytes16(value)
    }

    static func decode(from r: inout WireReader) throws(WireError) -> DHTResponse {
        let id = try r.u32("request id")
        let code = try r.u8("status")
        guard let status = Status(rawValue: code) else { throw .invalidValue(field: "status", value: UInt64(code)) }
        let version = try r.u64("version")
        let value = try r.bytes16("value")
        guard value.count <= 1200 else { throw .tooLarge(field: "value", size: value.count, limit: 1200) }
        return DHTResponse(id: id, status: status, version: version, value: value)
    }
}
