#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GossipCore

/// What a `/cluster/health` request asks for: which nodes (`status`, `state`, `label`, `node`),
/// which of their fields (`fields`), a page of them (`limit`, `cursor`), counts only (`summary`)
/// or the plain text (`verbose`). Filters of different parameters must all match; the values of
/// one parameter (comma-separated or repeated) are alternatives, except `label`, where each must match.
public struct ClusterHealthQuery: Sendable, Hashable {
    /// One `label` filter: `key=value`, or `key` alone for any value.
    public struct LabelFilter: Sendable, Hashable {
        public var key: String
        public var value: String?
    }

    public var statuses: Set<ClusterHealth.NodeStatus> = []
    public var states: Set<MemberState> = []
    public var labels: [LabelFilter] = []
    /// A prefix of the node's id or of its key's fingerprint.
    public var nodePrefix: String?
    /// Only these fields of each node (`node_id` always); nil for all.
    public var fields: [String]?
    /// At most this many nodes, the rest behind ``nextCursor``.
    public var limit: Int?
    /// Nodes after this id (from an opaque cursor).
    public var after: String?
    public var summary = false
    public var verbose = false

    public static let maxLimit = 10_000
    static let parameters = ["status", "state", "label", "node", "fields", "limit", "cursor", "summary", "verbose"]

    /// A parameter that cannot be understood, with what would be.
    public struct Invalid: Error, Hashable, CustomStringConvertible {
        public var description: String
    }

    public init() {}

    /// Parses the query's parameters (percent-decoded), in order.
    public init(parameters: [(name: String, value: String)]) throws(Invalid) {
        for (name, value) in parameters {
            let values = value.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
            switch name {
            case "status":
                for item in values {
                    guard let status = ClusterHealth.NodeStatus(rawValue: item) else {
                        throw Invalid(description: "status=\(item): expected \(ClusterHealth.NodeStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    statuses.insert(status)
                }
            case "state":
                for item in values {
                    guard let state = MemberState.allCases.first(where: { $0.description == item }) else {
                        throw Invalid(description: "state=\(item): expected \(MemberState.allCases.map(\.description).joined(separator: ", "))")
                    }
                    states.insert(state)
                }
            case "label":
                guard !value.isEmpty else { throw Invalid(description: "label: expected KEY=VALUE or KEY") }
                if let equals = value.firstIndex(of: "=") {
                    labels.append(LabelFilter(key: String(value[..<equals]), value: String(value[value.index(after: equals)...])))
                } else {
                    labels.append(LabelFilter(key: value, value: nil))
                }
            case "node":
                guard !value.isEmpty else { throw Invalid(description: "node: expected a prefix of a node's id or fingerprint") }
                nodePrefix = value
            case "fields":
                let known = Set(ClusterHealth.Node.CodingKeys.allCases.map(\.stringValue))
                for item in values where !known.contains(item) {
                    throw Invalid(description: "fields=\(item): expected some of \(known.sorted().joined(separator: ", "))")
                }
                fields = (fields ?? []) + values
            case "limit":
                guard let limit = Int(value), (1...Self.maxLimit).contains(limit) else {
                    throw Invalid(description: "limit=\(value): expected 1 to \(Self.maxLimit)")
                }
                self.limit = limit
            case "cursor":
                guard let after = Self.decodeCursor(value) else {
                    throw Invalid(description: "cursor=\(value): not a cursor this node gave (use next_cursor as it is)")
                }
                self.after = after
            case "summary": summary = true
            case "verbose": verbose = true
            default:
                throw Invalid(description: "unknown parameter \(name): expected \(Self.parameters.joined(separator: ", "))")
            }
        }
    }

    /// Whether the answer lists a subset of the nodes (then it says how many matched).
    public var selects: Bool {
        !statuses.isEmpty || !states.isEmpty || !labels.isEmpty || nodePrefix != nil || limit != nil || after != nil
    }

    /// Whether `node` passes the filters (not the page).
    public func matches(_ node: ClusterHealth.Node) -> Bool {
        if !statuses.isEmpty && !statuses.contains(node.status) { return false }
        if !states.isEmpty && !states.contains(node.state) { return false }
        for filter in labels {
            guard let value = node.labels?[filter.key] else { return false }
            if let wanted = filter.value, wanted != value { return false }
        }
        if let prefix = nodePrefix, !node.nodeID.hasPrefix(prefix), !node.fingerprint.hasPrefix(prefix.lowercased()) {
            return false
        }
        return true
    }

    /// The cursor for the page after the node named `nodeID`: opaque to clients (base64url).
    public static func cursor(after nodeID: String) -> String {
        Data(("1:" + nodeID).utf8).base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    static func decodeCursor(_ cursor: String) -> String? {
        var base64 = cursor.replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard cursor.count <= 400, let data = Data(base64Encoded: base64) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix("1:") else { return nil }
        return String(text.dropFirst(2))
    }
}
