import HeraldWire

/// What the allocator needs to know about one `type: LoadBalancer` Service, read from its
/// spec and annotations (MetalLB's, so existing manifests work unchanged).
public struct ServiceClaim: Equatable, Sendable {
    public enum FamilyPolicy: Equatable, Sendable {
        case singleStack, preferDualStack, requireDualStack
    }

    public struct Port: Hashable, Sendable {
        public var port: Int
        public var proto: String

        public init(_ port: Int, _ proto: String = "TCP") {
            self.port = port
            self.proto = proto
        }
    }

    /// `namespace/name`.
    public var key: String
    public var namespace: String
    /// `spec.loadBalancerIP` or `metallb.io/loadBalancerIPs`.
    public var requested: [IPAddress] = []
    /// `metallb.io/address-pool`.
    public var pool: String?
    /// `metallb.io/allow-shared-ip`.
    public var sharingKey: String?
    public var ports: [Port] = []
    /// `spec.ipFamilies` in order (the first is the primary family); empty means IPv4.
    public var families: [IPFamily] = [.v4]
    public var familyPolicy = FamilyPolicy.singleStack
    /// For `externalTrafficPolicy: Local`: the selector as a canonical string. Services
    /// that share an address must then send it to the same pods.
    public var localBackends: String?
    /// The Service's labels and its namespace's, for pools' selectors.
    public var labels: [String: String] = [:]
    public var namespaceLabels: [String: String] = [:]

    public init(key: String, namespace: String) {
        self.key = key
        self.namespace = namespace
    }
}

public enum IPFamily: Hashable, Sendable {
    case v4, v6

    init(_ address: IPAddress) { self = address.isIPv4 ? .v4 : .v6 }
}

/// Why a Service got no address. Phrased for the `AllocationFailed` Event a user reads in
/// `kubectl describe service`.
public struct AllocationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) { self.message = message }

    init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Hands out pool addresses to Services, as MetalLB's controller does. Pure and
/// deterministic: the same claims in the same order give the same addresses, so the
/// state can be rebuilt after a restart from the addresses Services already hold (their
/// status), with no state file.
///
/// Rules: requested addresses must lie in a pool the Service may use (and in its
/// `address-pool` if it names one); otherwise the lowest free address of the named pool,
/// or of the first `auto_assign` pool with room, by `priority`. A pool's `namespaces` and
/// selectors limit who may use it. Addresses are shared only between Services with the same sharing key, no common
/// port/protocol and, with `externalTrafficPolicy: Local`, the same backends.
public struct Allocator: Sendable {
    public let pools: [PoolConfig]
    private let sets: [String: AddressSet]
    /// Address → the Services holding it.
    private var holders: [IPAddress: [ServiceClaim]] = [:]
    /// Service key → its addresses and pool.
    public private(set) var assignments: [String: (pool: String, addresses: [IPAddress])] = [:]
    /// Sharing key → the addresses Services with that key hold.
    private var sharedBy: [String: Set<IPAddress>] = [:]
    /// Per pool and family, a point below which every address of the pool is held: the
    /// search for a free one starts there, so giving N Services addresses one after another
    /// is O(N), not O(N²). Freeing an address below it moves it back.
    private var searchFrom: [SearchKey: UInt128] = [:]
    private struct SearchKey: Hashable {
        let pool: String
        let isIPv4: Bool
    }

    public init(pools: [PoolConfig]) {
        self.pools = pools
        sets = Dictionary(pools.map { ($0.name, AddressSet($0.addresses.sorted { $0.first.numeric < $1.first.numeric },
                                                           avoidBuggyIPs: $0.avoidBuggyIPs)) },
                          uniquingKeysWith: { first, _ in first })
    }

    /// The pool an address belongs to, if any.
    public func pool(of address: IPAddress) -> PoolConfig? {
        pools.first { sets[$0.name]?.contains(address) ?? false }
    }

    /// Addresses in use in `pool` (each counted once, however many Services share it).
    public func inUse(pool: String) -> Int {
        Set(assignments.values.filter { $0.pool == pool }.flatMap(\.addresses)).count
    }

    /// Gives `claim` addresses, keeping what it already has when that is still valid (a
    /// Service is never renumbered because another one changed). `current` are the
    /// addresses in its status, used after a restart.
    public mutating func assign(_ claim: ServiceClaim, current: [IPAddress] = []) -> Result<[IPAddress], AllocationError> {
        let kept = assignments[claim.key]?.addresses ?? current
        release(claim.key)
        // Keep what it holds if that still satisfies the claim (and is what it asks for).
        if !kept.isEmpty, claim.requested.isEmpty || Set(kept) == Set(claim.requested),
           validate(claim, kept) == nil, families(of: kept, satisfy: claim) {
            return .success(commit(claim, kept))
        }
        if !claim.requested.isEmpty {
            if let problem = validate(claim, claim.requested) { return .failure(problem) }
            if !families(of: claim.requested, satisfy: claim) {
                return .failure(AllocationError("the requested addresses \(list(claim.requested)) do not match ipFamilies/ipFamilyPolicy"))
            }
            return .success(commit(claim, claim.requested))
        }
        let candidates: [PoolConfig]
        if let name = claim.pool {
            guard let pool = pools.first(where: { $0.name == name }) else {
                return .failure(AllocationError("pool \"\(name)\" (metallb.io/address-pool) does not exist"))
            }
            guard pool.admits(claim) else { return .failure(AllocationError(pool.refusal(claim))) }
            candidates = [pool]
        } else {
            // MetalLB's order: the lowest priority first, pools without one last (in
            // config order here, where MetalLB picks at random among equals).
            candidates = pools.enumerated().filter { $0.element.autoAssign && $0.element.admits(claim) }
                .sorted { ($0.element.priority ?? .max, $0.offset) < ($1.element.priority ?? .max, $1.offset) }.map(\.element)
            if candidates.isEmpty {
                return .failure(AllocationError("no pool with auto_assign serves Service \(claim.key) (namespace \(claim.namespace))"))
            }
        }
        var reasons: [String] = []
        for pool in candidates {
            switch take(from: pool, for: claim) {
            case .success(let addresses): return .success(commit(claim, addresses))
            case .failure(let error): reasons.append(error.message)
            }
        }
        return .failure(AllocationError(reasons.joined(separator: "; ")))
    }

    /// Frees what `key` holds (Service deleted, or no longer a LoadBalancer of ours).
    public mutating func release(_ key: String) {
        guard let previous = assignments.removeValue(forKey: key) else { return }
        for address in previous.addresses {
            if let sharingKey = holders[address]?.first(where: { $0.key == key })?.sharingKey,
               holders[address]?.contains(where: { $0.key != key && $0.sharingKey == sharingKey }) != true {
                sharedBy[sharingKey]?.remove(address)
                if sharedBy[sharingKey]?.isEmpty ?? false { sharedBy[sharingKey] = nil }
            }
            holders[address]?.removeAll { $0.key == key }
            if holders[address]?.isEmpty ?? false {
                holders[address] = nil
                let v4 = IPFamily(address) == .v4
                for (search, from) in searchFrom where search.isIPv4 == v4 && address.numeric < from {
                    searchFrom[search] = address.numeric
                }
            }
        }
    }

    /// Who else holds `address`, for messages and the conflict check.
    public func holders(of address: IPAddress) -> [String] { holders[address]?.map(\.key) ?? [] }

    // MARK: -

    private func list(_ addresses: [IPAddress]) -> String { addresses.map(\.description).joined(separator: ",") }

    /// Whether `addresses` may go to `claim`: each in a usable pool (the named one, if any),
    /// all in one pool, and each free or shareable.
    private func validate(_ claim: ServiceClaim, _ addresses: [IPAddress]) -> AllocationError? {
        var poolNames: Set<String> = []
        for address in addresses {
            guard let pool = pool(of: address) else { return AllocationError("\(address) is not in any pool") }
            if let name = claim.pool, pool.name != name {
                return AllocationError("\(address) is in pool \"\(pool.name)\", not in \"\(name)\" (metallb.io/address-pool)")
            }
            guard pool.admits(claim) else { return AllocationError("\(address): \(pool.refusal(claim))") }
            if let problem = sharingProblem(address, claim) { return problem }
            poolNames.insert(pool.name)
        }
        if poolNames.count > 1 { return AllocationError("\(list(addresses)) are in different pools") }
        if Set(addresses.map(IPFamily.init)).count != addresses.count {
            return AllocationError("\(list(addresses)): at most one address per family")
        }
        return nil
    }

    private func families(of addresses: [IPAddress], satisfy claim: ServiceClaim) -> Bool {
        let have = Set(addresses.map(IPFamily.init))
        switch claim.familyPolicy {
        case .singleStack: return have == [claim.families.first ?? .v4]
        case .requireDualStack: return have == [.v4, .v6]
        case .preferDualStack: return have.contains(claim.families.first ?? .v4)
        }
    }

    /// Why `claim` may not use `address` now, or nil.
    private func sharingProblem(_ address: IPAddress, _ claim: ServiceClaim) -> AllocationError? {
        guard let others = holders[address], !others.isEmpty else { return nil }
        for other in others {
            guard let key = claim.sharingKey, other.sharingKey == key else {
                return AllocationError("\(address) is in use by \(other.key)"
                                       + (claim.sharingKey == nil || other.sharingKey == nil
                                          ? " (sharing needs the same metallb.io/allow-shared-ip on both)"
                                          : " with another sharing key"))
            }
            if let port = Set(claim.ports).intersection(other.ports).first {
                return AllocationError("\(address) is shared with \(other.key), which also uses port \(port.port)/\(port.proto)")
            }
            if (claim.localBackends != nil || other.localBackends != nil) && claim.localBackends != other.localBackends {
                return AllocationError("\(address) is shared with \(other.key); with externalTrafficPolicy: Local both must select the same pods")
            }
        }
        return nil
    }

    /// The lowest free (or shareable) address of each family the claim needs, from `pool`.
    private mutating func take(from pool: PoolConfig, for claim: ServiceClaim) -> Result<[IPAddress], AllocationError> {
        let wanted: [IPFamily]
        let primary = claim.families.first ?? .v4
        switch claim.familyPolicy {
        case .singleStack: wanted = [primary]
        case .requireDualStack, .preferDualStack: wanted = [primary, primary == .v4 ? .v6 : .v4]
        }
        var chosen: [IPAddress] = []
        for (index, family) in wanted.enumerated() {
            let found = lowestUsable(in: pool, family: family, for: claim)
            if let found {
                chosen.append(found)
            } else if index == 0 || claim.familyPolicy == .requireDualStack {
                let exists = sets[pool.name]?.ranges.contains { $0.isIPv4 == (family == .v4) } ?? false
                return .failure(AllocationError(exists ? "pool \"\(pool.name)\" has no free \(family == .v4 ? "IPv4" : "IPv6") address"
                                                       : "pool \"\(pool.name)\" has no \(family == .v4 ? "IPv4" : "IPv6") range"))
            }
        }
        return .success(chosen)
    }

    private mutating func lowestUsable(in pool: PoolConfig, family: IPFamily, for claim: ServiceClaim) -> IPAddress? {
        guard let set = sets[pool.name] else { return nil }
        // A shareable address already in use by the same sharing key comes first, so
        // Services with one key end up on one address, as MetalLB does.
        if let key = claim.sharingKey, let shared = sharedBy[key] {
            for address in shared.sorted(by: { $0.numeric < $1.numeric })
            where IPFamily(address) == family && set.contains(address) && sharingProblem(address, claim) == nil {
                return address
            }
        }
        let search = SearchKey(pool: pool.name, isIPv4: family == .v4)
        let from = searchFrom[search] ?? 0
        for range in set.ranges where range.isIPv4 == (family == .v4) && range.last.numeric >= from {
            let first = IPAddress(sameFamilyAs: range.first, numeric: max(from, range.first.numeric))
            guard let rest = IPRange(first: first, last: range.last) else { continue }
            for address in AddressSet([rest], avoidBuggyIPs: set.avoidBuggyIPs) where holders[address] == nil {
                searchFrom[search] = address.numeric
                return address
            }
        }
        searchFrom[search] = .max
        return nil
    }

    private mutating func commit(_ claim: ServiceClaim, _ addresses: [IPAddress]) -> [IPAddress] {
        let sorted = addresses.sorted { IPFamily($0) == (claim.families.first ?? .v4) && IPFamily($1) != (claim.families.first ?? .v4) }
        for address in sorted {
            holders[address, default: []].append(claim)
            if let key = claim.sharingKey { sharedBy[key, default: []].insert(address) }
        }
        assignments[claim.key] = (pool(of: sorted[0])?.name ?? "", sorted)
        return sorted
    }
}

extension PoolConfig {
    /// Whether `claim` may get addresses from this pool, as MetalLB's `serviceAllocation`
    /// rules it: its namespace listed or matching a namespace selector (when either is
    /// set), and the Service matching a service selector (when any is set).
    func admits(_ claim: ServiceClaim) -> Bool {
        let byNamespace = namespaces.isEmpty && namespaceSelectors.isEmpty || namespaces.contains(claim.namespace)
            || namespaceSelectors.contains { $0.matches(claim.namespaceLabels) }
        return byNamespace && (serviceSelectors.isEmpty || serviceSelectors.contains { $0.matches(claim.labels) })
    }

    /// Why `claim` may not use this pool, for the `AllocationFailed` Event.
    func refusal(_ claim: ServiceClaim) -> String {
        if !serviceSelectors.isEmpty && !serviceSelectors.contains(where: { $0.matches(claim.labels) }) {
            return "pool \"\(name)\" is only for Services matching \(serviceSelectors.map { "\"\($0)\"" }.joined(separator: " or "))"
        }
        return "pool \"\(name)\" is not for namespace \(claim.namespace)"
    }

    /// Whether a node may announce this pool's addresses: `nodes` entries are name globs
    /// (`pve-*`) or, on Kubernetes, `key=value` node labels, and `node_selectors` label
    /// selectors; each list admits a node when empty or when one entry matches.
    public func admits(node: String, labels: [String: String] = [:]) -> Bool {
        let named = nodes.isEmpty || nodes.contains { entry in
            let pattern = entry.pattern
            if let equals = pattern.firstIndex(of: "=") {
                return labels[String(pattern[..<equals])] == String(pattern[pattern.index(after: equals)...])
            }
            return entry.matches(node)
        }
        return named && (nodeSelectors.isEmpty || nodeSelectors.contains { $0.matches(labels) })
    }
}
