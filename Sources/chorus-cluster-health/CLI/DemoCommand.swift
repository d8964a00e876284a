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
import UnixSignals

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a local cluster on 127.0.0.1 with fresh keys that trust each other.",
        discussion: """
            Starts NODES node processes (this binary's node command) on 127.0.0.1: HTTP on HTTP-PORT, \
            HTTP-PORT+1, ..., gossip on GOSSIP-PORT, GOSSIP-PORT+1, .... Keys, the trust list, an admin \
            token, data and logs live under DIR (kept between runs, so keys stay the same). Prints the \
            dashboard and API URLs once every node's /cluster/health lists all nodes healthy with one \
            leader; Ctrl-C stops every node (each leaves gracefully).
            """
    )

    @Option(help: "Number of nodes.")
    var nodes: Int = 5

    @Option(help: "HTTP port of the first node (its gRPC port is 1000 above).")
    var httpPort: Int = 8081

    @Option(help: "Gossip UDP port of the first node.")
    var gossipPort: Int = 7946

    @Option(help: "Directory for keys, trust list, admin token, data and logs.")
    var dir: String = ".demo"

    func validate() throws {
        guard (1...64).contains(nodes) else { throw ValidationError("--nodes must be 1 to 64") }
        guard (1...65535 - 1064).contains(httpPort), (1...65535 - 64).contains(gossipPort) else {
            throw ValidationError("ports must leave room for the nodes")
        }
    }

    func run() async throws {
        let start = ContinuousClock.now
        let tokenFile = "\(dir)/admin-token"
        var children: [pid_t] = []
        do {
            try KeyFiles.ensureDirectory(dir)
            var trust = ""
            for i in 1...nodes {
                let keyDir = "\(dir)/keys\(i)"
                let pair = KeyFiles.exists("\(keyDir)/node.key")
                    ? try KeyFiles.readKeyPair("\(keyDir)/node.key") : try KeyFiles.writeNewKeyPair(in: keyDir)
                trust += "\(pair.publicKey.hex) demo-\(i)\n"
            }
            try KeyFiles.replace("\(dir)/trust", contents: trust)
            if !KeyFiles.exists(tokenFile) {
                try KeyFiles.createNew(tokenFile, contents: Hex.encode(SymmetricKey().bytes) + "\n", mode: 0o600)
            }
            let executable = Self.ownExecutable()
            for i in 1...nodes {
                var arguments = [
                    "node", "--node-id", "demo-\(i)", "--http-host", "127.0.0.1", "--http-port", "\(httpPort + i - 1)",
                    "--grpc-port", "\(httpPort + 1000 + i - 1)",
                    "--gossip-host", "127.0.0.1", "--gossip-port", "\(gossipPort + i - 1)", "--disk-path", dir,
                    "--key-file", "\(dir)/keys\(i)/node.key", "--data-dir", "\(dir)/data\(i)", "--trust", "\(dir)/trust",
                    "--admin-token-file", tokenFile, "--min-peers", "\(min(2, nodes - 1))",
                    // Two zones, so that the console and `status` show grouping by label.
                    "--label", "zone=zone-\(i % 2 == 1 ? "a" : "b")",
                ]
                if i > 1 { arguments += ["--join", "127.0.0.1:\(gossipPort)"] }
                children.append(try Self.spawn(executable, arguments, log: "\(dir)/node\(i).log"))
            }
        } catch {
            writeStandardError("demo: \(error)\n")
            Self.stop(children)
            throw ExitCode.failure
        }

        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let base = "http://127.0.0.1:\(httpPort)"
        let ready = await withTaskGroup(of: Bool.self) { group in
            // About 4 s on an idle machine; 60 s allows for a loaded one (a fresh-clone `make test`
            // once needed over 30 s, with the fuzzer and the other suites beside it).
            group.addTask { await self.waitUntilHealthy(deadline: .now + .seconds(60)) }
            group.addTask {
                for await _ in signals { return false }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard ready else {
            writeStandardError(Task.isCancelled ? "" : "demo: the cluster did not become healthy; logs in \(dir)/node*.log\n")
            Self.stop(children)
            throw ExitCode.failure
        }
        let took = ContinuousClock.now - start
        print("""

            chorus-cluster-health demo: \(nodes) nodes on 127.0.0.1, healthy with one leader in \(Self.seconds(took)) \
            (logs in \(dir)/node*.log; Ctrl-C stops them)

              dashboard   \(base)/cluster
              cluster     \(base)/cluster/health      (?verbose for text)
              a node      \(base)/cluster/nodes/demo-2
              signed      \(base)/cluster/nodes/demo-2/status
              metrics     \(base)/metrics
              summary     \(base)/health/summary
            """)
        for i in 1...nodes {
            print("  demo-\(i)      http://127.0.0.1:\(httpPort + i - 1)/health   gRPC 127.0.0.1:\(httpPort + 1000 + i - 1)   gossip 127.0.0.1:\(gossipPort + i - 1)")
        }
        print("""

            try:
              \(CommandLine.arguments[0]) status \(base)
              \(CommandLine.arguments[0]) verify \(base)/cluster/nodes/demo-2/status --trust \(dir)/trust
              \(CommandLine.arguments[0]) maint on http://127.0.0.1:\(httpPort + 1) --reason "disk swap" --token-file \(tokenFile)
              \(CommandLine.arguments[0]) events \(base) --follow         (what this node saw change, as it happens)
              \(CommandLine.arguments[0]) history \(base) demo-2          (uptime and time in each status)
              kill -9 <a node's pid> and watch the dashboard (pids: \(children.map(String.init).joined(separator: " ")))

            """)
        fflush(nil)  // every output stream: stdout is a pipe or a file under make
        let signalled = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await _ in signalled { break }
        print("\nstopping the demo cluster...")
        fflush(nil)  // every output stream: stdout is a pipe or a file under make
        Self.stop(children)
    }

    /// Polls every node's /cluster/health until all list every node healthy with one agreed leader.
    private func waitUntilHealthy(deadline: ContinuousClock.Instant) async -> Bool {
        while ContinuousClock.now < deadline && !Task.isCancelled {
            var all = true
            for i in 1...nodes {
                guard let response = try? await HTTPClient.request("http://127.0.0.1:\(httpPort + i - 1)/cluster/health", timeout: .seconds(2)),
                    let health = try? JSONDecoder().decode(ClusterHealth.self, from: Data(response.body)),
                    health.status == .healthy, health.nodeCount == nodes, health.election.agreement == 1
                else {
                    all = false
                    break
                }
            }
            if all { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func seconds(_ duration: Duration) -> String {
        let millis = Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
        return "\(millis / 1000).\(String(millis % 1000 / 100)) s"
    }

    /// This process's executable (the node children run the same binary).
    static func ownExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    /// Starts `executable` with `arguments`, its standard output and error appended to `log`.
    static func spawn(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw KeyFileError.io(path: executable, reason: "cannot start a node: \(String(cString: strerror(result)))") }
        return pid
    }

    /// SIGTERM to every child, then waits for them (each leaves the cluster gracefully).
    static func stop(_ children: [pid_t]) {
        for pid in children { kill(pid, SIGTERM) }
        for pid in children {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
