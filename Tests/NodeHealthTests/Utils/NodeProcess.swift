import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

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

/// A running `chorus-cluster-health` process whose standard error is collected.
final class NodeProcess: Sendable {
    let process: Process
    private let output = TextBuffer()

    init(arguments: [String]) throws {
        let process = Process()
        process.executableURL = productBinary()
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        self.process = process
        let sink = output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { sink.append(String(decoding: data, as: UTF8.self)) }
        }
        try process.run()
    }

    /// Everything the process has written so far.
    var log: String { output.text }

    /// Waits until the node logs its URL and returns the port it listens on.
    func waitForPort(timeout: Duration = .seconds(20)) async throws -> Int {
        var port: Int?
        await eventually(timeout: timeout, "the node to report its URL") {
            if let match = log.firstMatch(of: #/health=http://127\.0\.0\.1:(\d+)/health/#) { port = Int(match.1) }
            return port != nil || !process.isRunning
        }
        return try #require(port, "node did not start: \(log)")
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        let exited = await eventually(timeout: timeout, "the node to exit") { !process.isRunning }
        return exited ? process.terminationStatus : nil
    }

    func terminate() {
        if process.isRunning { process.terminate() }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
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
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stdout
    try process.run()
    stdin.fileHandleForWriting.write(input)
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// Text appended from any thread.
final class TextBuffer: Sendable {
    private let state = Mutex("")
    func append(_ text: String) { state.withLock { $0 += text } }
    var text: String { state.withLock { $0 } }
}
