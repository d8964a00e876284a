/// Whose statuses a node accepts.
public enum TrustPolicy: Sendable, Hashable {
    /// Any key (explicit open mode: signatures still prevent forgery and alteration, but anyone
    /// can join with a key of their own).
    case any
    /// Only these keys.
    case keys(Set<PublicKey>)

    /// Whether `key` is trusted.
    public func trusts(_ key: PublicKey) -> Bool {
        switch self {
        case .any: true
        case .keys(let keys): keys.contains(key)
        }
    }
}

/// Why a received status was not accepted.
public enum StatusRejection: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The bytes do not decode (counted by whoever decodes them).
    case malformed
    /// Signed by a key the trust policy does not accept.
    case untrusted
    /// Older (generation, version) than the one held for that key.
    case stale
    /// The same (generation, version) as the one held: a replay or a redundant copy.
    case replayed
    /// Newer, but the signature does not verify: altered or forged.
    case tampered

    public var description: String { rawValue }
}

/// The latest verified status of every trusted node, with the acceptance rules.
///
/// A status is accepted only when its key is trusted, its (generation, version) is strictly
/// newer than the one held for that key, and its signature verifies; in that order, so a status
/// that is not newer costs no signature check, and each version is verified once. The original
/// bytes are kept for relaying.
public struct StatusStore: Sendable {
    /// Whose statuses are accepted.
    public var trust: TrustPolicy
    /// The latest accepted status per key.
    public private(set) var statuses: [PublicKey: SignedStatus] = [:]
    /// Rejections by reason.
    public private(set) var rejections: [StatusRejection: Int] = [:]
    /// Signature verifications performed.
    public private(set) var verifications = 0
    /// When each held status was accepted (or, for this node's own, signed), on the caller's
    /// monotonic clock: the age the cluster view judges staleness by.
    public private(set) var acceptedAt: [PublicKey: Duration] = [:]

    /// How signatures are checked (libsodium, unless a simulator shares its checks).
    public let verifier: SignatureVerifier

    public init(trust: TrustPolicy, verifier: SignatureVerifier = .libsodium) {
        self.verifier = verifier
        self.trust = trust
    }

    /// Offers a status received at `now`. Returns `nil` when it was accepted (and replaced any
    /// older one), else the reason it was rejected (also counted in ``rejections``).
    @discardableResult
    public mutating func offer(_ status: SignedStatus, now: Duration) -> StatusRejection? {
        let projection = status.projection
        guard trust.trusts(projection.publicKey) else { return reject(.untrusted) }
        if let held = statuses[projection.publicKey]?.projection {
            let offered = (projection.generation, projection.version)
            let current = (held.generation, held.version)
            if offered < current { return reject(.stale) }
            if offered == current { return reject(.replayed) }
        }
        verifications += 1
        guard status.isSignatureValid(verifier) else { return reject(.tampered) }
        statuses[projection.publicKey] = status
        acceptedAt[projection.publicKey] = now
        return nil
    }

    /// Stores this node's own freshly signed status, whatever the trust policy says about its key.
    public mutating func storeOwn(_ status: SignedStatus, now: Duration) {
        statuses[status.projection.publicKey] = status
        acceptedAt[status.projection.publicKey] = now
    }

    /// Counts a status that could not even be decoded.
    public mutating func recordMalformed() {
        rejections[.malformed, default: 0] += 1
    }

    /// Forgets the status of `key` (for example when a dead node's tombstone expires).
    public mutating func remove(_ key: PublicKey) {
        statuses[key] = nil
        acceptedAt[key] = nil
    }

    /// The (generation, version) held for `key`.
    public func versionOf(_ key: PublicKey) -> (generation: UInt64, version: UInt64)? {
        statuses[key].map { ($0.projection.generation, $0.projection.version) }
    }

    private mutating func reject(_ reason: StatusRejection) -> StatusRejection {
        rejections[reason, default: 0] += 1
        return reason
    }
}
