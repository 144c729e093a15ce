import HeraldWire

/// What the daemon found out about one network interface; the pure core decides from it.
public struct HostInterface: Hashable, Sendable {
    public var name: String
    public var index: Int32
    public var mac: MACAddress?
    public var isUp: Bool
    public var isBroadcast: Bool
    public var isLoopback: Bool
    /// Created by software (veth, bridge, macvlan, dummy…), under /sys/devices/virtual.
    public var isVirtual: Bool
    /// Enslaved to a bridge or bond: its addresses, if any, live on the master.
    public var hasMaster: Bool
    public var prefixes: [IPPrefix]

    public init(name: String, index: Int32, mac: MACAddress?, isUp: Bool, isBroadcast: Bool, isLoopback: Bool,
                isVirtual: Bool, hasMaster: Bool, prefixes: [IPPrefix]) {
        self.name = name
        self.index = index
        self.mac = mac
        self.isUp = isUp
        self.isBroadcast = isBroadcast
        self.isLoopback = isLoopback
        self.isVirtual = isVirtual
        self.hasMaster = hasMaster
        self.prefixes = prefixes
    }

    /// Whether the default selection (no `node.interfaces`) picks it: an UP physical NIC
    /// that can carry ARP, not a bridge port. Bridges themselves count as physical here
    /// only when listed, because they are virtual devices.
    public var isDefaultCandidate: Bool {
        isUp && isBroadcast && !isLoopback && !isVirtual && !hasMaster && mac != nil
    }

    /// The subnet of this interface that `address` lies in, if any.
    /// Link-local prefixes (fe80::/64) do not count: a VIP is never link-local.
    public func subnet(containing address: IPAddress) -> IPPrefix? {
        prefixes.first { prefix in
            if case .v6(let network) = prefix.address, network.isLinkLocal { return false }
            return prefix.contains(address)
        }
    }
}

/// The facts about this host that config validation and link planning need.
public struct HostFacts: Equatable, Sendable {
    public var hostname: String
    public var interfaces: [HostInterface]
    /// The next hops of this host's default routes (IPv4 and IPv6).
    public var gateways: [IPAddress]

    public init(hostname: String, interfaces: [HostInterface], gateways: [IPAddress] = []) {
        self.hostname = hostname
        self.interfaces = interfaces
        self.gateways = gateways
    }

    /// The interfaces Herald may answer on: those listed in `node.interfaces`, or the
    /// default candidates when the list is absent.
    public func usableInterfaces(_ node: NodeSettings) -> [HostInterface] {
        guard let names = node.interfaces else { return interfaces.filter(\.isDefaultCandidate) }
        return names.compactMap { name in interfaces.first { $0.name == name } }
    }
}
