import Foundation
import NIOCore
import NodeHealth
import Testing

/// The JSON examples of the health package's documented contract, verbatim: the node's answers
/// must have the same fields and JSON kinds.
public enum ContractExamples {
    /// Fields this product adds to the contract's objects (README): `last_transition` on each
    /// check result. ``expectSameShape(_:_:path:mapKeys:sourceLocation:)`` accepts them beside
    /// the example's fields.
    public static let addedFields: Set<String> = ["last_transition"]

    public static let health = """
        { "status": "healthy", "message": "All health checks passing", "checks": { "database-connectivity": { "healthy": true, "message": "Database connectivity OK", "latency": 15000000, "timestamp": "2025-09-30T10:30:00Z" }, "p2p-connectivity": { "healthy": true, "message": "5 peers connected", "details": { "connected_peers": 5, "min_peers": 3 }, "latency": 8000000, "timestamp": "2025-09-30T10:30:05Z" } }, "uptime": 86400000000000, "start_time": "2025-09-29T10:30:00Z", "last_update": "2025-09-30T10:30:05Z", "version": "v1.0.0", "node_id": "node-123" }
        """
    public static let ready = """
        { "ready": true, "status": "healthy", "message": "All health checks passing" }
        """
    public static let live = """
        { "live": true, "status": "healthy", "uptime": "24h0m0s" }
        """
    public static let checks = """
        { "checks": { "database-connectivity": { "healthy": true, "message": "Database connectivity OK", "latency": 15000000, "timestamp": "2025-09-30T10:30:00Z" }, "p2p-connectivity": { "healthy": true, "message": "5 peers connected", "details": { "connected_peers": 5, "min_peers": 3 }, "latency": 8000000, "timestamp": "2025-09-30T10:30:05Z" } }, "total": 2, "timestamp": "2025-09-30T10:30:10Z" }
        """
}

public func decodeJSON(_ text: String) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

public func decodeJSON(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
}

/// The kind of a JSON value, for comparing shapes.
public func kind(_ value: JSONValue) -> String {
    switch value {
    case .null: "null"
    case .bool: "bool"
    case .int: "int"
    case .double: "double"
    case .string: "string"
    case .array: "array"
    case .object: "object"
    }
}

/// Records an issue for every field whose presence or JSON kind differs. Objects are compared
/// member by member; `mapKeys` names objects whose keys are data (check names), whose values
/// are compared against the first example value instead.
public func expectSameShape(
    _ actual: JSONValue, _ expected: JSONValue, path: String = "$", mapKeys: Set<String> = ["checks", "details"],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch (actual, expected) {
    case (.object(let a), .object(let e)):
        let name = path.split(separator: ".").last.map(String.init) ?? path
        if mapKeys.contains(name) {
            if name == "checks", let template = e.values.first(where: { $0["details"] == nil }) {
                for (key, value) in a {
                    let withDetails = e.values.first(where: { $0["details"] != nil })
                    let reference = value["details"] != nil ? (withDetails ?? template) : template
                    expectSameShape(value, reference, path: "\(path).\(key)", mapKeys: mapKeys, sourceLocation: sourceLocation)
                }
            }
            return
        }
        #expect(Set(a.keys).subtracting(ContractExamples.addedFields) == Set(e.keys), "fields of \(path)", sourceLocation: sourceLocation)
        for (key, value) in e {
            guard let actualValue = a[key] else { continue }
            expectSameShape(actualValue, value, path: "\(path).\(key)", mapKeys: mapKeys, sourceLocation: sourceLocation)
        }
    default:
        #expect(kind(actual) == kind(expected), "JSON kind of \(path)", sourceLocation: sourceLocation)
    }
}

/// Whether `value` is a JSON string holding an RFC 3339 UTC timestamp.
public func isRFC3339UTC(_ value: JSONValue?) -> Bool {
    guard let text = value?.stringValue else { return false }
    return text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z/#) != nil
}

/// Whether `text` is a Go duration string such as `24h0m0s` or `3s`.
public func isGoDuration(_ text: String) -> Bool {
    text.wholeMatch(of: #/(\d+h)?(\d+m)?\d+(\.\d+)?s/#) != nil
}

