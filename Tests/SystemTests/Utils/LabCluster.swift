import Foundation
import NodeHealth
import NodeHealthTesting

/// One node process per host of a ``NetworkLab``, node `hI` on host `I` with gossip at
/// `10.77.S.I:7946`, each joining through hosts 1 and 2 (so that any one of them can restart and
/// find the cluster) with its own data directory, kept across restarts. `TRACE_WATCH=1` prints
/// every poll of a watch (each node's view, compact).
final class LabCluster: @unchecked Sendable {
    let lab: NetworkLab
    let size: Int
    private let root = temporaryDirectory()
    private let extra: [String]
    private(set) var nodes: [Int: NodeProcess] = [:]
    private(set) var ports: [Int: Int] = [:]

    var names: [String] { (1...size).map { "h\($0)" } }

    init(hosts: Int, extra: [String] = []) async throws {
        lab = try NetworkLab(hosts: hosts)
        size = hosts
        self.extra = extra
        do {
            for i in 1...hosts { try start(i) }
            for i in 1...hosts { try await waitForPort(i) }
        } catch {
            stop()
            throw error
        }
    }

    /// Starts node `i` (again, on the same data directory: the same key, a new generation).
    func start(_ i: Int) throws {
        let seeds = [1, 2].filter { $0 != i && $0 <= size }.map { "\(lab.address($0)):7946" }
        let arguments = [
            "node", "--node-id", "h\(i)", "--http-host", "127.0.0.1", "--http-port", "0", "--disk-path", ".",
            "--gossip-host", lab.address(i), "--gossip-port", "7946", "--trust-any", "--data-dir", "\(root)/data\(i)",
            "--no-shutdown-on-critical", "--join", seeds.joined(separator: ","),
        ] + extra
        nodes[i] = try NodeProcess(arguments: arguments, lab: lab, host: i)
        ports[i] = nil
    }

    func waitForPort(_ i: Int) async throws { ports[i] = try await nodes[i]!.waitForPort() }

    func stop() {
        for node in nodes.values { node.terminate() }
        lab.destroy()
    }

    /// A member as node `i`'s `/cluster/members` lists it.
    struct Member: Equatable {
        var nodeID: String?
        var fingerprint: String
        var state: String
        var generation: UInt64
        /// Listed under `joining`: no status of it arrived yet.
        var joining = false
        /// Its node id, or its fingerprint while no status of it arrived.
        var name: String { nodeID ?? fingerprint }
    }

    /// Node `i`'s member list (nil when it does not answer).
    func members(_ i: Int) async -> [Member]? {
        guard let port = ports[i], let (_, body) = await lab.httpGet(i, port: port, "/cluster/members"),
            let json = try? decodeJSON(body), case .array(let list)? = json["members"]
        else { return nil }
        var joining: [JSONValue] = []
        if case .array(let entries)? = json["joining"] { joining = entries }
        return (list + joining).enumerated().compactMap { index, member in
            guard let fingerprint = member["fingerprint"]?.stringValue else { return nil }
            return Member(
                nodeID: member["node_id"]?.stringValue, fingerprint: fingerprint, state: member["state"]?.stringValue ?? "?",
                generation: UInt64(member["generation"]?.doubleValue ?? 0), joining: index >= list.count)
        }
    }

    /// Every answering node's member list, by host.
    func allMembers() async -> [Int: [Member]] {
        var result: [Int: [Member]] = [:]
        for i in 1...size { result[i] = await members(i) }
        return result
    }

    /// Node `i`'s view: member name → state.
    static func view(_ members: [Member]) -> [String: String] {
        Dictionary(members.map { ($0.name, $0.state) }, uniquingKeysWith: { first, _ in first })
    }

    /// Whether every node answers and lists exactly the `size` members, each alive and by name.
    func whole(_ all: [Int: [Member]]) -> Bool {
        all.count == size && all.values.allSatisfy { members in
            members.count == size && names.allSatisfy { name in members.contains { $0.nodeID == name && $0.state == "alive" } }
        }
    }

    /// The leader node `i`'s `/cluster/health` names (nil when it names none or does not answer).
    func leader(_ i: Int) async -> String? {
        guard let port = ports[i], let (_, body) = await lab.httpGet(i, port: port, "/cluster/health"),
            let json = try? decodeJSON(body)
        else { return nil }
        return json["election"]?["leader"]?.stringValue
    }

    /// What a ``watch(for:mayDie:leaders:until:step:)`` saw.
    struct Watch {
        /// What must never be seen, each once: a member held dead that was not allowed to die,
        /// a member listed without its node id, one joining (no status of it) for 5 s, more
        /// members than nodes.
        var faults: Set<String> = []
        /// The last member lists.
        var last: [Int: [Member]] = [:]
        /// When `until` first held, from the start of the watch.
        var doneAfter: Duration?
        /// Per node, how often the leader it names changed.
        var leaderChanges: [Int: Int] = [:]
    }

    /// Polls every node's member list (and with `leaders`, the leader it names) for `duration`,
    /// or until `until` holds, running `step` before each poll (a fault to play).
    func watch(
        for duration: Duration, mayDie: Set<String> = [], leaders: Bool = false,
        until: (([Int: [Member]]) -> Bool)? = nil, step: (() throws -> Void)? = nil
    ) async throws -> Watch {
        var watch = Watch()
        var named: [Int: String] = [:]
        var joiningSince: [String: ContinuousClock.Instant] = [:]
        let start = ContinuousClock.now
        while ContinuousClock.now - start < duration {
            try step?()
            let all = await allMembers()
            watch.last = all
            if ProcessInfo.processInfo.environment["TRACE_WATCH"] != nil {
                print("watch \(ContinuousClock.now - start): " + (1...size).map { i in "h\(i)[" + (all[i] ?? []).sorted { $0.name < $1.name }.map { "\($0.name.suffix(2)):\($0.state.prefix(1))" }.joined(separator: " ") + "]" }.joined(separator: " "))
            }
            for (i, members) in all {
                for member in members {
                    if member.state == "dead" && !mayDie.contains(member.name) { watch.faults.insert("h\(i) held \(member.name) dead") }
                    if member.joining {
                        let since = joiningSince["h\(i) \(member.fingerprint)", default: .now]
                        joiningSince["h\(i) \(member.fingerprint)"] = since
                        if ContinuousClock.now - since >= .seconds(5) { watch.faults.insert("h\(i) held no status of \(member.fingerprint) for 5 s") }
                    } else if member.nodeID == nil {
                        watch.faults.insert("h\(i) listed \(member.fingerprint) without a node id")
                    }
                }
                if members.count > size { watch.faults.insert("h\(i) listed \(members.count) members") }
            }
            if leaders {
                for i in 1...size {
                    guard let leader = await leader(i) else { continue }
                    if let before = named[i], before != leader { watch.leaderChanges[i, default: 0] += 1 }
                    named[i] = leader
                }
            }
            if let until, until(all) {
                watch.doneAfter = ContinuousClock.now - start
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return watch
    }
}
