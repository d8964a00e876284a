import NIOSSL
import Synchronization

/// The certificates an `https://` server must chain to: the system's trust store (on Debian the
/// `ca-certificates` bundle), plus, for an internal CA, the PEM certificates of one file.
///
/// TLS 1.2 or later, the server's name (or, for a URL with an IP address, the address) checked
/// against its certificate; a certificate that does not verify fails the request with the reason.
public struct TLSTrust: Sendable {
    let context: NIOSSLContext

    /// Trusts the system's store and the certificates in `extraRootsFile` (PEM, one or more);
    /// throws a readable error when the file is missing or holds no certificate.
    public init(extraRootsFile: String? = nil) throws(HTTPClient.URLError) {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let extraRootsFile {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(extraRootsFile)
            } catch {
                throw HTTPClient.URLError(description: "\(extraRootsFile): not a readable PEM certificate file (\(error))")
            }
            guard !certificates.isEmpty else {
                throw HTTPClient.URLError(description: "\(extraRootsFile): no PEM certificate in it")
            }
            configuration.additionalTrustRoots = [.certificates(certificates)]
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw HTTPClient.URLError(description: "TLS: \(error)")
        }
    }

    /// The system's trust store alone, made once (loading the bundle takes milliseconds).
    static func system() throws(HTTPClient.URLError) -> TLSTrust {
        try systemTrust.withLock { cached throws(HTTPClient.URLError) in
            if let cached { return cached }
            let trust = try TLSTrust()
            cached = trust
            return trust
        }
    }
}

private let systemTrust = Mutex<TLSTrust?>(nil)
