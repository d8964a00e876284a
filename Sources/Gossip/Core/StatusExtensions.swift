/// The typed extensions a node's own gossip layer adds to its signed status: its election view
/// (type 1), its peer count (type 2) and its replication figures (type 3); the shell adds the
/// node's labels (type 4, ``NodeLabels``).
///
/// Every extension value starts with a byte `m`: the `m` bytes after it are the meaningful part
/// (a change re-signs and republishes the status at once); the bytes after those are figures
/// that ride on the slow refresh. Layouts (big-endian) are in `docs/wire-format.md`.
public enum StatusExtensionType {
    public static let election: UInt8 = 1
    public static let peers: UInt8 = 2
    public static let replication: UInt8 = 3
    public static let labels: UInt8 = 4
}

extension StatusProjection.Extension {
    /// The meaningful part of the value: the first byte `m` and the `m` bytes after it (the
    /// whole value when it does not follow that layout).
    public var meaningfulBytes: ArraySlice<UInt8> {
        guard let first = value.first, Int(first) + 1 <= value.count else { return value[...] }
        return value.prefix(Int(first) + 1)
    }
}

/// Extension type 1: whom the node follows as leader, and how it sees the election.
public struct ElectionExtension: Sendable, Hashable {
    /// The leader's key prefix (first 8 bytes), 0 when none is known.
    public var leaderPrefix: UInt64
    public var term: UInt64
    /// Whether this node claims leadership (then `leaderPrefix` is its own).
    public var claiming: Bool
    /// Figures: the latest heartbeat round trip to the leader in milliseconds (0 on the leader),
    /// leadership changes seen, and how long the leader has led in seconds.
    public var heartbeatMillis: UInt16
    public var leadershipChanges: UInt32
    public var leaderAgeSeconds: UInt32

    public init(
        leaderPrefix: UInt64, term: UInt64, claiming: Bool, heartbeatMillis: UInt16, leadershipChanges: UInt32,
        leaderAgeSeconds: UInt32
    ) {
        self.leaderPrefix = leaderPrefix
        self.term = term
        self.claiming = claiming
        self.heartbeatMillis = heartbeatMillis
        self.leadershipChanges = leadershipChanges
        self.leaderAgeSeconds = leaderAgeSeconds
    }

    public var encoded: StatusProjection.Extension {
        var w = WireWriter(capacity: 32)
        w.u8(17)
        w.u64(leaderPrefix)
        w.u64(term)
        w.u8(claiming ? 1 : 0)
        w.u16(heartbeatMillis)
        w.u32(leadershipChanges)
        w.u32(leaderAgeSeconds)
        return .init(type: StatusExtensionType.election, value: w.bytes)
    }

    public init?(_ projection: StatusProjection) {
        guard let value = projection.extensions.first(where: { $0.type == StatusExtensionType.election })?.value else {
            return nil
        }
        var r = WireReader(value)
        guard (try? r.u8("m")) == 17, let leader = try? r.u64("leader"), let term = try? r.u64("term"),
            let flags = try? r.u8("flags"), let heartbeat = try? r.u16("heartbeat"), let changes = try? r.u32("changes"),
            let age = try? r.u32("age")
        else { return nil }
        self.init(
            leaderPrefix: leader, term: term, claiming: flags & 1 == 1, heartbeatMillis: heartbeat,
            leadershipChanges: changes, leaderAgeSeconds: age)
    }
}

/// Extension type 2: connected peers.
public struct PeersExtension: Sendable, Hashable {
    /// Meaningful: fewer live peers than the configured minimum.
    public var belowMinimum: Bool
    /// Figure: live peers (alive or suspect members besides the node).
    public var connectedPeers: UInt16

    public init(belowMinimum: Bool, connectedPeers: UInt16) {
        self.belowMinimum = belowMinimum
        self.connectedPeers = connectedPeers
    }

    public var encoded: StatusProjection.Extension {
        var w = WireWriter(capacity: 4)
        w.u8(1)
        w.u8(belowMinimum ? 1 : 0)
        w.u16(connectedPeers)
        return .init(type: StatusExtensionType.peers, value: w.bytes)
    }

    public init?(_ projection: StatusProjection) {
        guard let value = projection.extensions.first(where: { $0.type == StatusExtensionType.peers })?.value else {
            return nil
        }
        var r = WireReader(value)
        guard (try? r.u8("m")) == 1, let flag = try? r.u8("below"), let peers = try? r.u16("peers") else { return nil }
        self.init(belowMinimum: flag == 1, connectedPeers: peers)
    }
}

/// Extension type 3: the node's DHT replication figures.
public struct ReplicationExtension: Sendable, Hashable {
    /// Meaningful: some keys have stayed under-replicated past the grace period (repair is failing).
    public var underReplicated: Bool
    public var storedKeys: UInt32
    public var primaryKeys: UInt32
    public var underReplicatedKeys: UInt32
    /// Average replication factor over the primary keys, × 100.
    public var averageFactorHundredths: UInt16
    public var providerRecords: UInt32
    public var repairedKeys: UInt32
    public var failures: UInt32

    public init(
        underReplicated: Bool, storedKeys: UInt32, primaryKeys: UInt32, underReplicatedKeys: UInt32,
        averageFactorHundredths: UInt16, providerRecords: UInt32, repairedKeys: UInt32, failures: UInt32
    ) {
        self.underReplicated = underReplicated
        self.storedKeys = storedKeys
        self.primaryKeys = primaryKeys
        self.underReplicatedKeys = underReplicatedKeys
        self.averageFactorHundredths = averageFactorHundredths
        self.providerRecords = providerRecords
        self.repairedKeys = repairedKeys
        self.failures = failures
    }

    public var averageFactor: Double { Double(averageFactorHundredths) / 100 }

    public var encoded: StatusProjection.Extension {
        var w = WireWriter(capacity: 32)
        w.u8(1)
        w.u8(underReplicated ? 1 : 0)
        w.u32(storedKeys)
        w.u32(primaryKeys)
        w.u32(underReplicatedKeys)
        w.u16(averageFactorHundredths)
        w.u32(providerRecords)
        w.u32(repairedKeys)
        w.u32(failures)
        return .init(type: StatusExtensionType.replication, value: w.bytes)
    }

    public init?(_ projection: StatusProjection) {
        guard let value = projection.extensions.first(where: { $0.type == StatusExtensionType.replication })?.value else {
            return nil
        }
        var r = WireReader(value)
        guard (try? r.u8("m")) == 1, let flag = try? r.u8("flag"), let stored = try? r.u32("stored"),
            let primary = try? r.u32("primary"), let under = try? r.u32("under"), let factor = try? r.u16("factor"),
            let providers = try? r.u32("providers"), let repaired = try? r.u32("repaired"), let failures = try? r.u32("failures")
        else { return nil }
        self.init(
            underReplicated: flag == 1, storedKeys: stored, primaryKeys: primary, underReplicatedKeys: under,
            averageFactorHundredths: factor, providerRecords: providers, repairedKeys: repaired, failures: failures)
    }
}
