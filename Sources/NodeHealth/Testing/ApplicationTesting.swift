
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NodeHealthHTTP
import ServiceLifecycle

// Hummingbird's own `HummingbirdTesting` offers the same `app.test(.router)`, but it links
// async-http-client, and with it BoringSSL, swift-nio-ssl, HTTP/2 and swift-configuration: about
// half of this package's clean build for two dozen test requests. This kit keeps the same
// shape (`.router` hands requests straight to the responder, `.live` runs the server on port 0)
// on what the node already links.

/// How ``Hummingbird/ApplicationProtocol/test(_:_:)`` reaches the application.
public enum TestMode: Sendable {
    /// Requests go straight to the application's responder, in process, without a socket.
    case router
    /// The application runs as a server on 127.0.0.1, on a port the system picks, and requests
    /// go over TCP with ``NodeHealthHTTP/HTTPClient``.
    case live
}

/// A response as a test sees it.
public struct TestResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: ByteBuffer
}

/// Sends requests to the application under test.
public struct TestClient: Sendable {
    fileprivate let send: @Sendable (String, HTTPRequest.Method, HTTPFields, ByteBuffer?) async throws -> TestResponse
    /// The port of a live server; `nil` in ``TestMode/router`` mode.
    public let port: Int?

    /// Sends one request and returns the whole response.
    @discardableResult
    public func execute(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil
    ) async throws -> TestResponse {
        try await send(uri, method, headers, body)
    }

    /// Sends one request and hands the response to `inspect`.
    @discardableResult
    public func execute<Value>(
        uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
        _ inspect: (TestResponse) async throws -> Value
    ) async throws -> Value {
        try await inspect(try await send(uri, method, headers, body))
    }
}

extension ApplicationProtocol where Context: InitializableFromSource<ApplicationRequestContextSource> {
    /// Runs `body` with a client for this application, its services running meanwhile.
    public func test<Value: Sendable>(
        _ mode: TestMode, _ body: @Sendable (TestClient) async throws -> Value
    ) async throws -> Value {
        switch mode {
        case .router:
            let responder = try await self.responder
            let logger = self.logger
            let client = TestClient(
                send: { uri, method, headers, requestBody in
                    try await Self.respond(
                        responder, logger: logger, uri: uri, method: method, headers: headers, body: requestBody)
                }, port: nil)
            for process in processesRunBeforeServerStart { try await process() }
            return try await withServices(services) { try await body(client) }
        case .live:
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let live = LiveApplication(base: self, reportPort: continuation)
            return try await withServices([live]) {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                let client = TestClient(
                    send: { uri, method, headers, requestBody in
                        let response = try await HTTPClient.request(
                            "http://127.0.0.1:\(port)\(uri)", method: HTTPMethod(rawValue: method.rawValue),
                            headers: headers.map { ($0.name.rawName, $0.value) },
                            body: requestBody.map { Array($0.readableBytesView) }, timeout: .seconds(30))
                        var fields = HTTPFields()
                        for (name, value) in response.headers {
                            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
                        }
                        return TestResponse(
                            status: .init(code: response.status), headers: fields, body: ByteBuffer(bytes: response.body))
                    }, port: port)
                return try await body(client)
            }
        }
    }

    private static func respond(
        _ responder: Responder, logger: Logger, uri: String, method: HTTPRequest.Method, headers: HTTPFields,
        body: ByteBuffer?
    ) async throws -> TestResponse {
        var headers = headers
        if let body { headers[.contentLength] = String(body.readableBytes) }
        let request = Request(
            head: .init(method: method, scheme: "http", authority: "localhost", path: uri, headerFields: headers),
            body: RequestBody(buffer: body ?? ByteBuffer()))
        let context = Context(source: .init(channel: EmbeddedChannel(), logger: logger))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch {
            response = Response(status: .internalServerError)
        }
        let writer = CollectingWriter()
        try await response.body.write(writer)
        return TestResponse(status: response.status, headers: response.headers, body: await writer.collected)
    }
}

/// Runs `services` in a service group while `body` runs, then shuts them down.
private func withServices<Value: Sendable>(
    _ services: [any Service], _ body: @Sendable () async throws -> Value
) async throws -> Value {
    if services.isEmpty { return try await body() }
    let group = ServiceGroup(
        configuration: .init(services: services, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let value = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return value
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// The application on 127.0.0.1 port 0, reporting the port it got.
private struct LiveApplication<Base: ApplicationProtocol>: ApplicationProtocol
where Base.Context: InitializableFromSource<ApplicationRequestContextSource> {
    typealias Responder = Base.Responder
    let base: Base
    let reportPort: AsyncStream<Int>.Continuation

    var responder: Responder { get async throws { try await base.responder } }
    var server: HTTPServerBuilder { base.server }
    var eventLoopGroup: any EventLoopGroup { base.eventLoopGroup }
    var configuration: ApplicationConfiguration {
        var configuration = base.configuration
        configuration.address = .hostname("127.0.0.1", port: 0)
        return configuration
    }
    var logger: Logger { base.logger }
    var services: [any Service] { base.services }
    var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { base.processesRunBeforeServerStart }

    @Sendable func onServerRunning(_ channel: any Channel) async {
        await base.onServerRunning(channel)
        reportPort.yield(channel.localAddress?.port ?? 0)
    }
}

/// Collects a response body.
private actor CollectingWriter: ResponseBodyWriter {
    private var buffer = ByteBuffer()
    var collected: ByteBuffer { buffer }

    func write(_ buffer: ByteBuffer) async throws {
        var incoming = buffer
        self.buffer.writeBuffer(&incoming)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
