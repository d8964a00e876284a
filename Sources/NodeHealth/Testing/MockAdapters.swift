#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NodeHealth
import Synchronization

/// An in-memory pub/sub for tests. Delivery is immediate
/// unless switched off; publishing can be made to fail, and payloads to be corrupted in transit.
public final class MockPubSubAdapter: PubSubInterface {
    private struct State {
        var handlers: [String: [@Sendable ([UInt8]) -> Void]] = [:]
        var published: [(topic: String, data: [UInt8])] = []
        var deliver = true
        var publishError: (any Error)?
        var corrupt = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether published messages reach subscribers (false: they are silently lost).
    public func setDelivery(_ enabled: Bool) { state.withLock { $0.deliver = enabled } }
    /// Makes every publish throw `error` (nil: publish works).
    public func setPublishError(_ error: (any Error)?) { state.withLock { $0.publishError = error } }
    /// Flips a bit of every delivered payload.
    public func setCorruption(_ enabled: Bool) { state.withLock { $0.corrupt = enabled } }
    /// Every message published so far.
    public var published: [(topic: String, data: [UInt8])] { state.withLock { $0.published } }

    public func subscribeToTopic(_ topic: String, handler: @escaping @Sendable ([UInt8]) -> Void) async throws {
        state.withLock { $0.handlers[topic, default: []].append(handler) }
    }

    public func publishToTopic(_ topic: String, data: [UInt8]) async throws {
        let (handlers, payload) = try state.withLock { state throws -> ([@Sendable ([UInt8]) -> Void], [UInt8]) in
            if let error = state.publishError { throw MockAdapterError(description: "\(error)") }
            state.published.append((topic, data))
            guard state.deliver else { return ([], data) }
            var payload = data
            if state.corrupt, !payload.isEmpty { payload[payload.count / 2] ^= 0x01 }
            return (state.handlers[topic] ?? [], payload)
        }
        for handler in handlers { handler(payload) }
    }
}

/// An in-memory key-value store for tests, with knobs to make puts
/// or gets fail and to return altered values.
public final class MockDHTAdapter: DHTInterface {
    private struct State {
        var values: [String: [UInt8]] = [:]
        var putError: String?
        var getError: String?
        var corrupt = false
    }

    private let state = Mutex(State())

    public init() {}

    public func setPutError(_ message: String?) { state.withLock { $0.putError = message } }
    public func setGetError(_ message: String?) { state.withLock { $0.getError = message } }
    /// Makes gets return the value with one bit flipped.
    public func setCorruption(_ enabled: Bool) { state.withLock { $0.corrupt = enabled } }
    /// How many keys are stored.
    public var count: Int { state.withLock { $0.values.count } }

    public func putValue(_ key: String, value: [UInt8]) async throws {
        try state.withLock { state throws in
            if let message = state.putError { throw MockAdapterError(description: message) }
            state.values[key] = value
        }
    }

    public func getValue(_ key: String) async throws -> [UInt8] {
        try state.withLock { state throws -> [UInt8] in
            if let message = state.getError { throw MockAdapterError(description: message) }
            guard var value = state.values[key] else { throw DHTKeyNotFound(key: key) }
            if state.corrupt, !value.isEmpty { value[0] ^= 0x01 }
            return value
        }
    }
}

/// The error the mock adapters throw when told to fail.
public struct MockAdapterError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Stand-ins for the subsystems the figure checks read, set by the tests.
public final class FakeSubsystems: ElectionInterface, ReplicationInterface, PeerConnectivityInterface, Sendable {
    public struct State {
        public var election = ElectionSnapshot(
            leader: "node-1", term: 3, isLeader: false, heartbeatLatency: .milliseconds(2),
            lastHeartbeatAge: .milliseconds(500), leadershipChanges: 1, lastLeadershipChange: Date(),
            adminUptime: .seconds(9015))
        public var replication = ReplicationSnapshot(
            storedKeys: 10, primaryKeys: 4, targetFactor: 3, averageFactor: 3, underReplicatedKeys: 0,
            providerRecords: 2, failures: 0, attempts: 40, repairedKeys: 0, peakUnderReplicated: 0)
        public var peers = 4
    }

    public let state = Mutex(State())

    public init() {}

    public func electionSnapshot() async -> ElectionSnapshot { state.withLock { $0.election } }
    public func replicationSnapshot(resetPeak: Bool) async -> ReplicationSnapshot { state.withLock { $0.replication } }
    public func connectedPeers() async -> Int { state.withLock { $0.peers } }
}
