import GRPCCore
import NodeHealth
import Testing

@testable import NodeGRPC

@Suite("The gRPC health board and service")
struct ServingStatusBoardTests {
    @Test("a watch gets the current status at once, then each change; SERVICE_UNKNOWN while a service is absent")
    func watchSequence() async {
        let board = ServingStatusBoard()
        board.update(["": .serving, "disk-space": .serving])
        var ready = board.watch("").makeAsyncIterator()
        var absent = board.watch("later").makeAsyncIterator()
        #expect(await ready.next() == .serving)
        #expect(await absent.next() == .serviceUnknown)
        board.update(["": .notServing, "disk-space": .serving, "later": .serving])
        #expect(await ready.next() == .notServing)
        #expect(await absent.next() == .serving)
        board.update(["": .notServing, "disk-space": .notServing])  // "" unchanged: nothing for its watcher
        #expect(await absent.next() == .serviceUnknown)
        board.shutDown()
        #expect(await ready.next() == .notServing)
        #expect(await ready.next() == nil, "the stream ends at shutdown")
        #expect(await absent.next() == .notServing)
        #expect(await absent.next() == nil)
        #expect(board.watcherCount == 0)
    }

    @Test("after shutdown every service is NOT_SERVING, updates are ignored, a new watch ends at once")
    func shutdown() async {
        let board = ServingStatusBoard()
        board.update(["": .serving, "cluster": .serving])
        board.shutDown()
        board.update(["": .serving, "cluster": .serving])
        #expect(board.snapshot() == ["": .notServing, "cluster": .notServing])
        var late = board.watch("").makeAsyncIterator()
        #expect(await late.next() == .notServing)
        #expect(await late.next() == nil)
    }

    @Test("the node's services: readiness, each check, the cluster (healthy or degraded serve)")
    func statuses() {
        var system = SystemStatus(
            status: .degraded, message: "", checks: [:], uptime: .zero, startTime: .now, lastUpdate: .now, version: "t", nodeID: "n")
        system.checks["disk-space"] = CheckResult(healthy: true, message: "ok")
        system.checks["memory-usage"] = CheckResult(healthy: false, message: "full")
        #expect(ServingStatusBoard.statuses(of: system, cluster: .degraded) == [
            "": .serving, "disk-space": .serving, "memory-usage": .notServing, "cluster": .serving,
        ])
        system.status = .stopping
        #expect(ServingStatusBoard.statuses(of: system, cluster: .unhealthy)[""] == .notServing)
        #expect(ServingStatusBoard.statuses(of: system, cluster: .unhealthy)["cluster"] == .notServing)
        #expect(ServingStatusBoard.statuses(of: system, cluster: nil)["cluster"] == nil)
    }

    @Test("Check: NOT_FOUND for an unknown service; List: RESOURCE_EXHAUSTED above 100 services")
    func serviceErrors() async throws {
        let board = ServingStatusBoard()
        let service = HealthService(board: board)
        let context = ServerContext(
            descriptor: MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check"), remotePeer: "test",
            localPeer: "test", cancellation: .init())
        board.update(Dictionary(uniqueKeysWithValues: (0..<100).map { ("check-\($0)", .serving) }))
        #expect(try await service.list(request: .init(), context: context).statuses.count == 100)
        await #expect(throws: RPCError.self) { try await service.check(request: .with { $0.service = "nope" }, context: context) }
        do {
            _ = try await service.check(request: .with { $0.service = "nope" }, context: context)
        } catch let error as RPCError {
            #expect(error.code == .notFound)
        }
        board.update(Dictionary(uniqueKeysWithValues: (0..<101).map { ("check-\($0)", .serving) }))
        do {
            _ = try await service.list(request: .init(), context: context)
            Issue.record("101 services listed")
        } catch let error as RPCError {
            #expect(error.code == .resourceExhausted)
        }
        #expect(try await service.check(request: .with { $0.service = "check-7" }, context: context).status == .serving)
    }
}
