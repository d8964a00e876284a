import Foundation
import Testing

/// The repository's root directory (this file is Tests/TestSupport/PyNaCl.swift).
public func repositoryRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A Python interpreter that can import PyNaCl, or `nil`.
public func pythonWithNaCl() -> String? {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3", "python3"] {
        guard let child = try? ChildProcess("/usr/bin/env", [candidate, "-c", "import nacl.signing"]) else { continue }
        if child.waitUntilExit() == 0 { return candidate }
    }
    return nil
}

/// Runs scripts/verify_status.py on `document`; returns its exit status and output.
public func verifyWithPyNaCl(_ document: [String: String]) throws -> (status: Int32, output: String) {
    let python = try #require(pythonWithNaCl(), "no python3 with PyNaCl: apt-get install python3-nacl (make test does)")
    let root = repositoryRoot()
    let child = try ChildProcess(
        "/usr/bin/env", [python, root.appendingPathComponent("scripts/verify_status.py").path],
        input: Array(try JSONEncoder().encode(document)))
    let status = child.waitUntilExit()
    return (status, child.output)
}

