@testable import GossipCore
import Testing

/// The leader heartbeat: a lost ping or ack is tried again within the round.
@Suite("Leader heartbeat")
struct HeartbeatTests {
    @Test("an unanswered heartbeat is resent after the probe timeout, at most twice a round; any ack from the leader shows it alive")
    func resends() throws {
        var h = ServicesCoreTests.converged(3)
        let leader = try #require(h.cores.indices.first { h.cores[$0].electionView.isLeader })
        let follower = leader == 0 ? 1 : 0
        var core = h.cores[follower]
        let timeout = core.settings.probeTimeout
        let start = h.now
        core.election.heartbeatSequence = nil
        core.election.nextHeartbeatAt = start

        func pings(at time: Duration) -> [UInt32] {
            var out: [GossipCore.Directive] = []
            core.heartbeat(now: time, into: &out)
            return out.flatMap { directive -> [UInt32] in
                guard case .send(let bytes, _) = directive, let parts = try? Datagram.decode(bytes) else { return [] }
                return parts.compactMap { if case .ping(let sequence) = $0 { sequence } else { nil } }
            }
        }
        let first = pings(at: start)
        #expect(first.count == 1)
        // The next round is jittered ±25 % around the 5-s interval, so that followers which
        // adopted the leader together do not ping it in step.
        let round = core.election.nextHeartbeatAt - start
        #expect(round >= .milliseconds(3750) && round < .milliseconds(6250), "\(round)")
        #expect(pings(at: start + timeout / 2).isEmpty, "not before the probe timeout")
        let second = pings(at: start + timeout)
        let third = pings(at: start + timeout * 2)
        #expect(second.count == 1 && third.count == 1 && Set(first + second + third).count == 3)
        #expect(pings(at: start + timeout * 3).isEmpty, "three attempts a round")

        // A late ack of the first attempt from the leader: alive, but no round trip measured from it.
        let rtt = core.election.heartbeatRTT
        let other = 3 - leader - follower
        core.noteHeartbeat(first[0], from: h.key(other), now: start + timeout * 3)
        #expect(core.election.heartbeatSequence != nil, "an ack from another member is not a heartbeat")
        core.noteHeartbeat(first[0], from: h.key(leader), now: start + timeout * 3)
        #expect(core.election.heartbeatSequence == nil && core.election.lastHeartbeatAt == start + timeout * 3)
        #expect(core.election.heartbeatRTT == rtt)

        // The next round starts afresh: one ping, answered in time, measured, even when the ack
        // of a membership probe sent in the same tick comes first.
        let next = pings(at: core.election.nextHeartbeatAt)
        #expect(next.count == 1)
        core.noteHeartbeat(next[0] &- 1, from: h.key(leader), now: core.election.heartbeatSentAt + .milliseconds(2))
        #expect(core.election.heartbeatSequence == next[0] && core.election.lastHeartbeatAt == core.election.heartbeatSentAt + .milliseconds(2))
        core.noteHeartbeat(next[0], from: h.key(leader), now: core.election.heartbeatSentAt + .milliseconds(3))
        #expect(core.election.heartbeatRTT == .milliseconds(3))
    }

    @Test("followers that adopted the leader at the same moment ping it at different times")
    func outOfStep() throws {
        var h = ServicesCoreTests.converged(6)
        let start = h.now
        var next: Set<Duration> = []
        for i in h.cores.indices where !h.cores[i].electionView.isLeader {
            h.cores[i].election.heartbeatSequence = nil
            h.cores[i].election.nextHeartbeatAt = start
            var out: [GossipCore.Directive] = []
            h.cores[i].heartbeat(now: start, into: &out)
            next.insert(h.cores[i].election.nextHeartbeatAt)
        }
        #expect(next.count == 5, "five followers, five different next rounds: \(next)")
    }
}
