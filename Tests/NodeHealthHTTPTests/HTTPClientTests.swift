import NodeHealthHTTP
import Testing

@Suite("HTTPClient: the URLs it accepts")
struct HTTPClientTests {
    @Test("host, port and path of http:// URLs, IPv6 in brackets, port 80 when none is given")
    func accepted() throws {
        func parts(_ url: String) throws -> [String] {
            let (host, port, path) = try HTTPClient.split(url)
            return [host, "\(port)", path]
        }
        #expect(try parts("http://127.0.0.1:8081/health?x=1") == ["127.0.0.1", "8081", "/health?x=1"])
        #expect(try parts("http://node-1.chorus.svc") == ["node-1.chorus.svc", "80", "/"])
        #expect(try parts("http://[::1]:9000/cluster") == ["::1", "9000", "/cluster"])
        #expect(try parts("http://[fe80::1]/") == ["fe80::1", "80", "/"])
        #expect(try parts("http://localhost:65535") == ["localhost", "65535", "/"])
    }

    @Test("malformed or out-of-range authorities are refused with the URL in the message", arguments: [
        "https://127.0.0.1:8081/", "127.0.0.1:8081", "http://", "http://:8081/", "http://host:/",
        "http://host:0/", "http://host:65536/", "http://host:18446744073709551615/", "http://host:-1/",
        "http://host:80x/", "http://[::1/", "http://[::1]x/", "http://[::1]:/",
    ])
    func refused(_ url: String) {
        #expect {
            _ = try HTTPClient.split(url)
        } throws: { error in
            "\(error)".hasPrefix(url)
        }
    }
}
