import CSodium
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The libsodium primitives the gossip layer uses: Ed25519 signatures, XChaCha20-Poly1305
/// authenticated encryption and secure random bytes. Secret key bytes live in memory that
/// libsodium wipes when the key is released.
public enum Sodium {
    /// `sodium_init()` runs once, before any other call; it is thread-safe and idempotent.
    private static let initialized: Bool = sodium_init() >= 0

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }

    /// `count` bytes from libsodium's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: count)
        if count > 0 { bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return bytes
    }

    /// Compares two byte strings in time independent of their contents.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in sodium_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}

/// Secret bytes in memory that is wiped (`sodium_memzero`) when the owner is released.
final class SecretBytes: @unchecked Sendable {
    // Safe to share: the buffer is written only in `init` and read-only afterwards; `deinit`
    // runs when no other reference exists.
    let pointer: UnsafeMutableRawBufferPointer

    init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        fill(pointer)
    }

    var bytes: [UInt8] { Array(pointer) }

    deinit {
        sodium_memzero(pointer.baseAddress, pointer.count)
        pointer.deallocate()
    }
}

/// An Ed25519 public key: a node's identity.
///
/// Held as four big-endian words rather than an array: keys are the protocol core's dictionary
/// keys and are compared on every datagram, and inline words hash, compare and copy without a
/// heap buffer or reference counting (the 150-node election simulation ran 1.3× faster; see
/// BENCHMARKS.md). ``bytes`` gives the 32 bytes back in order.
public struct PublicKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Length in bytes (32).
    public static let byteCount = Int(crypto_sign_PUBLICKEYBYTES)

    /// Bytes 0–7, 8–15, 16–23 and 24–31, each read big-endian, so that comparing the words in
    /// order compares the bytes lexicographically.
    let words: (UInt64, UInt64, UInt64, UInt64)

    /// Wraps 32 key bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        func word(_ i: Int) -> UInt64 { bytes[i * 8..<i * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        words = (word(0), word(1), word(2), word(3))
    }

    /// Parses 64 hex digits; `nil` when malformed.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// The 32 key bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// The first 8 bytes of the key as a big-endian integer: a compact reference in pings and
    /// suspicions, and the hash of the key.
    public var prefix: UInt64 { words.0 }

    /// Lower-case hex of the 32 bytes.
    public var hex: String { Hex.encode(bytes) }

    /// A short fingerprint for people: the first 8 bytes of the key in hex.
    public var fingerprint: String { Hex.encode(Array(bytes.prefix(8))) }

    public var description: String { fingerprint }

    public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.words < rhs.words }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.words == rhs.words }

    /// Hashes the first 8 bytes only: keys are uniformly random, so that is as good as all 32,
    /// and it is on every dictionary lookup of the protocol core.
    public func hash(into hasher: inout Hasher) { hasher.combine(words.0) }

    /// Whether `signature` is a valid Ed25519 signature of `message` by this key.
    public func verify(signature: [UInt8], of message: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        guard signature.count == Int(crypto_sign_BYTES) else { return false }
        return signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                withUnsafeKeyBytes { key in
                    crypto_sign_verify_detached(
                        sig.baseAddress!, msg.baseAddress, UInt64(msg.count), key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
                }
            }
        }
    }

    /// Calls `body` with the 32 key bytes on the stack: no array allocated (verifying and
    /// encoding a status measured one malloc less each, BENCHMARKS.md).
    func withUnsafeKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let big = (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)
        return try Swift.withUnsafeBytes(of: big, body)
    }

    /// Writes the 32 key bytes.
    func write(into writer: inout WireWriter) {
        withUnsafeKeyBytes { writer.raw($0) }
    }
}

/// An Ed25519 key pair. The secret key is wiped from memory when the last copy is released.
public struct SigningKeyPair: Sendable {
    /// Length of a detached signature in bytes (64).
    public static let signatureByteCount = Int(crypto_sign_BYTES)
    /// Length of a seed in bytes (32).
    public static let seedByteCount = Int(crypto_sign_SEEDBYTES)

    /// The public half.
    public let publicKey: PublicKey
    private let secret: SecretBytes

    /// A fresh random key pair.
    public init() {
        Sodium.ensureInitialized()
        var publicBytes = [UInt8](repeating: 0, count: PublicKey.byteCount)
        secret = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { secretKey in
            _ = publicBytes.withUnsafeMutableBufferPointer { pk in
                crypto_sign_keypair(pk.baseAddress!, secretKey.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        publicKey = PublicKey(bytes: publicBytes)!
    }

    /// The key pair derived from a 32-byte seed (deterministic: for key files and the simulator).
    public init?(seed: [UInt8]) {
        guard seed.count == Self.seedByteCount else { return nil }
        Sodium.ensureInitialized()
        var publicBytes = [UInt8](repeating: 0, count: PublicKey.byteCount)
        secret = SecretBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { secretKey in
            _ = publicBytes.withUnsafeMutableBufferPointer { pk in
                seed.withUnsafeBufferPointer { seedBytes in
                    crypto_sign_seed_keypair(
                        pk.baseAddress!, secretKey.baseAddress!.assumingMemoryBound(to: UInt8.self), seedBytes.baseAddress!)
                }
            }
        }
        publicKey = PublicKey(bytes: publicBytes)!
    }

    /// The 32-byte seed this key pair derives from (what a key file stores). Handle with care.
    public var seed: [UInt8] {
        // libsodium's secret key is seed || public key.
        Array(secret.pointer.prefix(Self.seedByteCount))
    }

    /// A detached Ed25519 signature (64 bytes) of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Self.signatureByteCount)
        _ = signature.withUnsafeMutableBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                crypto_sign_detached(
                    sig.baseAddress!, nil, msg.baseAddress, UInt64(msg.count),
                    secret.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return signature
    }
}

/// A 32-byte symmetric key for XChaCha20-Poly1305 (the optional cluster key), wiped on release.
public struct SymmetricKey: Sendable {
    /// Key length in bytes (32).
    public static let byteCount = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    /// Nonce length in bytes (24), sent before every ciphertext.
    public static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    /// Authentication tag length in bytes (16), appended to every ciphertext.
    public static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// Bytes sealing adds to a plaintext: nonce and tag (40).
    public static let overhead = nonceByteCount + tagByteCount

    private let secret: SecretBytes

    /// A fresh random key.
    public init() {
        Sodium.ensureInitialized()
        secret = SecretBytes(count: Self.byteCount) { crypto_aead_xchacha20poly1305_ietf_keygen($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
    }

    /// Wraps 32 key bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        Sodium.ensureInitialized()
        secret = SecretBytes(count: Self.byteCount) { $0.copyBytes(from: bytes) }
    }

    /// The key bytes (what a key file stores). Handle with care.
    public var bytes: [UInt8] { secret.bytes }

    /// `nonce || ciphertext || tag` of `plaintext`, authenticating `additionalData` too.
    /// The 24-byte nonce is random, so a key may seal any number of messages.
    public func seal(_ plaintext: [UInt8], additionalData: [UInt8] = []) -> [UInt8] {
        let nonce = Sodium.randomBytes(Self.nonceByteCount)
        var output = [UInt8](repeating: 0, count: Self.nonceByteCount + plaintext.count + Self.tagByteCount)
        output.replaceSubrange(0..<Self.nonceByteCount, with: nonce)
        var written: UInt64 = 0
        output.withUnsafeMutableBufferPointer { out in
            plaintext.withUnsafeBufferPointer { msg in
                additionalData.withUnsafeBufferPointer { ad in
                    nonce.withUnsafeBufferPointer { npub in
                        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                            out.baseAddress! + Self.nonceByteCount, &written, msg.baseAddress, UInt64(msg.count),
                            ad.baseAddress, UInt64(ad.count), nil, npub.baseAddress!,
                            secret.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    }
                }
            }
        }
        return output
    }

    /// The plaintext of `sealed` (as made by ``seal(_:additionalData:)``), or `nil` when it is
    /// too short, was sealed with another key or additional data, or was altered.
    public func open(_ sealed: [UInt8], additionalData: [UInt8] = []) -> [UInt8]? {
        guard sealed.count >= Self.overhead else { return nil }
        var output = [UInt8](repeating: 0, count: sealed.count - Self.overhead)
        var written: UInt64 = 0
        let result = output.withUnsafeMutableBufferPointer { out in
            sealed.withUnsafeBufferPointer { input in
                additionalData.withUnsafeBufferPointer { ad in
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        out.baseAddress, &written, nil, input.baseAddress! + Self.nonceByteCount,
                        UInt64(input.count - Self.nonceByteCount), ad.baseAddress, UInt64(ad.count),
                        input.baseAddress!, secret.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard result == 0 else { return nil }
        return Array(output.prefix(Int(written)))
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` as lower-case hex.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of a hex string (either case); `nil` when its length is odd or a digit is not hex.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

// MARK: Keys between pairs of members

/// The two keys one member uses with one other: `sending` authenticates what it sends to that
/// peer, `receiving` what it receives from it. Each member derives them on its own from the two
/// identity keys, and the peer's `sending` key is this member's `receiving` key.
///
/// Derivation (libsodium): both Ed25519 keys are converted to X25519
/// (`crypto_sign_ed25519_pk_to_curve25519`, `crypto_sign_ed25519_sk_to_curve25519`), then
/// `crypto_kx_client_session_keys` / `crypto_kx_server_session_keys`, where the member whose
/// Ed25519 public key is smaller in byte order is the client. So `rx || tx = BLAKE2b-512(X25519(a, B)
/// || client_pk || server_pk)`, with the client's `tx` the server's `rx`.
public struct PairKeys: Sendable {
    /// Key length in bytes (32).
    public static let byteCount = Int(crypto_kx_SESSIONKEYBYTES)
    let sending: SecretBytes
    let receiving: SecretBytes
}

extension SigningKeyPair {
    /// The keys for datagrams between this node and `peer` (see ``PairKeys``); `nil` when `peer`
    /// is this node's own key or not a valid Ed25519 point.
    public func pairKeys(with peer: PublicKey) -> PairKeys? {
        guard peer != publicKey else { return nil }
        var ownX = [UInt8](repeating: 0, count: Int(crypto_kx_PUBLICKEYBYTES))
        var peerX = [UInt8](repeating: 0, count: Int(crypto_kx_PUBLICKEYBYTES))
        guard crypto_sign_ed25519_pk_to_curve25519(&peerX, peer.bytes) == 0,
            crypto_sign_ed25519_pk_to_curve25519(&ownX, publicKey.bytes) == 0
        else { return nil }
        let ownSecret = SecretBytes(count: Int(crypto_kx_SECRETKEYBYTES)) { out in
            _ = crypto_sign_ed25519_sk_to_curve25519(
                out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                secret.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let receiving = SecretBytes(count: PairKeys.byteCount) { _ in }
        let sending = SecretBytes(count: PairKeys.byteCount) { _ in }
        let rx = receiving.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let tx = sending.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let sk = ownSecret.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let result =
            publicKey < peer
            ? crypto_kx_client_session_keys(rx, tx, ownX, sk, peerX)
            : crypto_kx_server_session_keys(rx, tx, ownX, sk, peerX)
        return result == 0 ? PairKeys(sending: sending, receiving: receiving) : nil
    }
}

extension Sodium {
    /// Length of a datagram authentication tag in bytes (16).
    public static let macByteCount = 16

    /// Keyed BLAKE2b (`crypto_generichash`) of `message` with a 16-byte output: the tag that
    /// authenticates a datagram between two members.
    static func mac(_ message: [UInt8], key: SecretBytes) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: macByteCount)
        _ = crypto_generichash(
            &tag, macByteCount, message, UInt64(message.count),
            key.pointer.baseAddress!.assumingMemoryBound(to: UInt8.self), key.pointer.count)
        return tag
    }
}

extension Sodium {
    /// Bytes of a ``digest(_:)``.
    public static let digestByteCount = 32

    /// Unkeyed BLAKE2b-256 (`crypto_generichash`, no key) of `bytes`: a content address, for
    /// example of a signed status stored once however many events refer to it.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        ensureInitialized()
        var out = [UInt8](repeating: 0, count: digestByteCount)
        _ = crypto_generichash(&out, digestByteCount, bytes, UInt64(bytes.count), nil, 0)
        return out
    }
}
