import HeraldWire

/// The checks that look at more than one value: duplicates and overlaps, and — given the
/// host's facts — everything `HostValidator` checks.
public enum ConfigValidator {
    public static func validate(_ config: HeraldConfig, host: HostFacts?) -> [ConfigError] {
        var errors: [ConfigError] = []
        func fail(_ location: SourceLocation, _ key: String, _ message: String) {
            errors.append(ConfigError(location, key, message))
        }

        // Every check is a hash lookup or a sweep over sorted ranges: a config with tens of
        // thousands of VIPs or ranges is checked in well under a second.
        var poolNames: [String: PoolConfig] = [:]
        for pool in config.pools {
            if let earlier = poolNames[pool.name] {
                fail(pool.location, "pool.name", "pool '\(pool.name)' is already defined at \(earlier.location)")
            } else {
                poolNames[pool.name] = pool
            }
            for range in pool.addresses {
                if let problem = unusableRangeReason(range) { fail(pool.location, "pool.addresses", problem) }
            }
        }
        let ranges = PoolRanges(config.pools)
        for (later, earlier) in ranges.overlaps {
            let other = config.pools[earlier.pool]
            let within = earlier.pool == later.pool ? "in the same pool" : "of pool '\(other.name)' at \(other.location)"
            fail(config.pools[later.pool].location, "pool.addresses", "\(later.range) overlaps \(earlier.range) \(within)")
        }

        let vipNamed = Set(config.vips.map(\.name))
        for pool in config.pools {
            guard let via = pool.routedVia, !vipNamed.contains(via) else { continue }
            fail(pool.location, "pool.routed_via", "no [[vip]] is named '\(via)': a routed pool's traffic comes through a VIP of this config")
        }

        var vipNames: [String: VIPConfig] = [:]
        var vipAddresses: [IPAddress: VIPConfig] = [:]
        for vip in config.vips {
            if let earlier = vipNames[vip.name] {
                fail(vip.location, "vip.name", "VIP '\(vip.name)' is already defined at \(earlier.location)")
            } else {
                vipNames[vip.name] = vip
            }
            if let earlier = vipAddresses[vip.address] {
                fail(vip.location, "vip.address", "\(vip.address) is already VIP '\(earlier.name)' at \(earlier.location)")
            } else {
                vipAddresses[vip.address] = vip
            }
            if let index = ranges.pool(containing: vip.address) {
                let pool = config.pools[index]
                fail(vip.location, "vip.address",
                     "\(vip.address) lies in pool '\(pool.name)' at \(pool.location); a pool address may be given to a Service")
            }
            if let problem = unusableAddressReason(vip.address) { fail(vip.location, "vip.address", problem) }
        }

        if config.node.mode == .adjacent && config.kubernetes == nil {
            fail(config.node.modeLocation ?? config.sectionLocations["node"] ?? SourceLocation(file: "", line: 0), "node.mode",
                 "\"adjacent\" announces Kubernetes Services on behalf of their nodes and needs a [kubernetes] section")
        }

        if let host { errors += HostValidator.validate(config, host: host) }
        return errors
    }

    /// Every range of every pool, sorted by first address, with the widest range seen so
    /// far at each position: overlaps are found in one sweep, and the pool holding an
    /// address by binary search.
    struct PoolRanges {
        struct Item {
            var range: IPRange
            var pool: Int
            var order: Int
        }

        private var items: [Item] = []
        /// For each position, the item reaching furthest among those up to it (same family).
        private var widest: [Item] = []
        /// Pairs (later in the files, earlier) of ranges that overlap.
        private(set) var overlaps: [(Item, Item)] = []

        init(_ pools: [PoolConfig]) {
            var order = 0
            for (index, pool) in pools.enumerated() {
                for range in pool.addresses {
                    items.append(Item(range: range, pool: index, order: order))
                    order += 1
                }
            }
            items.sort { ($0.range.first, $0.order) < ($1.range.first, $1.order) }
            for item in items {
                if let reach = widest.last, reach.range.last.isIPv4 == item.range.first.isIPv4, item.range.first <= reach.range.last {
                    overlaps.append(item.order > reach.order ? (item, reach) : (reach, item))
                    widest.append(item.range.last > reach.range.last ? item : reach)
                } else {
                    widest.append(item)
                }
            }
        }

        /// The index of the pool holding `address`, if any.
        func pool(containing address: IPAddress) -> Int? {
            var low = 0
            var high = items.count
            while low < high {
                let middle = (low + high) / 2
                if items[middle].range.first <= address { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { return nil }
            let reach = widest[low - 1]
            return reach.range.first.isIPv4 == address.isIPv4 && reach.range.contains(address) ? reach.pool : nil
        }
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
