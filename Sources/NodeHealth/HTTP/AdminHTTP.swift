#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird

/// The admin endpoint: `GET` and `POST /admin/maintenance`, behind a bearer token.
public enum AdminHTTP {
    /// The paths this module serves.
    public static let paths = ["/admin/maintenance"]
    /// The methods they answer (for 405's `Allow`).
    public static let allow = "GET, HEAD, POST"

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

    /// Adds the admin endpoint to `router`; every request must carry `Authorization: Bearer <token>`.
    public static func addRoutes<Context: RequestContext>(to router: Router<Context>, manager: HealthManager, token: String) {
        let expected = Array(token.utf8)
        @Sendable func authorize(_ request: Request) throws {
            let header = request.headers[.authorization] ?? ""
            let given = header.hasPrefix("Bearer ") ? Array(header.utf8.dropFirst(7)) : []
            guard constantTimeEqual(given, expected) else {
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
    }

    static func state(_ manager: HealthManager) -> MaintenanceState {
        let (status, message) = manager.currentStatus
        let reason = manager.maintenanceReason
        return MaintenanceState(maintenance: reason != nil, reason: reason, status: status.rawValue, message: message)
    }

    /// Compares without an early exit, so timing tells nothing of the token.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !b.isEmpty else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
