/// What an operator should fix about this node, worded once for the journal and for
/// `heraldctl status`, `vips` and `explain`.
public enum NodeWarning: Equatable, Sendable, CustomStringConvertible {
    /// Local mode with `[kubernetes]`, and no Kubernetes Node has this node's name.
    case notAKubernetesNode(String)
    /// `[kubernetes]` without `[gossip]`: this host allocates and announces on its own.
    case kubernetesWithoutGossip
    /// Hosts of the cluster run different shared config (`ConfigDrift`); `me` is this node.
    case configsDiffer(ConfigDrift, me: String)

    public var description: String {
        switch self {
        case .notAKubernetesNode(let name):
            return "this host (\(name)) is not a Kubernetes Node: in local mode only Nodes announce Service addresses, so this host never will. Did you mean mode = \"adjacent\" (a host next to the nodes), or node.name = the Node's name?"
        case .kubernetesWithoutGossip:
            return "[kubernetes] without [gossip]: this host allocates and announces every Service address by itself; run it on one host only, or give every host [gossip]"
        case .configsDiffer(let drift, let me):
            let others = drift.differing.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            let whose = drift.differing[me] != nil ? "this host's config differs from the cluster's" : "config differs between hosts"
            let against = drift.majority.map { "against \($0) on the others" } ?? "and no digest has a majority"
            return "\(whose): \(others) \(against); compare pools.d and the shared VIPs (heraldctl members). Until it agrees, no Service is moved to another address."
        }
    }
}
