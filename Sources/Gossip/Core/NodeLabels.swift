/// A node's labels (`--label zone=eu-1`): where it runs and what it does, signed in its status
/// (extension type 4) so that every observer can group and filter the cluster by them.
///
/// Keys are 1–32 bytes of lower-case ASCII letters, digits and `.`, `_`, `-`, `/`, starting with a
/// letter or digit; values are 0–64 bytes of UTF-8 without control characters; at most 16 labels,
/// and at most 253 bytes encoded, so that they fit one extension value (255 bytes with its header).
public struct NodeLabels: Sendable, Hashable {
    /// The labels, sorted by key, keys unique.
    public private(set) var pairs: [(key: String, value: String)]

    public static let maxCount = 16
    public static let maxKeyBytes = 32
    public static let maxValueBytes = 64
    /// Count byte plus each pair's two length bytes and contents; the extension adds `m`.
    public static let maxEncodedBytes = 254

    /// A label that breaks a rule, with the rule.
    public struct Invalid: Error, Hashable, CustomStringConvertible {
        public var description: String
    }

    public static let none = NodeLabels(validated: [])

    private init(validated: [(key: String, value: String)]) { pairs = validated }

    /// Labels from `KEY=VALUE` pairs (the command line's `--label`); a repeated key is an error.
    public init(parsing arguments: [String]) throws(Invalid) {
        var dictionary: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "=") else {
                throw Invalid(description: "label \"\(argument)\": expected KEY=VALUE")
            }
            let key = String(argument[..<equals])
            guard dictionary[key] == nil else { throw Invalid(description: "label \(key) given twice") }
            dictionary[key] = String(argument[argument.index(after: equals)...])
        }
        try self.init(dictionary)
    }

    /// Labels from a dictionary, checked against the rules.
    public init(_ labels: [String: String]) throws(Invalid) {
        let sorted = labels.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        guard sorted.count <= Self.maxCount else {
            throw Invalid(description: "\(sorted.count) labels: at most \(Self.maxCount)")
        }
        for (key, value) in sorted {
            if let problem = Self.problem(key: key, value: value) { throw Invalid(description: problem) }
        }
        self.init(validated: sorted.map { ($0.key, $0.value) })
        guard encodedValue.count - 1 <= Self.maxEncodedBytes else {
            throw Invalid(description: "labels take \(encodedValue.count - 1) bytes: at most \(Self.maxEncodedBytes)")
        }
    }

    /// What is wrong with one label, or nil.
    static func problem(key: String, value: String) -> String? {
        let k = Array(key.utf8)
        guard (1...maxKeyBytes).contains(k.count) else { return "label key \"\(key)\": 1 to \(maxKeyBytes) bytes" }
        func alphanumeric(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        let punctuation: Set<UInt8> = [UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/")]
        guard alphanumeric(k[0]), k.allSatisfy({ alphanumeric($0) || punctuation.contains($0) }) else {
            return "label key \"\(key)\": lower-case letters, digits and . _ - /, starting with a letter or digit"
        }
        guard value.utf8.count <= maxValueBytes else { return "label \(key): the value has over \(maxValueBytes) bytes" }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            return "label \(key): the value has a control character"
        }
        return nil
    }

    public var isEmpty: Bool { pairs.isEmpty }
    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }
    public var dictionary: [String: String] { Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) }

    public static func == (a: NodeLabels, b: NodeLabels) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for (key, value) in pairs {
            hasher.combine(key)
            hasher.combine(value)
        }
    }

    /// `m | count | (str8 key, str8 value)…`: all meaningful (a change re-signs at once).
    var encodedValue: [UInt8] {
        var w = WireWriter(capacity: 64)
        w.u8(0)
        w.u8(UInt8(clamping: pairs.count))
        for (key, value) in pairs {
            w.bytes8(Array(key.utf8))
            w.bytes8(Array(value.utf8))
        }
        var bytes = w.bytes
        bytes[0] = UInt8(clamping: bytes.count - 1)
        return bytes
    }

    /// The extension (type 4), nil without labels.
    public var encoded: StatusProjection.Extension? {
        isEmpty ? nil : .init(type: StatusExtensionType.labels, value: encodedValue)
    }

    /// The labels a status carries; `none` when it carries none, or carries them in a shape that
    /// breaks the rules (a status is never refused for its labels: the view shows none).
    public init(_ projection: StatusProjection) {
        guard let value = projection.extensions.first(where: { $0.type == StatusExtensionType.labels })?.value else {
            self = .none
            return
        }
        self = (try? Self.decode(value)) ?? .none
    }

    static func decode(_ value: [UInt8]) throws -> NodeLabels {
        var r = WireReader(value)
        let m = Int(try r.u8("m"))
        guard m == value.count - 1 else { throw Invalid(description: "labels: meaningful length \(m) of \(value.count - 1)") }
        let count = Int(try r.u8("label count"))
        guard count <= maxCount else { throw Invalid(description: "\(count) labels: at most \(maxCount)") }
        // Read once, checked in place: every merge of the cluster view reads every node's labels
        // (re-validating through init(_:) took 7 % of a 1000-node snapshot, BENCHMARKS.md).
        var pairs: [(key: String, value: String)] = []
        pairs.reserveCapacity(count)
        var previous: [UInt8]?
        for _ in 0..<count {
            let key = try r.bytes8("label key")
            if let previous, !previous.lexicographicallyPrecedes(key) { throw Invalid(description: "labels: not sorted") }
            previous = key
            let pair = (key: String(decoding: key, as: UTF8.self), value: try r.string8("label value"))
            if let problem = problem(key: pair.key, value: pair.value) { throw Invalid(description: problem) }
            pairs.append(pair)
        }
        try r.expectEnd()
        return NodeLabels(validated: pairs)
    }
}
