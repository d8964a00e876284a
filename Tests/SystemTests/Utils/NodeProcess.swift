import TestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing
import NodeHealthTesting
import TestSupport

/// The `chorus-cluster-health` binary built beside this test bundle (or `$CHORUS_BIN`).
func productBinary() -> URL {
    if let override = ProcessInfo.processInfo.environment["CHORUS_BIN"] { return URL(fileURLWithPath: override) }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("chorus-cluster-health")
}

/// Finds an executable on `PATH`.
func which(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
}

/// A running `chorus-cluster-health` process whose output is collected.
final class NodeProcess: Sendable {
    let child: ChildProcess

    /// Starts the binary (inside host `host` of `lab` when given). A `node` gets gossip on
    /// 127.0.0.1 with a free port and a fresh data directory unless the arguments say otherwise.
    init(arguments: [String], lab: NetworkLab? = nil, host: Int = 0) throws {
        var arguments = arguments
        if arguments.first == "node" {
            if !arguments.contains("--gossip-port") { arguments += ["--gossip-host", "127.0.0.1", "--gossip-port", "0"] }
            if !arguments.contains("--data-dir") { arguments += ["--data-dir", temporaryDirectory()] }
            if !arguments.contains("--grpc-port") && !arguments.contains("--no-grpc") { arguments += ["--grpc-port", "0"] }
        }
        if let lab {
            let (executable, inside) = lab.inside(host, [productBinary().path] + arguments)
            child = try ChildProcess(executable.path, inside)
        } else {
            child = try ChildProcess(productBinary().path, arguments)
        }
    }

    /// Everything the process has written so far.
    var log: String { child.output }

    var isRunning: Bool { child.isRunning }

    /// Waits until the node logs its URL and returns the port it listens on.
    func waitForPort(timeout: Duration = .seconds(20)) async throws -> Int {
        var port: Int?
        await eventually(timeout: timeout, "the node to report its URL") {
            if let match = log.firstMatch(of: #/health=http://127\.0\.0\.1:(\d+)/health/#) { port = Int(match.1) }
            return port != nil || !child.isRunning
        }
        return try #require(port, "node did not start: \(log)")
    }

    /// Waits until the node logs its gossip address and returns it (`127.0.0.1:PORT`).
    func waitForGossipAddress(timeout: Duration = .seconds(20)) async throws -> String {
        var address: String?
        await eventually(timeout: timeout, "the node to report its gossip address") {
            if let match = log.firstMatch(of: #/advertise=(127\.0\.0\.1:\d+)/#) { address = String(match.1) }
            return address != nil || !child.isRunning
        }
        return try #require(address, "gossip did not start: \(log)")
    }

    /// Kills the process with SIGKILL (no graceful leave) and waits for it.
    func kill() {
        guard child.isRunning else { return }
        child.signal(SIGKILL)
        child.waitUntilExit()
    }

    /// Stops the process (SIGSTOP): it neither sends nor answers, as if frozen.
    func pause() { child.signal(SIGSTOP) }

    /// Lets a paused process run again (SIGCONT).
    func resume() { child.signal(SIGCONT) }

    /// Sends `signal` (SIGINT, for example).
    func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits for the process to exit (and its output to be read to the end) and returns its status.
    func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        let exited = await eventually(timeout: timeout, "the node to exit") { !child.isRunning }
        guard exited else { return nil }
        return await child.exited()
    }

    /// SIGTERM (a graceful stop).
    func terminate() { child.signal(SIGTERM) }

    deinit {
        if child.isRunning {
            child.signal(SIGCONT)
            child.signal(SIGTERM)
            child.waitUntilExit()
        }
    }
}

/// Open-trust `node` processes on 127.0.0.1 named PREFIX0, PREFIX1, …, with their data under one
/// directory: the first is the others' seed.
struct LocalCluster {
    let prefix: String
    let root = temporaryDirectory()
    let extra: [String]
    var nodes: [NodeProcess] = []
    var bases: [String] = []
    var seed = ""

    /// Starts `count` nodes with `extra` flags and waits until each serves HTTP.
    init(_ prefix: String, count: Int, extra: [String] = []) async throws {
        self.prefix = prefix
        self.extra = extra
        nodes.append(try start(0, join: nil))
        seed = try await nodes[0].waitForGossipAddress()
        for i in 1..<count { nodes.append(try start(i, join: seed)) }
        for node in nodes { bases.append("http://127.0.0.1:\(try await node.waitForPort())") }
    }

    /// Starts node `i` (again, after a kill: same data directory, so a new generation).
    func start(_ i: Int, join: String?) throws -> NodeProcess {
        var arguments = [
            "node", "--node-id", "\(prefix)\(i)", "--http-host", "127.0.0.1", "--http-port", "0", "--disk-path", ".",
            "--trust-any", "--data-dir", "\(root)/data\(i)",
        ] + extra
        if let join { arguments += ["--join", join] }
        return try NodeProcess(arguments: arguments)
    }

    /// Restarts node `i` after a kill, joining through node `through` (default the first, whose
    /// address is the seed; pass a live one when the first was killed).
    mutating func restart(_ i: Int, through: Int = 0) async throws {
        let join = through == 0 ? seed : try await nodes[through].waitForGossipAddress()
        nodes[i] = try start(i, join: join)
        bases[i] = "http://127.0.0.1:\(try await nodes[i].waitForPort())"
    }

    /// Stops every node (resumed first, should one be paused).
    func stop() {
        for node in nodes {
            node.resume()
            node.terminate()
        }
    }
}

/// A new empty directory under the system's temporary directory.
func temporaryDirectory() -> String {
    var template = Array((NSTemporaryDirectory() + "/chorus-test-XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

/// A plain HTTP GET on loopback: status and body.
func httpGet(_ url: String) async throws -> (status: Int, body: Data) {
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = 10
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
}

/// Runs a command with `input` on standard input; returns its exit status and output.
func runTool(_ executable: URL, _ arguments: [String], input: Data) throws -> (status: Int32, output: String) {
    let child = try ChildProcess(executable.path, arguments, input: Array(input))
    let status = child.waitUntilExit()
    return (status, child.output)
}

/// Text appended from any thread.
final class TextBuffer: Sendable {
    private let state = Mutex("")
    func append(_ text: String) { state.withLock { $0 += text } }
    var text: String { state.withLock { $0 } }
}
