import NodeHealthHTTP
import NodeHealthTesting
import TestSupport
import Testing

@Suite("HTTPClient: the URLs it accepts")
struct HTTPClientTests {
    @Test("scheme, host, port and path of http:// and https:// URLs, IPv6 in brackets, the scheme's port when none is given")
    func accepted() throws {
        func parts(_ url: String) throws -> [String] {
            let endpoint = try HTTPClient.split(url)
            return [endpoint.secure ? "https" : "http", endpoint.host, "\(endpoint.port)", endpoint.path]
        }
        #expect(try parts("http://127.0.0.1:8081/health?x=1") == ["http", "127.0.0.1", "8081", "/health?x=1"])
        #expect(try parts("http://node-1.chorus.svc") == ["http", "node-1.chorus.svc", "80", "/"])
        #expect(try parts("http://[::1]:9000/cluster") == ["http", "::1", "9000", "/cluster"])
        #expect(try parts("http://[fe80::1]/") == ["http", "fe80::1", "80", "/"])
        #expect(try parts("http://localhost:65535") == ["http", "localhost", "65535", "/"])
        #expect(try parts("https://hooks.slack.com/services/T0/B0/x") == ["https", "hooks.slack.com", "443", "/services/T0/B0/x"])
        #expect(try parts("https://[::1]:8443") == ["https", "::1", "8443", "/"])
    }

    @Test("malformed or out-of-range authorities and other schemes are refused with the URL in the message", arguments: [
        "ftp://127.0.0.1:8081/", "127.0.0.1:8081", "http://", "https://", "http://:8081/", "http://host:/",
        "http://host:0/", "http://host:65536/", "http://host:18446744073709551615/", "http://host:-1/",
        "http://host:80x/", "http://[::1/", "http://[::1]x/", "http://[::1]:/", "https://host:0/", "HTTP://host/",
    ])
    func refused(_ url: String) {
        #expect {
            _ = try HTTPClient.split(url)
        } throws: { error in
            "\(error)".hasPrefix(url)
        }
    }
}

@Suite("HTTPClient over TLS, against a local receiver with a throwaway authority")
struct HTTPClientTLSTests {
    @Test("https:// with the receiver's authority trusted: delivered; with the system store alone or another authority: refused before any request")
    func trust() async throws {
        let certificates = try await TestCertificates.make()
        let stranger = try await TestCertificates.make()
        defer {
            certificates.remove()
            stranger.remove()
        }
        let receiver = WebhookReceiver(tls: (certificates.certificateFile, certificates.keyFile))
        try await receiver.serve { url in
            #expect(url.hasPrefix("https://127.0.0.1:"))
            let trusted = try TLSTrust(extraRootsFile: certificates.authorityFile)
            let response = try await HTTPClient.request(url, method: .POST, body: Array(#"{"text":"hello"}"#.utf8), trust: trusted)
            #expect(response.status == 200)
            #expect(receiver.received == [["text": "hello"]])

            for trust in [nil, try TLSTrust(extraRootsFile: stranger.authorityFile)] {
                await #expect(throws: (any Error).self) {
                    _ = try await HTTPClient.request(url, method: .POST, body: Array("{}".utf8), trust: trust)
                }
            }
            #expect(receiver.requests.load(ordering: .relaxed) == 1, "no request reached it over an unverified connection")
            // Plain HTTP to the TLS port gets no answer that passes for one.
            await #expect(throws: (any Error).self) {
                _ = try await HTTPClient.request("http://" + url.dropFirst("https://".count), timeout: .seconds(2))
            }
        }
    }

    @Test("a certificate for another address is refused even from a trusted authority")
    func wrongName() async throws {
        let certificates = try await TestCertificates.make(subjectAltName: "DNS:receiver.example")
        defer { certificates.remove() }
        let receiver = WebhookReceiver(tls: (certificates.certificateFile, certificates.keyFile))
        try await receiver.serve { url in
            let trusted = try TLSTrust(extraRootsFile: certificates.authorityFile)
            await #expect(throws: (any Error).self) { _ = try await HTTPClient.request(url, trust: trusted) }
            #expect(receiver.requests.load(ordering: .relaxed) == 0)
        }
    }

    @Test("a missing or non-PEM trust file is refused with its path")
    func badTrustFile() throws {
        for path in ["/nonexistent/ca.pem", "/etc/os-release"] {
            #expect {
                _ = try TLSTrust(extraRootsFile: path)
            } throws: { error in
                "\(error)".hasPrefix(path)
            }
        }
    }
}
