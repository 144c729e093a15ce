import HeraldWire

/// The checks that look at more than one value: duplicates, overlaps, and — given the
/// host's interfaces — whether each VIP this node may announce sits on a subnet it has.
public enum ConfigValidator {
    public static func validate(_ config: HeraldConfig, host: HostFacts?) -> [ConfigError] {
        var errors: [ConfigError] = []
        func fail(_ location: SourceLocation, _ key: String, _ message: String) {
            errors.append(ConfigError(location, key, message))
        }

        for (index, pool) in config.pools.enumerated() {
            if let earlier = config.pools[..<index].first(where: { $0.name == pool.name }) {
                fail(pool.location, "pool.name", "pool '\(pool.name)' is already defined at \(earlier.location)")
            }
            for (rangeIndex, range) in pool.addresses.enumerated() {
                if let clash = pool.addresses[..<rangeIndex].first(where: { $0.overlaps(range) }) {
                    fail(pool.location, "pool.addresses", "\(range) overlaps \(clash) in the same pool")
                }
                for other in config.pools[..<index] {
                    if let clash = other.addresses.first(where: { $0.overlaps(range) }) {
                        fail(pool.location, "pool.addresses",
                             "\(range) overlaps \(clash) of pool '\(other.name)' at \(other.location)")
                    }
                }
                if let problem = unusableRangeReason(range) { fail(pool.location, "pool.addresses", problem) }
            }
        }

        for (index, vip) in config.vips.enumerated() {
            if let earlier = config.vips[..<index].first(where: { $0.name == vip.name }) {
                fail(vip.location, "vip.name", "VIP '\(vip.name)' is already defined at \(earlier.location)")
            }
            if let earlier = config.vips[..<index].first(where: { $0.address == vip.address }) {
                fail(vip.location, "vip.address", "\(vip.address) is already VIP '\(earlier.name)' at \(earlier.location)")
            }
            if let pool = config.pools.first(where: { $0.addresses.contains { $0.contains(vip.address) } }) {
                fail(vip.location, "vip.address",
                     "\(vip.address) lies in pool '\(pool.name)' at \(pool.location); a pool address may be given to a Service")
            }
            if let problem = unusableAddressReason(vip.address) { fail(vip.location, "vip.address", problem) }
        }

        if config.node.mode == .adjacent && config.kubernetes == nil {
            fail(config.node.modeLocation ?? config.sectionLocations["node"] ?? SourceLocation(file: "", line: 0), "node.mode",
                 "\"adjacent\" announces Kubernetes Services on behalf of their nodes and needs a [kubernetes] section")
        }

        guard let host else { return errors }
        if let names = config.node.interfaces, let location = config.node.interfacesLocation {
            for name in names where !host.interfaces.contains(where: { $0.name == name }) {
                let present = host.interfaces.filter { !$0.isLoopback }.map(\.name).joined(separator: ", ")
                fail(location, "node.interfaces", "interface '\(name)' does not exist on this host (present: \(present))")
            }
        }
        let nodeName = config.node.name ?? host.hostname
        let usable = host.usableInterfaces(config.node)
        for vip in config.vips where vip.allows(node: nodeName) {
            if let owner = host.interfaces.first(where: { $0.prefixes.contains { $0.address == vip.address } }) {
                fail(vip.location, "vip.address",
                     "\(vip.address) is configured on \(owner.name); the kernel already answers for it, so it cannot be a VIP")
                continue
            }
            let candidates = usable.filter { vip.interfaces?.contains($0.name) ?? true }
            if let names = vip.interfaces {
                for name in names where !usable.contains(where: { $0.name == name }) {
                    fail(vip.location, "vip.interfaces", "interface '\(name)' is not one Herald uses on this host (see node.interfaces)")
                }
            }
            if !candidates.contains(where: { $0.subnet(containing: vip.address) != nil }) {
                let seen = candidates.map { interface in
                    "\(interface.name): " + (interface.prefixes.isEmpty ? "no addresses" : interface.prefixes.map(\.description).joined(separator: " "))
                }.joined(separator: "; ")
                fail(vip.location, "vip.address",
                     "\(vip.address) is on no subnet of the interfaces Herald uses here (\(seen.isEmpty ? "none found" : seen))")
            }
        }
        return errors
    }

    static func unusableAddressReason(_ address: IPAddress) -> String? {
        switch address {
        case .v4(let v4):
            let first = v4.rawValue >> 24
            if v4.rawValue == 0 || v4.rawValue == 0xFFFF_FFFF { return "\(address) cannot be announced" }
            if first == 127 { return "\(address) is a loopback address" }
            if first >= 224 { return "\(address) is a multicast or reserved address" }
        case .v6(let v6):
            if v6.isMulticast { return "\(address) is a multicast address" }
            if v6.isLinkLocal { return "\(address) is link-local; use a global or ULA address" }
            if v6.isUnspecified || v6 == IPv6Address(high: 0, low: 1) { return "\(address) cannot be announced" }
        }
        return nil
    }

    static func unusableRangeReason(_ range: IPRange) -> String? {
        for address in [range.first, range.last] {
            if let reason = unusableAddressReason(address) { return "range \(range): \(reason)" }
        }
        return nil
    }
}
