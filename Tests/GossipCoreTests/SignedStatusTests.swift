import Foundation
import Testing
import GossipCore

/// A projection with a few checks, signed by `keys`.
func sampleProjection(
    _ keys: SigningKeyPair, generation: UInt64 = 1, version: UInt64 = 1, status: StatusLevel = .degraded
) -> StatusProjection {
    StatusProjection(
        publicKey: keys.publicKey, generation: generation, version: version, issuedAtMillis: 1_764_000_000_000,
        nodeID: "node-7", status: status, message: "Non-critical checks failing: disk-space",
        uptimeSeconds: 86_400, softwareVersion: "0.1.0",
        checks: [
            .init(name: "memory-usage", healthy: true, critical: false, latencyMicros: 120, message: "Memory 2%"),
            .init(name: "disk-space", healthy: false, critical: false, latencyMicros: 950, message: "Disk 93%"),
            .init(name: "db", healthy: true, critical: true, latencyMicros: 15_000, message: "OK"),
        ],
        extensions: [.init(type: 2, value: [1, 2]), .init(type: 1, value: [])])
}

@Suite("Signed status projection")
struct SignedStatusTests {
    @Test("encode, decode and re-encode give the same bytes (one canonical form)")
    func roundTrip() throws {
        let keys = SigningKeyPair()
        let projection = sampleProjection(keys)
        let payload = try projection.encodePayload()
        let decoded = try StatusProjection.decode(payload: payload)
        #expect(decoded == projection)
        #expect(try decoded.encodePayload() == payload)
        #expect(decoded.checks.map(\.name) == ["db", "disk-space", "memory-usage"], "sorted by name")
        #expect(decoded.extensions.map(\.type) == [1, 2])
        #expect(Array(payload.prefix(16)) == Array("CHORUS-STATUS-v1".utf8), "domain tag first")
    }

    @Test("a signed status verifies; any flipped payload or signature bit does not")
    func signing() throws {
        let keys = SigningKeyPair()
        let signed = try SignedStatus.sign(sampleProjection(keys), with: keys)
        #expect(signed.isSignatureValid)
        for index in stride(from: 0, to: signed.payload.count, by: 7) {
            var payload = signed.payload
            payload[index] ^= 0x04
            if let altered = try? SignedStatus(payload: payload, signature: signed.signature) {
                #expect(!altered.isSignatureValid, "flipped payload byte \(index)")
            }
        }
        var signature = signed.signature
        signature[0] ^= 1
        #expect(!(try SignedStatus(payload: signed.payload, signature: signature)).isSignatureValid)
        #expect(throws: SignedStatus.SigningError.keyMismatch) {
            try SignedStatus.sign(sampleProjection(SigningKeyPair()), with: keys)
        }
    }

    @Test("long strings are cut on a character boundary; oversized statuses shed passing messages first")
    func limits() throws {
        let keys = SigningKeyPair()
        var projection = sampleProjection(keys)
        projection.message = String(repeating: "é", count: 150)  // 300 bytes
        let cut = try SignedStatus.sign(projection, with: keys).projection
        #expect(cut.message.utf8.count <= StatusProjection.maxMessageBytes)
        #expect(cut.message == String(repeating: "é", count: 100))

        let many = (0..<16).map {
            StatusProjection.Check(
                name: "check-\($0)-" + String(repeating: "x", count: 16), healthy: $0 % 4 != 0, critical: false,
                latencyMicros: 1, message: String(repeating: "m", count: 96))
        }
        let big = StatusProjection(
            publicKey: keys.publicKey, generation: 1, version: 1, issuedAtMillis: 0, nodeID: "n", status: .degraded,
            message: "m", uptimeSeconds: 0, softwareVersion: "v", checks: many)
        #expect(try StatusProjection(
            publicKey: big.publicKey, generation: 1, version: 1, issuedAtMillis: 0, nodeID: "n", status: .degraded,
            message: "m", uptimeSeconds: 0, softwareVersion: "v", checks: Array(many.prefix(4))
        ).encodePayload().count < StatusProjection.maxPayloadBytes, "small statuses keep every message")
        let signed = try SignedStatus.sign(big, with: keys)
        #expect(signed.payload.count <= StatusProjection.maxPayloadBytes)
        #expect(signed.projection.checks.filter(\.healthy).allSatisfy { $0.message.isEmpty })
        #expect(signed.projection.checks.filter { !$0.healthy }.allSatisfy { $0.message.utf8.count == 96 })
        #expect(signed.wireSize + 40 + 64 <= 1400, "fits a datagram with framing and sealing")

        // Names alone beyond the budget: a clear error, not a datagram that fragments.
        let huge = (0..<32).map {
            StatusProjection.Check(
                name: "check-\($0)-" + String(repeating: "x", count: 50), healthy: true, critical: false,
                latencyMicros: 1, message: "")
        }
        var tooBig = big
        tooBig.checks = huge
        #expect(throws: WireError.self) { try tooBig.encodePayload() }
        var tooMany = big
        tooMany.checks = (0..<33).map { .init(name: "c\(1000 + $0)", healthy: true, critical: false, latencyMicros: 0, message: "") }
        #expect(throws: WireError.tooLarge(field: "checks", size: 33, limit: 32)) { try tooMany.encodePayload() }
    }

    @Test("every truncation and random garbage fail with an error, never a crash")
    func hostileBytes() throws {
        let keys = SigningKeyPair()
        let signed = try SignedStatus.sign(sampleProjection(keys), with: keys)
        var writer = WireWriter()
        signed.encode(into: &writer)
        let wire = writer.bytes
        for length in 0..<wire.count {
            var reader = WireReader(Array(wire.prefix(length)))
            #expect(throws: WireError.self) { try SignedStatus.decode(from: &reader) }
        }
        var full = WireReader(wire)
        #expect(try SignedStatus.decode(from: &full) == signed)
        var generator = SplitMix64(seed: 42)
        for _ in 0..<5_000 {
            let count = Int(generator.next() % 1_200)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? StatusProjection.decode(payload: bytes)
            var reader = WireReader(bytes)
            _ = try? SignedStatus.decode(from: &reader)
        }
        // Trailing bytes, a wrong tag and an unknown format version are refused.
        #expect(throws: WireError.trailingBytes(count: 1)) { try StatusProjection.decode(payload: signed.payload + [0]) }
        var wrongTag = signed.payload
        wrongTag[0] = UInt8(ascii: "X")
        #expect(throws: WireError.self) { try StatusProjection.decode(payload: wrongTag) }
        var future = signed.payload
        future[16] = 2
        #expect(throws: WireError.invalidValue(field: "format version", value: 2)) {
            try StatusProjection.decode(payload: future)
        }
    }

    @Test("meaningful changes: level, checks' health and criticality, failing messages; not figures")
    func meaningfulChanges() {
        let keys = SigningKeyPair()
        let base = sampleProjection(keys)
        var figures = base
        figures.version += 1
        figures.issuedAtMillis += 60_000
        figures.uptimeSeconds += 60
        figures.checks[0].latencyMicros *= 3
        figures.checks[2].message = "Memory 3%"  // a passing check's message
        #expect(!figures.differsMeaningfully(from: base))

        var level = base
        level.status = .healthy
        #expect(level.differsMeaningfully(from: base))
        var health = base
        health.checks[0].healthy.toggle()
        #expect(health.differsMeaningfully(from: base))
        var criticality = base
        criticality.checks[2].critical.toggle()
        #expect(criticality.differsMeaningfully(from: base))
        var failing = base
        failing.checks[1].message = "Disk 95%"  // disk-space is failing
        #expect(failing.differsMeaningfully(from: base))
        var removed = base
        removed.checks.removeLast()
        #expect(removed.differsMeaningfully(from: base))
        var extended = base
        extended.extensions[0].value = [9]
        #expect(extended.differsMeaningfully(from: base))
    }
}

