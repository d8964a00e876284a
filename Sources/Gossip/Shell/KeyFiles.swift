import GossipCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key, trust or state file that cannot be used.
public enum KeyFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A line of the file is not what was expected (line 0: the file as a whole).
    case invalid(line: Int, reason: String)
    /// The file could not be read or written.
    case io(path: String, reason: String)
    /// The file exists and is never overwritten.
    case exists(path: String)

    public var description: String {
        switch self {
        case .invalid(let line, let reason): line > 0 ? "line \(line): \(reason)" : reason
        case .io(let path, let reason): "\(path): \(reason)"
        case .exists(let path): "\(path) already exists; it is never overwritten"
        }
    }
}

/// Reading and writing the small text files a node keeps: its key pair, its trust list, its
/// cluster keys and its generation. POSIX calls only (no Foundation file APIs).
public enum KeyFiles {
    /// File name of the private key (the Ed25519 seed, 64 hex digits) in a key directory.
    public static let privateKeyName = "node.key"
    /// File name of the public key (64 hex digits) next to it.
    public static let publicKeyName = "node.pub"
    /// File name of the persisted generation in a data directory.
    public static let generationName = "generation"

    /// Non-empty lines that are not comments, with their 1-based numbers, trimmed.
    public static func meaningfulLines(_ text: String) -> [(Int, String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, raw in
            let line = raw.trimmingWhitespace()
            return line.isEmpty || line.hasPrefix("#") ? nil : (index + 1, line)
        }
    }

    /// The whole file as UTF-8 text (at most 1 MiB).
    public static func read(_ path: String) throws(KeyFileError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: errnoText()) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: errnoText())
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
            guard bytes.count <= 1 << 20 else { throw .io(path: path, reason: "larger than 1 MiB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Creates `path` with `contents` and `mode`; fails if it exists. Synced to disk.
    public static func createNew(_ path: String, contents: String, mode: mode_t) throws(KeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw .exists(path: path) }
            throw .io(path: path, reason: errnoText())
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        try writeAll(fd, Array(contents.utf8), path: path)
    }

    /// Replaces `path` atomically (write a temporary file, sync, rename).
    public static func replace(_ path: String, contents: String, mode: mode_t = 0o644) throws(KeyFileError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        try createNew(temporary, contents: contents, mode: mode)
        guard rename(temporary, path) == 0 else { throw .io(path: path, reason: errnoText()) }
    }

    /// Creates the directory (and its parents) if missing, mode 0700.
    public static func ensureDirectory(_ path: String) throws(KeyFileError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST { throw .io(path: partial, reason: errnoText()) }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .io(path: path, reason: "not a directory")
        }
    }

    /// Whether a file exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    // MARK: Node keys

    /// Reads a private key file (64 hex digits: the Ed25519 seed). Refuses a file that others
    /// can read, as ssh does.
    public static func readKeyPair(_ path: String) throws(KeyFileError) -> SigningKeyPair {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw .io(path: path, reason: "readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        let lines = meaningfulLines(try read(path))
        guard lines.count == 1, let seed = Hex.decode(lines[0].1), let pair = SigningKeyPair(seed: seed) else {
            throw .io(path: path, reason: "expected one line of 64 hex digits (an Ed25519 seed)")
        }
        return pair
    }

    /// Writes a new key pair into `directory`: `node.key` (mode 0600) and `node.pub`. Never
    /// overwrites an existing key.
    @discardableResult
    public static func writeNewKeyPair(in directory: String) throws(KeyFileError) -> SigningKeyPair {
        try ensureDirectory(directory)
        let pair = SigningKeyPair()
        let privatePath = directory + "/" + privateKeyName
        try createNew(privatePath, contents: Hex.encode(pair.seed) + "\n", mode: 0o600)
        let publicPath = directory + "/" + publicKeyName
        unlink(publicPath)
        try createNew(publicPath, contents: pair.publicKey.hex + "\n", mode: 0o644)
        return pair
    }

    /// The key pair in `directory`, created on first use.
    public static func keyPair(inDataDirectory directory: String) throws(KeyFileError) -> SigningKeyPair {
        let path = directory + "/" + privateKeyName
        if exists(path) { return try readKeyPair(path) }
        return try writeNewKeyPair(in: directory)
    }

    // MARK: Trust

    /// Reads a trust list: one public key per line (64 hex digits), optionally followed by
    /// whitespace and a name; `#` comments and blank lines are ignored.
    public static func trustedKeys(fileContents: String) throws(KeyFileError) -> Set<PublicKey> {
        var keys: Set<PublicKey> = []
        for (number, line) in meaningfulLines(fileContents) {
            let field = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) ?? ""
            guard let key = PublicKey(hex: field) else {
                throw .invalid(line: number, reason: "expected a public key of 64 hex digits")
            }
            keys.insert(key)
        }
        return keys
    }

    // MARK: Generation

    /// The generation for this start: larger than the one stored in `directory` and than the
    /// current Unix time in seconds (so a node whose data directory was lost still supersedes
    /// its old self), persisted before it is used.
    public static func nextGeneration(inDataDirectory directory: String) throws(KeyFileError) -> UInt64 {
        let path = directory + "/" + generationName
        var stored: UInt64 = 0
        if exists(path) {
            let text = try read(path).trimmingWhitespace()
            guard let value = UInt64(text) else { throw .io(path: path, reason: "expected a decimal generation") }
            stored = value
        }
        let now = UInt64(max(0, time(nil)))
        // A stored record is checked like a datagram: a generation more than a day ahead of the
        // clock (or one that cannot grow) is a broken file, and peers would refuse it anyway.
        guard stored < UInt64.max, stored <= now + 86_400 else {
            throw .io(path: path, reason: "generation \(stored) is far ahead of the clock (\(now)); remove the file to start afresh")
        }
        let next = max(stored + 1, now)
        try storeGeneration(next, inDataDirectory: directory)
        return next
    }

    /// Persists `generation` (a node that rejoined after being declared left bumps it).
    public static func storeGeneration(_ generation: UInt64, inDataDirectory directory: String) throws(KeyFileError) {
        try replace(directory + "/" + generationName, contents: "\(generation)\n")
    }

    // MARK: Helpers

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(KeyFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: errnoText())
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw .io(path: path, reason: errnoText()) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and carriage returns.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
