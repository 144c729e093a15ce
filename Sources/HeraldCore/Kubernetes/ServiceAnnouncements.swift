import HeraldMembership
import HeraldWire

/// Which node announces each Service address, worked out by every node from the same
/// inputs (the Kubernetes facts, the pools and the membership view), as `Election` does
/// for VIPs. In adjacent mode the announcers are adjacent hosts, which answer with the MAC
/// of a target node (`TargetElection`), and an address is announced only while some node
/// can take its traffic.
public struct ServiceAnnouncements: Equatable, Sendable {
    /// Service addresses as VIPs (named `namespace/name`), for links and probing.
    public var vips: [VIPConfig] = []
    /// The announcer of each address that has one (of a routed pool's address: the owner of
    /// its gateway VIP, which `NodeMachine` fills in).
    public var owners: [IPAddress: String] = [:]
    /// The announced addresses whose first candidate is still starting up (`Election.Awaiting`).
    public var awaiting: [IPAddress: Election.Awaiting] = [:]
    /// Addresses of routed pools (`routed_via`) with the VIP their traffic is routed to: no
    /// link answers for them, and the VIP's owner, which takes their traffic, is theirs.
    public var routed: [IPAddress: String] = [:]
    /// Adjacent mode: the target node of every Service address that has one.
    public var targets: [IPAddress: Target] = [:]
    /// Adjacent mode: every node's link addresses, with the node's name.
    public var nodeAddresses: [IPAddress: String] = [:]
    /// Adjacent mode: addresses of nodes some adjacent host reports unreachable, watched by
    /// every host so the report outlives the host that made it.
    public var suspects: Set<IPAddress> = []

    public struct Target: Equatable, Sendable {
        public var node: String
        /// The node's address resolved on the link for its MAC.
        public var address: IPAddress
    }

    /// One Service's election: its pool addresses, the announcers in order and, in
    /// adjacent mode, the target nodes in order.
    public struct ServiceElection: Equatable, Sendable {
        public var service: String
        public var addresses: [IPAddress]
        public var pool: PoolConfig
        public var owners: [Election.Ranked]
        public var targets: [TargetElection.Ranked]?
        /// No endpoint is ready: nobody announces it, as with MetalLB's layer 2.
        public var noReadyEndpoint = false

        /// The announcer, if it is announced at all.
        public var owner: String? { noReadyEndpoint ? nil : owners.first { $0.ineligibility == nil }?.name }
    }

    public init() {}

    /// `current`: the owners decided last, for `awaiting`.
    public init(_ facts: KubernetesFacts, config: HeraldConfig, members: [Member], current: [IPAddress: String] = [:]) {
        let allocator = Allocator(pools: config.pools)
        let unreachable = config.node.mode == .adjacent ? Self.unreachable(members) : nil
        let electorate = Election.Electorate(members)
        for service in facts.services {
            guard let election = Self.election(of: service, facts, allocator: allocator, electorate: electorate, unreachable: unreachable)
            else { continue }
            var owner = election.owner
            if let targets = election.targets {
                if let target = targets.first(where: { $0.ineligibility == nil }), let address = target.address {
                    for serviceAddress in election.addresses { self.targets[serviceAddress] = Target(node: target.name, address: address) }
                } else {
                    owner = nil
                }
            }
            if let gateway = election.pool.routedVia {
                for address in election.addresses { routed[address] = gateway }
            }
            for address in election.addresses {
                vips.append(VIPConfig(name: service.key, address: address, interfaces: election.pool.interfaces,
                                      location: election.pool.location))
                if let owner {
                    owners[address] = owner
                    if let waiting = Election.awaiting(election.owners, current: current[address]) { awaiting[address] = waiting }
                }
            }
        }
        if let unreachable {
            for (name, node) in facts.nodes {
                for address in node.internalIPs { nodeAddresses[address] = name }
                if unreachable[name] != nil, let address = node.internalIPs.first { suspects.insert(address) }
            }
        }
    }

    /// The election for the Service holding `text` as an address, or named
    /// `namespace/name`, for `heraldctl explain`; `address` is the one asked about (the
    /// Service's first when asked by name).
    public static func ranking(for text: String, _ facts: KubernetesFacts, config: HeraldConfig,
                               members: [Member]) -> (address: IPAddress, election: ServiceElection)? {
        let address = IPAddress(text)
        guard let service = facts.services.first(where: { $0.key == text || address.map($0.addresses.contains) ?? false }),
              let election = election(of: service, facts, allocator: Allocator(pools: config.pools), electorate: Election.Electorate(members),
                                      unreachable: config.node.mode == .adjacent ? unreachable(members) : nil)
        else { return nil }
        return (address ?? election.addresses[0], election)
    }

    /// Adjacent mode without `unreachable` means local mode: the announcers are nodes.
    static func election(of service: ServiceFacts, _ facts: KubernetesFacts, allocator: Allocator, electorate: Election.Electorate,
                         unreachable: [String: [String]]?) -> ServiceElection? {
        let addresses = service.addresses.filter { allocator.pool(of: $0) != nil }
        guard let first = addresses.first, let pool = allocator.pool(of: first) else { return nil }
        let endpointNodes = service.localTraffic ? service.readyEndpointNodes : nil
        guard let unreachable else {
            return ServiceElection(service: service.key, addresses: addresses, pool: pool, owners: Election.rank(
                service: service.key, addresses: addresses, pool: pool, in: electorate, nodes: facts.nodes, endpointNodes: endpointNodes),
                noReadyEndpoint: !service.hasReadyEndpoint)
        }
        return ServiceElection(
            service: service.key, addresses: addresses, pool: pool,
            owners: Election.rank(service: service.key, addresses: addresses, pool: pool, in: electorate, nodes: nil, endpointNodes: nil),
            targets: TargetElection.rank(addresses: addresses, pool: pool, nodes: facts.nodes, endpointNodes: endpointNodes,
                                         unreachable: unreachable),
            noReadyEndpoint: !service.hasReadyEndpoint)
    }

    /// Nodes that alive members report unreachable, with who reports each.
    static func unreachable(_ members: [Member]) -> [String: [String]] {
        TargetElection.unreachable(reportedIn: members.filter(\.isUp).compactMap { member in
            NodeMeta.decode(member.meta).map { (member.name, $0) }
        })
    }
}
