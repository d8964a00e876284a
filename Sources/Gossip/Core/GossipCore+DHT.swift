/// How a DHT operation ended.
public enum DHTOutcome: Sendable, Hashable {
    /// Put: stored on this many replicas (at least a majority of them).
    case stored(replicas: Int)
    /// Get: the value found.
    case value([UInt8])
    /// Find providers: the providers' addresses.
    case providers([NodeAddress])
    /// Get: no replica holds the key.
    case notFound
    /// The operation failed (no replica answered, too few stored it, or the input was refused).
    case failed(String)
}

/// One stored value.
struct DHTEntry: Sendable {
    var value: [UInt8]
    var version: UInt64
    var expires: Duration
    var storedAt: Duration
    /// Replicas known to hold this version or a newer one (besides this node).
    var confirmed: Set<PublicKey> = []
    /// The member whose request created the entry (`nil`: this node), charged for it against
    /// ``GossipSettings/dhtMaxKeysPerWriter``.
    var writer: PublicKey?
}

/// A request in flight to one node.
struct DHTAttempt: Sendable {
    var operation: UInt32
    var target: PublicKey
    var address: NodeAddress
    var request: DHTRequest
    var tries: Int
    var deadline: Duration
}

/// An operation started by this node (put, get, provide, find providers) or a repair copy.
struct DHTOperation: Sendable {
    enum Kind: Sendable { case put, get, provide, findProviders, repair }
    var kind: Kind
    var key: String
    /// Put and provide: targets still to answer, acks so far, acks needed.
    var waiting = 0
    var acks = 0
    var needed = 0
    /// Get and find providers: replicas to ask, in order, and which one is being asked.
    var candidates: [PublicKey] = []
    var next = 0
    var done = false
}

struct DHTState: Sendable {
    var entries: [String: DHTEntry] = [:]
    /// key → provider key prefix → (address, expiry).
    var providers: [String: [UInt64: (address: NodeAddress, expires: Duration)]] = [:]
    var operations: [UInt32: DHTOperation] = [:]
    var attempts: [UInt32: DHTAttempt] = [:]
    var nextID: UInt32 = 0
    var membershipChanged = false
    var repairAt: Duration?
    var nextRepairCheckAt: Duration = .zero
    var underSince: Duration?
    var stats = DHTStats()
    /// Entries held per member that created them, and provider records held in all.
    var keysPerWriter: [PublicKey: Int] = [:]
    var providerRecords = 0
    /// Keys this node put recently → the other members the put went to, and until when to ask
    /// them too (read your writes while the views converge; see ``GossipCore/dhtGet(key:remoteOnly:now:)``).
    var recentPuts: [String: (targets: [PublicKey], until: Duration)] = [:]
    /// The most keys remembered in ``recentPuts``: the active probe puts one key per run.
    static let recentPutLimit = 256
}

/// DHT counters.
/// A node's replication figures (``GossipCore/replicationFigures(now:)``).
public struct ReplicationFigures: Sendable, Hashable {
    /// Unexpired keys held.
    public var stored: Int
    /// Keys this node is primary for (first in the replica set).
    public var primary: Int
    /// Replicas each key should have: min(R, live members + 1).
    public var target: Int
    /// Confirmed replicas per primary key, on average (`target` when there are none).
    public var averageFactor: Double
    /// Primary keys older than the settle time with fewer confirmed replicas than `target`.
    public var underReplicated: Int
    /// Provider records held.
    public var providers: Int
}

public struct DHTStats: Sendable, Hashable {
    public var puts = 0
    public var gets = 0
    /// Requests answered for other nodes.
    public var served = 0
    /// Requests sent (first tries and retries) and those that never got an answer.
    public var requestsSent = 0
    public var requestsFailed = 0
    /// Repair copies sent, and keys a replica did not hold before a repair copy arrived.
    public var repairCopies = 0
    public var repairedKeys = 0
    /// Most under-replicated keys seen since the figures were last read with `resetPeak`.
    public var peakUnderReplicated = 0
    /// Repair copies a replica acknowledged, and those that got no answer.
    public var repairsSucceeded = 0
    public var repairsFailed = 0
    /// Stretches of time with primary keys under-replicated (as the once-a-second figures saw
    /// them), since start, and the latest one.
    public var underReplicationEpisodes = 0
    public var lastEpisode: ReplicationEpisode?
}

/// A stretch of time with some primary keys under-replicated, on the core's time line.
public struct ReplicationEpisode: Sendable, Hashable {
    /// The most keys under-replicated at once.
    public var peakKeys: Int
    public var began: Duration
    /// When the figures first showed every key replicated again; `nil` while it lasts.
    public var ended: Duration?
}

extension GossipCore {
    /// DHT counters.
    public var dhtStats: DHTStats { dht.stats }

    /// Repair copies sent and not yet answered.
    public var dhtRepairsInFlight: Int { dht.operations.values.count { $0.kind == .repair } }

    /// The replica set of `key`: the ``GossipSettings/dhtReplicas`` live members (this node
    /// included) with the highest rendezvous score `mix(fnv1a64(key) ^ prefix)`, best first.
    public func replicas(of key: String) -> [PublicKey] {
        let hash = StableHash.fnv1a(key)
        var scored = (Array(liveKeys) + [self.key]).map { (StableHash.mix(hash ^ $0.prefix), $0) }
        scored.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        return scored.prefix(max(1, settings.dhtReplicas)).map(\.1)
    }

    /// Stores `value` under `key` on its replicas. Completes (``Directive/dhtCompleted(_:_:)``)
    /// once a majority of the replicas stored it, or fails when too few could.
    /// `version` orders writes of one key (newer wins); the shell passes the wall-clock time.
    public mutating func dhtPut(key: String, value: [UInt8], version: UInt64, ttl: Duration, now: Duration)
        -> (id: UInt32, directives: [Directive])
    {
        let id = nextOperationID()
        var out: [Directive] = []
        guard !key.isEmpty, key.utf8.count <= DHTRequest.maxKeyBytes, value.count <= DHTRequest.maxValueBytes else {
            out.append(.dhtCompleted(id, .failed("key must be 1 to \(DHTRequest.maxKeyBytes) bytes and value at most \(DHTRequest.maxValueBytes) bytes")))
            return (id, out)
        }
        dht.stats.puts += 1
        let targets = replicas(of: key)
        var operation = DHTOperation(kind: .put, key: key)
        operation.needed = targets.count / 2 + 1
        let ttlSeconds = UInt32(clamping: ttl.components.seconds)
        for target in targets {
            if target == self.key {
                store(key, value: value, version: version, ttlSeconds: ttlSeconds, now: now)
                operation.acks += 1
            } else {
                operation.waiting += 1
                let request = DHTRequest(id: 0, operation: .put, key: key, value: value, version: version, ttlSeconds: ttlSeconds)
                sendDHT(request, to: target, operation: id, now: now, into: &out)
            }
        }
        dht.operations[id] = operation
        rememberPut(key, targets: targets.filter { $0 != self.key }, now: now)
        completeIfDone(id, into: &out)
        return (id, out)
    }

    private mutating func rememberPut(_ key: String, targets: [PublicKey], now: Duration) {
        dht.recentPuts[key] = (targets, now + settings.dhtRepairInterval)
        guard dht.recentPuts.count > DHTState.recentPutLimit else { return }
        dht.recentPuts = dht.recentPuts.filter { $0.value.until > now }
        while dht.recentPuts.count > DHTState.recentPutLimit,
            let oldest = dht.recentPuts.min(by: { ($0.value.until, $0.key) < ($1.value.until, $1.key) })?.key
        {
            dht.recentPuts[oldest] = nil
        }
    }

    /// Reads `key` from its replicas in rank order, each asked up to
    /// ``GossipSettings/dhtAttempts`` times. With `remoteOnly` this node's own copy is skipped,
    /// so the value must cross the network (the active DHT probe reads this way). For a key this
    /// node put within ``GossipSettings/dhtRepairInterval``, the members the put went to are asked
    /// after the replicas: while the views converge (a node that just joined puts to the replicas
    /// of the few members it knows) the replica set can change before the repair moves the key,
    /// and a fresh cluster's first DHT probes failed on about a third of 64 processes without this.
    public mutating func dhtGet(key: String, remoteOnly: Bool, now: Duration) -> (id: UInt32, directives: [Directive]) {
        let id = nextOperationID()
        var out: [Directive] = []
        dht.stats.gets += 1
        if !remoteOnly, let entry = dht.entries[key], entry.expires > now {
            out.append(.dhtCompleted(id, .value(entry.value)))
            return (id, out)
        }
        var operation = DHTOperation(kind: .get, key: key)
        operation.candidates = replicas(of: key).filter { $0 != self.key }
        if let put = dht.recentPuts[key], put.until > now {
            operation.candidates += put.targets.filter { !operation.candidates.contains($0) && members.isLive($0) }
        }
        dht.operations[id] = operation
        askNext(id, now: now, into: &out)
        return (id, out)
    }

    /// Announces this node as a provider of `key` on the key's replicas (a record that lives `ttl`).
    public mutating func dhtProvide(key: String, ttl: Duration, now: Duration) -> (id: UInt32, directives: [Directive]) {
        let id = nextOperationID()
        var out: [Directive] = []
        let ttlSeconds = UInt32(clamping: ttl.components.seconds)
        var operation = DHTOperation(kind: .provide, key: key)
        let targets = replicas(of: key)
        operation.needed = targets.count / 2 + 1
        let record = Array(address.description.utf8)
        for target in targets {
            if target == self.key {
                dht.providers[key, default: [:]][self.key.prefix] = (address, now + .seconds(Int64(ttlSeconds)))
                operation.acks += 1
            } else {
                operation.waiting += 1
                let request = DHTRequest(
                    id: 0, operation: .provide, key: key, value: record, version: self.key.prefix, ttlSeconds: ttlSeconds)
                sendDHT(request, to: target, operation: id, now: now, into: &out)
            }
        }
        dht.operations[id] = operation
        completeIfDone(id, into: &out)
        return (id, out)
    }

    /// Asks the key's replicas, in rank order, who provides `key`.
    public mutating func dhtFindProviders(key: String, now: Duration) -> (id: UInt32, directives: [Directive]) {
        let id = nextOperationID()
        var out: [Directive] = []
        var operation = DHTOperation(kind: .findProviders, key: key)
        operation.candidates = replicas(of: key).filter { $0 != self.key }
        if operation.candidates.isEmpty {
            let own = (dht.providers[key] ?? [:]).values.filter { $0.expires > now }.map(\.address).sorted()
            out.append(.dhtCompleted(id, .providers(own)))
            return (id, out)
        }
        dht.operations[id] = operation
        askNext(id, now: now, into: &out)
        return (id, out)
    }

    /// The replication figures: keys held, keys this node is primary for (first in the replica
    /// set), and among those the ones with fewer confirmed live replicas than the target
    /// (min(R, live members + 1)); keys younger than ``GossipSettings/dhtSettleTime`` are not judged.
    public func replicationFigures(now: Duration) -> ReplicationFigures {
        let target = min(max(1, settings.dhtReplicas), liveKeys.count + 1)
        var primary = 0
        var under = 0
        var factorSum = 0
        for (name, entry) in dht.entries where entry.expires > now {
            let set = replicas(of: name)
            guard set.first == key else { continue }
            primary += 1
            let holders = 1 + set.dropFirst().filter { entry.confirmed.contains($0) }.count
            factorSum += holders
            if holders < target && now - entry.storedAt >= settings.dhtSettleTime { under += 1 }
        }
        let providers = dht.providers.values.reduce(0) { $0 + $1.count }
        let average = primary == 0 ? Double(target) : Double(factorSum) / Double(primary)
        return ReplicationFigures(
            stored: dht.entries.count, primary: primary, target: target, averageFactor: average,
            underReplicated: under, providers: providers)
    }

    /// Whether this node holds an unexpired value under `key`.
    public func holds(_ key: String, now: Duration) -> Bool {
        dht.entries[key].map { $0.expires > now } ?? false
    }

    /// Starts a new window for ``DHTStats/peakUnderReplicated``.
    /// `figures` are this moment's (computed anew when not given).
    public mutating func resetReplicationPeak(now: Duration, figures: ReplicationFigures? = nil) {
        dht.stats.peakUnderReplicated = (figures ?? replicationFigures(now: now)).underReplicated
    }

    // MARK: Serving

    /// Answers a request from the live member `sender`. Its writes are bounded: the time to live
    /// by ``GossipSettings/dhtMaxTTL``, new keys by ``GossipSettings/dhtMaxKeys`` and
    /// ``GossipSettings/dhtMaxKeysPerWriter``, provider records per key and in all.
    mutating func answerDHT(_ request: DHTRequest, from sender: PublicKey, now: Duration) -> DHTResponse? {
        dht.stats.served += 1
        let ttl = min(request.ttlSeconds, UInt32(clamping: settings.dhtMaxTTL.components.seconds))
        switch request.operation {
        case .put, .replicate:
            if dht.entries[request.key] == nil {
                guard dht.entries.count < settings.dhtMaxKeys else {
                    stats.dropped[.dhtFull, default: 0] += 1
                    return DHTResponse(id: request.id, status: .rejected)
                }
                guard dht.keysPerWriter[sender, default: 0] < settings.dhtMaxKeysPerWriter else {
                    stats.dropped[.dhtWriterLimit, default: 0] += 1
                    return DHTResponse(id: request.id, status: .rejected)
                }
            }
            let stored = store(request.key, value: request.value, version: request.version, ttlSeconds: ttl, writer: sender, now: now)
            if members.isLive(sender) { dht.entries[request.key]?.confirmed.insert(sender) }
            return DHTResponse(id: request.id, status: stored ? .stored : .ok, version: dht.entries[request.key]?.version ?? 0)
        case .get:
            guard let entry = dht.entries[request.key], entry.expires > now else {
                return DHTResponse(id: request.id, status: .notFound)
            }
            return DHTResponse(id: request.id, status: .ok, version: entry.version, value: entry.value)
        case .provide:
            guard let text = String(validating: request.value, as: UTF8.self), let provider = NodeAddress(text) else {
                return DHTResponse(id: request.id, status: .rejected)
            }
            let records = dht.providers[request.key] ?? [:]
            if records[request.version] == nil {
                guard records.count < settings.dhtMaxProvidersPerKey, dht.providerRecords < settings.dhtMaxProviders else {
                    stats.dropped[.dhtProviderLimit, default: 0] += 1
                    return DHTResponse(id: request.id, status: .rejected)
                }
                dht.providerRecords += 1
            }
            dht.providers[request.key, default: [:]][request.version] = (provider, now + .seconds(Int64(ttl)))
            return DHTResponse(id: request.id, status: .ok)
        case .findProviders:
            let records = (dht.providers[request.key] ?? [:]).values.filter { $0.expires > now }.map(\.address).sorted()
            guard !records.isEmpty else { return DHTResponse(id: request.id, status: .notFound) }
            var lines: [UInt8] = []
            for record in records.prefix(40) { lines += Array(record.description.utf8) + [10] }
            return DHTResponse(id: request.id, status: .ok, value: lines)
        }
    }

    /// Stores a value when it is newer than the one held; returns whether it was.
    @discardableResult
    mutating func store(
        _ name: String, value: [UInt8], version: UInt64, ttlSeconds: UInt32, writer: PublicKey? = nil, now: Duration
    ) -> Bool {
        let expires = now + .seconds(Int64(ttlSeconds))
        if var existing = dht.entries[name], existing.expires > now {
            if existing.version > version { return false }
            if existing.version == version {
                existing.expires = max(existing.expires, expires)
                dht.entries[name] = existing
                return false
            }
        }
        if let previous = dht.entries[name] {
            // A new value: no other replica is known to hold it yet. The writer stays the one
            // charged for the key.
            dht.entries[name] = DHTEntry(value: value, version: version, expires: expires, storedAt: now, writer: previous.writer)
        } else {
            dht.entries[name] = DHTEntry(value: value, version: version, expires: expires, storedAt: now, writer: writer)
            if let writer { dht.keysPerWriter[writer, default: 0] += 1 }
        }
        // A new value: the other replicas may not have it yet; check soon.
        scheduleRepair(at: now + settings.dhtSettleTime / 2)
        return true
    }

    // MARK: Client side

    mutating func receiveDHT(_ response: DHTResponse, from sender: Peer, now: Duration, into out: inout [Directive]) {
        guard let attempt = dht.attempts[response.id], attempt.target == sender.key else {
            // Unknown, or answered by another member than the one asked (not an answer).
            stats.dropped[.unexpectedDhtResponse, default: 0] += 1
            return
        }
        dht.attempts[response.id] = nil
        guard var operation = dht.operations[attempt.operation] else { return }
        switch operation.kind {
        case .put, .provide:
            operation.waiting -= 1
            if response.status == .ok || response.status == .stored {
                operation.acks += 1
                if operation.kind == .put { dht.entries[operation.key]?.confirmed.insert(attempt.target) }
            }
            dht.operations[attempt.operation] = operation
            completeIfDone(attempt.operation, into: &out)
        case .repair:
            dht.operations[attempt.operation] = nil
            if response.status == .ok || response.status == .stored {
                dht.stats.repairsSucceeded += 1
                dht.entries[operation.key]?.confirmed.insert(attempt.target)
                if response.status == .stored { dht.stats.repairedKeys += 1 }
            }
        case .get:
            if response.status == .ok {
                finish(attempt.operation, .value(response.value), into: &out)
            } else {
                askNext(attempt.operation, now: now, into: &out)
            }
        case .findProviders:
            if response.status == .ok {
                let lines = response.value.split(separator: 10).compactMap { String(validating: Array($0), as: UTF8.self) }
                finish(attempt.operation, .providers(lines.compactMap(NodeAddress.init)), into: &out)
            } else {
                askNext(attempt.operation, now: now, into: &out)
            }
        }
    }

    /// Retries requests that timed out; runs the repair when due. Called from ``tick(now:)``.
    mutating func dhtTimers(now: Duration, into out: inout [Directive]) {
        for (id, attempt) in dht.attempts.sorted(by: { $0.key < $1.key }) where attempt.deadline <= now {
            if attempt.tries < settings.dhtAttempts, members.isLive(attempt.target) {
                dht.attempts[id]!.tries += 1
                dht.attempts[id]!.deadline = now + settings.dhtRequestTimeout
                dht.stats.requestsSent += 1
                send([.dhtRequest(attempt.request)], to: Peer(address: attempt.address, key: attempt.target), into: &out)
                continue
            }
            dht.attempts[id] = nil
            dht.stats.requestsFailed += 1
            guard var operation = dht.operations[attempt.operation] else { continue }
            switch operation.kind {
            case .put, .provide:
                operation.waiting -= 1
                dht.operations[attempt.operation] = operation
                completeIfDone(attempt.operation, into: &out)
            case .repair:
                dht.operations[attempt.operation] = nil
                dht.stats.repairsFailed += 1
            case .get, .findProviders:
                askNext(attempt.operation, now: now, into: &out)
            }
        }
        if dht.membershipChanged {
            dht.membershipChanged = false
            scheduleRepair(at: now + settings.dhtRepairDelay)
        }
        if let due = dht.repairAt, now >= due {
            dht.repairAt = nil
            repair(now: now, into: &out)
        } else if now >= dht.nextRepairCheckAt {
            dht.nextRepairCheckAt = now + settings.dhtRepairInterval
            repair(now: now, into: &out)
        }
    }

    /// Once a second (from ``servicesTick(now:into:)``, which shares the figures with the status
    /// extensions): the under-replication peak, and since when keys are under-replicated.
    mutating func noteReplication(_ figures: ReplicationFigures, now: Duration) {
        dht.stats.peakUnderReplicated = max(dht.stats.peakUnderReplicated, figures.underReplicated)
        if figures.underReplicated == 0 {
            if dht.underSince != nil { dht.stats.lastEpisode?.ended = now }
            dht.underSince = nil
        } else if dht.underSince == nil {
            dht.underSince = now
            dht.stats.underReplicationEpisodes += 1
            dht.stats.lastEpisode = ReplicationEpisode(peakKeys: figures.underReplicated, began: now)
        } else {
            if var episode = dht.stats.lastEpisode {
                episode.peakKeys = max(episode.peakKeys, figures.underReplicated)
                dht.stats.lastEpisode = episode
            }
        }
    }

    /// Forgets a key and uncharges its writer.
    mutating func dropEntry(_ name: String) {
        guard let entry = dht.entries.removeValue(forKey: name), let writer = entry.writer else { return }
        let count = dht.keysPerWriter[writer, default: 1] - 1
        dht.keysPerWriter[writer] = count > 0 ? count : nil
    }

    mutating func scheduleRepair(at time: Duration) {
        dht.repairAt = min(dht.repairAt ?? time, time)
    }

    /// Copies each held key to the replicas of its set not known to hold it, drops expired keys,
    /// and hands off keys this node is no longer a replica of (dropping them once every replica has them).
    mutating func repair(now: Duration, into out: inout [Directive]) {
        let inFlight = Set(dht.attempts.values.compactMap { attempt -> String? in
            dht.operations[attempt.operation]?.kind == .repair ? "\(attempt.request.key)|\(attempt.target)" : nil
        })
        for name in dht.entries.keys.sorted() {
            guard var entry = dht.entries[name] else { continue }
            if entry.expires <= now {
                dropEntry(name)
                continue
            }
            entry.confirmed = entry.confirmed.filter { members.isLive($0) }
            dht.entries[name] = entry
            let set = replicas(of: name)
            let missing = set.filter { $0 != key && !entry.confirmed.contains($0) }
            if missing.isEmpty && !set.contains(key) {
                dropEntry(name)  // handed off
                continue
            }
            let ttl = UInt32(clamping: max(1, (entry.expires - now).components.seconds))
            for target in missing where !inFlight.contains("\(name)|\(target)") {
                let id = nextOperationID()
                dht.operations[id] = DHTOperation(kind: .repair, key: name)
                dht.stats.repairCopies += 1
                let request = DHTRequest(id: 0, operation: .replicate, key: name, value: entry.value, version: entry.version, ttlSeconds: ttl)
                sendDHT(request, to: target, operation: id, now: now, into: &out)
            }
        }
        dht.providerRecords = 0
        for (name, records) in dht.providers {
            let live = records.filter { $0.value.expires > now }
            dht.providers[name] = live.isEmpty ? nil : live
            dht.providerRecords += live.count
        }
    }

    mutating func sendDHT(_ request: DHTRequest, to target: PublicKey, operation: UInt32, now: Duration, into out: inout [Directive]) {
        guard let member = members[target] else {
            dht.stats.requestsFailed += 1
            return
        }
        var request = request
        dht.nextID &+= 1
        request.id = dht.nextID
        dht.attempts[request.id] = DHTAttempt(
            operation: operation, target: target, address: member.address, request: request, tries: 1,
            deadline: now + settings.dhtRequestTimeout)
        dht.stats.requestsSent += 1
        send([.dhtRequest(request)], to: member.peer, into: &out)
    }

    mutating func askNext(_ id: UInt32, now: Duration, into out: inout [Directive]) {
        guard var operation = dht.operations[id] else { return }
        guard operation.next < operation.candidates.count else {
            finish(id, operation.candidates.isEmpty ? .failed("no other replica is alive") : .notFound, into: &out)
            return
        }
        let target = operation.candidates[operation.next]
        operation.next += 1
        dht.operations[id] = operation
        let request = DHTRequest(id: 0, operation: operation.kind == .get ? .get : .findProviders, key: operation.key)
        sendDHT(request, to: target, operation: id, now: now, into: &out)
        if dht.attempts.values.contains(where: { $0.operation == id }) == false {
            askNext(id, now: now, into: &out)  // the target vanished from the member table
        }
    }

    mutating func completeIfDone(_ id: UInt32, into out: inout [Directive]) {
        guard let operation = dht.operations[id] else { return }
        if operation.done {
            if operation.waiting <= 0 { dht.operations[id] = nil }
            return
        }
        if operation.acks >= operation.needed {
            dht.operations[id]!.done = true
            out.append(.dhtCompleted(id, .stored(replicas: operation.acks)))
        } else if operation.waiting == 0 {
            finish(id, .failed("stored on \(operation.acks) of \(operation.needed) required replicas"), into: &out)
        }
        if let done = dht.operations[id], done.done, done.waiting == 0 { dht.operations[id] = nil }
    }

    mutating func finish(_ id: UInt32, _ outcome: DHTOutcome, into out: inout [Directive]) {
        guard let operation = dht.operations.removeValue(forKey: id), !operation.done else { return }
        out.append(.dhtCompleted(id, outcome))
    }

    mutating func nextOperationID() -> UInt32 {
        dht.nextID &+= 1
        return dht.nextID
    }
}
