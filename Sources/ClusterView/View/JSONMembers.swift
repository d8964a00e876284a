/// The members of a JSON object that our own encoder wrote (`JSONBytes.encode`: compact, no
/// whitespace), each as its key and the bytes of the whole `"key":value` member, so that the
/// `/cluster/health` document can reuse a node's encoded entry and select its fields without
/// encoding it again. Not a general JSON parser: it only finds the top-level commas.
struct JSONMembers: Sendable, Hashable {
    struct Member: Sendable, Hashable {
        var key: String
        /// `"key":value`, as encoded.
        var bytes: ArraySlice<UInt8>
    }

    var members: [Member]

    init(members: [Member]) { self.members = members }

    /// Splits `object` (`{...}`); nil when it is not an object as our encoder writes one.
    init?(object: [UInt8]) {
        guard object.count >= 2, object.first == UInt8(ascii: "{"), object.last == UInt8(ascii: "}") else { return nil }
        members = []
        var index = 1
        let end = object.count - 1
        while index < end {
            let start = index
            guard object[index] == UInt8(ascii: "\""), let keyEnd = Self.endOfString(object, from: index) else { return nil }
            let key = String(decoding: object[(index + 1)..<(keyEnd - 1)], as: UTF8.self)
            index = keyEnd
            guard index < end, object[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            var depth = 0
            while index < end {
                let byte = object[index]
                if byte == UInt8(ascii: "\"") {
                    guard let after = Self.endOfString(object, from: index) else { return nil }
                    index = after
                    continue
                }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
                if byte == UInt8(ascii: ","), depth == 0 { break }
                index += 1
            }
            guard depth == 0 else { return nil }
            members.append(Member(key: key, bytes: object[start..<index]))
            index += 1  // the comma
        }
    }

    /// The index just after the string that starts at `start` (a quote), skipping escapes.
    private static func endOfString(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return nil
    }
}
