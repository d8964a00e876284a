import Glibc
import NIOCore
import Synchronization

/// The gossip UDP socket: opened and bound here, read by SwiftNIO, written with `sendto` here.
///
/// SwiftNIO closes a datagram channel on any send error but EMSGSIZE and EHOSTUNREACH. A route
/// that refuses one member's address (EINVAL from a blackhole route, ENETUNREACH, EPERM from a
/// firewall's OUTPUT rule) then closed the node's only socket on every tick, and the rebind's
/// back-off kept the node deaf and mute for seconds at a time, so its own side buried it (seen
/// in the network-namespace partition test with blackhole routes). Sent here, a refused datagram
/// costs itself, counted by the caller, and nothing else.
final class DatagramSocket: Sendable {
    /// The descriptor sends go through: a duplicate of the one SwiftNIO reads and closes, so
    /// that each side closes its own; -1 once closed (a descriptor closed twice may close a
    /// number the process has since given to another socket).
    private let sendDescriptor: Mutex<CInt>
    /// The descriptor handed to SwiftNIO (`DatagramBootstrap.withBoundSocket`), which owns it
    /// from then on, failures included.
    let channelDescriptor: CInt

    private init(sendDescriptor: CInt, channelDescriptor: CInt) {
        self.sendDescriptor = Mutex(sendDescriptor)
        self.channelDescriptor = channelDescriptor
    }

    struct OpenError: Error, CustomStringConvertible {
        let step: String
        let code: CInt
        var description: String { "\(step): \(String(cString: strerror(code))) (errno: \(code))" }
    }

    /// A non-blocking UDP socket bound to `host:port` (an address, or a name resolved once).
    static func bind(host: String, port: Int) throws -> DatagramSocket {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let type = CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        let descriptor = socket(address.protocol.rawValue, type, 0)
        guard descriptor >= 0 else { throw OpenError(step: "socket", code: errno) }
        let bound = address.withSockAddr { pointer, length in Glibc.bind(descriptor, pointer, socklen_t(length)) }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw OpenError(step: "bind", code: code)
        }
        let duplicate = dup(descriptor)
        guard duplicate >= 0 else {
            let code = errno
            close(descriptor)
            throw OpenError(step: "dup", code: code)
        }
        return DatagramSocket(sendDescriptor: duplicate, channelDescriptor: descriptor)
    }

    enum SendOutcome: Equatable {
        case sent
        /// The socket's send buffer is full: the datagram is dropped (UDP would lose it anyway).
        case bufferFull
        /// The kernel refused this destination (no route, a firewall): the errno.
        case refused(CInt)
    }

    /// Sends one datagram without blocking.
    func send(_ bytes: [UInt8], to remote: SocketAddress) -> SendOutcome {
        sendDescriptor.withLock { descriptor in
            guard descriptor >= 0 else { return .refused(EBADF) }
            let result = bytes.withUnsafeBytes { buffer in
                remote.withSockAddr { pointer, length in
                    sendto(descriptor, buffer.baseAddress, buffer.count, CInt(MSG_DONTWAIT), pointer, socklen_t(length))
                }
            }
            if result >= 0 { return .sent }
            let code = errno
            return code == EAGAIN || code == EWOULDBLOCK ? .bufferFull : .refused(code)
        }
    }

    /// Closes the send descriptor, once (SwiftNIO closes the other with its channel).
    func closeSending() {
        sendDescriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    deinit { closeSending() }
}
