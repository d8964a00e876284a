import CompressNIO
import NIOCore
import NodeHealth
import Synchronization

/// The `/cluster/health` answer, made once per snapshot from per-node JSON entries that are
/// encoded only when the node's entry changed (and a request reads it): at 1000 nodes a snapshot re-encoded everything
/// with `JSONEncoder` (25 of its 33 ms, BENCHMARKS.md); now a steady cluster re-encodes nothing
/// but the summary, and a request copies the entries it selects.
///
/// The ages (`status_age_seconds`, `state_age_seconds`, the leader's age) grow with every
/// snapshot, so they are written apart from the entries and left out of ``revision``: the
/// revision, and the weak ETag made from it, change when anything but time changed.
public struct ClusterHealthDocument: Sendable {
    public let health: ClusterHealth
    /// Bumped whenever anything but the ages changed.
    public let revision: UInt64
    /// Wall-clock time the view was merged, Unix milliseconds (`generated_at`).
    public let generatedAtMillis: Int64
    private let entries: [Entry]
    /// The top-level members but `nodes`, without braces.
    private let summary: [UInt8]
    private let stableSummary: [UInt8]
    private let cache: RenderCache

    /// A node's entry without its ages, encoded and split into members when a request first
    /// needs it: the monitor makes a document every 2 s whether or not anyone asks, and while
    /// every node's entry changes (128 processes churning on 2 cores) encoding them all was 10 %
    /// of the machine's CPU (BENCHMARKS.md, session 20).
    struct Entry: Sendable {
        let stable: ClusterHealth.Node
        let encoded: EncodedMembers

        var members: JSONMembers { encoded.members(of: stable) }
    }

    /// An entry's JSON, made once (two requests racing may both encode it; either result is kept).
    final class EncodedMembers: Sendable {
        private let made = Mutex<JSONMembers?>(nil)

        func members(of node: ClusterHealth.Node) -> JSONMembers {
            if let members = made.withLock({ $0 }) { return members }
            let members = JSONMembers(object: JSONBytes.encode(node)) ?? JSONMembers(members: [])
            made.withLock { $0 = members }
            return members
        }
    }

    /// The process's ETags begin with this, so that a restarted node's revision 1 is not mistaken
    /// for the previous process's.
    static let epoch = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    /// `W/"epoch-revision"`.
    public var etag: String { "W/\"\(Self.epoch)-\(revision)\"" }

    /// The document for `health`, reusing `previous`'s entries for the nodes whose entry is unchanged.
    public init(health: ClusterHealth, previous: ClusterHealthDocument?, wallMillis: Int64) {
        self.health = health
        generatedAtMillis = wallMillis
        let reusable = previous.map { previous in
            Dictionary(previous.entries.map { ($0.stable.fingerprint, $0) }, uniquingKeysWith: { a, _ in a })
        } ?? [:]
        var changed = previous == nil || previous!.entries.count != health.nodes.count
        entries = health.nodes.map { node in
            var stable = node
            stable.statusAgeSeconds = nil
            stable.stateAgeSeconds = nil
            if let entry = reusable[stable.fingerprint], entry.stable == stable { return entry }
            changed = true
            return Entry(stable: stable, encoded: EncodedMembers())
        }
        var header = Summary(health)
        summary = Array(JSONBytes.encode(header).dropFirst().dropLast())
        header.election.leaderAgeSeconds = nil
        stableSummary = JSONBytes.encode(header)
        if let previous, previous.stableSummary != stableSummary { changed = true }
        revision = previous.map { changed ? $0.revision &+ 1 : $0.revision } ?? 1
        cache = RenderCache()
    }

    /// ``render(_:)`` in a buffer; the whole view's is made once and shared by every request
    /// (a ByteBuffer is copied on write: 16 connections no longer copy 600 KB each per request).
    public func renderBuffer(_ query: ClusterHealthQuery) -> ByteBuffer {
        let whole = !query.selects && !query.summary && query.fields == nil
        guard whole else { return ByteBuffer(bytes: render(query)) }
        if let cached = cache.state.withLock({ $0.wholeBuffer }) { return cached }
        let buffer = ByteBuffer(bytes: render(query))
        cache.state.withLock { $0.wholeBuffer = buffer }
        return buffer
    }

    /// The JSON answer to `query` (which must not be `verbose`).
    public func render(_ query: ClusterHealthQuery) -> [UInt8] {
        let whole = !query.selects && !query.summary && query.fields == nil
        if whole, let cached = cache.state.withLock({ $0.whole }) { return cached }
        var out: [UInt8] = []
        out.reserveCapacity(whole ? 400 * entries.count + summary.count : 4096)
        out.append(UInt8(ascii: "{"))
        out += summary
        out += Array(",\"generated_at\":\"\(TimeFormatting.rfc3339(millis: generatedAtMillis))\"".utf8)
        var selected: [Int] = []
        var next: String?
        for (index, node) in health.nodes.enumerated() where query.matches(node) {
            if let after = query.after, node.nodeID <= after { continue }
            if let limit = query.limit, selected.count == limit {
                next = ClusterHealthQuery.cursor(after: health.nodes[selected[selected.count - 1]].nodeID)
                break
            }
            selected.append(index)
        }
        if query.selects {
            out += Array(",\"matched\":\(selected.count)".utf8)
            if let next { out += Array(",\"next_cursor\":\"\(next)\"".utf8) }
        }
        if !query.summary {
            out += Array(",\"nodes\":[".utf8)
            let fields = query.fields.map { Set($0 + ["node_id"]) }
            for (position, index) in selected.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                write(entry: index, fields: fields, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        if whole { cache.state.withLock { $0.whole = out } }
        return out
    }

    /// `render(query)` gzip-compressed (with compress-nio); the whole document's is made once.
    public func renderGzip(_ query: ClusterHealthQuery) -> ByteBuffer? {
        let whole = !query.selects && !query.summary && query.fields == nil
        if whole, let cached = cache.state.withLock({ $0.wantedGzip = true; return $0.wholeGzip }) { return cached }
        var plain = renderBuffer(query)
        guard let compressed = try? plain.compress(with: .gzip()) else { return nil }
        if whole { cache.state.withLock { $0.wholeGzip = compressed } }
        return compressed
    }

    /// What changed since `previous`, for the console's live updates: `{"revision", "generated_at",
    /// "summary": {every top-level member but nodes}, "nodes": [the entries that changed or
    /// appeared, ages included], "removed": [ids of members no longer listed]}`. Unchanged entries
    /// are left out: their ages the client advances itself.
    public func changes(since previous: ClusterHealthDocument) -> [UInt8] {
        let before = Dictionary(previous.entries.map { ($0.stable.fingerprint, $0.stable) }, uniquingKeysWith: { a, _ in a })
        var out = Array("{\"revision\":\(revision),\"generated_at\":\"\(TimeFormatting.rfc3339(millis: generatedAtMillis))\",\"summary\":{".utf8)
        out += summary
        out += Array("},\"nodes\":[".utf8)
        var first = true
        for (index, entry) in entries.enumerated() where before[entry.stable.fingerprint] != entry.stable {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            write(entry: index, fields: nil, into: &out)
        }
        let present = Set(entries.map(\.stable.fingerprint))
        let removed = previous.entries.filter { !present.contains($0.stable.fingerprint) }.map(\.stable.nodeID)
        out += Array("],\"removed\":".utf8) + JSONBytes.encode(removed) + [UInt8(ascii: "}")]
        return out
    }

    private func write(entry index: Int, fields: Set<String>?, into out: inout [UInt8]) {
        let node = health.nodes[index]
        out.append(UInt8(ascii: "{"))
        var first = true
        func separate() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
        }
        for member in entries[index].members.members where fields?.contains(member.key) ?? true {
            separate()
            out += member.bytes
        }
        for (key, value) in [("status_age_seconds", node.statusAgeSeconds), ("state_age_seconds", node.stateAgeSeconds)] {
            guard let value, fields?.contains(key) ?? true else { continue }
            separate()
            out += Array("\"\(key)\":\(value)".utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The top level of ``ClusterHealth`` but its nodes.
    private struct Summary: Encodable {
        var status: HealthStatus
        var reasons: [String]
        var observer: String
        var nodeCount: Int
        var byStatus: [String: Int]
        var byState: [String: Int]
        var byLabel: [String: [String: Int]]
        var election: ClusterHealth.Election
        var peers: ClusterHealth.Peers
        var replication: ClusterHealth.Replication

        enum CodingKeys: String, CodingKey {
            case status, reasons, observer, election, peers, replication
            case nodeCount = "node_count", byStatus = "by_status", byState = "by_state", byLabel = "by_label"
        }

        init(_ health: ClusterHealth) {
            status = health.status
            reasons = health.reasons
            observer = health.observer
            nodeCount = health.nodeCount
            byStatus = health.byStatus
            byState = health.byState
            byLabel = health.byLabel
            election = health.election
            peers = health.peers
            replication = health.replication
        }
    }

    /// Whether a request asked this document for the whole view compressed: then the monitor
    /// compresses the next one before it serves it (``prepare(like:)``), so that no request waits on
    /// compressing 600 KB (5–7 ms at 1000 nodes; it was the p99 of gzip requests).
    var gzipWanted: Bool { cache.state.withLock { $0.wantedGzip } }

    /// Makes ahead what requests asked of `previous`: the whole view, compressed.
    public func prepare(like previous: ClusterHealthDocument?) {
        guard let previous, previous.gzipWanted else { return }
        _ = renderGzip(ClusterHealthQuery())
    }

    /// The whole document, plain and compressed, made by the first request that wants it.
    private final class RenderCache: Sendable {
        struct State {
            var whole: [UInt8]?
            var wholeBuffer: ByteBuffer?
            var wholeGzip: ByteBuffer?
            var wantedGzip = false
        }
        let state = Mutex(State())
    }
}
