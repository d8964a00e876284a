#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterEvents
import GossipCore
import HTTPTypes
import Hummingbird
import NodeHealth
import NodeHealthHTTP

/// The event history: `GET /cluster/events`, `GET /cluster/events/stream` (Server-Sent Events)
/// and `GET /cluster/events/{id}/status`.
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
            time = TimeFormatting.rfc3339(millis: event.observedAtMillis)
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

    /// The answer of `/cluster/nodes/{id}/history`.
    public struct History: Codable, Sendable, Hashable {
        /// One window: the last hour, day or week.
        public struct Window: Codable, Sendable, Hashable {
            public var window: String
            public var from: String
            public var to: String
            /// Time within the window the observer saw the member (its own downtime and the time
            /// before it first saw the member left out).
            public var observedSeconds: Double
            /// Share of the observed time the member was alive or suspect; absent when none was observed.
            public var uptime: Double?
            /// Observed seconds by status: healthy, degraded, unhealthy, starting, stopping,
            /// unknown (alive, no status yet), dead, left.
            public var timeInStatusSeconds: [String: Double]
            /// Changes of membership state or status level.
            public var changes: Int

            enum CodingKeys: String, CodingKey {
                case window, from, to, uptime, changes
                case observedSeconds = "observed_seconds", timeInStatusSeconds = "time_in_status_seconds"
            }
        }

        public struct Check: Codable, Sendable, Hashable {
            public var name: String
            public var status: String
            public var lastTransition: String
            /// The event of that transition (its signed status: `/cluster/events/{id}/status`).
            public var eventID: Int64
            public var flapping: Bool

            enum CodingKeys: String, CodingKey {
                case name, status, flapping
                case lastTransition = "last_transition", eventID = "event_id"
            }
        }

        public var observer: String
        public var node: String
        public var nodeKey: String
        /// Whose view this is, in words.
        public var note: String
        public var state: String?
        public var status: String?
        /// The newest change of its membership state or status level (or the first sight).
        public var lastTransition: Event?
        public var flapping: ClusterHealth.FlappingBody?
        public var flapWindow: String
        /// Changes of state or level within the flap window.
        public var flapCount: Int
        public var windows: [Window]
        public var checks: [Check]

        enum CodingKeys: String, CodingKey {
            case observer, node, note, state, status, flapping, windows, checks
            case nodeKey = "node_key", lastTransition = "last_transition", flapWindow = "flap_window", flapCount = "flap_count"
        }
    }

    /// The windows `/cluster/nodes/{id}/history` summarises.
    public static let historyWindows: [(name: String, span: Duration)] = [
        ("1h", .seconds(3600)), ("24h", .seconds(86_400)), ("7d", .seconds(7 * 86_400)),
    ]

    /// A query parameter that cannot be used; the message says which and why (400).
    struct BadParameter: Error {
        var message: String
    }

    /// The routes over `recorder`; `observer` names this node in the answers, `wallMillis` is
    /// the clock relative times (`since=1h`) count back from; `memory` says what flaps now.
    public static func routes(
        recorder: EventRecorder, memory: ClusterMemory, observer: String, wallMillis: @escaping @Sendable () -> Int64
    ) -> NodeRoutes<BasicRequestContext> {
        let router = NodeRoutes(context: BasicRequestContext.self)
        router.get("/cluster/nodes/:id/history") { request, context in
            let id = try context.parameters.require("id")
            guard !id.isEmpty, id.utf8.count <= 256, request.uri.queryParameters.isEmpty else {
                return try HealthHTTP.errorResponse(
                    .badRequest, "name a node by its id, its fingerprint or its key in hex (1 to 256 bytes), with no parameters",
                    path: request.uri.path)
            }
            let now = wallMillis()
            let longest = Self.historyWindows.map(\.span).max() ?? .seconds(7 * 86_400)
            let found: (key: PublicKey, timeline: [ClusterEvent], checks: [ClusterEvent])?
            do {
                found = try await recorder.timeline(of: id, since: now - Int64(longest / .milliseconds(1)))
            } catch {
                return try HealthHTTP.errorResponse(.serviceUnavailable, "\(error)", path: request.uri.path)
            }
            guard let found else {
                return try HealthHTTP.errorResponse(.notFound, "\(observer) recorded nothing about \(id)", path: request.uri.path)
            }
            let history = Self.history(found, observer: observer, memory: memory, now: now)
            return try HealthHTTP.jsonResponse(history, status: .ok)
        }
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
        router.get("/cluster/events/stream") { request, _ in
            let filter: EventFilter
            let lastID: Int64?
            do {
                (filter, lastID) = try Self.streamRequest(request.uri.queryParameters, headers: request.headers)
            } catch let error as BadParameter {
                return try HealthHTTP.errorResponse(.badRequest, error.message, path: request.uri.path)
            }
            let stream: AsyncStream<EventRecorder.StreamItem>
            do {
                stream = try recorder.subscribe()
            } catch {
                return try HealthHTTP.errorResponse(.serviceUnavailable, "\(error)", path: request.uri.path)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    try await Self.serveStream(stream, filter: filter, lastID: lastID, recorder: recorder, observer: observer, to: &writer)
                })
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

    /// The history answer from what the store gave and what `memory` says now.
    static func history(
        _ found: (key: PublicKey, timeline: [ClusterEvent], checks: [ClusterEvent]), observer: String, memory: ClusterMemory, now: Int64
    ) -> History {
        let transitions = memory.transitions(of: [found.key])[found.key]
        let about = found.timeline.filter { $0.kind != .observer }
        let policy = memory.policy
        let windows = Self.historyWindows.map { name, span -> History.Window in
            let from = now - Int64(span / .milliseconds(1))
            let summary = NodeHistory.summarize(found.timeline, from: from, to: now)
            return History.Window(
                window: name, from: TimeFormatting.rfc3339(millis: from), to: TimeFormatting.rfc3339(millis: now),
                observedSeconds: Double(summary.observedMillis) / 1000, uptime: summary.uptime.map { ($0 * 100_000).rounded() / 100_000 },
                timeInStatusSeconds: summary.timeInStatusMillis.mapValues { Double($0) / 1000 }, changes: summary.changes)
        }
        let flapSummary = NodeHistory.summarize(found.timeline, from: now - Int64(policy.window / .milliseconds(1)), to: now)
        let name = about.last?.node ?? found.key.fingerprint
        return History(
            observer: observer, node: name, nodeKey: found.key.hex,
            note: "as \(observer) observed \(name): time before it first saw \(name), and while \(observer) itself was down, is not counted",
            state: about.last(where: { $0.kind == .member && $0.to != "restarted" })?.to,
            status: about.last(where: { $0.kind == .status })?.to,
            lastTransition: about.last.map(Event.init), flapping: transitions?.flapping.map(ClusterHealth.FlappingBody.init),
            flapWindow: DurationText.format(policy.window), flapCount: flapSummary.changes, windows: windows,
            checks: found.checks.compactMap { event in
                guard let check = event.check else { return nil }
                return History.Check(
                    name: check, status: event.to, lastTransition: TimeFormatting.rfc3339(millis: event.observedAtMillis),
                    eventID: event.id, flapping: transitions?.checks[check]?.flapping != nil)
            })
    }

    /// The filter the query parameters ask for: `node`, `check`, `kind`, `since` and `until`
    /// (RFC 3339, or a span back from now such as `90s`, `15m`, `2h`, `7d`), `limit` (1–1000,
    /// default 100) and `cursor` (from `next_cursor`).
    static func filter(
        _ query: Parameters, now: Int64, known: Set<String> = ["node", "check", "kind", "since", "until", "limit", "cursor"]
    ) throws(BadParameter) -> EventFilter {
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

    /// The filter (`node`, `check`, `kind`) and the id to resume after (the `Last-Event-ID`
    /// header, or `last_event_id` for clients that cannot set headers) of a stream request.
    static func streamRequest(_ query: Parameters, headers: HTTPFields) throws(BadParameter) -> (EventFilter, Int64?) {
        let filter = try Self.filter(query, now: 0, known: ["node", "check", "kind", "last_event_id"])
        guard let lastText = query.get("last_event_id") ?? headers[Self.lastEventID] else { return (filter, nil) }
        guard lastText.utf8.count <= 19, let id = Int64(lastText), id >= 0 else {
            throw BadParameter(message: "Last-Event-ID must be the id of an event (a non-negative integer)")
        }
        return (filter, id)
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// Writes the stream: after `lastID`, first the stored events after it (a page at a time),
    /// then each new one as it is stored, skipping those already sent; a comment on each
    /// keepalive. Ends when the recorder ends the stream (shutdown, or this client fell too far
    /// behind: it resumes with `Last-Event-ID`) or the client goes away (a write throws).
    static func serveStream(
        _ stream: AsyncStream<EventRecorder.StreamItem>, filter: EventFilter, lastID: Int64?, recorder: EventRecorder,
        observer: String, to writer: inout any ResponseBodyWriter
    ) async throws {
        try await writer.write(ByteBuffer(string: "retry: 2000\n: events observed by \(observer)\n\n"))
        var last = lastID ?? 0
        if let lastID {
            var page = filter
            page.limit = EventFilter.maxLimit
            page.afterID = lastID
            while true {
                let events: [ClusterEvent]
                do {
                    events = try await recorder.events(page).events
                } catch {
                    try await writer.write(ByteBuffer(string: "event: error\ndata: \(error)\n\n"))
                    try await writer.finish(nil)
                    return
                }
                guard let newest = events.last else { break }
                try await writer.write(contentsOf: events.map(Self.frame))
                page.afterID = newest.id
                last = newest.id
            }
        }
        for await item in stream {
            switch item {
            case .event(let event):
                // Events stored while the catch-up read came both ways: send each once.
                guard event.id > last else { continue }
                last = event.id
                if event.matches(filter) { try await writer.write(Self.frame(event)) }
            case .keepalive:
                try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
            }
        }
        try await writer.finish(nil)
    }

    /// One Server-Sent Event: the event's id, and its JSON (as in `/cluster/events`, on one line)
    /// as the data.
    static func frame(_ event: ClusterEvent) -> ByteBuffer {
        var buffer = ByteBuffer(string: "id: \(event.id)\ndata: ")
        buffer.writeBytes(JSONBytes.encode(Event(event)))
        buffer.writeString("\n\n")
        return buffer
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

extension EventsHTTP {
    /// Reads a Server-Sent Events stream a piece at a time, as `events --follow` and the tests
    /// do: `id:` and `data:` fields (several `data:` lines joined by newlines), `event:`,
    /// comments (`:`) ignored, a blank line ends a message; lines end in LF or CRLF. A line over
    /// ``maxLineBytes`` is dropped whole (with the message it belonged to).
    public struct StreamParser: Sendable {
        public struct Message: Sendable, Hashable {
            public var id: String?
            public var event: String?
            public var data: String
        }

        public static let maxLineBytes = 1 << 20
        private var line: [UInt8] = []
        private var overlong = false
        private var id: String?
        private var event: String?
        private var data: [String] = []
        private var damaged = false

        public init() {}

        /// The messages `bytes` completes.
        public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Message] {
            var out: [Message] = []
            for byte in bytes {
                guard byte == UInt8(ascii: "\n") else {
                    if line.count < Self.maxLineBytes { line.append(byte) } else { overlong = true }
                    continue
                }
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                if overlong {
                    damaged = true
                } else if line.isEmpty {
                    if !damaged, !data.isEmpty || id != nil {
                        out.append(Message(id: id, event: event, data: data.joined(separator: "\n")))
                    }
                    (id, event, data, damaged) = (nil, nil, [], false)
                } else if line.first != UInt8(ascii: ":") {
                    let text = String(decoding: line, as: UTF8.self)
                    let (field, value) = Self.split(text)
                    switch field {
                    case "id": id = value
                    case "event": event = value
                    case "data": data.append(value)
                    default: break
                    }
                }
                line.removeAll(keepingCapacity: true)
                overlong = false
            }
            return out
        }

        static func split(_ line: String) -> (String, String) {
            guard let colon = line.firstIndex(of: ":") else { return (line, "") }
            var value = line[line.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
            return (String(line[..<colon]), String(value))
        }
    }
}
