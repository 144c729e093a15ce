import HeraldWire

/// Which addresses this node answers for on which interface. Pure: the daemon gives it the
/// config, the host facts and the set of addresses this node owns, and opens one link per
/// interface in the result.
public struct LinkPlan: Equatable, Sendable {
    public var addressesByInterface: [String: Set<IPAddress>]

    public init(addressesByInterface: [String: Set<IPAddress>] = [:]) {
        self.addressesByInterface = addressesByInterface
    }

    /// Every VIP goes to each usable interface (restricted by the VIP's `interfaces`) whose
    /// subnet contains it. Interfaces that carry none of the config's VIPs are left out.
    public static func make(config: HeraldConfig, host: HostFacts, owned: Set<IPAddress>) -> LinkPlan {
        var plan = LinkPlan()
        let usable = host.usableInterfaces(config.node)
        for vip in config.vips where owned.contains(vip.address) {
            for interface in usable where vip.interfaces?.contains(interface.name) ?? true {
                if interface.subnet(containing: vip.address) != nil {
                    plan.addressesByInterface[interface.name, default: []].insert(vip.address)
                }
            }
        }
        return plan
    }

    /// The interfaces any config VIP could ever be announced on, owned now or not, so links
    /// can be opened once at start.
    /// With `[kubernetes]`, interfaces on a subnet of any pool range count too: Service
    /// addresses come from the pools later.
    public static func interfaces(config: HeraldConfig, host: HostFacts) -> [HostInterface] {
        let all = Set(config.vips.map(\.address))
        var names = Set(make(config: config, host: host, owned: all).addressesByInterface.keys)
        if config.kubernetes != nil {
            for pool in config.pools {
                for interface in host.usableInterfaces(config.node) where pool.interfaces?.contains(interface.name) ?? true {
                    if pool.addresses.contains(where: { interface.subnet(containing: $0.first) != nil }) { names.insert(interface.name) }
                }
            }
        }
        return host.interfaces.filter { names.contains($0.name) }
    }

    /// Without gossip every node owns each VIP its name is allowed for.
    public static func standaloneOwnership(config: HeraldConfig, nodeName: String) -> Set<IPAddress> {
        Set(config.vips.filter { $0.allows(node: nodeName) }.map(\.address))
    }
}
