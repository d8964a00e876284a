import Foundation
import Gossip
import Testing
import GossipCore

@Suite("Key files, trust lists, cluster keys and join addresses")
struct KeyFilesTests {
    func directory() -> String {
        let path = NSTemporaryDirectory() + "/chorus-keys-\(UUID().uuidString)"
        return path
    }

    @Test("a key pair is written 0600, read back, never overwritten; the generation only grows")
    func keyPairAndGeneration() throws {
        let dir = directory()
        let pair = try KeyFiles.keyPair(inDataDirectory: dir)
        #expect(try KeyFiles.keyPair(inDataDirectory: dir).publicKey == pair.publicKey, "reused on the next start")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/node.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: KeyFileError.exists(path: dir + "/node.key")) { try KeyFiles.writeNewKeyPair(in: dir) }
        let first = try KeyFiles.nextGeneration(inDataDirectory: dir)
        let second = try KeyFiles.nextGeneration(inDataDirectory: dir)
        #expect(second > first)
        #expect(first >= UInt64(Date().timeIntervalSince1970) - 5, "at least the Unix time")
        for broken in [UInt64.max, UInt64.max / 2, UInt64(Date().timeIntervalSince1970) + 100_000] {
            try KeyFiles.storeGeneration(broken, inDataDirectory: dir)
            #expect(throws: KeyFileError.self, "a generation of \(broken) is refused, not incremented") {
                try KeyFiles.nextGeneration(inDataDirectory: dir)
            }
        }
        chmod(dir + "/node.key", 0o644)
        #expect(throws: KeyFileError.self) { try KeyFiles.readKeyPair(dir + "/node.key") }
    }

    @Test("trust lists and cluster key files: comments, names, and clear errors")
    func trustAndClusterKeys() throws {
        let a = SigningKeyPair().publicKey
        let b = SigningKeyPair().publicKey
        let keys = try KeyFiles.trustedKeys(fileContents: "# the cluster\n\(a.hex) node-a\n\n\(b.hex)\n")
        #expect(keys == [a, b])
        #expect(throws: KeyFileError.invalid(line: 2, reason: "expected a public key of 64 hex digits")) {
            try KeyFiles.trustedKeys(fileContents: "\(a.hex)\nnot-a-key\n")
        }
        let primary = SymmetricKey()
        let old = SymmetricKey()
        let ring = try ClusterKeyRing(fileContents: "\(Hex.encode(primary.bytes))\n# rotating out\n\(Hex.encode(old.bytes))\n")
        let sealedByOld = ClusterKeyRing(primary: old).seal([1, 2, 3])
        #expect(try ring.open(sealedByOld) == [1, 2, 3], "an accepted key still opens")
        #expect(try ClusterKeyRing(primary: primary).open(ring.seal([4])) == [4], "the first key seals")
        #expect(throws: ClusterKeyRing.Refusal.unsealed) { try ring.open([1, 2, 3]) }
        #expect(throws: ClusterKeyRing.Refusal.wrongClusterKey) { try ring.open(ClusterKeyRing(primary: SymmetricKey()).seal([1])) }
        #expect(throws: KeyFileError.self) { try ClusterKeyRing(fileContents: "# nothing\n") }
    }

    @Test("join addresses: host:port, [v6]:port, and names that resolve to their addresses")
    func joinAddresses() {
        #expect(AddressResolution.split("10.0.0.1:7946")! == ("10.0.0.1", 7946))
        #expect(AddressResolution.split("[::1]:7946")! == ("::1", 7946))
        #expect(AddressResolution.split("seeds.chorus.svc:7946")! == ("seeds.chorus.svc", 7946))
        #expect(AddressResolution.split("nonsense") == nil)
        #expect(AddressResolution.split("host:0") == nil)
        #expect(AddressResolution.split("[::1:7946") == nil)
        #expect(AddressResolution.split("[::1]7946") == nil)
        #expect(NodeAddress.isIPLiteral("127.0.0.1") && NodeAddress.isIPLiteral("::1"))
        #expect(!NodeAddress.isIPLiteral("localhost"))
        #expect(AddressResolution.addresses(of: "localhost").contains("127.0.0.1"))
        #expect(AddressResolution.addresses(of: "10.1.2.3") == ["10.1.2.3"])
    }
}
