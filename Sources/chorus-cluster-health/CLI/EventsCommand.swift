import ArgumentParser
import ClusterEvents
import ClusterView
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NodeHealthHTTP

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the transitions a node recorded (its /cluster/events), newest first.",
        discussion: """
            Each node records what it observed: members' states, statuses and checks (with the signed status \
            that showed them), the leader. With --json the page is printed as served; the signed_status of an \
            event can be checked with `verify -`.
            """
    )

    @Argument(help: "A node's HTTP base URL, e.g. http://127.0.0.1:8081.")
    var url: String

    @Option(help: "Only events about this node (its id).")
    var node: String?

    @Option(help: "Only events about this check.")
    var check: String?

    @Option(help: "Only events of this kind: member, status, check, leader.")
    var kind: String?

    @Option(help: ArgumentHelp("Only events observed since then: a span back from now (90s, 15m, 2h, 7d) or an RFC 3339 time.", valueName: "when"))
    var since: String?

    @Option(help: "At most this many events (1–1000).")
    var limit: Int = 100

    @Flag(help: "Print the JSON the node serves.")
    var json = false

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
            if json {
                print(response.text)
                return
            }
            let page = try JSONDecoder().decode(EventsHTTP.Page.self, from: Data(response.body))
            print(Paint.bold("events recorded by \(page.observer) (as it observed them), newest first"))
            for event in page.events { print(Self.line(event)) }
            if page.events.isEmpty { print("(none)") }
            if page.nextCursor != nil { print("… more: raise --limit or narrow with --since") }
        } catch {
            writeStandardError("events: \(error)\n")
            throw ExitCode.failure
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
        return "\(event.time)  \(event.kind.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))  \(subject)  \(change)  \(event.message)\(signed)"
    }
}
