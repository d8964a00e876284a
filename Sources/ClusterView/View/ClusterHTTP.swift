#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import GossipCore
import Hummingbird
import NodeHealth
import NodeHealthHTTP

/// The cluster endpoints: `GET /cluster/members` and `GET /cluster/nodes/{id}/status`.
public enum ClusterHTTP {
    /// One member in `/cluster/members`.
    public struct Member: Codable, Sendable, Hashable {
        public var nodeID: String?
        public var publicKey: String
        public var fingerprint: String
        public var address: String
        public var state: String
        public var incarnation: UInt64
        public var generation: UInt64
        public var isSelf: Bool
        public var stateAgeSeconds: Double
        public var status: StatusSummary?
        /// Its labels, from its signed status (absent when it has none).
        public var labels: [String: String]?
        /// What its accusations of other members came to (absent when it made none).
        public var accusations: AccusationSummary?
        /// Fingerprints of the members whose signed suspicions of it this node holds.
        public var suspectedBy: [String]?

        enum CodingKeys: String, CodingKey {
            case nodeID = "node_id", publicKey = "public_key", fingerprint, address, state, incarnation, generation
            case isSelf = "self", stateAgeSeconds = "state_age_seconds", status, labels, accusations
            case suspectedBy = "suspected_by"
        }
    }

    /// The latest status held for a member, in brief.
    public struct StatusSummary: Codable, Sendable, Hashable {
        public var status: String?
        public var generation: UInt64
        public var version: UInt64
        /// Seconds since this node accepted it.
        public var ageSeconds: Double?

        enum CodingKeys: String, CodingKey { case status, generation, version, ageSeconds = "age_seconds" }
    }

    /// A member known only from its signed announcement: no status of it arrived yet, so no
    /// node id binds to its key (a node that just joined, or one met again after its status
    /// was forgotten).
    public struct Joining: Codable, Sendable, Hashable {
        public var publicKey: String
        public var fingerprint: String
        public var address: String
        public var state: String
        public var incarnation: UInt64
        public var generation: UInt64
        public var stateAgeSeconds: Double

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key", fingerprint, address, state, incarnation, generation
            case stateAgeSeconds = "state_age_seconds"
        }
    }

    /// The answer of `/cluster/members`.
    public struct Members: Codable, Sendable, Hashable {
        /// The members this node holds a signed status of (so each has its node id), itself first.
        public var members: [Member]
        /// The members whose status has not arrived yet.
        public var joining: [Joining]
        /// Members by state, this node and the joining ones included.
        public var counts: [String: Int]
    }

    /// The answer of `/cluster/nodes/{id}/status`: the signed bytes and their decoded fields.
    public struct SignedStatusBody: Codable, Sendable, Hashable {
        public struct Check: Codable, Sendable, Hashable {
            public var name: String
            public var healthy: Bool
            public var critical: Bool
            /// Passing but degraded (flag bit 2).
            public var degraded: Bool?
            public var latencyMicros: UInt32
            public var message: String
            enum CodingKeys: String, CodingKey { case name, healthy, critical, degraded, latencyMicros = "latency_us", message }
        }
        public struct Extension: Codable, Sendable, Hashable {
            public var type: UInt8
            /// Base64.
            public var value: String
        }
        /// Hex of the 32-byte Ed25519 public key.
        public var publicKey: String
        /// Base64 of exactly the bytes the signature covers (see docs/wire-format.md).
        public var payload: String
        /// Hex of the 64-byte Ed25519 signature.
        public var signature: String
        public var nodeID: String
        public var generation: UInt64
        public var version: UInt64
        public var issuedAt: String
        public var status: String
        public var message: String
        public var uptimeSeconds: UInt32
        public var softwareVersion: String
        public var checks: [Check]
        public var extensions: [Extension]

        enum CodingKeys: String, CodingKey {
            case publicKey = "public_key", payload, signature, nodeID = "node_id", generation, version
            case issuedAt = "issued_at", status, message, uptimeSeconds = "uptime_seconds"
            case softwareVersion = "software_version", checks, extensions
        }

        public init(_ signed: SignedStatus) {
            let p = signed.projection
            publicKey = p.publicKey.hex
            payload = Data(signed.payload).base64EncodedString()
            signature = Hex.encode(signed.signature)
            nodeID = p.nodeID
            generation = p.generation
            version = p.version
            issuedAt = TimeFormatting.rfc3339(millis: p.issuedAtMillis)
            status = p.status.rawValue
            message = p.message
            uptimeSeconds = p.uptimeSeconds
            softwareVersion = p.softwareVersion
            checks = p.checks.map {
                Check(
                    name: $0.name, healthy: $0.healthy, critical: $0.critical, degraded: $0.degraded, latencyMicros: $0.latencyMicros,
                    message: $0.message)
            }
            extensions = p.extensions.map { Extension(type: $0.type, value: Data($0.value).base64EncodedString()) }
        }
    }

    /// What the view endpoints read besides the merged view: the signed statuses held, and the
    /// keys trusted. A node's gossip in a node; a simulated cluster in `simulate --serve`.
    public struct Source: Sendable {
        public var signedStatus: @Sendable (String) async -> SignedStatus?
        public var trust: @Sendable () async -> TrustPolicy

        public init(signedStatus: @escaping @Sendable (String) async -> SignedStatus?, trust: @escaping @Sendable () async -> TrustPolicy) {
            self.signedStatus = signedStatus
            self.trust = trust
        }

        /// No signed statuses, no trusted key (benchmarks and tests of the merged view alone).
        public static let none = Source(signedStatus: { _ in nil }, trust: { .keys([]) })

        public static func node(_ node: GossipNode) -> Source {
            Source(signedStatus: { await node.signedStatus(of: $0) }, trust: { await node.trustPolicy() })
        }
    }

    /// The trust list as `/cluster/trust` shows it.
    public struct TrustBody: Codable, Sendable, Hashable {
        /// `keys`: only `keys` are trusted; `any`: any key (open mode).
        public var mode: String
        /// Hex of each trusted Ed25519 public key, sorted.
        public var keys: [String]
    }

    /// The cluster endpoints: the merged view from `monitor` (``viewRoutes(monitor:source:)``),
    /// and the membership straight from `node`.
    public static func routes(node: GossipNode, monitor: ClusterMonitor) -> NodeRoutes<BasicRequestContext> {
        let router = viewRoutes(monitor: monitor, source: .node(node))
        router.get("/cluster/members") { _, _ in
            let views = await node.memberViews()
            return try HealthHTTP.jsonResponse(members(views), status: .ok)
        }
        return router
    }

    /// The endpoints served from `monitor`'s merged view and `source`: the console (`/cluster` and
    /// its files), `/cluster/history`, `/cluster/health` and its live stream, `/cluster/nodes/{id}`,
    /// the signed statuses and the trust list.
    public static func viewRoutes(monitor: ClusterMonitor, source: Source = .none) -> NodeRoutes<BasicRequestContext> {
        let router = NodeRoutes(context: BasicRequestContext.self)
        Console.add(to: router)
        router.get("/cluster/history") { _, _ in
            try HealthHTTP.jsonResponse(await monitor.history(), status: .ok)
        }
        router.get("/cluster/health") { request, _ in
            try await health(request, monitor: monitor)
        }
        router.get("/cluster/health/stream") { request, _ in
            guard request.uri.queryParameters.isEmpty else {
                return try HealthHTTP.errorResponse(.badRequest, "the stream takes no parameters", path: request.uri.path)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody { writer in try await stream(monitor, to: &writer) })
        }
        router.get("/cluster/nodes/:id") { request, context in
            let id = try context.parameters.require("id")
            let health = await monitor.serve().health
            let lowered = id.lowercased()
            guard let found = health.nodes.first(where: { $0.nodeID == id || $0.fingerprint == lowered || lowered.hasPrefix($0.fingerprint) && lowered.count == 64 }) else {
                return try HealthHTTP.errorResponse(.notFound, "no member \(id)", path: request.uri.path)
            }
            return try HealthHTTP.jsonResponse(found, status: .ok)
        }
        router.get("/cluster/nodes/:id/status") { request, context in
            let id = try context.parameters.require("id")
            guard let signed = await source.signedStatus(id) else {
                return try HealthHTTP.errorResponse(.notFound, "no status held for node \(id)", path: request.uri.path)
            }
            return try HealthHTTP.jsonResponse(SignedStatusBody(signed), status: .ok)
        }
        router.get("/cluster/trust") { _, _ in
            let body: TrustBody = switch await source.trust() {
            case .any: TrustBody(mode: "any", keys: [])
            case .keys(let keys): TrustBody(mode: "keys", keys: keys.map(\.hex).sorted())
            }
            return try HealthHTTP.jsonResponse(body, status: .ok)
        }
        return router
    }

    /// `GET /cluster/health/stream`: Server-Sent Events. First `view` (the whole `/cluster/health`
    /// document), then `change` whenever the view's revision moves (``ClusterHealthDocument/changes(since:)``:
    /// the summary and only the nodes that changed), checked every 250 ms, so a change reaches
    /// the page within about the snapshot's age plus 250 ms; a comment every 15 s keeps proxies
    /// from closing a quiet stream.
    static func stream(_ monitor: ClusterMonitor, to writer: inout some ResponseBodyWriter) async throws {
        var previous = await monitor.serve().document
        try await writer.write(ByteBuffer(bytes: Array("retry: 2000\nevent: view\nid: \(previous.revision)\ndata: ".utf8) + previous.render(ClusterHealthQuery()) + Array("\n\n".utf8)))
        var quiet = Duration.zero
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            let document = await monitor.serve().document
            if document.revision != previous.revision {
                try await writer.write(ByteBuffer(bytes: Array("event: change\nid: \(document.revision)\ndata: ".utf8) + document.changes(since: previous) + Array("\n\n".utf8)))
                previous = document
                quiet = .zero
            } else {
                quiet += .milliseconds(250)
                if quiet >= .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    quiet = .zero
                }
            }
        }
        try await writer.finish(nil)
    }

    /// `GET /cluster/health`: the view as JSON (filtered, paged, only some fields, or counts only;
    /// see ``ClusterHealthQuery``), or as text with `?verbose`; 503 while the cluster is unhealthy.
    /// A weak ETag that changes when anything but the ages changed answers `If-None-Match` with
    /// 304; gzip when the client accepts it. A bad parameter is a 400 that says what would do.
    static func health(_ request: Request, monitor: ClusterMonitor) async throws -> Response {
        let query: ClusterHealthQuery
        do {
            query = try ClusterHealthQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            return try HealthHTTP.errorResponse(.badRequest, error.description, path: request.uri.path)
        }
        let snapshot = await monitor.serve()
        let status: HTTPResponse.Status = snapshot.health.status == .unhealthy ? .serviceUnavailable : .ok
        if HTTPNegotiation.prefers(request.headers, mediaType: APIHealthDocument.mediaType) {
            var selected = snapshot.health
            selected.nodes = selected.nodes.filter(query.matches)
            return APIHealthDocument.cluster(selected).response
        }
        if query.verbose {
            return Response(
                status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: snapshot.verbose)))
        }
        let document = snapshot.document
        // no-cache: a cache may keep it but must ask again (with If-None-Match) before each use.
        var headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8", .cacheControl: "no-cache", .eTag: document.etag,
            .vary: "Accept-Encoding",
        ]
        if HTTPNegotiation.notModified(request.headers, etag: document.etag) {
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        }
        if HTTPNegotiation.accepts(request.headers, coding: "gzip"), let compressed = document.renderGzip(query) {
            headers[.contentEncoding] = "gzip"
            return Response(status: status, headers: headers, body: .init(byteBuffer: compressed))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: document.renderBuffer(query)))
    }

    /// The `/cluster/members` answer for `views`.
    public static func members(_ views: [GossipNode.MemberView]) -> Members {
        var counts = Dictionary(uniqueKeysWithValues: MemberState.allCases.map { ($0.description, 0) })
        for view in views { counts[view.state.description, default: 0] += 1 }
        let joining = views.filter { $0.nodeID == nil && !$0.isSelf }.map { view in
            Joining(
                publicKey: view.key.hex, fingerprint: view.key.fingerprint, address: view.address.description,
                state: view.state.description, incarnation: view.life.incarnation, generation: view.life.generation,
                stateAgeSeconds: millis(view.stateAge))
        }
        let members = views.filter { $0.nodeID != nil || $0.isSelf }.map { view in
            Member(
                nodeID: view.nodeID, publicKey: view.key.hex, fingerprint: view.key.fingerprint,
                address: view.address.description, state: view.state.description, incarnation: view.life.incarnation,
                generation: view.life.generation, isSelf: view.isSelf, stateAgeSeconds: millis(view.stateAge),
                status: view.statusGeneration.map { generation in
                    StatusSummary(
                        status: view.status?.rawValue, generation: generation, version: view.statusVersion ?? 0,
                        ageSeconds: view.statusAge.map(millis))
                },
                labels: view.projection.map { NodeLabels($0).dictionary }.flatMap { $0.isEmpty ? nil : $0 },
                accusations: view.accusations.map(AccusationSummary.init),
                suspectedBy: view.suspectedBy.isEmpty ? nil : view.suspectedBy.map(\.fingerprint))
        }
        return Members(members: members, joining: joining, counts: counts)
    }
}

/// `duration` in seconds, to the millisecond.
private func millis(_ duration: Duration) -> Double { (duration.seconds * 1000).rounded() / 1000 }
