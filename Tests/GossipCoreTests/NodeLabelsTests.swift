import GossipCore
import Testing

/// Node labels: the rules, the extension's bytes, and hostile extension values.
@Suite("NodeLabels: --label KEY=VALUE, signed as extension 4")
struct NodeLabelsTests {
    static let key = SigningKeyPair(seed: [UInt8](repeating: 7, count: 32))!

    static func projection(_ extensions: [StatusProjection.Extension]) -> StatusProjection {
        StatusProjection(
            publicKey: key.publicKey, generation: 1, version: 1, issuedAtMillis: 0, nodeID: "n0", status: .healthy, message: "",
            uptimeSeconds: 0, softwareVersion: "t", checks: [], extensions: extensions)
    }

    @Test("parsed from KEY=VALUE, sorted by key, signed and read back from the status")
    func roundTrip() throws {
        let labels = try NodeLabels(parsing: ["zone=eu-1", "rack=r7", "role=db=primary", "empty="])
        #expect(labels.pairs.map(\.key) == ["empty", "rack", "role", "zone"])
        #expect(labels["role"] == "db=primary" && labels["empty"] == "")
        let encoded = try #require(labels.encoded)
        #expect(encoded.type == StatusExtensionType.labels)
        #expect(Int(encoded.value[0]) == encoded.value.count - 1, "all meaningful")
        let signed = try SignedStatus.sign(Self.projection([encoded]), with: Self.key)
        #expect(NodeLabels(try StatusProjection.decode(payload: signed.payload)) == labels)
        // The example of docs/wire-format.md, byte for byte.
        let example = try #require(try NodeLabels(parsing: ["zone=eu-1", "rack=r7"]).encoded)
        #expect(example.value == [0x13, 0x02, 0x04] + Array("rack".utf8) + [0x02] + Array("r7".utf8) + [0x04] + Array("zone".utf8) + [0x04] + Array("eu-1".utf8))
        #expect(NodeLabels.none.encoded == nil && NodeLabels(Self.projection([])) == .none)
    }

    @Test("the rules, at and past their limits")
    func rules() throws {
        let ok = try NodeLabels(Dictionary(uniqueKeysWithValues: (0..<16).map { ("k\($0)", "v") }))
        #expect(ok.pairs.count == 16)
        _ = try NodeLabels(["a": String(repeating: "é", count: 32)])  // 64 bytes
        _ = try NodeLabels([String(repeating: "k", count: 32): ""])
        for bad in [
            ["zone"], ["=x"], ["Zone=x"], ["-zone=x"], ["zo ne=x"], ["zone=a", "zone=b"], ["zone=a\u{7}"], ["zone=\n"],
            [String(repeating: "k", count: 33) + "=x"], ["zone=" + String(repeating: "v", count: 65)],
            (0..<17).map { "k\($0)=v" },
            // Within each limit, but too large together for one extension value.
            (0..<4).map { "k\($0)" + String(repeating: "k", count: 28) + "=" + String(repeating: "v", count: 40) },
        ] {
            #expect(throws: NodeLabels.Invalid.self, "\(bad)") { try NodeLabels(parsing: bad) }
        }
    }

    @Test("a malformed labels extension shows no labels and never refuses the status")
    func hostile() throws {
        let good = try #require(try NodeLabels(["zone": "eu-1"]).encoded).value
        var unsorted = try #require(try NodeLabels(["a": "1", "b": "2"]).encoded).value
        unsorted.swapAt(3, 8)  // "a"/"b" key bytes swapped: b before a
        let values: [[UInt8]] = [
            [], [0], [1, 1], Array(good.dropLast()), good + [0], [UInt8(good.count)] + Array(good.dropFirst()),
            [4, 1, 0, 0, 0], [3, 1, 1, UInt8(ascii: "Z"), 0], [5, 1, 1, UInt8(ascii: "k"), 1, 0x07], unsorted,
            [254] + [UInt8](repeating: 255, count: 254),
        ]
        for value in values {
            let projection = Self.projection([.init(type: StatusExtensionType.labels, value: value)])
            #expect(NodeLabels(projection) == .none, "\(value)")
            #expect((try? SignedStatus.sign(projection, with: Self.key)) != nil)
        }
    }
}
