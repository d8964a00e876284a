import TestSupport
import Foundation
import Synchronization
import TestSupport

/// Hosts in network namespaces that the test makes and deletes: a hub namespace with a bridge,
/// and host `i` (1…n) in its own namespace at `10.77.S.i/24` on the bridge (S from the process
/// id, so that two runs do not meet). Nothing leaves these namespaces.
final class NetworkLab: Sendable {
    let name: String
    /// Labs made by this process so far.
    private static let made = Atomic<Int>(0)
    let subnet: Int
    let hosts: Int
    private let ip: URL

    /// Whether this machine lets the test make namespaces (root, with iproute2).
    static var available: Bool { getuid() == 0 && which("ip") != nil }

    init(hosts: Int) throws {
        Self.sweepLeftovers()
        let pid = Int(getpid())
        // The whole pid (sweepLeftovers() reads it back), then a letter per lab of this process
        // (suites run side by side); veth names stay ≤ 15 bytes.
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        name = "chc\(pid)\(letters[Self.made.add(1, ordering: .relaxed).oldValue % letters.count])"
        subnet = pid % 250 + 1
        self.hosts = hosts
        ip = which("ip")!
        do {
            try run(["netns", "add", hub])
            try run(["-n", hub, "link", "add", "br0", "type", "bridge"])
            try run(["-n", hub, "link", "set", "br0", "up"])
            for i in 1...hosts {
                let veth = "\(name)v\(i)"
                try run(["netns", "add", namespace(i)])
                try run(["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace(i)])
                try run(["link", "set", veth, "netns", hub])
                try run(["-n", hub, "link", "set", veth, "master", "br0"])
                try run(["-n", hub, "link", "set", veth, "up"])
                try run(["-n", namespace(i), "addr", "add", "\(address(i))/24", "dev", "eth0"])
                try run(["-n", namespace(i), "link", "set", "eth0", "up"])
                try run(["-n", namespace(i), "link", "set", "lo", "up"])
            }
        } catch {
            destroy()
            throw error
        }
    }

    /// Deletes the labs of test runs that died without cleaning up (a crash, a kill): their
    /// namespaces, and the node processes still running in them, which would otherwise load the
    /// machine for good. A lab is a leftover when the process named in it no longer exists.
    static func sweepLeftovers() {
        guard let ip = which("ip"), let (_, list) = try? runTool(ip, ["netns", "list"], input: Data()) else { return }
        for line in list.split(separator: "\n") {
            let namespace = String(line.split(separator: " ").first ?? "")
            guard namespace.hasPrefix("chc"), let cut = namespace.dropFirst(3).firstIndex(where: { !$0.isNumber }),
                let pid = Int32(namespace.dropFirst(3)[..<cut]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            if let (_, pids) = try? runTool(ip, ["netns", "pids", namespace], input: Data()) {
                for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            _ = try? runTool(ip, ["netns", "del", namespace], input: Data())
        }
    }

    var hub: String { "\(name)hub" }
    func namespace(_ i: Int) -> String { "\(name)n\(i)" }
    func address(_ i: Int) -> String { "10.77.\(subnet).\(i)" }

    /// Cuts host `i` off the network (its link down), or connects it again.
    func setLink(_ i: Int, up: Bool) throws {
        try run(["-n", namespace(i), "link", "set", "eth0", up ? "up" : "down"])
    }

    /// A one-way cut: what host `from` sends to host `to` is lost.
    struct Cut: Hashable {
        var from: Int
        var to: Int
    }

    /// Drops (or lets through again) everything host `from` sends to host `to`: a route in
    /// `from`'s namespace. Both directions make a partition; one makes a one-way fault.
    /// `refused` makes the sender's kernel refuse the datagrams at once (a blackhole route,
    /// EINVAL, as a firewall's reject or a missing route does); otherwise they vanish silently
    /// on the way, as on a cut wire (via an address nobody holds on the bridge: they wait for
    /// an ARP answer that never comes).
    func block(from: Int, to: Int, _ blocked: Bool, refused: Bool = false) throws {
        try run(["-n", namespace(from)] + routeCommand(Cut(from: from, to: to), add: blocked, refused: refused))
    }

    /// Replaces the cuts in place (`current`) by `cuts`, changing only the routes that differ,
    /// one `ip -batch` per namespace: fast enough to play packet loss as cuts that come and go.
    func setCuts(_ cuts: Set<Cut>, replacing current: Set<Cut>) throws {
        var commands: [Int: [String]] = [:]
        for cut in cuts.subtracting(current) { commands[cut.from, default: []].append(routeCommand(cut, add: true).joined(separator: " ")) }
        for cut in current.subtracting(cuts) { commands[cut.from, default: []].append(routeCommand(cut, add: false).joined(separator: " ")) }
        for (host, lines) in commands {
            let (status, output) = try runTool(ip, ["-n", namespace(host), "-batch", "-"], input: Data((lines.joined(separator: "\n") + "\n").utf8))
            if status != 0 { throw LabError(description: "ip -batch in host \(host): \(output)") }
        }
    }

    private func routeCommand(_ cut: Cut, add: Bool, refused: Bool = false) -> [String] {
        refused
            ? ["route", add ? "add" : "del", "blackhole", "\(address(cut.to))/32"]
            : ["route", add ? "add" : "del", "\(address(cut.to))/32", "via", address(254)]
    }

    /// The arguments that run `command` inside host `i`'s namespace (through `ip netns exec`).
    func inside(_ i: Int, _ command: [String]) -> (URL, [String]) {
        (ip, ["netns", "exec", namespace(i)] + command)
    }

    /// GET `path` from `127.0.0.1:port` inside host `i`: the status code and body (nil when unreachable).
    func httpGet(_ i: Int, port: Int, _ path: String) async -> (status: Int, body: String)? {
        let (executable, arguments) = inside(i, ["curl", "-s", "-m", "5", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        guard let (status, output) = try? await runAsync(executable, arguments), status == 0,
            let newline = output.lastIndex(of: "\n"), let code = Int(output[output.index(after: newline)...])
        else { return nil }
        return (code, String(output[..<newline]))
    }

    func destroy() {
        for i in 0...hosts { _ = try? run(["netns", "del", i == 0 ? hub : namespace(i)], quiet: true) }
    }

    deinit { destroy() }

    private func run(_ arguments: [String], quiet: Bool = false) throws {
        let (status, output) = try runTool(ip, arguments, input: Data())
        if status != 0 && !quiet { throw LabError(description: "ip \(arguments.joined(separator: " ")): \(output)") }
    }

    struct LabError: Error, CustomStringConvertible { let description: String }
}

/// Runs a command without blocking the caller's thread; returns its exit status and output.
func runAsync(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await ChildProcess.run(executable.path, arguments)
}
