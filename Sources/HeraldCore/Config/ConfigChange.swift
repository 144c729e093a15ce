/// What a reload changes, worked out before anything is applied. Pure.
///
/// VIPs, pools, checks and `node.interfaces` apply in place. The node's identity, the
/// gossip transport and the metrics listener do not: changing them on a running member
/// would look to the rest of the cluster like a different node, so such a reload is
/// refused and the running config kept.
public struct ConfigChange: Equatable, Sendable {
    public var addedVIPs: [String] = []
    public var removedVIPs: [String] = []
    public var changedVIPs: [String] = []
    public var addedPools: [String] = []
    public var removedPools: [String] = []
    public var changedPools: [String] = []
    public var interfacesChanged = false

    public var isEmpty: Bool {
        addedVIPs.isEmpty && removedVIPs.isEmpty && changedVIPs.isEmpty && addedPools.isEmpty && removedPools.isEmpty
            && changedPools.isEmpty && !interfacesChanged
    }

    public init(from old: HeraldConfig, to new: HeraldConfig) {
        func diff<T>(_ old: [T], _ new: [T], name: (T) -> String, same: (T, T) -> Bool)
            -> (added: [String], removed: [String], changed: [String]) {
            let before = Dictionary(old.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
            let after = Dictionary(new.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
            return (after.keys.filter { before[$0] == nil }.sorted(),
                    before.keys.filter { after[$0] == nil }.sorted(),
                    after.compactMap { key, value in before[key].map { same($0, value) ? nil : key } ?? nil }.sorted())
        }
        (addedVIPs, removedVIPs, changedVIPs) = diff(old.vips, new.vips, name: \.name) {
            var left = $0
            left.location = $1.location
            return left == $1
        }
        (addedPools, removedPools, changedPools) = diff(old.pools, new.pools, name: \.name) {
            var left = $0
            left.location = $1.location
            return left == $1
        }
        interfacesChanged = old.node.interfaces != new.node.interfaces
    }

    /// One line for the journal: `vips +2 -1 ~0, pools +0 -0 ~1`.
    public var summary: String {
        var parts = ["vips +\(addedVIPs.count) -\(removedVIPs.count) ~\(changedVIPs.count)",
                     "pools +\(addedPools.count) -\(removedPools.count) ~\(changedPools.count)"]
        if interfacesChanged { parts.append("node.interfaces changed") }
        return parts.joined(separator: ", ")
    }

    /// Every setting a reload refuses to change, as `restartRequired` names it (the docs
    /// list each: docs/configuration.md "Reloading", heraldd.8 SIGHUP; a test checks).
    public static let restartOnly = [
        "node.name", "node.mode", "node.realtime_priority", "node.check_user", "node.target_probe_interval",
        "tuning.drop_startup_code", "tuning.kernel_filters",
        "gossip", "gossip.bind", "gossip.join", "gossip.profile", "gossip.cluster", "gossip.insecure",
        "metrics.listen", "kubernetes", "pool.namespace_selectors",
    ]

    /// Settings that differ and cannot be applied without a restart, as errors pointing at
    /// the new file's section.
    public static func restartRequired(from old: HeraldConfig, nodeName oldName: String,
                                       to new: HeraldConfig, nodeName newName: String, file: String) -> [ConfigError] {
        var errors: [ConfigError] = []
        func location(_ section: String) -> SourceLocation {
            new.sectionLocations[section] ?? old.sectionLocations[section] ?? SourceLocation(file: file, line: 0)
        }
        func refuse(_ section: String, _ key: String, _ before: String, _ after: String) {
            assert(restartOnly.contains(key), "\(key) is missing from ConfigChange.restartOnly")
            errors.append(ConfigError(location(section), key,
                                      "changed from \(before) to \(after); this takes a restart (systemctl restart herald), so the reload was refused and the running config kept"))
        }
        if oldName != newName { refuse("node", "node.name", oldName, newName) }
        if old.node.mode != new.node.mode { refuse("node", "node.mode", old.node.mode.rawValue, new.node.mode.rawValue) }
        if old.node.realtimePriority != new.node.realtimePriority {
            refuse("node", "node.realtime_priority", "\(old.node.realtimePriority)", "\(new.node.realtimePriority)")
        }
        if old.tuning.dropStartupCode != new.tuning.dropStartupCode {
            refuse("tuning", "tuning.drop_startup_code", "\(old.tuning.dropStartupCode)", "\(new.tuning.dropStartupCode)")
        }
        if old.tuning.kernelFilters != new.tuning.kernelFilters {
            refuse("tuning", "tuning.kernel_filters", "\(old.tuning.kernelFilters)", "\(new.tuning.kernelFilters)")
        }
        if old.node.checkUser != new.node.checkUser { refuse("node", "node.check_user", old.node.checkUser, new.node.checkUser) }
        if old.node.targetProbeInterval != new.node.targetProbeInterval {
            refuse("node", "node.target_probe_interval", "\(old.node.targetProbeInterval)", "\(new.node.targetProbeInterval)")
        }
        switch (old.gossip, new.gossip) {
        case (nil, nil):
            break
        case (nil, .some):
            refuse("gossip", "gossip", "absent", "present")
        case (.some, nil):
            refuse("gossip", "gossip", "present", "absent")
        case (.some(let before), .some(let after)):
            if before.bind != after.bind { refuse("gossip", "gossip.bind", "\(before.bind)", "\(after.bind)") }
            if before.join != after.join {
                refuse("gossip", "gossip.join", "[\(before.join.map(\.description).joined(separator: ", "))]",
                       "[\(after.join.map(\.description).joined(separator: ", "))]")
            }
            if before.profile != after.profile { refuse("gossip", "gossip.profile", before.profile.rawValue, after.profile.rawValue) }
            if before.cluster != after.cluster { refuse("gossip", "gossip.cluster", before.cluster, after.cluster) }
            if before.insecure != after.insecure { refuse("gossip", "gossip.insecure", "\(before.insecure)", "\(after.insecure)") }
        }
        if old.metrics != new.metrics {
            refuse("metrics", "metrics.listen", old.metrics.map { "\($0.listen)" } ?? "absent",
                   new.metrics.map { "\($0.listen)" } ?? "absent")
        }
        if old.kubernetes != new.kubernetes { refuse("kubernetes", "kubernetes", "one setting", "another") }
        if !old.watchesNamespaces, let pool = new.pools.first(where: { !$0.namespaceSelectors.isEmpty }) {
            errors.append(ConfigError(pool.location, "pool.namespace_selectors",
                                      "the first namespace selectors: heraldd watches Namespaces only when it starts with some, so this takes a restart (systemctl restart herald); the reload was refused and the running config kept"))
        }
        return errors
    }
}

extension HeraldConfig {
    /// Whether Namespaces must be watched (for pools' `namespace_selectors`).
    public var watchesNamespaces: Bool { kubernetes != nil && pools.contains { !$0.namespaceSelectors.isEmpty } }
}
