import Foundation
import GossipCore

#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket on 127.0.0.1 that sends what a test forges and counts what comes back.
public final class UDPSocket {
    public let fd: Int32
    public let port: UInt16

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) == 0 && getsockname(fd, $0, &size) == 0 }
        }
        guard fd >= 0, bound else { throw POSIXError(.EADDRNOTAVAIL) }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
        var buffer: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, socklen_t(MemoryLayout<Int32>.size))
    }

    public static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(port.bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    public var address: NodeAddress { NodeAddress(host: "127.0.0.1", port: port) }

    public func send(_ bytes: [UInt8], to port: UInt16) {
        var target = Self.loopback(port: port)
        _ = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// Bytes of every datagram waiting, read without blocking.
    public func drain() -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count >= 0 else { return total }
            total += count
        }
    }

    deinit { close(fd) }
}

/// TCP connections to 127.0.0.1 that send nothing (what an idle-connection flood holds open).
public final class IdleConnections {
    public private(set) var descriptors: [Int32] = []

    public init(port: Int, count: Int) throws {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.EMFILE) }
            var address = UDPSocket.loopback(port: UInt16(port))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(fd)
                throw POSIXError(.ECONNREFUSED)
            }
            descriptors.append(fd)
        }
    }

    /// How many of them the server has closed: a read returns end of file at once, or the
    /// connection was reset (a loaded server may reset one it accepted late rather than close it).
    public func closedByServer() -> Int {
        descriptors.filter { fd in
            var byte: UInt8 = 0
            let read = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
            return read == 0 || (read < 0 && (errno == ECONNRESET || errno == EPIPE))
        }.count
    }

    deinit { for fd in descriptors { close(fd) } }
}
