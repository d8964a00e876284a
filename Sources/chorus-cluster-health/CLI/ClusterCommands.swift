import ArgumentParser
import ChorusNode
import NodeHealthHTTP
import ClusterView
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Gossip
import GossipCore
import NIOHTTP1
import NodeHealth

/// ANSI colours for a terminal (none when standard output is not one, or NO_COLOR is set).
enum Paint {
    static let enabled = isatty(1) == 1 && getenv("NO_COLOR") == nil

    static func status(_ text: String, _ status: String) -> String {
        guard enabled else { return text }
        let code = switch status {
        case "healthy": "32"
        case "degraded": "33"
        case "unhealthy": "31"
        case "starting", "stopping": "34"
        default: "90"
        }
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    static func bold(_ text: String) -> String { enabled ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
}

/// Strips a trailing slash, so `URL` and `URL/` both work.
func baseURL(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the cluster as a node sees it (its /cluster/health) as a table.",
        discussion: """
            Counts first, then the nodes: all of them up to 20 nodes; in a larger cluster only those \
            that are not healthy and alive (--all for every node). Exits 0 when the cluster is healthy \
            or degraded, 2 when it is unhealthy, 1 when the node cannot be read.
            """
    )

    @Argument(help: "A node's HTTP base URL, e.g. http://127.0.0.1:8081.")
    var url: String

    @Flag(help: "List every node, healthy ones included.")
    var all = false

    @Option(help: ArgumentHelp("Only nodes with one of these statuses (comma-separated: healthy, degraded, unhealthy, starting, stopping, unknown).", valueName: "statuses"))
    var status: String?

    @Option(help: ArgumentHelp("Only nodes with this label (KEY=VALUE, or KEY for any value); repeatable.", valueName: "key=value"))
    var label: [String] = []

    @Option(help: ArgumentHelp("Redraw in place every this many seconds until interrupted.", valueName: "seconds"))
    var watch: Double?

    /// Nodes listed without --all (beyond, only those not healthy).
    static let listAllUpTo = 20

    func validate() throws {
        if let watch, !(0.2...3600).contains(watch) { throw ValidationError("--watch must be 0.2 to 3600 seconds") }
        do {
            _ = try ClusterHealthQuery(parameters: queryParameters)
        } catch {
            throw ValidationError(error.description)
        }
    }

    var queryParameters: [(name: String, value: String)] {
        (status.map { [("status", $0)] } ?? []) + label.map { ("label", $0) }
    }

    /// `/cluster/health` with the filters, percent-encoded.
    var healthURL: String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~,=".utf8)
        func encode(_ text: String) -> String {
            text.utf8.map { byte in
                allowed.contains(byte) ? String(UnicodeScalar(byte)) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }.joined()
        }
        let query = queryParameters.map { "\($0.name)=\(encode($0.value))" }.joined(separator: "&")
        return baseURL(url) + "/cluster/health" + (query.isEmpty ? "" : "?" + query)
    }

    func run() async throws {
        guard let watch else {
            let health = try await fetch()
            print(Self.render(health, all: all || !queryParameters.isEmpty), terminator: "")
            if health.status == .unhealthy { throw ExitCode(2) }
            return
        }
        while !Task.isCancelled {
            let screen: String
            do {
                screen = Self.render(try await fetch(), all: all || !queryParameters.isEmpty)
            } catch {
                screen = "status: cannot read \(url): \(error)\n"
            }
            // Home and clear, then the table: redrawn in place.
            print((Paint.enabled ? "\u{1B}[H\u{1B}[2J" : "") + screen + "(every \(watch) s; Ctrl-C to stop)", terminator: Paint.enabled ? "" : "\n")
            fflush(nil)
            try await Task.sleep(for: .milliseconds(Int64(watch * 1000)))
        }
    }

    func fetch() async throws -> ClusterHealth {
        do {
            let response = try await HTTPClient.request(healthURL)
            guard response.status == 200 || response.status == 503 else {
                throw HTTPClient.URLError(description: "\(healthURL) answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
            }
            return try JSONDecoder().decode(ClusterHealth.self, from: Data(response.body))
        } catch {
            writeStandardError("status: \(error)\n")
            throw ExitCode.failure
        }
    }

    static func render(_ health: ClusterHealth, all: Bool = true) -> String {
        let e = health.election
        var out = Paint.bold("cluster ") + Paint.status(health.status.rawValue.uppercased(), health.status.rawValue)
        out += "  \(health.nodeCount) nodes, seen from \(health.observer); leader \(e.leader ?? "none")"
        out += e.term.map { " (term \($0))" } ?? ""
        out += ", agreement \(Int((e.agreement * 100).rounded())) %, \(e.leadershipChanges) leadership changes\n"
        let statuses = ClusterHealth.NodeStatus.allCases.compactMap { status in
            health.byStatus[status.rawValue].map { Paint.status("\($0) \(status.rawValue)", status.rawValue) }
        }
        let states = MemberState.allCases.compactMap { state in health.byState[state.description].map { "\($0) \(state)" } }
        out += statuses.joined(separator: ", ") + "; " + states.joined(separator: ", ")
        for (key, values) in health.byLabel.sorted(by: { $0.key < $1.key }) {
            out += "; \(key): " + values.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        }
        out += "\n"
        let listAll = all || health.nodes.count <= listAllUpTo
        let listed = listAll ? health.nodes : health.nodes.filter { $0.status != .healthy || $0.state != .alive }
        let rows = listed.map { node -> [String] in
            let age = node.statusAgeSeconds.map { "\(Int($0.rounded()))s" } ?? "-"
            let peers = node.effectivePeers.map(String.init) ?? "-"
            var notes: [String] = []
            if node.nodeID == e.leader { notes.append("leader") }
            if node.isSelf { notes.append("here") }
            if node.stale { notes.append("stale") }
            if node.unreachable { notes.append("unreachable") }
            if node.flapping != nil { notes.append("flapping") }
            if node.status != .healthy, !node.state.isGone, node.failingChecks.isEmpty, let message = node.message, !message.isEmpty {
                notes.append(message)
            }
            notes += node.failingChecks.map { "failing \($0)" } + node.degradedChecks.map { "degraded \($0)" }
            return [node.nodeID, node.state.description, node.status.rawValue, age, peers, notes.joined(separator: ", ")]
        }
        let header = ["NODE", "STATE", "STATUS", "AGE", "PEERS", "NOTES"]
        let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String], status: String?) -> String {
            cells.enumerated().map { index, cell in
                let padded = index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] + 2 - cell.count)
                return index == 2 && status != nil ? Paint.status(padded, status!) : padded
            }.joined() + "\n"
        }
        out += Paint.bold(line(header, status: nil))
        for (row, node) in zip(rows, listed) { out += line(row, status: node.status.rawValue) }
        if listed.count < health.nodes.count {
            out += "(\(health.nodes.count - listed.count) healthy nodes not listed; --all lists them)\n"
        }
        let p = health.peers
        if let min = p.min, let average = p.average, let max = p.max {
            out += "peers min/avg/max \(min)/\(average)/\(max) (required \(p.minimum))"
        }
        let r = health.replication
        out += r.averageFactor.map { "; replication factor \($0), \(r.underReplicatedKeys) keys under-replicated\n" } ?? "\n"
        // At 1000 nodes every degraded node is a reason: the first ten, and how many more.
        let shown = listAll ? health.reasons : Array(health.reasons.prefix(10))
        for reason in shown { out += "  - \(reason)\n" }
        if shown.count < health.reasons.count { out += "  … and \(health.reasons.count - shown.count) more reasons\n" }
        return out
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a signed status offline: its Ed25519 signature and its payload.",
        discussion: """
            SOURCE is a file, - for standard input, or a URL (a node's /cluster/nodes/ID/status) holding \
            the JSON that endpoint serves: public_key (hex), payload (base64 of the signed bytes), signature \
            (hex). Prints the signed fields; exits 0 when the signature is valid (and, with --trust, the key \
            trusted), 1 otherwise.
            """
    )

    @Argument(help: "File, - (standard input) or http:// URL of a signed status.")
    var source: String

    @Option(help: "File of trusted public keys (as for node --trust): the signer must be listed.")
    var trust: String?

    func run() async throws {
        do {
            let bytes: [UInt8]
            if source.hasPrefix("http://") {
                let response = try await HTTPClient.request(source)
                guard response.status == 200 else { throw HTTPClient.URLError(description: "\(source) answered \(response.status)") }
                bytes = response.body
            } else if source == "-" {
                var input: [UInt8] = []
                while let line = readLine(strippingNewline: false) { input += Array(line.utf8) }
                bytes = input
            } else {
                bytes = Array(try KeyFiles.read(source).utf8)
            }
            let body = try JSONDecoder().decode(ClusterHTTP.SignedStatusBody.self, from: Data(bytes))
            guard let payload = Data(base64Encoded: body.payload).map(Array.init) else {
                throw HTTPClient.URLError(description: "payload is not base64")
            }
            guard let signature = Hex.decode(body.signature) else { throw HTTPClient.URLError(description: "signature is not hex") }
            let signed = try SignedStatus(payload: payload, signature: signature)
            let p = signed.projection
            print("node \(p.nodeID)  key \(p.publicKey.hex)")
            print("generation \(p.generation)  version \(p.version)  issued \(TimeFormatting.rfc3339(millis: p.issuedAtMillis))")
            print("status \(Paint.status(p.status.rawValue, p.status.rawValue))  \(p.message)")
            for check in p.checks {
                let level = !check.healthy ? "unhealthy" : check.degraded ? "degraded" : "healthy"
                print("  \(Paint.status(check.healthy ? (check.degraded ? "~" : "+") : "-", level)) \(check.name)\(check.critical ? " (critical)" : ""): \(check.message)")
            }
            guard body.publicKey.lowercased() == p.publicKey.hex else {
                throw HTTPClient.URLError(description: "public_key does not match the key inside the signed payload")
            }
            guard signed.isSignatureValid else { throw HTTPClient.URLError(description: "INVALID signature") }
            if let trust {
                let keys = try KeyFiles.trustedKeys(fileContents: try KeyFiles.read(trust))
                guard keys.contains(p.publicKey) else {
                    throw HTTPClient.URLError(description: "valid signature, but key \(p.publicKey.fingerprint) is not in \(trust)")
                }
            }
            print(Paint.status("signature valid", "healthy") + " (Ed25519, key \(p.publicKey.fingerprint)\(trust == nil ? "" : ", trusted"))")
        } catch {
            writeStandardError("verify: \(error)\n")
            throw ExitCode.failure
        }
    }
}

struct MaintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maint",
        abstract: "Take a node out of service (maintenance on) or put it back (off).",
        discussion: """
            Like Consul's maint: POST URL/admin/maintenance with the admin token. With maintenance on, the \
            node's readiness fails and its signed status names the reason (without shutting it down); every \
            node's view has the change at once.
            """
    )

    enum Mode: String, ExpressibleByArgument { case on, off }

    @Argument(help: "on or off.")
    var mode: Mode

    @OptionGroup var node: AdminEndpoint

    @Option(help: "Why (shown in the node's status).")
    var reason: String = "maintenance"

    func run() async throws {
        do {
            struct Body: Encodable { var enabled: Bool; var reason: String }
            let body = try JSONEncoder().encode(Body(enabled: mode == .on, reason: reason))
            let response = try await node.request(
                "/admin/maintenance", method: .POST, headers: [("Content-Type", "application/json")], body: Array(body))
            guard response.status == 200 else {
                throw HTTPClient.URLError(description: "\(node.url)/admin/maintenance answered \(response.status): \(response.text)")
            }
            print("maintenance \(mode.rawValue) at \(node.url)" + (mode == .on ? ": \(reason)" : ""))
        } catch {
            writeStandardError("maint: \(error)\n")
            throw ExitCode.failure
        }
    }
}

/// A node's admin endpoints: its URL and the file holding its admin token.
struct AdminEndpoint: ParsableArguments {
    @Argument(help: "The node's HTTP base URL.")
    var url: String

    @Option(help: "File holding the node's admin token (its --admin-token-file).")
    var tokenFile: String

    /// `method path` on the node with `Authorization: Bearer <token>` (the token file's first meaningful line).
    func request(
        _ path: String, method: HTTPMethod, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(5)
    ) async throws -> HTTPClient.Response {
        let token = KeyFiles.meaningfulLines(try KeyFiles.read(tokenFile)).first?.1 ?? ""
        return try await HTTPClient.request(
            baseURL(url) + path, method: method, headers: [("Authorization", "Bearer \(token)")] + headers, body: body, timeout: timeout)
    }
}

struct DHTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Read or write a key of the cluster's DHT through a node (get or put).",
        discussion: """
            GET or PUT URL/admin/dht?key=KEY with the admin token. put stores VALUE on the key's R replicas \
            (done once a majority stored it); get reads it from the replicas in rank order and prints it. \
            Exits 0 on success, 2 when the key is on no replica, 1 on any other failure.
            """
    )

    enum Mode: String, ExpressibleByArgument { case get, put }

    @Argument(help: "get or put.")
    var mode: Mode

    @OptionGroup var node: AdminEndpoint

    @Argument(help: "The key (1 to 200 bytes).")
    var key: String

    @Argument(help: "The value to store (put only).")
    var value: String?

    func validate() throws {
        if mode == .put && value == nil { throw ValidationError("put needs a VALUE") }
        if mode == .get && value != nil { throw ValidationError("get takes no VALUE") }
    }

    /// `/admin/dht?key=KEY`, the key percent-encoded as a query value (by `URLComponents`).
    static func path(forKey key: String) -> String {
        var components = URLComponents()
        components.path = "/admin/dht"
        components.queryItems = [URLQueryItem(name: "key", value: key)]
        return components.string ?? "/admin/dht?key=\(key)"
    }

    func run() async throws {
        let response: HTTPClient.Response
        do {
            response = try await node.request(
                Self.path(forKey: key), method: mode == .put ? .PUT : .GET,
                body: value.map { Array($0.utf8) }, timeout: .seconds(10))
        } catch {
            writeStandardError("dht: \(error)\n")
            throw ExitCode.failure
        }
        switch (response.status, mode) {
        case (200, .get):
            print(response.text)
        case (200, .put):
            print("stored \(key) (\(value?.utf8.count ?? 0) bytes) through \(node.url)")
        case (404, _):
            writeStandardError("dht: \(key): not found on any replica\n")
            throw ExitCode(2)
        default:
            writeStandardError("dht: \(node.url)/admin/dht answered \(response.status): \(response.text)\n")
            throw ExitCode.failure
        }
    }
}
