#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import GossipCore
import Hummingbird
import NodeHealth
import NodeHealthHTTP

/// The event history: `GET /cluster/events` and `GET /cluster/events/{id}/status`.
public enum EventsHTTP {
    /// One event as served.
    public struct Event: Codable, Sendable, Hashable {
        public var id: Int64
        /// RFC 3339, milliseconds, when the serving node observed it (its clock).
        public var time: String
        public var node: String
        /// Hex of the node's key.
        public var nodeKey: String?
        public var kind: EventKind
        public var check: String?
        public var from: String?
        public var to: String
        public var message: String
        /// The signed status that showed it (status and check events), in the shape
        /// `chorus-cluster-health verify` reads.
        public var signedStatus: ClusterHTTP.SignedStatusBody?

        enum CodingKeys: String, CodingKey {
            case id, time, node, nodeKey = "node_key", kind, check, from, to, message, signedStatus = "signed_status"
        }

        public init(_ event: ClusterEvent) {
            id = event.id
            time = TimeFormatting.rfc3339(Date(timeIntervalSince1970: Double(event.observedAtMillis) / 1000))
            node = event.node
            nodeKey = event.nodeKey?.hex
            kind = event.kind
            check = event.check
            from = event.from
            to = event.to
            message = event.message
            signedStatus = event.signedStatus.map(ClusterHTTP.SignedStatusBody.init)
        }
    }

    /// The answer of `/cluster/events`.
    public struct Page: Codable, Sendable, Hashable {
        /// The node that observed these events: each node keeps its own history.
        public var observer: String
        public var events: [Event]
        /// Pass as `cursor` for the next (older) page; absent on the last.
        public var nextCursor: String?

        enum CodingKeys: String, CodingKey { case observer, events, nextCursor = "next_cursor" }
    }

    /// A query parameter that cannot be used; the message says which and why (400).
    struct BadParameter: Error {
        var message: String
    }

    /// The routes over `recorder`; `observer` names this node in the answers, `wallMillis` is
    /// the clock relative times (`since=1h`) count back from.
    public static func routes(
        recorder: EventRecorder, observer: String, wallMillis: @escaping @Sendable () -> Int64
    ) -> NodeRoutes<BasicRequestContext> {
        let router = NodeRoutes(context: BasicRequestContext.self)
        router.get("/cluster/events") { request, _ in
            let filter: EventFilter
            do {
                filter = try Self.filter(request.uri.queryParameters, now: wallMillis())
            } catch let error as BadParameter {
                return try HealthHTTP.errorResponse(.badRequest, error.message, path: request.uri.path)
            }
            let page: EventPage
            do {
                page = try await recorder.events(filter)
            } catch {
                return try HealthHTTP.errorResponse(.serviceUnavailable, "\(error)", path: request.uri.path)
            }
            return try HealthHTTP.jsonResponse(
                Page(observer: observer, events: page.events.map(Event.init), nextCursor: page.nextBeforeID.map(Cursor.encode)),
                status: .ok)
        }
        router.get("/cluster/events/:id/status") { request, context in
            guard let id = Int64(try context.parameters.require("id")), id > 0 else {
                return try HealthHTTP.errorResponse(.badRequest, "an event id is a positive integer", path: request.uri.path)
            }
            let found: ClusterEvent?
            do {
                found = try await recorder.event(id: id)
            } catch {
                return try HealthHTTP.errorResponse(.serviceUnavailable, "\(error)", path: request.uri.path)
            }
            guard let event = found else {
                return try HealthHTTP.errorResponse(.notFound, "no event \(id)", path: request.uri.path)
            }
            guard let signed = event.signedStatus else {
                return try HealthHTTP.errorResponse(.notFound, "event \(id) (\(event.kind)) carries no signed status", path: request.uri.path)
            }
            return try HealthHTTP.jsonResponse(ClusterHTTP.SignedStatusBody(signed), status: .ok)
        }
        return router
    }

    /// The filter the query parameters ask for: `node`, `check`, `kind`, `since` and `until`
    /// (RFC 3339, or a span back from now such as `90s`, `15m`, `2h`, `7d`), `limit` (1–1000,
    /// default 100) and `cursor` (from `next_cursor`).
    static func filter(_ query: Parameters, now: Int64) throws(BadParameter) -> EventFilter {
        let known: Set<String> = ["node", "check", "kind", "since", "until", "limit", "cursor"]
        for (name, _) in query where !known.contains(String(name)) {
            throw BadParameter(message: "unknown parameter \(name); use \(known.sorted().joined(separator: ", "))")
        }
        func text(_ name: String) throws(BadParameter) -> String? {
            guard let value = query.get(name) else { return nil }
            guard !value.isEmpty, value.utf8.count <= 256 else { throw BadParameter(message: "\(name) must be 1 to 256 bytes") }
            return value
        }
        var filter = EventFilter(node: try text("node"), check: try text("check"))
        if let kind = try text("kind") {
            guard let value = EventKind(rawValue: kind) else {
                throw BadParameter(message: "kind \(kind) is not one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.kind = value
        }
        filter.sinceMillis = try text("since").map { v throws(BadParameter) in try time(v, name: "since", now: now) }
        filter.untilMillis = try text("until").map { v throws(BadParameter) in try time(v, name: "until", now: now) }
        if let limit = try text("limit") {
            guard let value = Int(limit), (1...EventFilter.maxLimit).contains(value) else {
                throw BadParameter(message: "limit must be an integer from 1 to \(EventFilter.maxLimit)")
            }
            filter.limit = value
        }
        if let cursor = try text("cursor") {
            guard let id = Cursor.decode(cursor) else { throw BadParameter(message: "cursor is not one this node gave out") }
            filter.beforeID = id
        }
        return filter
    }

    /// Unix milliseconds of an RFC 3339 time or of a span back from `now` (`90s`, `15m`, `2h`, `7d`).
    static func time(_ text: String, name: String, now: Int64) throws(BadParameter) -> Int64 {
        if let span = DurationText.parse(text) { return now - Int64(span / .milliseconds(1)) }
        if let date = TimeFormatting.parseRFC3339(text) {
            let millis = date.timeIntervalSince1970 * 1000
            if millis.isFinite, abs(millis) < 1e15 { return Int64(millis) }
        }
        throw BadParameter(message: "\(name) must be an RFC 3339 time (2026-12-04T21:00:00Z) or a span back from now (90s, 15m, 2h, 7d)")
    }

    /// The opaque page cursor: the id to continue below, as URL-safe base64 of its 8 bytes.
    enum Cursor {
        static func encode(_ id: Int64) -> String {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: id.bigEndian) { bytes += $0 }
            return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }

        static func decode(_ text: String) -> Int64? {
            guard text.utf8.count == 11 else { return nil }
            let standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
            guard let data = Data(base64Encoded: standard), data.count == 8 else { return nil }
            let id = data.reduce(Int64(0)) { $0 << 8 | Int64($1) }
            return id > 0 ? id : nil
        }
    }
}
