import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process for the tests, started with `posix_spawn`: standard output and error go to
/// one pipe that a thread reads into ``output``, standard input is `input` (or /dev/null), and a
/// second thread reaps it.
///
/// The tests do not use Foundation's `Process`: with Swift 6.3 on Linux, `Process.run()`
/// crashes now and then (a 256-byte over-read in `findMaximumOpenFromProcSelfFD`,
/// swift-corelibs-foundation#5472, seen here as "Bad pointer dereference" in `Process.run`'s
/// memcpy), taking the whole test run down with it.
public final class ChildProcess: Sendable {
    public let pid: pid_t

    private struct State {
        var output: [UInt8] = []
        /// Exit code, or the number of the signal that ended it (as Foundation's `terminationStatus`).
        var status: Int32?
    }

    private let state = Mutex(State())
    /// Left twice: when the process was reaped and when its output reached end of file.
    private let finished = DispatchGroup()

    /// Starts `executable` (a path, or a name looked up on `PATH`) with `arguments`.
    public init(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) throws {
        // Pipes are made close-on-exec and spawned under one lock, so that no other child started
        // meanwhile inherits them (it would hold this child's output open after it exits).
        let (pid, reader, writer) = try Self.spawnLock.withLock { _ in
            try Self.spawn(executable, arguments, withInput: input != nil)
        }
        self.pid = pid
        startThreads(reader: reader)
        if let input, let writer {
            var offset = 0
            while offset < input.count {
                let written = input[offset...].withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }  // the child closed its input
                offset += written
            }
            close(writer)
        }
    }

    private static let spawnLock = Mutex(())

    /// A pipe whose two ends are closed on exec.
    private static func closeOnExecPipe() throws -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SpawnError("a pipe", errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fds
    }

    /// Starts the process; returns its pid, the read end of its output and the write end of its input.
    private static func spawn(_ executable: String, _ arguments: [String], withInput: Bool) throws
        -> (pid_t, reader: Int32, writer: Int32?)
    {
        let outputPipe = try closeOnExecPipe()
        var inputPipe: [Int32] = [-1, -1]
        if withInput {
            do { inputPipe = try closeOnExecPipe() } catch {
                close(outputPipe[0])
                close(outputPipe[1])
                throw error
            }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if withInput {
            posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        close(outputPipe[1])
        if withInput { close(inputPipe[0]) }
        guard result == 0 else {
            close(outputPipe[0])
            if withInput { close(inputPipe[1]) }
            throw SpawnError(executable, result)
        }
        return (pid, outputPipe[0], withInput ? inputPipe[1] : nil)
    }

    /// A thread reads the output to its end; another reaps the process.
    private func startThreads(reader: Int32) {
        finished.enter()
        finished.enter()
        let pid = self.pid
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if count > 0 {
                    state.withLock { $0.output += buffer[0..<count] }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(reader)
            finished.leave()
        }
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            state.withLock { $0.status = signal == 0 ? (status >> 8) & 0xff : signal }
            finished.leave()
        }
    }

    /// Everything the process wrote so far (standard output and error, interleaved).
    public var output: String { state.withLock { String(decoding: $0.output, as: UTF8.self) } }

    public var isRunning: Bool { state.withLock { $0.status == nil } }

    /// The exit code (or the signal number) once it has exited.
    public var status: Int32? { state.withLock { $0.status } }

    public func signal(_ signal: Int32) {
        if isRunning { _ = kill(pid, signal) }
    }

    /// Blocks until the process exited and its output was read to the end; returns its status.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        finished.wait()
        return status ?? -1
    }

    /// Suspends until the process exited and its output was read to the end; returns its status.
    @discardableResult
    public func exited() async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            finished.notify(queue: .global()) { continuation.resume() }
        }
        return status ?? -1
    }

    /// Runs a command to its end and returns its status and output, without blocking the caller's thread.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) async throws
        -> (status: Int32, output: String)
    {
        let child = try ChildProcess(executable, arguments, input: input)
        let status = await child.exited()
        return (status, child.output)
    }
}

/// A process could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    public let description: String

    public init(_ executable: String, _ code: Int32) {
        description = "cannot start \(executable): \(String(cString: strerror(code)))"
    }
}
