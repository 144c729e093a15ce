import HeraldWire

/// The checks that need this host's facts — its interfaces, addresses and default routes:
/// heraldd runs them at start and on reload, `heraldctl check` on the host, with the same
/// messages; `heraldctl check --offline` leaves them out.
enum HostValidator {
    static func validate(_ config: HeraldConfig, host: HostFacts) -> [ConfigError] {
        var errors: [ConfigError] = []
        func fail(_ location: SourceLocation, _ key: String, _ message: String) {
            errors.append(ConfigError(location, key, message))
        }
        func section(_ name: String) -> SourceLocation {
            config.sectionLocations[name] ?? SourceLocation(file: config.vips.first?.location.file ?? "", line: 0)
        }

        if let names = config.node.interfaces, let location = config.node.interfacesLocation {
            for name in names where !host.interfaces.contains(where: { $0.name == name }) {
                let present = host.interfaces.filter { !$0.isLoopback }.map(\.name).joined(separator: ", ")
                fail(location, "node.interfaces", "interface '\(name)' does not exist on this host (present: \(present))")
            }
        }

        // Addresses heraldd binds must be this host's: the kernel refuses any other.
        let own = Set(host.interfaces.flatMap { $0.prefixes.map(\.address) })
        let ownText = own.sorted().map(\.description).joined(separator: ", ")
        for (key, hostPort, sectionName) in [("gossip.bind", config.gossip?.bind, "gossip"), ("metrics.listen", config.metrics?.listen, "metrics")] {
            guard let hostPort, let address = IPAddress(hostPort.host), !address.isUnspecified, !own.contains(address) else { continue }
            fail(section(sectionName), key, "\(address) is not an address of this host, so heraldd could not bind it (this host's addresses: \(ownText.isEmpty ? "none" : ownText))")
        }

        if case .address(let witness) = config.node.witness,
           !host.usableInterfaces(config.node).contains(where: { $0.subnet(containing: witness) != nil }) {
            fail(config.node.witnessLocation ?? section("node"), "node.witness",
                 "\(witness) is on no subnet of the interfaces Herald uses here, so it could never be asked")
        }
        let reserved = reservedAddresses(config, host: host)
        for vip in config.vips {
            if let reason = reserved[vip.address] { fail(vip.location, "vip.address", "\(vip.address) is \(reason), so it cannot be a VIP") }
        }
        let reservedInOrder = reserved.sorted { $0.key < $1.key }
        for pool in config.pools {
            for range in pool.addresses {
                for (address, reason) in reservedInOrder where range.contains(address) {
                    if pool.avoidBuggyIPs, case .v4(let v4) = address, v4.rawValue & 0xFF == 0 || v4.rawValue & 0xFF == 0xFF { continue }
                    fail(pool.location, "pool.addresses", "range \(range) holds \(address), \(reason): leave it out of the range")
                }
            }
        }

        let nodeName = config.node.name ?? host.hostname
        let usable = host.usableInterfaces(config.node)
        func seen(_ interfaces: [HostInterface]) -> String {
            let text = interfaces.map { interface in
                "\(interface.name): " + (interface.prefixes.isEmpty ? "no addresses" : interface.prefixes.map(\.description).joined(separator: " "))
            }.joined(separator: "; ")
            return text.isEmpty ? "none found" : text
        }
        for vip in config.vips where vip.allows(node: nodeName) && reserved[vip.address] == nil {
            let candidates = usable.filter { vip.interfaces?.contains($0.name) ?? true }
            if let names = vip.interfaces {
                for name in names where !usable.contains(where: { $0.name == name }) {
                    fail(vip.location, "vip.interfaces", "interface '\(name)' is not one Herald uses on this host (see node.interfaces)")
                }
            }
            if !candidates.contains(where: { $0.subnet(containing: vip.address) != nil }) {
                fail(vip.location, "vip.address", "\(vip.address) is on no subnet of the interfaces Herald uses here (\(seen(candidates)))")
            }
        }
        // A pool this host may announce (adjacent hosts announce every pool, for its nodes)
        // must lie on a subnet it answers on, or its addresses would never be answered here.
        // A routed pool must not: what lies on a subnet here would be answered by ARP too.
        for pool in config.pools where pool.routedVia != nil {
            for range in pool.addresses {
                guard let interface = usable.first(where: { $0.subnet(containing: range.first) != nil || $0.subnet(containing: range.last) != nil })
                else { continue }
                fail(pool.location, "pool.routed_via",
                     "range \(range) is on \(interface.name)'s subnet, so it is not routed: drop routed_via, or use addresses off the LAN")
            }
        }
        for pool in config.pools where pool.routedVia == nil && (config.node.mode == .adjacent || pool.mayBeAnnounced(by: nodeName)) {
            let candidates = usable.filter { pool.interfaces?.contains($0.name) ?? true }
            for range in pool.addresses where !candidates.contains(where: { interface in
                interface.subnet(containing: range.first).map { $0.contains(range.last) } ?? false
            }) {
                fail(pool.location, "pool.addresses",
                     "range \(range) is on no subnet of the interfaces Herald uses here (\(seen(candidates))), so this host could never answer for it; list the interface in node.interfaces, or leave this host out with the pool's nodes")
            }
        }
        return errors
    }

    /// Addresses no VIP or pool may hold on this host, with the reason: its own addresses,
    /// its subnets' network and broadcast addresses, its default gateways, and the gossip
    /// addresses of this node and of the members it joins.
    static func reservedAddresses(_ config: HeraldConfig, host: HostFacts) -> [IPAddress: String] {
        var reserved: [IPAddress: String] = [:]
        func reserve(_ address: IPAddress, _ reason: String) {
            if reserved[address] == nil { reserved[address] = reason }
        }
        for interface in host.interfaces where !interface.isLoopback {
            for prefix in interface.prefixes {
                reserve(prefix.address, "configured on \(interface.name): the kernel already answers for it")
            }
        }
        for interface in host.interfaces where !interface.isLoopback {
            for prefix in interface.prefixes {
                let subnet = IPPrefix(address: prefix.network, length: prefix.length)
                if prefix.address.isIPv4, prefix.length <= 30 {
                    reserve(prefix.network, "the network address of \(interface.name)'s subnet \(subnet)")
                    reserve(prefix.last, "the broadcast address of \(interface.name)'s subnet \(subnet)")
                } else if case .v6(let v6) = prefix.address, !v6.isLinkLocal, prefix.length <= 126 {
                    reserve(prefix.network, "the subnet-router anycast address of \(interface.name)'s subnet \(subnet)")
                }
            }
        }
        for gateway in host.gateways { reserve(gateway, "this host's default gateway") }
        if case .address(let witness) = config.node.witness { reserve(witness, "this node's witness (node.witness)") }
        if let gossip = config.gossip {
            if let address = IPAddress(gossip.bind.host), !address.isUnspecified { reserve(address, "this node's gossip address (gossip.bind)") }
            for peer in gossip.join {
                if let address = IPAddress(peer.host) { reserve(address, "the gossip address of a cluster member (gossip.join)") }
            }
        }
        return reserved
    }
}

extension PoolConfig {
    /// Whether node `name` may be one of this pool's announcers as far as its name tells:
    /// label entries and selectors need the node's Kubernetes labels, so they do not rule
    /// it out here.
    func mayBeAnnounced(by name: String) -> Bool {
        nodes.isEmpty || nodes.contains { $0.pattern.contains("=") || $0.matches(name) }
    }
}
