/// Why bytes could not be decoded. Every decode in the gossip layer is bounds-checked and fails
/// with one of these, never with a crash.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The input ended `needed` bytes early.
    case truncated(field: String, needed: Int, remaining: Int)
    /// A string field is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A field holds a value outside its domain (an unknown enum code, a wrong tag or version).
    case invalidValue(field: String, value: UInt64)
    /// Repeated or unsorted entries where the format requires a canonical order.
    case notCanonical(field: String)
    /// Bytes left over after a complete message.
    case trailingBytes(count: Int)
    /// An encoded value would exceed its limit.
    case tooLarge(field: String, size: Int, limit: Int)

    public var description: String {
        switch self {
        case .truncated(let field, let needed, let remaining):
            "truncated \(field): needs \(needed) bytes, \(remaining) left"
        case .invalidUTF8(let field): "\(field) is not valid UTF-8"
        case .invalidValue(let field, let value): "invalid \(field): \(value)"
        case .notCanonical(let field): "\(field) is not in canonical order"
        case .trailingBytes(let count): "\(count) trailing bytes"
        case .tooLarge(let field, let size, let limit): "\(field) is \(size) bytes, limit \(limit)"
        }
    }
}

/// Appends big-endian integers and length-prefixed byte strings.
public struct WireWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { append(value) }
    public mutating func u32(_ value: UInt32) { append(value) }
    public mutating func u64(_ value: UInt64) { append(value) }
    public mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// Bytes as they are, from memory the caller holds.
    public mutating func raw(_ value: UnsafeRawBufferPointer) { bytes.append(contentsOf: value) }

    /// A byte string with a 1-byte length; the caller MUST keep it within 255 bytes.
    public mutating func bytes8(_ value: [UInt8]) {
        precondition(value.count <= Int(UInt8.max))
        u8(UInt8(value.count))
        raw(value)
    }

    /// A byte string with a 2-byte length; the caller MUST keep it within 65 535 bytes.
    public mutating func bytes16(_ value: [UInt8]) {
        precondition(value.count <= Int(UInt16.max))
        u16(UInt16(value.count))
        raw(value)
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``WireWriter`` writes, checking every length against the bytes that remain.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    /// The position of the next byte to read.
    public private(set) var offset: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// Bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    public mutating func u8(_ field: String) throws(WireError) -> UInt8 { try integer(field) }
    public mutating func u16(_ field: String) throws(WireError) -> UInt16 { try integer(field) }
    public mutating func u32(_ field: String) throws(WireError) -> UInt32 { try integer(field) }
    public mutating func u64(_ field: String) throws(WireError) -> UInt64 { try integer(field) }

    /// `count` raw bytes.
    public mutating func raw(_ count: Int, _ field: String) throws(WireError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw .truncated(field: field, needed: count, remaining: remaining)
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A byte string with a 1-byte length.
    public mutating func bytes8(_ field: String) throws(WireError) -> [UInt8] {
        try raw(Int(try u8(field)), field)
    }

    /// A byte string with a 2-byte length.
    public mutating func bytes16(_ field: String) throws(WireError) -> [UInt8] {
        try raw(Int(try u16(field)), field)
    }

    /// A UTF-8 string with a 1-byte length.
    public mutating func string8(_ field: String) throws(WireError) -> String {
        try utf8(try bytes8(field), field)
    }

    /// A UTF-8 string with a 2-byte length.
    public mutating func string16(_ field: String) throws(WireError) -> String {
        try utf8(try bytes16(field), field)
    }

    /// Fails unless every byte has been read.
    public func expectEnd() throws(WireError) {
        guard remaining == 0 else { throw .trailingBytes(count: remaining) }
    }

    private func utf8(_ bytes: [UInt8], _ field: String) throws(WireError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return text
    }

    private mutating func integer<T: FixedWidthInteger>(_ field: String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw .truncated(field: field, needed: size, remaining: remaining) }
        var value: T = 0
        for index in offset..<offset + size { value = value << 8 | T(bytes[index]) }
        offset += size
        return value
    }
}

extension String {
    /// The longest prefix of this string's UTF-8 that fits in `limit` bytes and ends on a
    /// character boundary.
    func utf8Prefix(_ limit: Int) -> [UInt8] {
        let utf8 = Array(self.utf8)
        guard utf8.count > limit else { return utf8 }
        var end = limit
        // Step back over continuation bytes (10xxxxxx) so that no character is cut.
        while end > 0 && utf8[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(utf8[0..<end])
    }
}
