import GRPCCore

/// `grpc.health.v1.Health` over a ``ServingStatusBoard``: `Check` answers NOT_FOUND for an
/// unknown service, `List` RESOURCE_EXHAUSTED above ``listLimit`` services (as the specification
/// allows), `Watch` streams the current status and every change until the client leaves or
/// the node shuts down.
struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    typealias Response = Grpc_Health_V1_HealthCheckResponse

    /// Most services `List` answers with (gRFC A90 suggests a limit; grpc-go's is 100).
    static let listLimit = 100

    let board: ServingStatusBoard

    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = board.status(of: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(request.service.prefix(200))\"")
        }
        return Self.response(status)
    }

    func list(request: Grpc_Health_V1_HealthListRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthListResponse {
        let statuses = board.snapshot()
        guard statuses.count <= Self.listLimit else {
            throw RPCError(code: .resourceExhausted, message: "\(statuses.count) services, more than \(Self.listLimit)")
        }
        return .with { response in
            for (service, status) in statuses { response.statuses[service] = Self.response(status) }
        }
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext
    ) async throws {
        for await status in board.watch(request.service) {
            try await response.write(Self.response(status))
        }
    }

    static func response(_ status: ServingStatusBoard.Status) -> Response {
        .with { response in
            switch status {
            case .unknown: response.status = .unknown
            case .serving: response.status = .serving
            case .notServing: response.status = .notServing
            case .serviceUnknown: response.status = .serviceUnknown
            }
        }
    }
}
