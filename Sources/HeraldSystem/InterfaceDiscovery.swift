import Glibc
import HeraldCore
import HeraldWire

/// Reads this host's interfaces into `HostInterface` values for the pure core. Names,
/// indexes, flags, MACs and addresses come from getifaddrs, which answers for the
/// network namespace heraldd runs in; /sys/class/net (which a container may have mounted
/// from another namespace) is read only for what getifaddrs lacks — whether a device is
/// virtual or a bridge port — and only when it describes the same device.
package enum InterfaceDiscovery {
    package static func hostFacts() -> HostFacts {
        HostFacts(hostname: System.hostname(), interfaces: interfaces(), gateways: gateways())
    }

    /// The next hops of the default routes, from the kernel's route tables as procfs shows
    /// them for this network namespace (`/proc/self/net`, which a unit's ProcSubset=pid keeps).
    package static func gateways() -> [IPAddress] {
        var result: [IPAddress] = []
        // Iface Destination Gateway Flags …: hexadecimal, in the kernel's (little-endian) order.
        for line in ((try? System.readFile("/proc/self/net/route")) ?? "").split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000",
                  let raw = UInt32(fields[2], radix: 16), raw != 0 else { continue }
            result.append(.v4(IPv4Address(rawValue: raw.byteSwapped)))
        }
        // destination, its length, source, its length, next hop, …: hexadecimal, network order.
        for line in ((try? System.readFile("/proc/self/net/ipv6_route")) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 5, fields[1] == "00", fields[0].allSatisfy({ $0 == "0" }), fields[4].count == 32,
                  let high = UInt64(fields[4].prefix(16), radix: 16), let low = UInt64(fields[4].suffix(16), radix: 16),
                  high != 0 || low != 0 else { continue }
            result.append(.v6(IPv6Address(high: high, low: low)))
        }
        return Array(Set(result)).sorted()
    }

    private struct Link {
        var index: Int32 = 0
        var flags: UInt32 = 0
        var mac: MACAddress?
        var prefixes: [IPPrefix] = []
    }

    package static func interfaces() -> [HostInterface] {
        var links: [String: Link] = [:]
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var cursor = head
        while let entry = cursor?.pointee {
            defer { cursor = entry.ifa_next }
            guard let address = entry.ifa_addr else { continue }
            let name = String(cString: entry.ifa_name)
            var link = links[name] ?? Link()
            link.flags = entry.ifa_flags
            if Int32(address.pointee.sa_family) == AF_PACKET {
                // struct sockaddr_ll (linux/if_packet.h, not in Glibc's module): ifindex at
                // 4, hardware type at 8 (1: Ethernet), address length at 11, address at 12.
                let raw = UnsafeRawPointer(address)
                link.index = raw.loadUnaligned(fromByteOffset: 4, as: Int32.self)
                let hardwareType = raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
                if hardwareType == 1, raw.load(fromByteOffset: 11, as: UInt8.self) == 6 {
                    link.mac = MACAddress(rawValue: (12..<18).reduce(0) { $0 << 8 | UInt64(raw.load(fromByteOffset: $1, as: UInt8.self)) })
                }
            } else if let netmask = entry.ifa_netmask, let ip = ipAddress(address), let mask = ipAddress(netmask) {
                link.prefixes.append(IPPrefix(address: ip, length: mask.numeric.nonzeroBitCount))
            }
            links[name] = link
        }
        return links.filter { $0.value.index > 0 }.sorted { $0.key < $1.key }.map { name, link in
            let base = "/sys/class/net/\(name)"
            let sysfsIsOurs = (try? System.readFile("\(base)/ifindex")).flatMap { Int32($0.trimmingWhitespace) } == link.index
                && (try? System.readFile("\(base)/address")).flatMap { MACAddress($0.trimmingWhitespace) } == link.mac
            return HostInterface(
                name: name, index: link.index, mac: link.mac,
                isUp: link.flags & UInt32(IFF_UP) != 0,
                isBroadcast: link.flags & UInt32(IFF_BROADCAST) != 0,
                isLoopback: link.flags & UInt32(IFF_LOOPBACK) != 0,
                isVirtual: sysfsIsOurs && System.fileExists("/sys/devices/virtual/net/\(name)"),
                hasMaster: sysfsIsOurs && System.fileExists("\(base)/master"),
                prefixes: link.prefixes)
        }
    }

    /// Whether `name` is up with carrier, asked of the kernel in this network namespace.
    package static func isRunning(_ name: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var request = ifreq()
        let bytes = Array(name.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        guard ioctl(fd, UInt(SIOCGIFFLAGS), &request) == 0 else { return false }
        let flags = Int(request.ifr_ifru.ifru_flags)
        return flags & Int(IFF_UP) != 0 && flags & Int(IFF_RUNNING) != 0
    }

    private static func ipAddress(_ sockaddrPointer: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(sockaddrPointer.pointee.sa_family) {
        case AF_INET:
            return sockaddrPointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                .v4(IPv4Address(rawValue: UInt32(bigEndian: $0.pointee.sin_addr.s_addr)))
            }
        case AF_INET6:
            return sockaddrPointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                .v6(IPv6Address(bytes: withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }))
            }
        default:
            return nil
        }
    }
}
