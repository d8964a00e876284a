import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import ClusterEvents
import ClusterView
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NodeHealth
import NodeHealthHTTP
import Synchronization

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the transitions a node recorded (its /cluster/events), newest first.",
        discussion: """
            Each node records what it observed: members' states, statuses and checks (with the signed status \
            that showed them), the leader. With --json the page is printed as served; the signed_status of an \
            event can be checked with `verify -`. With --follow the page is printed oldest first and new \
            events follow as the node records them (its /cluster/events/stream), until interrupted; with \
            --json each event is then a line of JSON.
            """
    )

    @Argument(help: "A node's HTTP base URL, e.g. http://127.0.0.1:8081.")
    var url: String

    @Option(help: "Only events about this node (its id).")
    var node: String?

    @Option(help: "Only events about this check.")
    var check: String?

    @Option(help: "Only events of this kind: member, status, check, leader, flapping.")
    var kind: String?

    @Option(help: ArgumentHelp("Only events observed since then: a span back from now (90s, 15m, 2h, 7d) or an RFC 3339 time.", valueName: "when"))
    var since: String?

    @Option(help: "At most this many events (1–1000).")
    var limit: Int = 100

    @Flag(help: "Print the JSON the node serves.")
    var json = false

    @Flag(name: .shortAndLong, help: "Keep printing new events as the node records them.")
    var follow = false

    func validate() throws {
        if let kind, EventKind(rawValue: kind) == nil {
            throw ValidationError("--kind must be one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        var query = ["limit=\(limit)"]
        for (name, value) in [("node", node), ("check", check), ("kind", kind), ("since", since)] {
            if let value { query.append("\(name)=\(Self.percentEncoded(value))") }
        }
        let address = baseURL(url) + "/cluster/events?" + query.joined(separator: "&")
        do {
            let response = try await HTTPClient.request(address)
            guard response.status == 200 else {
                throw HTTPClient.URLError(description: "\(address) answered \(response.status): \(response.text)")
            }
            if json, !follow {
                print(response.text)
                return
            }
            let page = try JSONDecoder().decode(EventsHTTP.Page.self, from: Data(response.body))
            guard follow else {
                print(Paint.bold("events recorded by \(page.observer) (as it observed them), newest first"))
                for event in page.events { print(Self.line(event)) }
                if page.events.isEmpty { print("(none)") }
                if page.nextCursor != nil { print("… more: raise --limit or narrow with --since") }
                return
            }
            if !json { print(Paint.bold("events recorded by \(page.observer) (as it observed them); following, ^C to stop")) }
            for event in page.events.reversed() { print(json ? String(decoding: JSONBytes.encode(event), as: UTF8.self) : Self.line(event)) }
            try await followStream(after: page.events.first?.id, filters: query.dropFirst().joined(separator: "&"))
        } catch {
            writeStandardError("events: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// Prints each new event of the node's stream, resuming after `lastID` (and after each event
    /// printed when the node ends the stream: a restart of the node, or this client behind).
    func followStream(after lastID: Int64?, filters: String) async throws {
        let last = Mutex(lastID)
        let parser = Mutex(EventsHTTP.StreamParser())
        var failures = 0
        while true {
            let resume = last.withLock { $0 }
            let query = [filters.isEmpty ? nil : filters, resume.map { "last_event_id=\($0)" }].compactMap { $0 }
            let address = baseURL(url) + "/cluster/events/stream" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            do {
                try await HTTPClient.stream(
                    address,
                    head: { status, _ in
                        guard status == 200 else { throw HTTPClient.URLError(description: "\(address) answered \(status)") }
                    },
                    body: { [json] buffer in
                        let messages = parser.withLock { $0.feed(buffer.readableBytesView) }
                        for message in messages {
                            guard let event = try? JSONDecoder().decode(EventsHTTP.Event.self, from: Data(message.data.utf8))
                            else { continue }
                            last.withLock { $0 = event.id }
                            print(json ? message.data : Self.line(event))
                        }
                        fflush(nil)  // stdout may be a pipe
                        return true
                    })
                failures = 0
            } catch let error as HTTPClient.URLError where error.description.contains("answered") {
                throw error
            } catch {
                failures += 1
                if failures == 1 { writeStandardError("events: \(error); reconnecting\n") }
            }
            parser.withLock { $0 = EventsHTTP.StreamParser() }
            try await Task.sleep(for: .seconds(min(failures + 1, 5)))
        }
    }

    /// `text` with every byte but RFC 3986's unreserved ones percent-encoded, for a query value.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if scalar.properties.isASCIIHexDigit || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                || "-._~".unicodeScalars.contains(scalar)
            {
                out.unicodeScalars.append(scalar)
            } else {
                out += (byte < 16 ? "%0" : "%") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// One event as a line of the timeline.
    static func line(_ event: EventsHTTP.Event) -> String {
        let subject = event.check.map { "\(event.node)/\($0)" } ?? event.node
        let change = (event.from.map { "\($0) → " } ?? "") + Paint.status(event.to, event.to)
        let signed = event.signedStatus == nil ? "" : "  [signed v\(event.signedStatus!.version)]"
        return "\(event.time)  \(event.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))  \(subject)  \(change)  \(event.message)\(signed)"
    }
}

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Print a node's uptime, time in each status, flapping and last transitions, as another node observed them.",
        discussion: """
            Reads /cluster/nodes/NODE/history of the node at URL: over the last hour, day and week, the share of \
            the time NODE was up and the time it spent in each status, counting only time the observer itself \
            was running and knew NODE; then the last transition of each of NODE's checks.
            """
    )

    @Argument(help: "The observing node's HTTP base URL, e.g. http://127.0.0.1:8081.")
    var url: String

    @Argument(help: "The node to report on: its id, its fingerprint or its key in hex.")
    var node: String

    @Flag(help: "Print the JSON the node serves.")
    var json = false

    func run() async throws {
        let address = baseURL(url) + "/cluster/nodes/" + EventsCommand.percentEncoded(node) + "/history"
        do {
            let response = try await HTTPClient.request(address)
            guard response.status == 200 else {
                throw HTTPClient.URLError(description: "\(address) answered \(response.status): \(response.text)")
            }
            if json {
                print(response.text)
                return
            }
            print(Self.report(try JSONDecoder().decode(EventsHTTP.History.self, from: Data(response.body))), terminator: "")
        } catch {
            writeStandardError("history: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// The readable report.
    static func report(_ history: EventsHTTP.History) -> String {
        var lines = [Paint.bold("\(history.node) (\(history.nodeKey.prefix(16))) as \(history.observer) observed it")]
        let now = [history.state, history.status].compactMap { $0 }
        lines.append("now: " + (now.isEmpty ? "unknown" : now.map { Paint.status($0, $0) }.joined(separator: ", ")))
        if let last = history.lastTransition { lines.append("last transition: \(EventsCommand.line(last))") }
        if let flapping = history.flapping {
            lines.append(Paint.status("flapping", "degraded") + " since \(flapping.since) (\(flapping.changes) changes)")
        }
        lines.append("changes within the flap window (\(history.flapWindow)): \(history.flapCount)")
        lines.append("")
        lines.append("window  observed     uptime     time in status")
        for window in history.windows {
            let uptime = window.uptime.map { "\(($0 * 100_000).rounded() / 1000) %" } ?? "—"
            let statuses = window.timeInStatusSeconds.sorted { $0.value > $1.value }
                .map { "\($0.key) \(Self.span($0.value))" }.joined(separator: ", ")
            lines.append(
                window.window.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + Self.span(window.observedSeconds).padding(toLength: 13, withPad: " ", startingAt: 0)
                    + uptime.padding(toLength: 11, withPad: " ", startingAt: 0) + statuses)
        }
        if !history.checks.isEmpty {
            lines.append("")
            lines.append("check last transitions:")
            for check in history.checks {
                lines.append(
                    "  \(check.name): \(Paint.status(check.status, check.status)) since \(check.lastTransition)"
                        + (check.flapping ? "  " + Paint.status("flapping", "degraded") : "") + "  (event \(check.eventID))")
            }
        }
        lines.append("")
        lines.append(history.note)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Seconds as `3d 4h`, `2h 5m`, `4m 10s` or `12s`.
    static func span(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (d, h, m, s) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        if d > 0 { return "\(d)d \(h)h" }
        if h > 0 { return "\(h)h \(m)m" }
        if m > 0 { return "\(m)m \(s)s" }
        return "\(s)s"
    }
}
