/// Which hosts' configs form one gossip cluster, for checking that they agree: hosts with
/// the same cluster name that join one another, or the same seed, directly or through
/// others. Two clusters in one repository (a lab and production) may share the default
/// name and still differ.
public enum GossipClusters {
    /// Groups of indexes into `hosts`, each group one cluster, in order of first appearance.
    public static func group(_ hosts: [GossipSettings]) -> [[Int]] {
        var parent = Array(hosts.indices)
        func root(_ index: Int) -> Int {
            var index = index
            while parent[index] != index {
                parent[index] = parent[parent[index]]
                index = parent[index]
            }
            return index
        }
        // Each address a host binds or joins, to the first host naming it.
        var named: [String: Int] = [:]
        for (index, host) in hosts.enumerated() {
            for address in [host.bind] + host.join {
                let key = "\(host.cluster) \(address)"
                if let other = named[key] { parent[root(index)] = root(other) } else { named[key] = index }
            }
        }
        return Dictionary(grouping: hosts.indices, by: root).values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }
}
