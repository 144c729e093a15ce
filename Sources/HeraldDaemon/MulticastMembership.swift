import Glibc
import HeraldSystem
import HeraldWire

/// Joins the solicited-node multicast group of each owned IPv6 VIP on one interface. A
/// real NIC (or a macvlan) filters multicast in hardware, so without the join a neighbor
/// solicitation for the VIP never reaches the capture; the join also tells snooping
/// bridges to forward the group to us.
final class MulticastMembership {
    private let interfaceIndex: Int32
    private let socketFD: Int32
    private(set) var groups: Set<IPv6Address> = []

    init(interfaceIndex: Int32) throws(SystemError) {
        self.interfaceIndex = interfaceIndex
        socketFD = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw SystemError("socket(AF_INET6) for multicast joins", errno: errno) }
    }

    /// Joins and leaves groups so that exactly `wanted` are joined. Returns the errors of
    /// joins that failed, to be logged; those groups are retried on the next update.
    func update(_ wanted: Set<IPv6Address>) -> [String] {
        var errors: [String] = []
        for group in groups.subtracting(wanted) where setMembership(group, IPV6_DROP_MEMBERSHIP) {
            groups.remove(group)
        }
        for group in wanted.subtracting(groups) {
            if setMembership(group, IPV6_ADD_MEMBERSHIP) {
                groups.insert(group)
            } else {
                errors.append("joining \(group) failed: \(System.errorString(errno))")
            }
        }
        return errors
    }

    private func setMembership(_ group: IPv6Address, _ option: Int32) -> Bool {
        var request = ipv6_mreq()
        withUnsafeMutableBytes(of: &request.ipv6mr_multiaddr) { raw in
            for (index, byte) in group.bytes.enumerated() { raw[index] = byte }
        }
        request.ipv6mr_interface = UInt32(interfaceIndex)
        return setsockopt(socketFD, Int32(IPPROTO_IPV6), option, &request, socklen_t(MemoryLayout<ipv6_mreq>.size)) == 0
    }

    deinit { close(socketFD) }
}
