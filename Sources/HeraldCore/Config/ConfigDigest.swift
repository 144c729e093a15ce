import Crypto

/// A short fingerprint of the part of a config that must be the same on every host of a
/// cluster, gossiped so a host whose config differs is seen at once (a half-finished
/// rollout, a forgotten pools.d file). Two hosts with one digest elect the same owners
/// and allocate from the same pools.
///
/// In: every pool (all its settings), every VIP (name, address, `nodes`, `interfaces`,
/// whether it has a check: a node without the check would elect other owners), the
/// gossip cluster name and profile, whether `[kubernetes]` is on and its
/// `load_balancer_class`, and the node mode. Out: what is per host by design — the node's
/// name and interfaces, gossip bind/join/keys/wire version, metrics, kubeconfig, check
/// commands and timings — and where things were written (file names, lines).
public enum ConfigDigest {
    /// 16 hex digits: the first 8 bytes of SHA-256 over a canonical text of the shared part.
    public static func of(_ config: HeraldConfig) -> String {
        let digest = SHA256.hash(data: Array(canonical(config).utf8))
        return digest.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// One line per setting, in a fixed order; lists keep their order where it matters
    /// (addresses, pools: the first pool with room is used) and are sorted where it does
    /// not (node and namespace lists).
    static func canonical(_ config: HeraldConfig) -> String {
        var lines = ["mode \(config.node.mode.rawValue)"]
        if let gossip = config.gossip { lines.append("gossip \(gossip.cluster) \(gossip.profile.rawValue)") }
        if let kubernetes = config.kubernetes { lines.append("kubernetes class=\(kubernetes.loadBalancerClass)") }
        for pool in config.pools {
            lines.append("""
                pool \(pool.name) \(pool.addresses.map(\.description).joined(separator: ",")) \
                auto=\(pool.autoAssign) buggy=\(pool.avoidBuggyIPs) via=\(pool.routedVia ?? "-") \
                interfaces=\(pool.interfaces.map { $0.sorted().joined(separator: ",") } ?? "*") \
                nodes=\(pool.nodes.map(\.pattern).sorted().joined(separator: ",")) \
                nodeSelectors=\(pool.nodeSelectors.map(\.description).sorted().joined(separator: ";")) \
                namespaces=\(pool.namespaces.sorted().joined(separator: ",")) \
                namespaceSelectors=\(pool.namespaceSelectors.map(\.description).sorted().joined(separator: ";")) \
                serviceSelectors=\(pool.serviceSelectors.map(\.description).sorted().joined(separator: ";")) \
                priority=\(pool.priority.map(String.init) ?? "-")
                """)
        }
        for vip in config.vips.sorted(by: { $0.name < $1.name }) {
            lines.append("""
                vip \(vip.name) \(vip.address) nodes=\(vip.nodes.map(\.pattern).sorted().joined(separator: ",")) \
                interfaces=\(vip.interfaces.map { $0.sorted().joined(separator: ",") } ?? "*") check=\(vip.check != nil)
                """)
        }
        return lines.joined(separator: "\n")
    }
}
