import Foundation
import Gossip
import GossipCore
import NodeHealth
import Testing

@Suite("A health manager's status as the shell signs it")
struct HealthProjectionTests {
    @Test("the draft of a SystemStatus carries level, checks, criticality and latency")
    func fromSystemStatus() throws {
        let keys = SigningKeyPair()
        let status = SystemStatus(
            status: .unhealthy, message: "Critical checks failing: db",
            checks: [
                "db": CheckResult(healthy: false, message: "refused", latency: .milliseconds(15)),
                "disk": CheckResult(healthy: true, message: "fine", latency: .microseconds(800)),
            ],
            uptime: .seconds(90), startTime: Date(), lastUpdate: Date(), version: "v1.0.0", nodeID: "n1")
        let projection = StatusDraft(status: status, critical: ["db"], issuedAt: Date(timeIntervalSince1970: 1_764_000_000.5))
            .projection(publicKey: keys.publicKey, generation: 3, version: 9)
        #expect(projection.status == .unhealthy && projection.nodeID == "n1" && projection.softwareVersion == "v1.0.0")
        #expect(projection.uptimeSeconds == 90)
        #expect(projection.issuedAtMillis == 1_764_000_000_500)
        #expect(projection.checks == [
            .init(name: "db", healthy: false, critical: true, latencyMicros: 15_000, message: "refused"),
            .init(name: "disk", healthy: true, critical: false, latencyMicros: 800, message: "fine"),
        ])
    }

    @Test("every health status maps to the signed level of the same name and back")
    func levels() {
        for status in HealthStatus.allCases {
            #expect(StatusLevel(status).rawValue == status.rawValue)
            #expect(HealthStatus(StatusLevel(status)) == status)
        }
        #expect(StatusLevel.allCases.count == HealthStatus.allCases.count)
    }
}
