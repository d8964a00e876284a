import Testing
import GossipCore

@Suite("libsodium wrapper")
struct SodiumTests {
    @Test("a public key gives its 32 bytes back in order; its prefix, order and equality are those of the bytes")
    func publicKeyWords() {
        var generator = SplitMix64(seed: 3)
        let keys = (0..<200).map { _ in
            PublicKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
        }
        for key in keys {
            #expect(PublicKey(bytes: key.bytes) == key && key.bytes.count == 32)
            #expect(key.prefix == key.bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
            #expect(PublicKey(hex: key.hex) == key)
        }
        for (a, b) in zip(keys, keys.dropFirst()) {
            #expect((a < b) == a.bytes.lexicographicallyPrecedes(b.bytes))
        }
        var close = keys[0].bytes
        close[31] ^= 1
        #expect(PublicKey(bytes: close)! != keys[0], "keys that differ in their last byte differ")
        #expect(PublicKey(bytes: close)!.hashValue == keys[0].hashValue, "the hash reads the first 8 bytes")
        #expect(PublicKey(bytes: [UInt8](repeating: 0, count: 31)) == nil)
    }

    @Test("Ed25519: a signature verifies, and fails for another message, key or a flipped bit")
    func signatures() throws {
        let keys = SigningKeyPair()
        let message = Array("hello cluster".utf8)
        let signature = keys.sign(message)
        #expect(signature.count == 64)
        #expect(keys.publicKey.verify(signature: signature, of: message))
        #expect(!keys.publicKey.verify(signature: signature, of: Array("hello cluster!".utf8)))
        #expect(!SigningKeyPair().publicKey.verify(signature: signature, of: message))
        var flipped = signature
        flipped[10] ^= 0x01
        #expect(!keys.publicKey.verify(signature: flipped, of: message))
        #expect(!keys.publicKey.verify(signature: Array(signature.prefix(63)), of: message))
    }

    @Test("a seed gives the same key pair every time, and round-trips")
    func seeds() throws {
        let seed = [UInt8](repeating: 7, count: 32)
        let a = try #require(SigningKeyPair(seed: seed))
        let b = try #require(SigningKeyPair(seed: seed))
        #expect(a.publicKey == b.publicKey)
        #expect(a.seed == seed)
        #expect(a.sign([1, 2, 3]) == b.sign([1, 2, 3]), "Ed25519 signatures are deterministic")
        #expect(SigningKeyPair(seed: [1, 2, 3]) == nil)
    }

    @Test("XChaCha20-Poly1305: seal and open; another key, other data or a flipped bit fail")
    func aead() throws {
        let key = SymmetricKey()
        let plaintext = Array("ping 42".utf8)
        let sealed = key.seal(plaintext, additionalData: [9])
        #expect(sealed.count == plaintext.count + SymmetricKey.overhead)
        #expect(key.open(sealed, additionalData: [9]) == plaintext)
        #expect(key.open(sealed, additionalData: [8]) == nil)
        #expect(SymmetricKey().open(sealed, additionalData: [9]) == nil)
        var flipped = sealed
        flipped[flipped.count - 1] ^= 0x80
        #expect(key.open(flipped, additionalData: [9]) == nil)
        #expect(key.open(Array(sealed.prefix(10))) == nil)
        #expect(key.seal(plaintext) != key.seal(plaintext), "random nonces")
        let copy = try #require(SymmetricKey(bytes: key.bytes))
        #expect(copy.open(sealed, additionalData: [9]) == plaintext)
    }

    @Test("hex and random bytes")
    func hexAndRandom() {
        #expect(Hex.encode([0, 1, 0xab, 0xff]) == "0001abff")
        #expect(Hex.decode("0001ABff") == [0, 1, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Sodium.randomBytes(32).count == 32)
        #expect(Sodium.randomBytes(32) != Sodium.randomBytes(32))
        #expect(Sodium.randomBytes(0).isEmpty)
        let key = SigningKeyPair().publicKey
        #expect(PublicKey(hex: key.hex) == key)
        #expect(key.fingerprint.count == 16)
    }
}
