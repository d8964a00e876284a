import TestSupport
import Foundation
import Testing
import GossipCore

@Suite("Independent verification with PyNaCl")
struct PyNaClTests {
    @Test("PyNaCl verifies a signed status and decodes it from the documented layout")
    func verifies() throws {
        let keys = SigningKeyPair()
        var projection = sampleProjection(keys, generation: 4, version: 17)
        projection.extensions.append(try #require(try NodeLabels(parsing: ["zone=eu-1", "rack=r7", "role=ä"]).encoded))
        let signed = try SignedStatus.sign(projection, with: keys)
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
        #expect(fields?["labels"] as? [String: String] == ["rack": "r7", "role": "ä", "zone": "eu-1"], "extension 4 by the documented layout")
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

    @Test("PyNaCl checks every envelope form and the announcement and accusations inside, from the documented layout", arguments: [0, 1, 2])
    func envelopes(form: Int) throws {
        let python = try #require(pythonWithNaCl(), "no python3 with PyNaCl: apt-get install python3-nacl (make test does)")
        let sender = SigningKeyPair()
        let recipient = SigningKeyPair()
        var authenticator = DatagramAuthenticator(keyPair: sender, trust: form == 0 ? .keys([recipient.publicKey]) : .any)
        let announcement = Announcement.sign(sender, life: Life(generation: 1_800_000_000, incarnation: 3), address: NodeAddress(host: "10.1.2.3", port: 7946))
        // A suspicion and a death certificate of two claims, about a third member's life.
        let subject = SigningKeyPair().publicKey
        let witness = SigningKeyPair()
        let subjectLife = Life(generation: 1_799_999_000, incarnation: .max)
        let suspicion = Accusation.sign(sender, .suspect, subject: subject, life: subjectLife, issuedAt: 1_800_000_000_123)
        let death = DeathCertificate(
            subject: subject, life: subjectLife,
            accusations: [
                Accusation.sign(sender, .dead, subject: subject, life: subjectLife, issuedAt: 1_800_000_000_456),
                Accusation.sign(witness, .suspect, subject: subject, life: subjectLife, issuedAt: 1_800_000_000_123),
            ])!
        let datagram = Datagram.encode([.alive(announcement), .summary(hash: 9, count: 2), .suspect(suspicion), .dead(death)])
        // 0: tagged (trust list), 1: tagged with the whole key (open mode), 2: signed (recipient unknown)
        let envelope = authenticator.seal(datagram, to: form == 2 ? nil : recipient.publicKey, wallMicros: 1_800_000_000_000_000)!
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        func check(_ bytes: [UInt8]) throws -> (Int32, [String: Any]?) {
            let document = [
                "recipient_seed": Hex.encode(recipient.seed), "sender_public_key": sender.publicKey.hex,
                "envelope": Data(bytes).base64EncodedString(),
            ]
            let child = try ChildProcess(
                "/usr/bin/env", [python, root.appendingPathComponent("scripts/verify_envelope.py").path],
                input: Array(try JSONEncoder().encode(document)))
            let status = child.waitUntilExit()
            return (status, try? JSONSerialization.jsonObject(with: Data(child.output.utf8)) as? [String: Any])
        }
        let (status, fields) = try check(envelope)
        #expect(status == 0, "\(String(describing: fields))")
        #expect(fields?["form"] as? String == ["tagged", "tagged with key", "signed"][form])
        #expect(fields?["counter"] as? Int == 1_800_000_000_000_000)
        #expect(fields?["datagram"] as? String == Data(datagram).base64EncodedString())
        let member = fields?["announcement"] as? [String: Any]
        #expect(member?["valid"] as? Bool == true)
        #expect(member?["incarnation"] as? Int == 3)
        let claims = fields?["accusations"] as? [[String: Any]] ?? []
        #expect(claims.map { $0["valid"] as? Bool } == [true, true, true])
        #expect(claims.map { $0["verdict"] as? String } == ["suspect", "dead", "suspect"])
        #expect(claims.map { $0["issued_at_ms"] as? Int } == [1_800_000_000_123, 1_800_000_000_456, 1_800_000_000_123])
        #expect(claims.allSatisfy { $0["subject"] as? String == subject.hex })
        #expect(claims.map { $0["accuser"] as? String } == [sender.publicKey.hex, sender.publicKey.hex, witness.publicKey.hex])
        #expect(claims.allSatisfy { $0["generation"] as? Int == 1_799_999_000 && ($0["incarnation"] as? NSNumber)?.uint64Value == .max })
        // A claim moved to another life no longer verifies.
        var moved = Datagram.encode([.suspect(suspicion)])
        moved[1 + 3 + 32 + 7] ^= 1
        let (movedStatus, movedFields) = try check(authenticator.seal(moved, to: form == 2 ? nil : recipient.publicKey, wallMicros: 1_800_000_000_000_001)!)
        #expect(movedStatus == 1)
        #expect((movedFields?["accusations"] as? [[String: Any]])?.first?["valid"] as? Bool == false)
        var altered = envelope
        altered[altered.count / 2] ^= 1
        #expect(try check(altered).0 == 1, "an altered envelope fails")
    }
}
