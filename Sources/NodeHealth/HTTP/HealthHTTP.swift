#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NodeHealth
import Hummingbird

/// The node's health endpoints, the answers Kubernetes probes and load balancers read.
///
/// | path | answer |
/// |---|---|
/// | `GET /health` | ``SystemStatus``; 200 when healthy or degraded, else 503; `application/health+json` when `Accept` prefers it (``APIHealthDocument``) |
/// | `GET /health/ready` | `{"ready","status","message"}`; 200 when healthy or degraded, else 503 |
/// | `GET /health/live` | `{"live","status","uptime"}` (uptime as a Go duration); 503 only when stopping |
/// | `GET /health/checks` | `{"checks","total","timestamp"}`; always 200 |
/// | `GET /health/checks/{name}` | that check's latest ``CheckResult``; 200 when it passes, 503 when it fails or has no result, 404 when unknown |
/// | `GET /health/summary` | the enhanced checks' summary (with the enhanced checks only); always 200 |
///
/// `/health` and `/health/ready` take `?exclude=NAME` (repeatable: the status without those
/// checks, which the answer lists under `excluded`, with names that are no check here under
/// `unknown_exclusions`) and `?verbose` (plain text, a line per check: ``ProbeQuery``), as
/// kube-apiserver's `/readyz`.
///
/// Every path also answers HEAD. Probes never run a check: they serve the latest published results.
public enum HealthHTTP {
    /// A router with the health endpoints alone (see ``NodeRoutes/router(serving:)``).
    public static func makeRouter(manager: HealthManager) -> Router<BasicRequestContext> {
        NodeRoutes.router(serving: [routes(manager: manager)])
    }

    /// The health endpoints, and `GET /health/summary` when the node runs the enhanced checks.
    ///
    /// The four probes assemble their answers from JSON fragments the manager encodes once per
    /// change (the same encoding as ``SystemStatus`` and ``CheckResult``), so a probe costs a lock
    /// and a copy, however many checks there are.
    public static func routes(manager: HealthManager, enhanced: EnhancedHealthChecks? = nil) -> NodeRoutes<BasicRequestContext> {
        let router = NodeRoutes(context: BasicRequestContext.self)
        let startTime = TimeFormatting.rfc3339(manager.startTime)
        router.get("/health") { request, _ in
            let query = try probeQuery(request)
            let healthJSON = HTTPNegotiation.prefers(request.headers, mediaType: APIHealthDocument.mediaType)
            if query.isPlain && !healthJSON {
                let snapshot = manager.probeSnapshot()
                return healthBody(manager, snapshot, status: snapshot.status, messageJSON: snapshot.messageJSON, startTime: startTime)
            }
            let evaluation = manager.evaluation(excluding: query.excluded)
            if healthJSON {
                return APIHealthDocument.node(evaluation, nodeID: manager.settings.nodeID, version: manager.settings.version).response
            }
            if query.verbose { return textResponse(ProbeQuery.verboseText(evaluation, probe: "health"), ready: evaluation.status.isReady) }
            return healthBody(
                manager, manager.probeSnapshot(), status: evaluation.status, messageJSON: JSONBytes.encode(evaluation.message),
                startTime: startTime, excluded: evaluation)
        }
        router.get("/health/ready") { request, _ in
            let query = try probeQuery(request)
            let status: HealthStatus
            let messageJSON: [UInt8]
            var excluded: HealthManager.Evaluation?
            if query.isPlain {
                let snapshot = manager.probeSnapshot()
                (status, messageJSON) = (snapshot.status, snapshot.messageJSON)
            } else {
                let evaluation = manager.evaluation(excluding: query.excluded)
                if query.verbose { return textResponse(ProbeQuery.verboseText(evaluation, probe: "ready"), ready: evaluation.status.isReady) }
                (status, messageJSON, excluded) = (evaluation.status, JSONBytes.encode(evaluation.message), evaluation)
            }
            let ready = status.isReady
            var body = ByteBuffer()
            body.reserveCapacity(messageJSON.count + 64)
            if let excluded { writeExclusions(excluded, to: &body) } else { body.writeString("{") }
            body.writeString(#""message":"#)
            body.writeBytes(messageJSON)
            body.writeString(ready ? #","ready":true,"status":""# : #","ready":false,"status":""#)
            body.writeString(status.rawValue)
            body.writeString(#""}"#)
            return jsonResponse(body, status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/health/live") { _, _ in
            let status = manager.probeSnapshot().status
            let uptime = Duration.seconds(Date().timeIntervalSince(manager.startTime).rounded(.down))
            var body = ByteBuffer()
            body.writeString(status.isLive ? #"{"live":true,"status":""# : #"{"live":false,"status":""#)
            body.writeString(status.rawValue)
            body.writeString(#"","uptime":""#)
            body.writeString(TimeFormatting.goDuration(uptime))
            body.writeString(#""}"#)
            return jsonResponse(body, status: status.isLive ? .ok : .serviceUnavailable)
        }
        router.get("/health/checks") { _, _ in
            let snapshot = manager.probeSnapshot()
            var body = ByteBuffer()
            body.reserveCapacity(snapshot.resultsJSON.count + 64)
            body.writeString(#"{"checks":"#)
            body.writeBytes(snapshot.resultsJSON)
            body.writeString(#","timestamp":""#)
            body.writeString(TimeFormatting.rfc3339(Date()))
            body.writeString(#"","total":"#)
            body.writeString(String(snapshot.resultCount))
            body.writeString("}")
            return jsonResponse(body, status: .ok)
        }
        router.get("/health/checks/:name") { request, context in
            let raw = context.parameters.get("name") ?? ""
            let name = PercentDecoding.decode(raw) ?? raw
            switch manager.lookup(name) {
            case .unknown:
                return try errorResponse(.notFound, "no health check named '\(name)'", path: request.uri.path)
            case .pending:
                return try errorResponse(.serviceUnavailable, "health check '\(name)' has no result yet", path: request.uri.path)
            case .disabled:
                return try errorResponse(.serviceUnavailable, "health check '\(name)' is disabled", path: request.uri.path)
            case .result(let result):
                return try jsonResponse(result, status: result.healthy ? .ok : .serviceUnavailable)
            }
        }
        if let enhanced {
            // The enhanced checks' summary in its documented shape (``EnhancedHealthChecks/healthSummary()``), always 200.
            router.get("/health/summary") { _, _ in try jsonResponse(enhanced.healthSummary(), status: .ok) }
        }
        return router
    }

    /// The `/health` body: ``SystemStatus``'s shape from the manager's ready-made fragments, with
    /// `status` and `message` as given (the published ones, or those without excluded checks) and,
    /// when checks were excluded, `excluded` and `unknown_exclusions` first.
    static func healthBody(
        _ manager: HealthManager, _ snapshot: HealthManager.ProbeSnapshot, status: HealthStatus, messageJSON: [UInt8],
        startTime: String, excluded: HealthManager.Evaluation? = nil
    ) -> Response {
        let uptime = Duration.seconds(max(0, Date().timeIntervalSince(manager.startTime)))
        var body = ByteBuffer()
        body.reserveCapacity(snapshot.resultsJSON.count + messageJSON.count + 256)
        if let excluded { writeExclusions(excluded, to: &body) } else { body.writeString("{") }
        body.writeString(#""checks":"#)
        body.writeBytes(snapshot.resultsJSON)
        body.writeString(#","last_update":""#)
        body.writeString(TimeFormatting.rfc3339(snapshot.lastUpdate))
        body.writeString(#"","message":"#)
        body.writeBytes(messageJSON)
        body.writeString(#","node_id":"#)
        body.writeBytes(manager.nodeIDJSON)
        body.writeString(#","start_time":""#)
        body.writeString(startTime)
        body.writeString(#"","status":""#)
        body.writeString(status.rawValue)
        body.writeString(#"","uptime":"#)
        body.writeString(String(uptime.nanoseconds))
        body.writeString(#","version":"#)
        body.writeBytes(manager.versionJSON)
        body.writeString("}")
        return jsonResponse(body, status: status.isReady ? .ok : .serviceUnavailable)
    }

    /// `{"excluded":[...],"unknown_exclusions":[...],` — the opening of an answer with exclusions.
    private static func writeExclusions(_ evaluation: HealthManager.Evaluation, to body: inout ByteBuffer) {
        body.writeString(#"{"excluded":"#)
        body.writeBytes(JSONBytes.encode(evaluation.excluded))
        body.writeString(#","unknown_exclusions":"#)
        body.writeBytes(JSONBytes.encode(evaluation.unknown))
        body.writeString(",")
    }

    /// The request's ``ProbeQuery``; a bad one is a 400 that says why.
    private static func probeQuery(_ request: Request) throws -> ProbeQuery {
        do {
            return try ProbeQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            throw HTTPError(.badRequest, message: error.description)
        }
    }

    /// A `?verbose` answer: plain text, 200 when `ready`, else 503.
    static func textResponse(_ text: String, ready: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: ready ? .ok : .serviceUnavailable, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The body of every error answer: `{"error": "...", "status": 404, "path": "/x"}`.
    public struct ErrorBody: Codable, Sendable, Hashable {
        public var error: String
        public var status: Int
        public var path: String
    }

    /// Encodes `value` as a JSON response that no cache keeps.
    public static func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        jsonResponse(ByteBuffer(bytes: JSONBytes.encode(value)), status: status)
    }

    /// A response whose body is already JSON, that no cache keeps.
    public static func jsonResponse(_ body: ByteBuffer, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// A JSON error response.
    public static func errorResponse(
        _ status: HTTPResponse.Status, _ message: String, path: String, headers extra: HTTPFields = [:]
    ) throws -> Response {
        var response = try jsonResponse(ErrorBody(error: message, status: status.code, path: path), status: status)
        response.headers.append(contentsOf: extra)
        return response
    }
}

/// Turns routing and handler errors into JSON: 404 for unknown paths, 405 (with `Allow: GET, HEAD`)
/// for a known path asked with another method, the error's own status for other HTTP errors,
/// and 500 for anything else. The body is ``HealthHTTP/ErrorBody``; HEAD answers carry none.
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let patterns: [[Substring]]
    let allow: [[Substring]: String]

    /// `methods` are the methods each path answers, in router syntax (`{name}` or `:name` for a
    /// segment), as ``NodeRoutes/methods`` records them.
    public init(methods: [String: [HTTPRequest.Method]]) {
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        var allow: [[Substring]: String] = [:]
        for (path, answered) in methods {
            let all = Set(answered + (answered.contains(.get) ? [.head] : []))
            let listed = order.filter(all.contains) + all.filter { !order.contains($0) }.sorted { $0.rawValue < $1.rawValue }
            allow[path.split(separator: "/")] = listed.map(\.rawValue).joined(separator: ", ")
        }
        // Literal segments first, so a literal path is never taken for another's parameter.
        self.patterns = allow.keys.sorted { $0.filter(Self.isParameter).count < $1.filter(Self.isParameter).count }
        self.allow = allow
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let path = request.uri.path
            var response: Response
            if error.status == .notFound, let pattern = knownPattern(path) {
                var allow = HTTPFields()
                allow[.allow] = self.allow[pattern] ?? "GET, HEAD"
                response = try HealthHTTP.errorResponse(
                    .methodNotAllowed, "method \(request.method.rawValue) not allowed on \(path)", path: path,
                    headers: allow)
            } else if error.status == .notFound {
                response = try HealthHTTP.errorResponse(.notFound, "no such endpoint: \(path)", path: path)
            } else {
                response = try HealthHTTP.errorResponse(
                    error.status, error.body ?? error.status.reasonPhrase, path: path, headers: error.headers)
            }
            if request.method == .head { response = response.createHeadResponse() }
            return response
        } catch let error as any HTTPResponseError {
            // Errors that carry their own status, as a body over the limit does (413).
            let message = error.status == .contentTooLarge ? "request body too large" : error.status.reasonPhrase
            return try HealthHTTP.errorResponse(error.status, message, path: request.uri.path)
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return try HealthHTTP.errorResponse(.internalServerError, "internal error", path: request.uri.path)
        }
    }

    static func isParameter(_ segment: Substring) -> Bool { segment.hasPrefix(":") || segment.hasPrefix("{") }

    func knownPattern(_ path: String) -> [Substring]? {
        let components = path.split(separator: "/")
        return patterns.first { pattern in
            pattern.count == components.count
                && zip(pattern, components).allSatisfy { pattern, component in
                    Self.isParameter(pattern) || pattern == component
                }
        }
    }
}
