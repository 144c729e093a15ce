import CLinux
import Glibc
import HeraldCore
import HeraldSystem
import HeraldWire

/// A non-blocking UDP socket bound to the gossip address.
/// Used only by the gossip thread after construction.
final class UDPSocket: @unchecked Sendable {
    let fd: Int32

    /// `filter`: the kernel filter every datagram must pass to reach the socket.
    init(bind address: GossipAddress, filter: BPFProgram?) throws(SystemError) {
        let family = address.ip.isIPv4 ? AF_INET : AF_INET6
        fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket for gossip", errno: errno) }
        var size = Tuning.gossipReceiveBuffer
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // Before bind, so no datagram ever reaches the socket unfiltered.
        var instructions = (filter?.instructions ?? []).map { herald_sock_filter(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
        let attached: Int32 = instructions.isEmpty ? 0 : instructions.withUnsafeMutableBufferPointer { buffer in
            var program = herald_sock_fprog(len: UInt16(buffer.count), filter: buffer.baseAddress)
            return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, socklen_t(MemoryLayout<herald_sock_fprog>.size))
        }
        guard attached == 0 else {
            let code = errno
            close(fd)
            throw SystemError("cannot attach the gossip socket's filter", errno: code)
        }
        var storage = Self.sockaddr(address)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SystemError("cannot bind gossip to \(address)", errno: code)
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to address: GossipAddress) -> Bool {
        var storage = Self.sockaddr(address)
        let sent = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { pointer in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), pointer,
                           socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        return sent == bytes.count
    }

    /// Datagrams the kernel dropped before they reached this socket: refused by its filter
    /// (not Herald gossip, or too large) or past a full receive buffer.
    var kernelDrops: UInt32 {
        let drops = 8  // SK_MEMINFO_DROPS (linux/sock_diag.h)
        var info = [UInt32](repeating: 0, count: 16)
        var length = socklen_t(info.count * MemoryLayout<UInt32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_MEMINFO, &info, &length) == 0, Int(length) > drops * 4 else { return 0 }
        return info[drops]
    }

    /// One waiting datagram, or nil when there is none: its length (which may exceed the
    /// buffer, whose bytes are then the datagram's first) and sender.
    func receive(into buffer: inout [UInt8]) -> (Int, GossipAddress)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                    recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_TRUNC), $0, &length)
                }
            }
        }
        guard count >= 0, let from = Self.address(storage) else { return nil }
        return (count, from)
    }

    static func sockaddr(_ address: GossipAddress) -> sockaddr_storage {
        var storage = sockaddr_storage()
        withUnsafeMutablePointer(to: &storage) { pointer in
            switch address.ip {
            case .v4(let ip):
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_family = sa_family_t(AF_INET)
                    $0.pointee.sin_port = address.port.bigEndian
                    $0.pointee.sin_addr.s_addr = ip.rawValue.bigEndian
                }
            case .v6(let ip):
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    $0.pointee.sin6_family = sa_family_t(AF_INET6)
                    $0.pointee.sin6_port = address.port.bigEndian
                    withUnsafeMutableBytes(of: &$0.pointee.sin6_addr) { raw in
                        for (index, byte) in ip.bytes.enumerated() { raw[index] = byte }
                    }
                }
            }
        }
        return storage
    }

    static func address(_ storage: sockaddr_storage) -> GossipAddress? {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer -> GossipAddress? in
            switch Int32(storage.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    GossipAddress(ip: .v4(IPv4Address(rawValue: UInt32(bigEndian: $0.pointee.sin_addr.s_addr))),
                                  port: UInt16(bigEndian: $0.pointee.sin_port))
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { inner in
                    let bytes = withUnsafeBytes(of: inner.pointee.sin6_addr) { Array($0) }
                    return GossipAddress(ip: .v6(IPv6Address(bytes: bytes)), port: UInt16(bigEndian: inner.pointee.sin6_port))
                }
            default:
                return nil
            }
        }
    }

    /// Resolves `host:port` (an address or a DNS name) to a gossip address of `family`'s
    /// kind when possible. Blocking: call it from the gossip thread, never the async pool.
    static func resolve(_ target: HostPort) -> GossipAddress? {
        if let ip = IPAddress(target.host) { return GossipAddress(ip: ip, port: target.port) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        guard let address = Self.address(storage) else { return nil }
        return GossipAddress(ip: address.ip, port: target.port)
    }
}
