import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ServiceLifecycle
import Synchronization

/// A webhook receiver on 127.0.0.1, port 0, for tests of notifications: records each JSON body
/// (its string fields); answers 500 to the first `failFirst` requests and never answers while
/// `hang` is set. With `tls` it serves `https://` with that certificate chain and key (PEM files).
public final class WebhookReceiver: Sendable {
    public let bodies = Mutex<[[String: String]]>([])
    public let requests = Atomic<Int>(0)
    let failFirst: Int
    let hang: Bool
    let tls: (certificateFile: String, keyFile: String)?
    /// Set when ``serve(_:)``'s body is done: a hanging request then ends, so the server can
    /// shut down gracefully.
    private let released = Atomic<Bool>(false)

    public init(failFirst: Int = 0, hang: Bool = false, tls: (certificateFile: String, keyFile: String)? = nil) {
        self.failFirst = failFirst
        self.hang = hang
        self.tls = tls
    }

    public var received: [[String: String]] { bodies.withLock { $0 } }

    /// Runs the receiver while `body` runs, with its URL.
    public func serve(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/hook") { request, context -> Response in
            let n = self.requests.add(1, ordering: .relaxed).newValue
            let buffer = try await request.body.collect(upTo: 1 << 20)
            while self.hang, !self.released.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(20)) }
            if n <= self.failFirst { return Response(status: .internalServerError) }
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: String] ?? [:]
            self.bodies.withLock { $0.append(json) }
            return Response(status: .ok)
        }
        let port = Mutex<Int?>(nil)
        var server = HTTPServerBuilder.http1()
        if let tls {
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.keyFile, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: configuration)
        }
        let app = Application(
            router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
        // Stopped by a graceful shutdown, never by cancelling it: cancelling a server while a
        // connection is accepted but not yet served traps in NIO (swift-nio #3481).
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "webhook-receiver")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            do {
                try await body("\(tls == nil ? "http" : "https")://127.0.0.1:\(port.withLock { $0 }!)/hook")
            } catch {
                released.store(true, ordering: .relaxed)
                await group.triggerGracefulShutdown()
                throw error
            }
            released.store(true, ordering: .relaxed)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
