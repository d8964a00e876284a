import NodeHealth
import Hummingbird

/// One module's routes (the probes, the admin endpoints, the cluster view, `/metrics`), with the
/// methods each path answers.
///
/// A Hummingbird `RouteCollection` underneath; what it adds is the table of paths and methods,
/// from which ``JSONErrorMiddleware`` tells an unknown path (404) from a known one asked with
/// another method (405 with `Allow`), so no module keeps a list of its paths by hand.
public final class NodeRoutes<Context: RequestContext>: RouterMethods {
    /// The routes, to add to a router with `addRoutes(_:)`.
    public let collection: RouteCollection<Context>
    /// The methods each path answers, by path in router syntax (`{name}` for a parameter).
    public private(set) var methods: [String: [HTTPRequest.Method]] = [:]

    public init(context: Context.Type = Context.self) {
        self.collection = RouteCollection(context: context)
    }

    @discardableResult
    public func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        methods[path.description, default: []].append(method)
        _ = collection.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        collection.add(middleware: middleware)
        return self
    }

    /// A router that serves `groups`, answers errors as JSON (``JSONErrorMiddleware``) and HEAD on
    /// every GET.
    public static func router(serving groups: [NodeRoutes<Context>]) -> Router<Context> {
        let router = Router(context: Context.self, options: .autoGenerateHeadEndpoints)
        var methods: [String: [HTTPRequest.Method]] = [:]
        for group in groups { methods.merge(group.methods) { $0 + $1 } }
        router.add(middleware: JSONErrorMiddleware(methods: methods))
        for group in groups { router.addRoutes(group.collection) }
        return router
    }
}
