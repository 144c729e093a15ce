import Crypto
import HeraldMembership
import HeraldWire

/// Who announces each VIP. Every daemon runs this on its own membership view and, with
/// the same view, reaches the same answer: among the members eligible for the VIP, the
/// first by `sha256(nodeName + "#" + ip)` — MetalLB's layer-2 rule, so a cluster that
/// migrates keeps its announcers.
public enum Election {
    /// Why a member cannot announce a VIP.
    public enum Ineligibility: Equatable, Sendable, CustomStringConvertible {
        case notAlive(MemberRecord.Status)
        case excludedByNodes
        case noInterfaceOnSubnet
        case checkNotPassing
        case holdingDown
        case startingUp
        case unreadableMeta
        /// Kubernetes: no Node of this name.
        case notAKubernetesNode
        /// Kubernetes says no (a label, a condition, the pool, endpoints).
        case kubernetes(KubernetesIneligibility)

        public var description: String {
            switch self {
            case .notAlive(let status): "member is \(status)"
            case .excludedByNodes: "not in the VIP's nodes list"
            case .noInterfaceOnSubnet: "no usable interface on the VIP's subnet"
            case .checkNotPassing: "health check not passing"
            case .holdingDown: "holding down after being declared dead"
            case .startingUp: "starting: not ready to answer yet"
            case .unreadableMeta: "metadata from an incompatible version"
            case .notAKubernetesNode: "no Kubernetes Node of this name"
            case .kubernetes(let reason): reason.description
            }
        }
    }

    public struct Ranked: Equatable, Sendable {
        public var name: String
        public var ineligibility: Ineligibility?
        /// The interfaces (by name) the member would answer on.
        public var interfaces: [String]
    }

    /// Every known member in election order, with the reason each is passed over.
    public static func rank(_ vip: VIPConfig, members: [Member]) -> [Ranked] {
        rank(vip, in: Electorate(members))
    }

    /// The members with their metadata decoded once, for many elections in a row (one per
    /// VIP and Service address: ten thousand Services must not decode it ten thousand times).
    public struct Electorate: Sendable {
        public let members: [Member]
        let metas: [String: NodeMeta]

        public init(_ members: [Member]) {
            self.members = members
            var metas: [String: NodeMeta] = [:]
            for member in members where metas[member.name] == nil {
                if let meta = NodeMeta.decode(member.meta) { metas[member.name] = meta }
            }
            self.metas = metas
        }
    }

    /// MetalLB's ranking key: the lower, the earlier.
    public static func key(_ node: String, _ address: IPAddress) -> [UInt8] {
        Array(SHA256.hash(data: Array("\(node)#\(address)".utf8)))
    }

    public static func rank(_ vip: VIPConfig, in electorate: Electorate) -> [Ranked] {
        electorate.members.map { member -> (key: [UInt8], ranked: Ranked) in
            let key = key(member.name, vip.address)
            guard member.isUp else {
                return (key, Ranked(name: member.name, ineligibility: .notAlive(member.status), interfaces: []))
            }
            guard vip.allows(node: member.name) else {
                return (key, Ranked(name: member.name, ineligibility: .excludedByNodes, interfaces: []))
            }
            guard let meta = electorate.metas[member.name] else {
                return (key, Ranked(name: member.name, ineligibility: .unreadableMeta, interfaces: []))
            }
            let interfaces = meta.interfaces.filter { interface in
                (vip.interfaces?.contains(interface.name) ?? true) && interface.prefixes.contains { $0.contains(vip.address) }
            }.map(\.name)
            let reason: Ineligibility? = interfaces.isEmpty ? .noInterfaceOnSubnet
                : vip.check != nil && !meta.passingChecks.contains(vip.name) ? .checkNotPassing
                : meta.holdingDown ? .holdingDown : meta.startingUp ? .startingUp : nil
            return (key, Ranked(name: member.name, ineligibility: reason, interfaces: interfaces))
        }
        .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        .map(\.ranked)
    }

    /// An address whose first candidate is still starting up (it will be eligible in a
    /// moment, ranked above the first eligible one), and who keeps it meanwhile: its current
    /// owner if that one is still eligible, otherwise nobody. Handing it to the first eligible
    /// member for that moment would answer beside whatever answers now.
    public struct Awaiting: Equatable, Sendable {
        public var heir: String
        public var keeper: String?
    }

    public static func awaiting(_ ranking: [Ranked], current: String?) -> Awaiting? {
        guard let first = ranking.first(where: { $0.ineligibility == nil || $0.ineligibility == .startingUp }),
              first.ineligibility == .startingUp else { return nil }
        let keeper = current.flatMap { current in ranking.contains { $0.name == current && $0.ineligibility == nil } ? current : nil }
        return Awaiting(heir: first.name, keeper: keeper)
    }

    public static func owner(of vip: VIPConfig, members: [Member]) -> String? {
        rank(vip, members: members).first { $0.ineligibility == nil }?.name
    }

    /// The owner of every VIP that has one.
    public static func owners(_ vips: [VIPConfig], members: [Member]) -> [IPAddress: String] {
        let electorate = Electorate(members)
        var owners: [IPAddress: String] = [:]
        for vip in vips {
            if let owner = rank(vip, in: electorate).first(where: { $0.ineligibility == nil })?.name { owners[vip.address] = owner }
        }
        return owners
    }
}

extension Election {
    /// Every member in election order for a Service's addresses: the same hash as a VIP,
    /// on the Service's first address, so all its addresses go to one node, passed over
    /// for the VIP reasons and for what Kubernetes says (not a Node, or
    /// `KubeNodeFacts.ineligibility`: `endpointNodes` given for `externalTrafficPolicy:
    /// Local`). Without `nodes` (adjacent
    /// mode: the members are not Kubernetes nodes, the target node is chosen apart by
    /// `TargetElection`) only the VIP reasons and subnet coverage apply.
    public static func rank(service key: String, addresses: [IPAddress], pool: PoolConfig, members: [Member],
                            nodes: [String: KubeNodeFacts]?, endpointNodes: Set<String>?) -> [Ranked] {
        rank(service: key, addresses: addresses, pool: pool, in: Electorate(members), nodes: nodes, endpointNodes: endpointNodes)
    }

    public static func rank(service key: String, addresses: [IPAddress], pool: PoolConfig, in electorate: Electorate,
                            nodes: [String: KubeNodeFacts]?, endpointNodes: Set<String>?) -> [Ranked] {
        guard let first = addresses.first else { return [] }
        let vip = VIPConfig(name: key, address: first, nodes: [], interfaces: pool.interfaces, check: nil, location: pool.location)
        let metas = electorate.metas
        return rank(vip, in: electorate).map { ranked in
            // A member starting up is still judged by Kubernetes: whether the address waits for it.
            guard ranked.ineligibility == nil || ranked.ineligibility == .startingUp else { return ranked }
            var result = ranked
            // A dual-stack Service needs the node on the subnet of each of its addresses.
            let covered = addresses.dropFirst().allSatisfy { address in
                metas[ranked.name]?.interfaces.contains { interface in
                    (pool.interfaces?.contains(interface.name) ?? true) && interface.prefixes.contains { $0.contains(address) }
                } ?? false
            }
            guard let nodes else {
                result.ineligibility = covered ? ranked.ineligibility : .noInterfaceOnSubnet
                return result
            }
            guard let facts = nodes[ranked.name] else {
                result.ineligibility = .notAKubernetesNode
                return result
            }
            result.ineligibility = facts.ineligibility(name: ranked.name, pool: pool, endpointNodes: endpointNodes,
                                                       requireReady: false).map { .kubernetes($0) }
                ?? (covered ? ranked.ineligibility : .noInterfaceOnSubnet)
            return result
        }
    }
}
