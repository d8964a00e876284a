import Hummingbird
import NodeHealthHTTP

/// The operator console at `/cluster`: three static files (`Console/console.html`, `.css`, `.js`)
/// embedded in the binary at build time (SwiftPM's `embedInCode`), so a node serves them with no
/// file on disk and no external asset. The page reads everything else from the node's JSON
/// endpoints: `/cluster/health` and its live stream, `/cluster/history`, `/cluster/nodes/{id}/status`,
/// `/cluster/trust` and, when the node keeps a history, `/cluster/events`.
enum Console {
    struct File: Sendable {
        let path: String
        let contentType: String
        let bytes: [UInt8]
        /// A strong ETag from the bytes (FNV-1a), so a browser revalidates instead of downloading again.
        let etag: String

        init(path: String, contentType: String, bytes: [UInt8]) {
            self.path = path
            self.contentType = contentType
            self.bytes = bytes
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            etag = "\"" + String(hash, radix: 36) + "\""
        }
    }

    static let files = [
        File(path: "/cluster", contentType: "text/html; charset=utf-8", bytes: PackageResources.console_html),
        File(path: "/cluster/console.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.console_css),
        File(path: "/cluster/console.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.console_js),
    ]

    /// Adds a GET route per file; the page's own query (its filters) is the page's business.
    static func add(to router: NodeRoutes<BasicRequestContext>) {
        for file in files {
            router.get(RouterPath(file.path)) { request, _ in
                var headers: HTTPFields = [.contentType: file.contentType, .cacheControl: "no-cache", .eTag: file.etag]
                // The page may only run its own script and talk to this node.
                headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
                if HTTPNegotiation.notModified(request.headers, etag: file.etag) {
                    headers[.contentType] = nil
                    return Response(status: .notModified, headers: headers)
                }
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
            }
        }
    }
}
