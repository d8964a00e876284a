#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// The outcome of one active probe (a pub/sub loopback or a DHT put/get).
public struct ProbeOutcome: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The probe went through end to end and the data came back intact.
        case success
        /// An operation failed with an error.
        case failure
        /// Nothing came back in time.
        case timeout
        /// Data came back, but not the data that was sent.
        case integrityViolation = "integrity_violation"
    }

    public var kind: Kind
    /// How long the probe took, end to end.
    public var latency: Duration
    public var message: String
    public var details: [String: JSONValue]

    public var succeeded: Bool { kind == .success }

    /// The probe as a check result: passing on success, failing otherwise; `details["outcome"]`
    /// names the kind so success, failure, timeout and integrity violation stay distinct.
    public var result: CheckResult {
        var details = details
        details["outcome"] = .string(kind.rawValue)
        details["latency_ms"] = .double(latency.milliseconds)
        var result = succeeded ? CheckResult.pass(message, details: details) : .fail(message, details: details)
        result.latency = latency
        return result
    }
}

/// The active probes behind the pub/sub and DHT checks and the
/// enhanced pub/sub and DHT checks.
public enum ActiveProbes {
    /// The topic the pub/sub probe publishes on.
    public static let pubSubTopic = "CHORUS/health-test/v1"

    /// A unique id: 16 random bytes in hex.
    public static func uniqueID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for _ in 0..<16 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The pub/sub loopback: subscribe to ``pubSubTopic`` (once per inbox), publish a
    /// unique message with a timestamp, wait up to `wait` for it to come back, compare it byte
    /// for byte. With the cluster's pub/sub, a node's own message reaches its own subscribers
    /// only after crossing the network, so this proves a round trip, not a local shortcut.
    public static func pubSubLoopback(
        inbox: PubSubProbeInbox, nodeID: String, wait: Duration = .seconds(10)
    ) async -> ProbeOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        let id = uniqueID()
        let message = JSONValue.object([
            "id": .string(id), "node_id": .string(nodeID), "timestamp": .string(TimeFormatting.rfc3339(Date())),
            "type": .string("health-probe"),
        ])
        let sent = JSONBytes.encode(message)
        var details: [String: JSONValue] = ["topic": .string(pubSubTopic), "message_id": .string(id)]
        do {
            try await inbox.subscribeIfNeeded()
        } catch {
            return ProbeOutcome(
                kind: .failure, latency: clock.now - start, message: "PubSub subscribe failed: \(error)", details: details)
        }
        inbox.expect(id)
        do {
            try await inbox.adapter.publishProbe(pubSubTopic, data: sent)
        } catch {
            inbox.forget(id)
            return ProbeOutcome(
                kind: .failure, latency: clock.now - start, message: "PubSub publish failed: \(error)", details: details)
        }
        let corruptedBefore = inbox.malformedCount
        let received = await inbox.wait(for: id, timeout: wait)
        let latency = clock.now - start
        details["wait_seconds"] = .double(wait.milliseconds / 1000)
        guard let received else {
            if inbox.malformedCount > corruptedBefore {
                return ProbeOutcome(
                    kind: .integrityViolation, latency: latency,
                    message: "PubSub loopback: a garbled message arrived instead of the probe", details: details)
            }
            return ProbeOutcome(
                kind: .timeout, latency: latency,
                message: "PubSub loopback timed out after \(formatSeconds(wait))", details: details)
        }
        guard received == sent else {
            return ProbeOutcome(
                kind: .integrityViolation, latency: latency,
                message: "PubSub loopback message integrity violation: content differs", details: details)
        }
        return ProbeOutcome(
            kind: .success, latency: latency,
            message: "PubSub loopback succeeded in \(formatMillis(latency))", details: details)
    }

    /// The DHT probe: put a unique key and value, wait `propagation` (100 ms), get it
    /// back, compare.
    public static func dhtPutGet(
        adapter: any DHTInterface, nodeID: String, propagation: Duration = .milliseconds(100)
    ) async -> ProbeOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        let id = uniqueID()
        let key = "health-test/\(nodeID)/\(id)"
        let value = JSONBytes.encode(
            JSONValue.object([
                "node_id": .string(nodeID), "nonce": .string(id), "timestamp": .string(TimeFormatting.rfc3339(Date())),
            ]))
        var details: [String: JSONValue] = ["key": .string(key)]
        do {
            try await adapter.putValue(key, value: value)
        } catch {
            return ProbeOutcome(
                kind: .failure, latency: clock.now - start, message: "DHT put failed: \(error)", details: details)
        }
        let putLatency = clock.now - start
        details["put_ms"] = .double(putLatency.milliseconds)
        try? await Task.sleep(for: propagation)
        let getStart = clock.now
        let read: [UInt8]
        do {
            read = try await adapter.getValue(key)
        } catch {
            return ProbeOutcome(
                kind: .failure, latency: clock.now - start, message: "DHT get failed: \(error)", details: details)
        }
        let getLatency = clock.now - getStart
        details["get_ms"] = .double(getLatency.milliseconds)
        // The end-to-end latency of the probe, without the deliberate propagation pause.
        let latency = putLatency + getLatency
        guard read == value else {
            return ProbeOutcome(
                kind: .integrityViolation, latency: latency,
                message: "DHT integrity violation: the value read differs from the value written", details: details)
        }
        return ProbeOutcome(
            kind: .success, latency: latency, message: "DHT put/get succeeded in \(formatMillis(latency))",
            details: details)
    }

    static func formatMillis(_ duration: Duration) -> String {
        let tenths = Int64((duration.milliseconds * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func formatSeconds(_ duration: Duration) -> String {
        let seconds = duration.milliseconds / 1000
        return seconds == seconds.rounded() ? "\(Int64(seconds)) s" : "\(formatMillis(duration))"
    }
}

/// The probe's subscription to the test topic: subscribed once, it hands each arriving probe
/// message to the run waiting for it (by message id). Messages of other nodes' probes, which
/// reach every subscriber, are counted and ignored.
public final class PubSubProbeInbox: Sendable {
    private enum Slot {
        case expecting
        case arrived([UInt8])
        case waiting(CheckedContinuation<[UInt8]?, Never>)
    }

    private struct State {
        var subscribed = false
        var slots: [String: Slot] = [:]
        var malformed = 0
        var others = 0
    }

    public let adapter: any PubSubInterface
    public let topic: String
    private let state = Mutex(State())

    public init(adapter: any PubSubInterface, topic: String = ActiveProbes.pubSubTopic) {
        self.adapter = adapter
        self.topic = topic
    }

    /// Messages that arrived on the topic but could not be read as a probe message.
    public var malformedCount: Int { state.withLock { $0.malformed } }
    /// Probe messages of other nodes (or of runs that gave up) that arrived.
    public var othersCount: Int { state.withLock { $0.others } }

    func subscribeIfNeeded() async throws {
        guard !state.withLock({ $0.subscribed }) else { return }
        try await adapter.subscribeToTopic(topic) { [weak self] payload in self?.deliver(payload) }
        state.withLock { $0.subscribed = true }
    }

    func expect(_ id: String) {
        state.withLock { $0.slots[id] = .expecting }
    }

    func forget(_ id: String) {
        resolve(id, with: nil)
    }

    func deliver(_ payload: [UInt8]) {
        guard let id = Self.messageID(payload) else {
            state.withLock { $0.malformed += 1 }
            return
        }
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, Never>? in
            switch state.slots[id] {
            case .expecting:
                state.slots[id] = .arrived(payload)
                return nil
            case .waiting(let continuation):
                state.slots[id] = nil
                return continuation
            case .arrived, nil:
                state.others += 1
                return nil
            }
        }
        waiter?.resume(returning: payload)
    }

    func wait(for id: String, timeout: Duration) async -> [UInt8]? {
        await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> [UInt8]?? in
                            switch state.slots[id] {
                            case .arrived(let payload):
                                state.slots[id] = nil
                                return .some(payload)
                            case .expecting:
                                state.slots[id] = .waiting(continuation)
                                return .none
                            case .waiting, nil:
                                return .some(nil)
                            }
                        }
                        if let ready { continuation.resume(returning: ready) }
                    }
                } onCancel: {
                    self.resolve(id, with: nil)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.resolve(id, with: nil)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func resolve(_ id: String, with payload: [UInt8]?) {
        let waiter = state.withLock { state -> CheckedContinuation<[UInt8]?, Never>? in
            defer { state.slots[id] = nil }
            if case .waiting(let continuation) = state.slots[id] { return continuation }
            return nil
        }
        waiter?.resume(returning: payload)
    }

    static func messageID(_ payload: [UInt8]) -> String? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)),
            case .object(let fields) = value, case .string(let id) = fields["id"]
        else { return nil }
        return id
    }
}

extension HealthCheck {
    /// A pub/sub loopback check on `CHORUS/health-test/v1`
    /// (unique message, up to 10 s wait, integrity check). Not critical, every 60 s, 15 s timeout.
    public static func createActivePubSubCheck(
        _ adapter: any PubSubInterface, nodeID: String = "node", name: String = "pubsub-active"
    ) -> HealthCheck {
        let inbox = PubSubProbeInbox(adapter: adapter)
        return HealthCheck(
            name: name, description: "Active pub/sub loopback on \(ActiveProbes.pubSubTopic)",
            interval: .seconds(60), timeout: .seconds(15), critical: false
        ) { _ in
            await ActiveProbes.pubSubLoopback(inbox: inbox, nodeID: nodeID).result
        }
    }

    /// A DHT round-trip check: put a unique key, wait 100 ms, get, compare; success,
    /// failure and integrity violation are reported distinctly (`details["outcome"]`).
    /// Not critical, every 90 s, 20 s timeout.
    public static func createActiveDHTCheck(
        _ adapter: any DHTInterface, nodeID: String = "node", name: String = "dht-active"
    ) -> HealthCheck {
        HealthCheck(
            name: name, description: "Active DHT put/get", interval: .seconds(90), timeout: .seconds(20),
            critical: false
        ) { _ in
            await ActiveProbes.dhtPutGet(adapter: adapter, nodeID: nodeID).result
        }
    }
}
