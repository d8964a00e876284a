import Foundation
import Hummingbird
import Synchronization

/// A webhook receiver on 127.0.0.1, port 0, for tests of notifications: records each JSON body
/// (its string fields); answers 500 to the first
/// `failFirst` requests and never answers while `hang` is set.
public final class WebhookReceiver: Sendable {
    public let bodies = Mutex<[[String: String]]>([])
    public let requests = Atomic<Int>(0)
    let failFirst: Int
    let hang: Bool

    public init(failFirst: Int = 0, hang: Bool = false) {
        self.failFirst = failFirst
        self.hang = hang
    }

    public var received: [[String: String]] { bodies.withLock { $0 } }

    /// Runs the receiver while `body` runs, with its URL.
    public func serve(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/hook") { request, context -> Response in
            let n = self.requests.add(1, ordering: .relaxed).newValue
            let buffer = try await request.body.collect(upTo: 1 << 20)
            if self.hang { try await Task.sleep(for: .seconds(3600)) }
            if n <= self.failFirst { return Response(status: .internalServerError) }
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: String] ?? [:]
            self.bodies.withLock { $0.append(json) }
            return Response(status: .ok)
        }
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            try await body("http://127.0.0.1:\(port.withLock { $0 }!)/hook")
            group.cancelAll()
        }
    }
}

