import Glibc
import HeraldSystem

/// Whether an interface has carrier, as the kernel reports it (rtnetlink's link messages):
/// up and with `IFF_LOWER_UP`. A switch port that goes down, a cable pulled or a veth whose
/// peer is down all clear it, while the interface stays up and its capture open, so the
/// capture alone never notices. The link thread polls `fd` beside its capture.
final class CarrierWatch {
    let fd: Int32
    let index: Int32

    init(interfaceIndex: Int32) throws(SystemError) {
        index = interfaceIndex
        let socketFD = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                              0 /* NETLINK_ROUTE */)
        guard socketFD >= 0 else { throw SystemError("netlink socket", errno: errno) }
        // struct sockaddr_nl: family, padding, port id (0: the kernel picks), groups.
        var address = [UInt8](repeating: 0, count: 12)
        address.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt16(AF_NETLINK), toByteOffset: 0, as: UInt16.self)
            raw.storeBytes(of: UInt32(1) /* RTMGRP_LINK */, toByteOffset: 8, as: UInt32.self)
        }
        let bound = address.withUnsafeBytes { raw in
            bind(socketFD, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        guard bound == 0 else {
            let code = errno
            close(socketFD)
            throw SystemError("netlink bind", errno: code)
        }
        fd = socketFD
    }

    deinit { close(fd) }

    /// Whether the interface is up with carrier now (one ioctl: IFF_RUNNING is the
    /// operational state, which carrier loss takes down), for the start.
    func current(name: String) -> Bool { InterfaceDiscovery.isRunning(name) }

    /// Reads every waiting message; the interface's carrier as the last one about it says,
    /// or nil when none was about it.
    func drain() -> Bool? {
        var carrier: Bool?
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return carrier }
            let found = buffer.withUnsafeBytes { raw in Self.carrier(in: UnsafeRawBufferPointer(rebasing: raw[..<count]), index: index) }
            if let found { carrier = found }
        }
    }

    /// The carrier of interface `index` in a batch of netlink messages (`nlmsghdr`: length
    /// u32, type u16, flags u16, sequence u32, port u32; then for RTM_NEWLINK (16) an
    /// `ifinfomsg`: family u8, padding u8, type u16, index i32, flags u32, change u32).
    static func carrier(in bytes: UnsafeRawBufferPointer, index: Int32) -> Bool? {
        var offset = 0
        var carrier: Bool?
        while offset + 16 <= bytes.count {
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let type = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
            guard length >= 16, offset + length <= bytes.count else { break }
            if (type == 16 || type == 17), length >= 32,
               bytes.loadUnaligned(fromByteOffset: offset + 20, as: Int32.self) == index {
                let flags = bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self)
                // RTM_DELLINK (17): the interface is gone.
                carrier = type == 16 && flags & UInt32(IFF_UP) != 0 && flags & 0x10000 /* IFF_LOWER_UP */ != 0
            }
            offset += (length + 3) & ~3
        }
        return carrier
    }
}
