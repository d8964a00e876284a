import Foundation
import Hummingbird
import NodeHealth
import Testing
import NodeHealthHTTP
import NodeHealthTesting

@Suite("POST /admin/maintenance")
struct AdminHTTPTests {
    static let token = "s3cret-admin-token-0123"

    func withAdminApp(
        dht: MockDHTAdapter? = nil, _ body: @Sendable (HealthManager, TestClient) async throws -> Void
    ) async throws {
        let manager = makeManager()
        try await manager.register(HealthCheck(name: "fine", interval: .seconds(3600)) { _ in .pass("ok") })
        try await withRunning(manager) { manager in
            await eventually("healthy") { manager.status().status == .healthy }
            let router = NodeRoutes.router(serving: [
                HealthHTTP.routes(manager: manager), AdminHTTP.routes(manager: manager, token: Self.token, dht: dht),
            ])
            try await Application(router: router).test(.router) { client in try await body(manager, client) }
        }
    }

    func post(_ client: TestClient, _ json: String, token: String? = token) async throws -> (HTTPResponse.Status, JSONValue?) {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        headers[.contentType] = "application/json"
        return try await client.execute(uri: "/admin/maintenance", method: .post, headers: headers, body: ByteBuffer(string: json)) {
            ($0.status, try? decodeJSON($0.body))
        }
    }

    @Test("maintenance: readiness fails with the reason, liveness holds, and off restores service")
    func maintenanceOnOff() async throws {
        try await withAdminApp { manager, client in
            let (status, body) = try await post(client, #"{"enabled": true, "reason": "kernel upgrade"}"#)
            #expect(status == .ok)
            #expect(body?["maintenance"] == true)
            #expect(body?["status"] == "unhealthy")
            #expect(body?["message"] == "Maintenance: kernel upgrade")
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect((try? decodeJSON(response.body))?["message"] == "Maintenance: kernel upgrade")
            }
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
            #expect(manager.maintenanceReason == "kernel upgrade")

            let (offStatus, off) = try await post(client, #"{"enabled": false}"#)
            #expect(offStatus == .ok)
            #expect(off?["maintenance"] == false)
            #expect(off?["status"] == "healthy")
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("no token, a wrong token, a bad body or a wrong method get clear errors and change nothing")
    func refusals() async throws {
        try await withAdminApp { manager, client in
            #expect(try await post(client, #"{"enabled": true}"#, token: nil).0 == .unauthorized)
            #expect(try await post(client, #"{"enabled": true}"#, token: "wrong-token-wrong-token").0 == .unauthorized)
            #expect(try await post(client, #"{"enabled": true}"#, token: String(Self.token.dropLast())).0 == .unauthorized)
            #expect(try await post(client, #"{"enabled": true}"#, token: Self.token + "x").0 == .unauthorized)
            try await client.execute(uri: "/admin/maintenance", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
            #expect(try await post(client, "not json").0 == .badRequest)
            #expect(try await post(client, #"{"enabled": true, "reason": "\#(String(repeating: "x", count: 200))"}"#).0 == .badRequest)
            try await client.execute(uri: "/admin/maintenance", method: .put) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD, POST")
            }
            #expect(manager.maintenanceReason == nil)
            #expect(manager.status().status == .healthy)
        }
    }

    func dhtRequest(
        _ client: TestClient, _ method: HTTPRequest.Method, _ uri: String, body: String? = nil, token: String? = token
    ) async throws -> (HTTPResponse.Status, String) {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
            ($0.status, String(buffer: $0.body))
        }
    }

    @Test("the DHT by hand: PUT then GET /admin/dht?key=K; a missing key is 404, a DHT failure 503, no token 401")
    func dhtByHand() async throws {
        let dht = MockDHTAdapter()
        try await withAdminApp(dht: dht) { _, client in
            let (putStatus, putBody) = try await dhtRequest(client, .put, "/admin/dht?key=app/config", body: "blue=7")
            #expect(putStatus == .ok)
            #expect(try decodeJSON(putBody)["bytes"] == 6)
            #expect(try await dht.getValue("app/config") == Array("blue=7".utf8))
            let (getStatus, value) = try await dhtRequest(client, .get, "/admin/dht?key=app/config")
            #expect(getStatus == .ok)
            #expect(value == "blue=7")

            let (missing, missingBody) = try await dhtRequest(client, .get, "/admin/dht?key=nope")
            #expect(missing == .notFound)
            #expect(missingBody.contains("key not found on any replica: nope"))
            #expect(try await dhtRequest(client, .get, "/admin/dht").0 == .badRequest)
            #expect(try await dhtRequest(client, .get, "/admin/dht?key=app/config", token: nil).0 == .unauthorized)
            #expect(try await dhtRequest(client, .put, "/admin/dht?key=x", body: "v", token: "wrong-token-wrong-token").0 == .unauthorized)
            #expect(try await dhtRequest(client, .put, "/admin/dht?key=big", body: String(repeating: "x", count: AdminHTTP.maxDHTValueBytes + 1)).0 == .contentTooLarge)

            dht.setGetError("replicas unreachable")
            let (failed, failedBody) = try await dhtRequest(client, .get, "/admin/dht?key=app/config")
            #expect(failed == .serviceUnavailable)
            #expect(failedBody.contains("replicas unreachable"))
            dht.setPutError("no majority")
            #expect(try await dhtRequest(client, .put, "/admin/dht?key=x", body: "v").0 == .serviceUnavailable)
            #expect(try await dhtRequest(client, .delete, "/admin/dht?key=x").0 == .methodNotAllowed)
        }
    }
}
