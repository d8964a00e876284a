/// Why a server could not listen, in words an operator acts on: the gossip socket, the gRPC
/// server and the HTTP server say "cannot listen on HOST:PORT (WHAT): REASON" alike.
public enum ListenFailure {
    /// `error`'s text, or "the address is already in use" for EADDRINUSE however the library
    /// that failed spells it.
    public static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.contains("Address already in use") || text.contains("errno: 98") ? "the address is already in use" : text
    }

    /// "cannot listen on HOST:PORT (WHAT): REASON".
    public static func describe(host: String, port: Int, what: String, _ error: any Error) -> String {
        "cannot listen on \(host):\(port) (\(what)): \(reason(error))"
    }
}
