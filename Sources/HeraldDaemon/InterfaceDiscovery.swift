import Glibc
import HeraldCore
import HeraldWire

/// Reads this host's interfaces (getifaddrs and /sys/class/net) into `HostInterface`
/// values for the pure core.
enum InterfaceDiscovery {
    static func hostFacts() -> HostFacts {
        HostFacts(hostname: System.hostname(), interfaces: interfaces())
    }

    static func interfaces() -> [HostInterface] {
        var prefixes: [String: [IPPrefix]] = [:]
        var head: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&head) == 0 {
            var cursor = head
            while let entry = cursor?.pointee {
                defer { cursor = entry.ifa_next }
                guard let address = entry.ifa_addr, let netmask = entry.ifa_netmask else { continue }
                let name = String(cString: entry.ifa_name)
                if let ip = ipAddress(address), let mask = ipAddress(netmask) {
                    prefixes[name, default: []].append(IPPrefix(address: ip, length: mask.numeric.nonzeroBitCount))
                }
            }
            freeifaddrs(head)
        }
        return System.listDirectory("/sys/class/net").compactMap { name in
            let base = "/sys/class/net/\(name)"
            guard let flagsText = try? System.readFile("\(base)/flags"),
                  let flags = Int(flagsText.trimmingWhitespace.dropFirst(2), radix: 16),
                  let indexText = try? System.readFile("\(base)/ifindex"),
                  let index = Int32(indexText.trimmingWhitespace) else { return nil }
            let mac = (try? System.readFile("\(base)/address")).flatMap { MACAddress($0.trimmingWhitespace) }
            let type = (try? System.readFile("\(base)/type")).map(\.trimmingWhitespace)
            return HostInterface(
                name: name, index: index,
                mac: type == "1" ? mac : nil,
                isUp: flags & Int(IFF_UP) != 0,
                isBroadcast: flags & Int(IFF_BROADCAST) != 0,
                isLoopback: flags & Int(IFF_LOOPBACK) != 0,
                isVirtual: System.fileExists("/sys/devices/virtual/net/\(name)"),
                hasMaster: System.fileExists("\(base)/master"),
                prefixes: prefixes[name] ?? [])
        }
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
