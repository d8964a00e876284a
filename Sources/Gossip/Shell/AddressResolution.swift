import GossipCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOPosix

/// Turns `host:port` strings into addresses, every address a host name resolves to (as a
/// Kubernetes headless service resolves to every ready pod).
public enum AddressResolution {
    /// Splits `host:port` (`[v6]:port` for IPv6); `nil` when malformed or the port is 0.
    public static func split(_ text: String) -> (host: String, port: UInt16)? {
        guard let address = NodeAddress(text), address.port > 0 else { return nil }
        return (address.host, address.port)
    }

    /// Every IPv4 and IPv6 address `host` resolves to (an IP literal resolves to itself).
    /// Blocking; ``resolve(_:logger:)`` runs it on NIO's thread pool.
    public static func addresses(of host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var found: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = entry.pointee.ai_addr,
                getnameinfo(address, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0
            {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(text) { found.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return found
    }

    /// Resolves each `host:port`; unresolvable entries are logged and skipped.
    public static func resolve(_ entries: [String], logger: Logger) async -> [NodeAddress] {
        let resolved = try? await NIOThreadPool.singleton.runIfActive {
            entries.map { entry -> (String, [NodeAddress]) in
                guard let (host, port) = split(entry) else { return (entry, []) }
                return (entry, addresses(of: host).map { NodeAddress(host: $0, port: port) })
            }
        }
        var all: [NodeAddress] = []
        for (entry, found) in resolved ?? [] {
            if found.isEmpty { logger.warning("cannot resolve join address", metadata: ["address": "\(entry)"]) }
            all += found
        }
        return all
    }
}
