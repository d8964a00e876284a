import GossipCore
import NodeHealth
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// An HTTP/1.1 client over SwiftNIO's HTTP codec, for talking to nodes from the CLI (`status`,
/// `verify URL`, `maint`, `demo`), for webhooks and for live tests: one request per connection,
/// `http://` or `https://` (TLS by swift-nio-ssl, certificates checked against ``TLSTrust``).
public enum HTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The first value of the header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// A URL that cannot be fetched, or an answer that did not come; `description` says which.
    public struct URLError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Where a URL points: scheme, host, port and path with query.
    public struct Endpoint: Sendable, Equatable {
        /// `https://`: TLS, the certificate checked for `host`.
        public var secure: Bool
        public var host: String
        public var port: Int
        public var path: String

        /// The `Host` header: the port only when it is not the scheme's default.
        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
        }
    }

    /// The parts of an `http[s]://host[:port][/path]` URL. The authority is parsed by
    /// ``GossipCore/NodeAddress`` (the one `host:port` / `[v6]:port` parser); without a port it
    /// is 80 for http and 443 for https.
    public static func split(_ url: String) throws(URLError) -> Endpoint {
        let secure = url.hasPrefix("https://")
        guard secure || url.hasPrefix("http://") else {
            throw URLError(description: "\(url): only http:// and https:// URLs are supported")
        }
        let rest = url.dropFirst(secure ? "https://".count : "http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let portless = authority.hasPrefix("[") ? authority.hasSuffix("]") : !authority.contains(":")
        guard let address = NodeAddress(portless ? authority + (secure ? ":443" : ":80") : authority), address.port > 0 else {
            throw URLError(description: "\(url): bad host or port")
        }
        return Endpoint(secure: secure, host: address.host, port: Int(address.port), path: path)
    }

    /// Sends one request to `url` and waits at most `timeout` for the whole answer, of at most
    /// `maxBodyBytes`. An `https://` URL's certificate is checked against `trust` (by default
    /// the system's trust store).
    public static func request(
        _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(5), userAgent: String = "chorus-cluster-health", maxBodyBytes: Int = 64 << 20,
        trust: TLSTrust? = nil
    ) async throws -> Response {
        let endpoint = try split(url)
        return try await withThrowingTaskGroup(of: Response?.self) { group in
            group.addTask {
                let channel = try await connect(endpoint, timeout: .seconds(Int64(timeout.components.seconds) + 1), trust: trust)
                return try await channel.executeThenClose { inbound, outbound in
                    var head = requestHead(method, endpoint, headers: headers, userAgent: userAgent)
                    if let body { head.headers.add(name: "Content-Length", value: "\(body.count)") }
                    // A server may answer before the body is sent and close (413 for a body over its
                    // limit): a failed write is reported only when no answer follows it.
                    var writeError: (any Error)?
                    do {
                        // One write and one flush: over TLS, one record for a small request.
                        var parts: [HTTPClientRequestPart] = [.head(head)]
                        if let body { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                        parts.append(.end(nil))
                        try await outbound.write(contentsOf: parts)
                    } catch {
                        writeError = error
                    }
                    var status = 0
                    var fields: [(name: String, value: String)] = []
                    var bytes: [UInt8] = []
                    for try await part in inbound {
                        switch part {
                        case .head(let response):
                            status = Int(response.status.code)
                            fields = response.headers.map { ($0.name, $0.value) }
                        case .body(let buffer):
                            // A server we do not run (a webhook receiver) may answer with anything.
                            guard bytes.count + buffer.readableBytes <= maxBodyBytes else {
                                throw URLError(description: "\(url): the answer is over \(maxBodyBytes) bytes")
                            }
                            bytes += buffer.readableBytesView
                        case .end: return Response(status: status, headers: fields, body: bytes)
                        }
                    }
                    if let writeError { throw writeError }
                    throw URLError(description: "\(url): the connection closed before the response ended")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            guard let first = try await group.next(), let response = first else {
                group.cancelAll()
                throw URLError(description: "\(url): no answer within \(timeout)")
            }
            group.cancelAll()
            return response
        }
    }

    /// Sends a GET to `url` and hands the answer's status and headers to `head`, then each piece
    /// of its body to `body` as it arrives, until the body ends or `body` returns false. For
    /// streams such as `/cluster/events/stream`: no overall timeout, only `connectTimeout`; the
    /// caller's task cancellation ends it.
    public static func stream(
        _ url: String, headers: [(String, String)] = [], connectTimeout: Duration = .seconds(5),
        userAgent: String = "chorus-cluster-health", trust: TLSTrust? = nil,
        head: @Sendable (_ status: Int, _ headers: [(name: String, value: String)]) async throws -> Void,
        body: @Sendable (ByteBuffer) async throws -> Bool
    ) async throws {
        let endpoint = try split(url)
        let channel = try await connect(endpoint, timeout: connectTimeout, trust: trust)
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(requestHead(.GET, endpoint, headers: headers, userAgent: userAgent)))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                switch part {
                case .head(let response):
                    try await head(Int(response.status.code), response.headers.map { ($0.name, $0.value) })
                case .body(let buffer):
                    guard try await body(buffer) else { return }
                case .end: return
                }
            }
            throw URLError(description: "\(url): the connection closed before the response ended")
        }
    }

    /// The head of a one-request connection to `endpoint`: Host, `Connection: close`, the user
    /// agent, then the caller's headers.
    static func requestHead(_ method: HTTPMethod, _ endpoint: Endpoint, headers: [(String, String)], userAgent: String)
        -> HTTPRequestHead
    {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: endpoint.path)
        head.headers.add(name: "Host", value: endpoint.hostHeader)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "User-Agent", value: userAgent)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        return head
    }

    /// A connection to `endpoint` with the HTTP client codec (behind TLS for `https://`), as an
    /// async channel the caller must hand to `executeThenClose` at once.
    ///
    /// The async channel is made only after the connection is up, never in the bootstrap's
    /// initializer: one made there and dropped because the connect failed or its task was
    /// cancelled traps in NIO ("Deinited NIOAsyncWriter without calling finish()", swift-nio
    /// #2637; seen when a notification's webhook request was cancelled at shutdown). Waiting on
    /// the futures ignores task cancellation, so nothing is dropped in between.
    static func connect(_ endpoint: Endpoint, timeout: Duration, trust: TLSTrust?) async throws
        -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    {
        let context = try endpoint.secure ? (trust ?? TLSTrust.system()).context : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
            .connect(host: endpoint.host, port: endpoint.port).get()
        do {
            return try await channel.eventLoop.submit {
                if let context {
                    // An IP address is no server name (SNI): NIOSSL then checks the certificate
                    // against the address connected to (an IP subject alternative name).
                    let name = NodeAddress.isIPLiteral(endpoint.host) ? nil : endpoint.host
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: name))
                }
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }.get()
        } catch {
            try? await channel.close()
            throw error
        }
    }
}
