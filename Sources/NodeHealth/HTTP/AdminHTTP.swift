#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GossipCore
import Hummingbird
import NodeHealth

/// The admin endpoints, behind a bearer token: `GET` and `POST /admin/maintenance`, and, when
/// the node has a DHT, `GET` and `PUT /admin/dht?key=K` to read and write the cluster's DHT by hand.
public enum AdminHTTP {
    /// Largest accepted `PUT /admin/dht` body, in bytes (the DHT itself may accept less).
    public static let maxDHTValueBytes = 4096

    /// The body of `POST /admin/maintenance`.
    public struct MaintenanceRequest: Codable, Sendable, Hashable {
        /// `true` takes the node out of service, `false` puts it back.
        public var enabled: Bool
        /// Why (shown in the status message); optional.
        public var reason: String?

        public init(enabled: Bool, reason: String? = nil) {
            self.enabled = enabled
            self.reason = reason
        }
    }

    /// The answer of both methods: the maintenance state and the resulting status.
    public struct MaintenanceState: Codable, Sendable, Hashable {
        public var maintenance: Bool
        public var reason: String?
        public var status: String
        public var message: String
    }

    /// Longest accepted reason, in bytes.
    public static let maxReasonBytes = 160

    /// The admin endpoints; every request must carry `Authorization: Bearer <token>`.
    /// Without `dht` there are no `/admin/dht` routes.
    public static func routes(
        manager: HealthManager, token: String, dht: (any DHTInterface)? = nil
    ) -> NodeRoutes<BasicRequestContext> {
        let router = NodeRoutes(context: BasicRequestContext.self)
        let expected = Array(token.utf8)
        @Sendable func authorize(_ request: Request) throws {
            let header = request.headers[.authorization] ?? ""
            let given = header.hasPrefix("Bearer ") ? Array(header.utf8.dropFirst(7)) : []
            guard !expected.isEmpty, Sodium.constantTimeEqual(given, expected) else {
                var fields = HTTPFields()
                fields[.wwwAuthenticate] = "Bearer"
                throw HTTPError(.unauthorized, headers: fields, message: "a valid admin token is required (Authorization: Bearer ...)")
            }
        }
        router.get("/admin/maintenance") { request, _ in
            try authorize(request)
            return try HealthHTTP.jsonResponse(state(manager), status: .ok)
        }
        router.post("/admin/maintenance") { request, context in
            try authorize(request)
            let body = try await request.body.collect(upTo: 4096)
            let update: MaintenanceRequest
            do {
                update = try JSONDecoder().decode(MaintenanceRequest.self, from: Data(body.readableBytesView))
            } catch {
                throw HTTPError(.badRequest, message: #"expected JSON {"enabled": true|false, "reason": "..."}"#)
            }
            if let reason = update.reason, reason.utf8.count > maxReasonBytes {
                throw HTTPError(.badRequest, message: "reason longer than \(maxReasonBytes) bytes")
            }
            await manager.setMaintenance(update.enabled ? (update.reason ?? "") : nil)
            context.logger.notice(
                "maintenance set over HTTP", metadata: ["enabled": "\(update.enabled)", "reason": "\(update.reason ?? "")"])
            return try HealthHTTP.jsonResponse(state(manager), status: .ok)
        }
        guard let dht else { return router }
        @Sendable func key(of request: Request) throws -> String {
            guard let key = request.uri.queryParameters.get("key"), !key.isEmpty else {
                throw HTTPError(.badRequest, message: "name the key: /admin/dht?key=K")
            }
            return key
        }
        router.get("/admin/dht") { request, _ in
            try authorize(request)
            let name = try key(of: request)
            let value: [UInt8]
            do {
                value = try await dht.getValue(name)
            } catch let error as DHTKeyNotFound {
                // Answered, not thrown: a thrown 404 reads as "no such route" to the error middleware.
                return try HealthHTTP.errorResponse(.notFound, error.description, path: request.uri.path)
            } catch let error as DHTInvalidRequest {
                throw HTTPError(.badRequest, message: error.description)
            } catch {
                throw HTTPError(.serviceUnavailable, message: "DHT get failed: \(error)")
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value)))
        }
        router.put("/admin/dht") { request, context in
            try authorize(request)
            let name = try key(of: request)
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxDHTValueBytes)
            } catch {
                throw HTTPError(.contentTooLarge, message: "value longer than \(maxDHTValueBytes) bytes")
            }
            do {
                try await dht.putValue(name, value: Array(body.readableBytesView))
            } catch let error as DHTInvalidRequest {
                throw HTTPError(.badRequest, message: error.description)
            } catch {
                throw HTTPError(.serviceUnavailable, message: "DHT put failed: \(error)")
            }
            context.logger.info("DHT value stored over HTTP", metadata: ["key": "\(name)", "bytes": "\(body.readableBytes)"])
            return try HealthHTTP.jsonResponse(DHTStored(key: name, bytes: body.readableBytes), status: .ok)
        }
        return router
    }

    /// The answer of `PUT /admin/dht`.
    public struct DHTStored: Codable, Sendable, Hashable {
        public var key: String
        public var bytes: Int
        public var stored = true
    }

    static func state(_ manager: HealthManager) -> MaintenanceState {
        let (status, message) = manager.currentStatus
        let reason = manager.maintenanceReason
        return MaintenanceState(maintenance: reason != nil, reason: reason, status: status.rawValue, message: message)
    }
}
