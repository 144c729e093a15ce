import Crypto
import HeraldWire

/// Adjacent mode: which Kubernetes node receives the traffic for a Service's addresses.
/// The adjacent host that owns the addresses answers ARP/NDP with this node's MAC.
/// Every adjacent host works it out from the same inputs — the API's nodes and
/// endpoints, and the nodes that adjacent hosts gossip as unreachable — so all agree:
/// among the eligible nodes, the first by `sha256(nodeName + "#" + ip)` on the Service's
/// first address, the rule `Election` uses for announcers.
public enum TargetElection {
    /// Why a node cannot receive a Service's traffic.
    public enum Ineligibility: Equatable, Sendable, CustomStringConvertible {
        /// Kubernetes says no (Ready, a label, a condition, the pool, endpoints).
        case kubernetes(KubernetesIneligibility)
        /// The Node lists no InternalIP, so its MAC cannot be resolved.
        case noInternalIP
        /// Adjacent hosts probed it on the link and got no answer.
        case unreachable(reportedBy: [String])

        public var description: String {
            switch self {
            case .kubernetes(let reason): reason.description
            case .noInternalIP: "node has no InternalIP address"
            case .unreachable(let reporters): "does not answer on the link (reported by \(reporters.joined(separator: ", ")))"
            }
        }
    }

    public struct Ranked: Equatable, Sendable {
        public var name: String
        /// The node's address that is resolved on the link to learn its MAC.
        public var address: IPAddress?
        public var ineligibility: Ineligibility?
    }

    /// Every node in target order for a Service's `addresses`, each with the reason it is
    /// passed over. `unreachable` maps a node to the adjacent hosts that report it.
    public static func rank(addresses: [IPAddress], pool: PoolConfig, nodes: [String: KubeNodeFacts],
                            endpointNodes: Set<String>?, unreachable: [String: [String]]) -> [Ranked] {
        guard let first = addresses.first else { return [] }
        return nodes.map { name, facts -> (key: [UInt8], ranked: Ranked) in
            let key = Array(SHA256.hash(data: Array("\(name)#\(first)".utf8)))
            let address = linkAddress(facts, for: first)
            let reason: Ineligibility? = facts.ineligibility(name: name, pool: pool, endpointNodes: endpointNodes,
                                                             requireReady: true).map { .kubernetes($0) }
                ?? (address == nil ? .noInternalIP : nil)
                ?? unreachable[name].map { .unreachable(reportedBy: $0.sorted()) }
            return (key, Ranked(name: name, address: address, ineligibility: reason))
        }
        .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        .map(\.ranked)
    }

    /// The node address to resolve for traffic to `service`: its first InternalIP of the
    /// same family, else its first (a NIC has one MAC, whichever family asks for it).
    public static func linkAddress(_ facts: KubeNodeFacts, for service: IPAddress) -> IPAddress? {
        facts.internalIPs.first { $0.isIPv4 == service.isIPv4 } ?? facts.internalIPs.first
    }

    /// Nodes reported unreachable by the given members, with who reports each.
    public static func unreachable(reportedIn members: [(name: String, meta: NodeMeta)]) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for (name, meta) in members where !meta.holdingDown && !meta.startingUp {
            for node in meta.unreachableNodes { result[node, default: []].append(name) }
        }
        return result
    }
}
