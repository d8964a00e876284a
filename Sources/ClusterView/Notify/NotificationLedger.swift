#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import GossipCore
import NodeHealth

/// Where the notifier keeps what it sent, so that a new leader neither repeats nor drops a
/// notification: a key-value store the whole cluster reads (the DHT; tests pass a dictionary).
public protocol NotificationLedgerStore: Sendable {
    /// The value of `key`; `nil` when no replica has it. Throws when the store cannot answer.
    func value(of key: String) async throws -> [UInt8]?
    func store(_ value: [UInt8], at key: String) async throws
}

/// The cluster's DHT as the ledger's store: values live ``ttl`` and are stored at a majority of
/// their replicas.
public struct DHTLedgerStore: NotificationLedgerStore {
    public let node: GossipNode
    public var ttl: Duration

    public init(node: GossipNode, ttl: Duration = .seconds(7 * 86_400)) {
        self.node = node
        self.ttl = ttl
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public func value(of key: String) async throws -> [UInt8]? {
        switch await node.dhtGet(key: key) {
        case .value(let bytes): return bytes
        case .notFound: return nil
        case .failed(let reason): throw Failure(description: reason)
        default: throw Failure(description: "unexpected answer")
        }
    }

    public func store(_ value: [UInt8], at key: String) async throws {
        guard case .stored = await node.dhtPut(key: key, value: value, ttl: ttl) else {
            throw Failure(description: "not stored at a majority of the replicas of \(key)")
        }
    }
}

/// The ledger's layout in its store: one record per incident under `chorus-notify/<hash>` and an
/// index of the incidents open (notified firing, resolution not yet delivered) under
/// `chorus-notify/open`. Everything read back is bounds-checked and decoded defensively: a
/// member could have written anything there.
public enum NotificationLedger {
    /// A record's delivery state.
    public enum State: String, Codable, Sendable {
        /// Handed to the webhooks, not yet delivered: a new leader sends it again.
        case firing
        /// Delivered (or given up after the retries).
        case delivered
        /// The resolution is being sent: a new leader sends it again if the incident is over.
        case resolving
    }

    public struct Entry: Codable, Sendable, Hashable {
        public var record: SentRecord
        public var state: State
    }

    public static let indexKey = "chorus-notify/open"
    /// Most incidents the index holds (its value must fit the DHT's 1024 bytes).
    public static let maxIndexed = 60

    /// The key of `incidentID`'s record: a hash, so any id fits the DHT's key limit.
    public static func key(of incidentID: String) -> String {
        "chorus-notify/" + Hex.encode(Array(Sodium.digest(Array(incidentID.utf8)).prefix(6)))
    }

    /// The index: the record keys of the open incidents.
    static func encodeIndex(_ keys: [String]) -> [UInt8] {
        Array(keys.prefix(maxIndexed).map { String($0.dropFirst("chorus-notify/".count)) }.joined(separator: ",").utf8)
    }

    static func decodeIndex(_ bytes: [UInt8]) -> [String] {
        guard bytes.count <= 1024 else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: ",").compactMap { part in
            guard part.utf8.count == 12, Hex.decode(String(part)) != nil else { return nil }
            return "chorus-notify/" + part
        }
    }

    static func encode(_ entry: Entry) -> [UInt8] {
        var entry = entry
        // Reasons are for the message, not the ledger: keep the record within the DHT's limit.
        entry.record.incident.reasons = []
        return JSONBytes.encode(entry)
    }

    static func decode(_ bytes: [UInt8]) -> Entry? {
        guard bytes.count <= 1024, let entry = try? JSONDecoder().decode(Entry.self, from: Data(bytes)) else { return nil }
        let incident = entry.record.incident
        let texts = [incident.node, incident.fingerprint, incident.check, incident.status, entry.record.by].compactMap { $0 }
        guard texts.allSatisfy({ $0.utf8.count <= 256 }) else { return nil }
        return entry
    }

    /// What the ledger says was sent and is still open: the records a new leader adopts (those
    /// delivered or resolving; one still `firing` was maybe never received, so it is left for
    /// the planner to send again). Throws when the store cannot answer (then nothing is sent
    /// until it can).
    public static func load(from store: any NotificationLedgerStore) async throws -> (adopt: [SentRecord], open: Set<String>) {
        guard let index = try await store.value(of: indexKey) else { return ([], []) }
        var adopt: [SentRecord] = []
        var open: Set<String> = []
        for key in decodeIndex(index) {
            guard let bytes = try await store.value(of: key), let entry = decode(bytes), Self.key(of: entry.record.incident.id) == key
            else { continue }
            open.insert(entry.record.incident.id)
            if entry.state != .firing { adopt.append(entry.record) }
        }
        return (adopt, open)
    }
}
