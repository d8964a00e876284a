import ChildProcesses
import Foundation
import Gossip
import Testing

/// A Python interpreter that can import PyNaCl, or `nil`.
func pythonWithNaCl() -> String? {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3", "python3"] {
        guard let child = try? ChildProcess("/usr/bin/env", [candidate, "-c", "import nacl.signing"]) else { continue }
        if child.waitUntilExit() == 0 { return candidate }
    }
    return nil
}

/// Runs scripts/verify_status.py on `document`; returns its exit status and output.
func verifyWithPyNaCl(_ document: [String: String]) throws -> (status: Int32, output: String) {
    let python = try #require(pythonWithNaCl(), "no python3 with PyNaCl: apt-get install python3-nacl (make test does)")
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let child = try ChildProcess(
        "/usr/bin/env", [python, root.appendingPathComponent("scripts/verify_status.py").path],
        input: Array(try JSONEncoder().encode(document)))
    let status = child.waitUntilExit()
    return (status, child.output)
}

@Suite("Independent verification with PyNaCl")
struct PyNaClTests {
    @Test("PyNaCl verifies a signed status and decodes it from the documented layout")
    func verifies() throws {
        let keys = SigningKeyPair()
        let signed = try SignedStatus.sign(sampleProjection(keys, generation: 4, version: 17), with: keys)
        let document = [
            "public_key": keys.publicKey.hex,
            "payload": Data(signed.payload).base64EncodedString(),
            "signature": Hex.encode(signed.signature),
        ]
        let (status, output) = try verifyWithPyNaCl(document)
        #expect(status == 0, "\(output)")
        let fields = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        #expect(fields?["valid"] as? Bool == true)
        #expect(fields?["generation"] as? Int == 4)
        #expect(fields?["version"] as? Int == 17)
        #expect(fields?["node_id"] as? String == "node-7")
        #expect(fields?["status"] as? String == "degraded")
        #expect(fields?["uptime_s"] as? Int == 86_400)
        let checks = fields?["checks"] as? [[String: Any]]
        #expect(checks?.map { $0["name"] as? String } == ["db", "disk-space", "memory-usage"])
        #expect(checks?.first?["critical"] as? Bool == true)
        #expect(checks?[1]["healthy"] as? Bool == false)
    }

    @Test("PyNaCl rejects a tampered status")
    func rejectsTampered() throws {
        let keys = SigningKeyPair()
        let signed = try SignedStatus.sign(sampleProjection(keys), with: keys)
        var payload = signed.payload
        payload[payload.count / 2] ^= 1
        let (status, output) = try verifyWithPyNaCl([
            "public_key": keys.publicKey.hex, "payload": Data(payload).base64EncodedString(),
            "signature": Hex.encode(signed.signature),
        ])
        #expect(status == 1)
        #expect(output.contains("bad signature"))
    }
}
