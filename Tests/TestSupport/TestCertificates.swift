import Foundation

/// A throwaway certificate authority and a server certificate it signed for 127.0.0.1 (P-256,
/// valid two days), made by the `openssl` command in a fresh temporary directory: for tests of
/// `https://` against a local receiver. Nothing is committed and nothing outlives the test run.
public struct TestCertificates: Sendable {
    public let directory: String
    /// The authority's certificate: what a client must trust.
    public var authorityFile: String { directory + "/ca.pem" }
    /// The server's certificate and key, for a receiver.
    public var certificateFile: String { directory + "/server.pem" }
    public var keyFile: String { directory + "/server.key" }

    /// Makes the authority and a server certificate for `subjectAltName` (openssl's syntax).
    public static func make(subjectAltName: String = "IP:127.0.0.1") async throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "chorus-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let extensions = "subjectAltName=\(subjectAltName)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        try extensions.write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=chorus test authority"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=chorus test receiver"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
        ]
        for step in steps {
            let (status, output) = try await ChildProcess.run(
                "/bin/sh", ["-c", "cd \"$0\" && exec openssl \"$@\"", directory] + step)
            guard status == 0 else { throw CertificateError(description: "openssl \(step.prefix(2).joined(separator: " ")): \(output)") }
        }
        return TestCertificates(directory: directory)
    }

    /// Removes the directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// `openssl` failed while making test certificates.
public struct CertificateError: Error, CustomStringConvertible {
    public let description: String
}
