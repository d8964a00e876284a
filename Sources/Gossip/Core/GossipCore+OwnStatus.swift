/// The node's own status: the draft the shell publishes, the extensions the core adds (election
/// view, peers, replication figures), signing on meaningful changes and the slow refresh.
extension GossipCore {
    /// Publishes this node's status. The core signs a new version when the draft differs
    /// meaningfully from the last signed one (or none was signed), and otherwise keeps it to be
    /// signed on the slow refresh. The core adds its extensions, the key, life and version.
    public mutating func publish(_ draft: StatusDraft, now: Duration) -> [Directive] {
        self.draft = draft
        if let current = store.statuses[key]?.projection {
            let candidate = proposal(draft, now: now)
            guard candidate.differsMeaningfully(from: current) else { return [] }
            guard signsAtOnce(candidate, current: current, now: now) else { return [] }
        }
        var out = sign(now: now)
        gossipIfDue(now: now, into: &out)
        return out
    }

    /// Whether a meaningful change is signed now, or waits for the end of the
    /// ``GossipSettings/statusSigningInterval`` since the last version (``signingDueAt``).
    /// Bad news (a worse level: degraded, unhealthy, stopping) and a leadership claim won or given
    /// up never wait.
    mutating func signsAtOnce(_ candidate: StatusProjection, current: StatusProjection, now: Duration) -> Bool {
        if now - lastSignedAt >= settings.statusSigningInterval || Self.severity(candidate.status) > Self.severity(current.status)
            || ElectionExtension(candidate)?.claiming != ElectionExtension(current)?.claiming
        {
            return true
        }
        signingDueAt = lastSignedAt + settings.statusSigningInterval
        return false
    }

    static func severity(_ level: StatusLevel) -> Int {
        switch level {
        case .healthy, .starting: 0
        case .degraded: 1
        case .unhealthy: 2
        case .stopping: 3
        }
    }

    /// At the end of a signing interval with a change waiting: signs it if it still differs
    /// meaningfully from the signed version (it may have changed back).
    mutating func signWaitingChange(now: Duration, into out: inout [Directive]) {
        guard let due = signingDueAt, now >= due else { return }
        signingDueAt = nil
        guard let draft, let current = store.statuses[key]?.projection,
            proposal(draft, now: now).differsMeaningfully(from: current)
        else { return }
        out += sign(now: now)
    }

    mutating func sign(now: Duration) -> [Directive] {
        guard let draft else { return [] }
        guard let signed = try? SignedStatus.sign(proposal(draft, now: now), with: keyPair) else {
            stats.dropped[.unsignableStatus, default: 0] += 1
            return []
        }
        store.storeOwn(signed, now: now)
        signingDueAt = nil
        digestChanged.insert(key)
        scheduleRefresh(now: now)
        queueRumour(.status(signed), about: .init(key: key, isStatus: true))
        return [.statusAccepted(key)]
    }

    /// The slow refresh interval for the current cluster size: every node re-signs about this
    /// often, so each node relays N refreshes per interval; scaling it with N keeps that traffic
    /// per node about constant (see ``GossipSettings/statusRefreshPerMember``).
    public var refreshInterval: Duration {
        max(settings.statusRefreshInterval, settings.statusRefreshPerMember * (liveKeys.count + 1))
    }

    /// A factor in 0.75..<1.25 from the core's random source (deterministic in the simulator):
    /// ±25 % on the periodic work nodes started together would otherwise do in step.
    mutating func nextJitter() -> Double { 0.75 + Double(rng.next() % 1000) / 2000 }

    mutating func scheduleRefresh(now: Duration) {
        refreshJitter = nextJitter()
        lastSignedAt = now
        nextRefreshAt = now + refreshInterval * refreshJitter
    }

    /// Once a second (from the services' tick, with the replication figures computed once):
    /// re-signs when the extensions changed meaningfully.
    mutating func resignIfExtensionsChanged(now: Duration, figures: ReplicationFigures, into out: inout [Directive]) {
        guard let draft, let current = store.statuses[key]?.projection else { return }
        let candidate = proposal(draft, now: now, figures: figures)
        if candidate.differsMeaningfully(from: current) || Self.clearsUnderReplication(signed: current, next: candidate),
            signsAtOnce(candidate, current: current, now: now)
        {
            out += sign(now: now)
        }
    }

    /// Whether the signed status shows under-replicated keys that are all replicated again. The
    /// figure is not meaningful by itself (a repair after a membership change would re-sign every
    /// primary twice), but a status signed during the repair for another reason would otherwise
    /// tell the cluster of keys under-replicated until the slow refresh, minutes after the repair.
    static func clearsUnderReplication(signed: StatusProjection, next: StatusProjection) -> Bool {
        guard let shown = ReplicationExtension(signed), shown.underReplicatedKeys > 0 else { return false }
        return ReplicationExtension(next).map { $0.underReplicatedKeys == 0 } ?? false
    }

    /// The extensions this layer adds to the node's status: election view, peers, replication.
    func coreExtensions(now: Duration, figures: ReplicationFigures? = nil) -> [StatusProjection.Extension] {
        let view = electionView
        let rttMillis = view.heartbeatRTT.map { UInt16(min(max(0, $0 / .milliseconds(1)), 65_535)) } ?? 0
        let leaderAge = view.leaderSince.map { UInt32(clamping: (now - $0).components.seconds) } ?? 0
        let election = ElectionExtension(
            leaderPrefix: view.leader?.prefix ?? 0, term: view.term, claiming: view.isLeader, heartbeatMillis: rttMillis,
            leadershipChanges: UInt32(clamping: view.leadershipChanges), leaderAgeSeconds: leaderAge)
        let peers = PeersExtension(
            belowMinimum: liveKeys.count < settings.minPeers, connectedPeers: UInt16(clamping: liveKeys.count))
        let figures = figures ?? replicationFigures(now: now)
        let lasting = dht.underSince.map { now - $0 >= settings.underReplicationGrace } ?? false
        let replication = ReplicationExtension(
            underReplicated: lasting, storedKeys: UInt32(clamping: figures.stored), primaryKeys: UInt32(clamping: figures.primary),
            underReplicatedKeys: UInt32(clamping: figures.underReplicated),
            averageFactorHundredths: UInt16(clamping: Int((figures.averageFactor * 100).rounded())),
            providerRecords: UInt32(clamping: figures.providers), repairedKeys: UInt32(clamping: dht.stats.repairedKeys),
            failures: UInt32(clamping: dht.stats.requestsFailed))
        return [election.encoded, peers.encoded, replication.encoded]
    }

    /// The status this node would sign now: `draft` with its own extensions (other types) merged
    /// with ``coreExtensions(now:figures:)``, under this node's key and life, at the next version.
    func proposal(_ draft: StatusDraft, now: Duration, figures: ReplicationFigures? = nil) -> StatusProjection {
        let core = coreExtensions(now: now, figures: figures)
        let types = Set(core.map(\.type))
        var merged = draft
        merged.extensions = draft.extensions.filter { !types.contains($0.type) } + core
        let previous = store.statuses[key]?.projection
        let version = previous.map { $0.generation == life.generation ? $0.version &+ 1 : 1 } ?? 1
        return merged.projection(publicKey: key, generation: life.generation, version: version)
    }
}
