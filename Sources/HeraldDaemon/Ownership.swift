import HeraldCore
import HeraldMembership
import HeraldWire
import Logging
import Synchronization

/// Turns membership views into what each link answers: runs the election, keeps the
/// result for `heraldctl` and the metrics, hands each link its addresses, and keeps their
/// lease fresh. Called on the gossip thread after every turn; the config is read from the
/// runtime on each change, so a reload takes effect on the next turn.
public final class Ownership: Sendable {
    public struct State: Sendable {
        public var owners: [IPAddress: String] = [:]
        public var owned: Set<IPAddress> = []
        public var view: [Member] = []
        /// False until this node has joined (or the join grace has passed): a node that
        /// believes it is alone must not grab every VIP while it is still joining.
        public var settled = false
        /// VIPs this node started announcing since start, its first ones included.
        public var takeovers = 0
        /// Times the owner of a VIP moved from one node to another, as seen here.
        public var failovers: [IPAddress: UInt64] = [:]
        /// Adjacent mode: the target node of each Service address.
        var targets: [IPAddress: KubernetesService.Target] = [:]
    }

    let runtime: Runtime
    let links: LinkSet
    let lease: Duration
    let joinGrace: Duration
    let logger: Logger
    let started = ContinuousClock.now
    private let state = Mutex(State())
    private let kubernetes = Mutex<KubernetesService?>(nil)

    init(runtime: Runtime, links: LinkSet, lease: Duration, joinGrace: Duration, logger: Logger) {
        self.logger = logger
        self.runtime = runtime
        self.links = links
        self.lease = lease
        self.joinGrace = joinGrace
    }

    public var current: State { state.withLock { $0 } }

    /// Service addresses join the election once Kubernetes is attached.
    func attach(_ service: KubernetesService) { kubernetes.withLock { $0 = service } }

    /// Whether this node allocates Service addresses: the first alive member by name, so
    /// exactly one does at a time and another takes over when it fails.
    var isAllocator: Bool {
        let state = current
        guard state.settled, let me = state.view.first else { return false }
        return state.view.filter(\.isCandidate).map(\.name).min() == me.name
    }

    func onView(_ view: GossipService.View, changed: Bool, takenAt: ContinuousClock.Instant) {
        let deadline = takenAt + lease
        let others = view.members.dropFirst()
        let settled = others.contains { $0.isCandidate } || ContinuousClock.now - started >= joinGrace
        let wasSettled = state.withLock { $0.settled }
        guard changed || settled != wasSettled else {
            for link in links.all { link.renewLease(until: deadline) }
            return
        }
        let loaded = runtime.loaded
        let services = kubernetes.withLock { $0 }?.announcements(members: view.members) ?? .init()
        var config = loaded.config
        config.vips += services.vips
        let owners = settled ? Election.owners(loaded.config.vips, members: view.members).merging(services.owners) { vip, _ in vip } : [:]
        let owned = Set(owners.filter { $0.value == loaded.nodeName }.keys)
        let (announcersChanged, moves) = state.withLock { state in
            let changed = state.owners != owners || state.targets != services.targets
            var moves: [(IPAddress, from: String?, to: String?)] = []
            for address in Set(owners.keys).union(state.owners.keys).sorted() where state.owners[address] != owners[address] {
                moves.append((address, state.owners[address], owners[address]))
                if state.owners[address] != nil, owners[address] != nil { state.failovers[address, default: 0] += 1 }
            }
            state.takeovers += owned.subtracting(state.owned).count
            state.owners = owners
            state.owned = owned
            state.view = view.members
            state.settled = settled
            state.targets = services.targets
            return (changed, moves)
        }
        for (address, from, to) in moves where from == loaded.nodeName || to == loaded.nodeName {
            if to == loaded.nodeName {
                logger.notice(from.map { "taking over VIP from \($0)" } ?? "VIP elected to this node",
                              metadata: ["vip": "\(address)", "node": "\(loaded.nodeName)"])
            } else {
                logger.notice(to.map { "handing VIP over to \($0)" } ?? "releasing VIP: no eligible node",
                              metadata: ["vip": "\(address)", "node": "\(to ?? "")"])
            }
        }
        if announcersChanged { kubernetes.withLock { $0 }?.announcersChanged() }
        // Until settled the cluster's MACs are not known, so probe answers wait to be judged.
        let macs: Set<MACAddress>? = settled
            ? Set(view.members.flatMap { NodeMeta.decode($0.meta)?.interfaces.map(\.mac) ?? [] }) : nil
        Self.hand(LinkPlan.make(config: config, host: loaded.host, owned: owned), owned: owned,
                  candidates: Self.candidates(config, loaded), targets: Self.targets(services, loaded), knownMACs: macs,
                  to: links.all, leaseUntil: deadline)
    }

    /// Without gossip every node owns each VIP its name is allowed for, and each Service
    /// address it is eligible for (`me` is this node as the only member); the cluster is
    /// this host, so only its own MACs are not foreign.
    static func applyStandalone(_ loaded: LoadedConfig, links: LinkSet, kubernetes: KubernetesService? = nil, me: Member? = nil) {
        let services = me.flatMap { me in kubernetes?.announcements(members: [me]) } ?? .init()
        var config = loaded.config
        config.vips += services.vips
        let owned = LinkPlan.standaloneOwnership(config: loaded.config, nodeName: loaded.nodeName)
            .union(services.owners.filter { $0.value == loaded.nodeName }.keys)
        let plan = LinkPlan.make(config: config, host: loaded.host, owned: owned)
        hand(plan, owned: owned, candidates: candidates(config, loaded), targets: targets(services, loaded),
             knownMACs: Set(loaded.host.interfaces.compactMap(\.mac)), to: links.all, leaseUntil: nil)
    }

    /// Starts probing every VIP this node may serve before gossip has settled, so that a
    /// node is ready (its probes judged) as soon as it knows the cluster's MACs.
    static func startProbing(_ loaded: LoadedConfig, links: LinkSet) {
        let plan = candidates(loaded.config, loaded)
        for link in links.all { link.setCandidates(plan.addressesByInterface[link.interface.name] ?? [], knownMACs: nil) }
    }

    /// Every VIP of `config` (Service addresses included) this node may serve, by
    /// interface: probed before first use.
    static func candidates(_ config: HeraldConfig, _ loaded: LoadedConfig) -> LinkPlan {
        LinkPlan.make(config: config, host: loaded.host,
                      owned: LinkPlan.standaloneOwnership(config: config, nodeName: loaded.nodeName))
    }

    /// Adjacent mode: the node address whose MAC answers for each Service address, and
    /// every node's address by name; `nil` in local mode.
    static func targets(_ services: KubernetesService.Announcements, _ loaded: LoadedConfig) -> LinkTargets? {
        guard loaded.config.node.mode == .adjacent else { return nil }
        return LinkTargets(nodeFor: services.targets.mapValues(\.address), names: services.nodeAddresses, suspects: services.suspects)
    }

    private static func hand(_ plan: LinkPlan, owned: Set<IPAddress>, candidates: LinkPlan, targets: LinkTargets?,
                             knownMACs: Set<MACAddress>?, to links: [LinkService], leaseUntil: ContinuousClock.Instant?) {
        for link in links {
            let name = link.interface.name
            let mine = candidates.addressesByInterface[name] ?? []
            // Each link resolves the targets of the addresses it could serve.
            link.setTargets(targets.map { targets in
                let nodeFor = targets.nodeFor.filter { mine.contains($0.key) }
                // Only links that serve Service addresses watch the reported nodes too.
                return LinkTargets(nodeFor: nodeFor, names: targets.names, suspects: nodeFor.isEmpty ? [] : targets.suspects)
            })
            link.setCandidates(mine, knownMACs: knownMACs)
            let answering = plan.addressesByInterface[name] ?? []
            link.setOwnership(answering: answering, ownedElsewhere: owned.subtracting(answering), leaseUntil: leaseUntil)
        }
    }
}
