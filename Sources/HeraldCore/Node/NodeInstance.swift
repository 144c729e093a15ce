import HeraldMembership
import HeraldWire

/// The one place that decides what this node answers: which address each link serves,
/// what it probes, which MACs belong to the cluster, how long the answer holds, and what
/// the node tells the cluster about itself. Pure: every input is an `on…` method taking
/// `now` (time since any fixed origin) that returns `NodeAction`s; the daemon applies them
/// and calls `onTick` at `nextDeadline`. Gossip, health checks, Kubernetes watchers, link
/// events and reloads only feed it; none of them writes to a link.
///
/// Without gossip the view is this node alone, so the same election runs (a health check
/// gates a standalone VIP as it gates a shared one). With gossip:
/// - a node that just started gossips `startingUp` until its links have probed (`onReady`),
///   so the owner of a VIP keeps it until this node can answer;
/// - a node that believes it is alone takes nothing until it has heard a peer or the join
///   grace has passed (`settled`), so it does not grab every VIP while joining;
/// - a node that was cut off (an interface came back) or stalled (the gossip loop turned
///   far later than it asked to: the process was stopped or starved) holds down:
///   ineligible for `holdDown`, so it does not snatch VIPs back from a fresher view;
/// - what the links answer holds for a `lease` after the gossip loop last turned
///   (`onTurn`): a daemon that was stopped wakes up silent, not answering from a stale view.
public struct NodeInstance: Sendable {
    public struct Settings: Equatable, Sendable {
        /// With gossip: how long answers hold after the gossip loop last turned; `nil`
        /// without gossip (no lease: the node is its own authority).
        public var lease: Duration?
        public var holdDown: Duration
        public var joinGrace: Duration
        /// The longest the gossip loop may turn late before it counts as a stall.
        public var stallLimit: Duration

        public init(lease: Duration?, holdDown: Duration, joinGrace: Duration, stallLimit: Duration) {
            self.lease = lease
            self.holdDown = holdDown
            self.joinGrace = joinGrace
            self.stallLimit = stallLimit
        }

        public static let standalone = Settings(lease: nil, holdDown: .zero, joinGrace: .zero, stallLimit: .zero)

        /// The gossip profile's timings: the lease and the longest tolerated stall are the
        /// suspicion floor (the soonest peers can declare this node dead), the hold-down ten
        /// of them; nodes with join peers wait two join retries for them.
        public init(gossip membership: MembershipSettings, hasJoinPeers: Bool) {
            self.init(lease: membership.suspicionFloor, holdDown: membership.suspicionFloor * 10,
                      joinGrace: hasJoinPeers ? membership.joinRetryInterval * 2 : .zero, stallLimit: membership.suspicionFloor)
        }
    }

    public let settings: Settings
    public private(set) var loaded: LoadedConfig
    /// The other members, as gossip last reported them.
    public private(set) var peers: [Member] = []
    public private(set) var kubernetes: KubernetesFacts?
    private var checks: [String: (check: HealthCheck, state: CheckState)] = [:]
    private var down: Set<String> = []
    private var unreachable: [String: Set<String>] = [:]
    public private(set) var holdingDownUntil: Duration?
    public private(set) var startingUp: Bool
    private let startedAt: Duration
    public private(set) var settled: Bool

    /// The announcer of every address that has one (VIPs and Service addresses).
    public private(set) var owners: [IPAddress: String] = [:]
    public private(set) var owned: Set<IPAddress> = []
    public private(set) var announcements = ServiceAnnouncements()
    /// Addresses this node took since start, its first ones included.
    public private(set) var takeovers = 0
    /// Times the owner of an address moved from one node to another, as seen here.
    public private(set) var failovers: [IPAddress: UInt64] = [:]
    public private(set) var assignments: [String: LinkAssignment] = [:]
    private var publishedMeta: NodeMeta?
    /// This node's `ConfigDigest` (of the loaded config).
    public private(set) var configDigest: String
    /// Members whose config digest differs from the cluster's (see `ConfigDrift`).
    public private(set) var drift = ConfigDrift()
    private var reportedMissingNode = false
    /// Service addresses another host was seen announcing while this node has no gossip.
    private var reportedUnsharedAddresses: Set<IPAddress> = []

    public var isGossiping: Bool { settings.lease != nil }

    public init(loaded: LoadedConfig, settings: Settings, now: Duration) {
        self.loaded = loaded
        self.settings = settings
        startedAt = now
        startingUp = settings.lease != nil
        settled = settings.lease == nil || settings.joinGrace == .zero
        checks = Self.checks(for: loaded, keeping: [:])
        configDigest = ConfigDigest.of(loaded.config)
    }

    // MARK: What the node is

    /// What this node gossips about itself: its usable interfaces with carrier, the VIPs
    /// whose checks pass, whether it holds back, and (adjacent mode) the nodes it cannot
    /// reach on its links.
    public var meta: NodeMeta {
        let interfaces = loaded.host.usableInterfaces(loaded.config.node).compactMap { interface -> NodeMeta.Interface? in
            guard !down.contains(interface.name), let mac = interface.mac else { return nil }
            return NodeMeta.Interface(name: interface.name, mac: mac, prefixes: interface.prefixes)
        }
        return NodeMeta(interfaces: interfaces, passingChecks: checks.filter(\.value.state.passing).keys.sorted(),
                        holdingDown: holdingDownUntil != nil, startingUp: startingUp,
                        unreachableNodes: unreachable.values.reduce(into: Set<String>()) { $0.formUnion($1) }.sorted(),
                        about: NodeMeta.About(version: HeraldVersion.current, mode: loaded.config.node.mode.rawValue,
                                              configDigest: configDigest))
    }

    /// Local mode with `[kubernetes]`: the Nodes are listed and none has this node's name,
    /// so this node is never elected for a Service address (`Election`'s "no Kubernetes
    /// Node of this name"). Mostly a host next to the nodes that wants `mode = "adjacent"`.
    public var isMissingKubernetesNode: Bool {
        guard loaded.config.kubernetes != nil, loaded.config.node.mode == .local, let nodes = kubernetes?.nodes, !nodes.isEmpty
        else { return false }
        return nodes[loaded.nodeName] == nil
    }

    /// This node as a member, with the metadata it has now (gossip may not have sent it yet).
    public var selfMember: Member {
        Member(name: loaded.nodeName, address: GossipAddress(ip: .v4(.any), port: 0), incarnation: 0, status: .alive,
               meta: meta.encode(), statusSince: .zero, roundTrip: nil)
    }

    /// The members this node elects from: itself first, then the others.
    public var view: [Member] { [selfMember] + peers }

    /// Whether this node allocates Service addresses: the first candidate by name, so
    /// exactly one does at a time and another takes over when it fails.
    public var isAllocator: Bool {
        settled && view.filter(\.isCandidate).map(\.name).min() == loaded.nodeName
    }

    public var nextDeadline: Duration? {
        [holdingDownUntil, settled ? nil : startedAt + settings.joinGrace].compactMap { $0 }.min()
    }

    // MARK: Inputs

    /// A reloaded config. Checks that did not change keep their state; changed and new
    /// ones start failing (they must pass `rise` times first).
    public mutating func onConfig(_ new: LoadedConfig, now: Duration) -> [NodeAction] {
        checks = Self.checks(for: new, keeping: checks)
        loaded = new
        configDigest = ConfigDigest.of(new.config)
        return decide(now: now)
    }

    /// A link saw another MAC claim `address`. Without gossip, a Service address claimed by
    /// another host means several hosts serve Services each on its own (each allocates and
    /// answers every address): said once per address.
    public mutating func onConflict(_ address: IPAddress, from mac: MACAddress, now: Duration) -> [NodeAction] {
        guard !isGossiping, loaded.config.kubernetes != nil, announcements.vips.contains(where: { $0.address == address }),
              reportedUnsharedAddresses.count < 64, reportedUnsharedAddresses.insert(address).inserted else { return [] }
        return [.announcedElsewhereWithoutGossip(address, by: mac)]
    }

    /// The other members, as gossip sees them now.
    public mutating func onView(_ members: [Member], now: Duration) -> [NodeAction] {
        guard members != peers else { return [] }
        peers = members
        return decide(now: now)
    }

    /// The gossip loop turned at `now`, having asked to wake by `due`. Much later than
    /// asked means this process was stopped or starved, and peers may have declared it dead
    /// and moved its VIPs: it holds down, decided before the lease is renewed, so the links
    /// never answer from the stale view. Then what the links answer holds for a lease from
    /// now; deadlines that passed (hold-down, join grace) are handled too.
    public mutating func onTurn(now: Duration, due: Duration?) -> [NodeAction] {
        guard let lease = settings.lease else { return [] }
        var actions: [NodeAction] = []
        if let due, now - due > settings.stallLimit {
            actions += [.stalled(now - due)] + startHoldDown(now: now) + decide(now: now)
        }
        if let deadline = nextDeadline, now >= deadline { actions += onTick(now: now) }
        return actions + [.lease(until: now + lease)]
    }

    public mutating func onKubernetes(_ facts: KubernetesFacts, now: Duration) -> [NodeAction] {
        guard facts != kubernetes else { return [] }
        kubernetes = facts
        return decide(now: now)
    }

    /// One result of the health check of VIP `name`; the rise/fall rule decides whether
    /// that changes whether it passes.
    public mutating func onCheck(_ name: String, passed: Bool, now: Duration) -> [NodeAction] {
        guard var entry = checks[name] else { return [] }
        let changed = entry.state.record(passed, rise: entry.check.rise, fall: entry.check.fall)
        checks[name] = entry
        guard changed else { return [] }
        return [.checkChanged(vip: name, passing: entry.state.passing)] + decide(now: now)
    }

    /// An interface lost or regained carrier. Coming back, with gossip, means this node
    /// was cut off: it holds down before taking VIPs back.
    public mutating func onCarrier(_ interface: String, up: Bool, now: Duration) -> [NodeAction] {
        let changed = up ? down.remove(interface) != nil : down.insert(interface).inserted
        guard changed else { return [] }
        return (up ? startHoldDown(now: now) : []) + decide(now: now)
    }

    /// Adjacent mode: the nodes that do not answer on `interface`.
    public mutating func onUnreachable(_ nodes: Set<String>, on interface: String, now: Duration) -> [NodeAction] {
        guard (unreachable[interface] ?? []) != nodes else { return [] }
        unreachable[interface] = nodes.isEmpty ? nil : nodes
        return decide(now: now)
    }

    /// Every link has probed its addresses: with gossip, this node may now be elected.
    public mutating func onReady(now: Duration) -> [NodeAction] {
        guard startingUp else { return [] }
        startingUp = false
        return [.eligible] + decide(now: now)
    }

    public mutating func onTick(now: Duration) -> [NodeAction] {
        var actions: [NodeAction] = []
        if let until = holdingDownUntil, now >= until {
            holdingDownUntil = nil
            actions.append(.holdDown(false))
        }
        return actions + decide(now: now)
    }

    // MARK: Deciding

    private mutating func startHoldDown(now: Duration) -> [NodeAction] {
        guard isGossiping else { return [] }
        let wasHolding = holdingDownUntil != nil
        holdingDownUntil = now + settings.holdDown
        return wasHolding ? [] : [.holdDown(true)]
    }

    /// Runs the elections from everything known now and says what changed.
    private mutating func decide(now: Duration) -> [NodeAction] {
        var actions: [NodeAction] = []
        let meta = meta
        if meta != publishedMeta {
            publishedMeta = meta
            actions.append(.meta(meta))
        }
        if isMissingKubernetesNode != reportedMissingNode {
            reportedMissingNode.toggle()
            actions.append(.missingKubernetesNode(reportedMissingNode))
        }
        let newDrift = ConfigDrift(view: view, me: loaded.nodeName)
        if newDrift != drift {
            drift = newDrift
            actions.append(.configDrift(newDrift))
        }
        if !settled, peers.contains(where: \.isCandidate) || now - startedAt >= settings.joinGrace { settled = true }
        let members = view
        let config = loaded.config
        let services = kubernetes.map { ServiceAnnouncements($0, config: config, members: members) } ?? ServiceAnnouncements()
        let newOwners = settled ? Election.owners(config.vips, members: members).merging(services.owners) { vip, _ in vip } : [:]
        let newOwned = Set(newOwners.filter { $0.value == loaded.nodeName }.keys)
        for address in Set(newOwners.keys).union(owners.keys).sorted() where owners[address] != newOwners[address] {
            let (from, to) = (owners[address], newOwners[address])
            if from != nil, to != nil { failovers[address, default: 0] += 1 }
            if from == loaded.nodeName || to == loaded.nodeName { actions.append(.ownerChanged(address, from: from, to: to)) }
        }
        takeovers += newOwned.subtracting(owned).count
        if newOwners != owners || services.targets != announcements.targets { actions.append(.announcersChanged) }
        owners = newOwners
        owned = newOwned
        announcements = services

        var all = config
        all.vips += services.vips
        let answering = LinkPlan.make(config: all, host: loaded.host, owned: newOwned)
        let candidates = LinkPlan.make(config: all, host: loaded.host,
                                       owned: LinkPlan.standaloneOwnership(config: all, nodeName: loaded.nodeName))
        // Until settled the cluster's MACs are not known, so probe answers wait to be judged.
        let knownMACs: Set<MACAddress>? = settled
            ? Set(members.flatMap { NodeMeta.decode($0.meta)?.interfaces.map(\.mac) ?? [] }) : nil
        let targets: LinkTargets? = config.node.mode == .adjacent
            ? LinkTargets(nodeFor: services.targets.mapValues(\.address), names: services.nodeAddresses, suspects: services.suspects)
            : nil
        for interface in LinkPlan.interfaces(config: config, host: loaded.host).map(\.name) {
            let mine = candidates.addressesByInterface[interface] ?? []
            let served = answering.addressesByInterface[interface] ?? []
            let assignment = LinkAssignment(
                answering: served, ownedElsewhere: newOwned.subtracting(served), candidates: mine, knownMACs: knownMACs,
                // Each link watches the targets of the addresses it could serve, and the
                // reported nodes only if it serves Service addresses at all.
                targets: targets.map { targets in
                    let nodeFor = targets.nodeFor.filter { mine.contains($0.key) }
                    return LinkTargets(nodeFor: nodeFor, names: targets.names, suspects: nodeFor.isEmpty ? [] : targets.suspects)
                })
            if assignments[interface] != assignment {
                assignments[interface] = assignment
                actions.append(.assign(interface: interface, assignment))
            }
        }
        return actions
    }

    /// The check state of every VIP this node may announce that has a check: kept for
    /// checks that did not change, new otherwise.
    private static func checks(for loaded: LoadedConfig, keeping old: [String: (check: HealthCheck, state: CheckState)])
        -> [String: (check: HealthCheck, state: CheckState)] {
        var result: [String: (check: HealthCheck, state: CheckState)] = [:]
        for vip in loaded.config.vips where vip.allows(node: loaded.nodeName) {
            guard let check = vip.check else { continue }
            result[vip.name] = old[vip.name].flatMap { $0.check == check ? $0 : nil } ?? (check, CheckState())
        }
        return result
    }
}

/// What one link answers, as the node machine decides it.
public struct LinkAssignment: Equatable, Sendable {
    /// Addresses this link answers for (owned here, on its subnet).
    public var answering: Set<IPAddress>
    /// Addresses this node owns on other links (to tell `wrongInterface` from `notOurs`).
    public var ownedElsewhere: Set<IPAddress>
    /// Every address this link could ever serve: probed once when it first appears.
    public var candidates: Set<IPAddress>
    /// The cluster's MACs (a claim from one is a handover, not a conflict); `nil` until known.
    public var knownMACs: Set<MACAddress>?
    /// Adjacent mode: the node each address's traffic goes to; `nil` in local mode.
    public var targets: LinkTargets?

    public init(answering: Set<IPAddress> = [], ownedElsewhere: Set<IPAddress> = [], candidates: Set<IPAddress> = [],
                knownMACs: Set<MACAddress>? = nil, targets: LinkTargets? = nil) {
        self.answering = answering
        self.ownedElsewhere = ownedElsewhere
        self.candidates = candidates
        self.knownMACs = knownMACs
        self.targets = targets
    }
}

/// What the daemon does for the node machine.
public enum NodeAction: Equatable, Sendable {
    /// Give the link on `interface` this assignment.
    case assign(interface: String, LinkAssignment)
    /// What the links answer holds until `until` (with gossip; renewed every turn).
    case lease(until: Duration)
    /// Gossip this metadata from now on.
    case meta(NodeMeta)
    /// The owner of `address` changed from or to this node (log it).
    case ownerChanged(IPAddress, from: String?, to: String?)
    /// Announcers or targets changed: Kubernetes Events may be due.
    case announcersChanged
    /// The health check of VIP `vip` started or stopped passing.
    case checkChanged(vip: String, passing: Bool)
    /// The gossip loop turned this much later than it asked to (logged; a hold-down follows).
    case stalled(Duration)
    /// This node started or ended a hold-down.
    case holdDown(Bool)
    /// This node finished starting and may now be elected.
    case eligible
    /// This node is (or is no longer) missing from the Kubernetes Nodes in local mode.
    case missingKubernetesNode(Bool)
    /// Which members' config differs from the cluster's changed.
    case configDrift(ConfigDrift)
    /// Without gossip, another host (`by`) answers a Service address this node serves.
    case announcedElsewhereWithoutGossip(IPAddress, by: MACAddress)
}

/// Whose config differs from the rest of the cluster: the digest most members carry (a
/// strict majority of those that say), and every member with another. With no majority,
/// every member that says is listed. Empty when all agree (or alone).
public struct ConfigDrift: Equatable, Sendable {
    public var majority: String?
    /// Member name → its digest, for those that differ from `majority`.
    public var differing: [String: String] = [:]

    public init() {}

    /// From the alive members' metadata (this node's included, as `me`).
    public init(view: [Member], me: String) {
        var digests: [String: String] = [:]
        for member in view where member.isCandidate {
            if let digest = NodeMeta.decode(member.meta)?.about?.configDigest { digests[member.name] = digest }
        }
        guard Set(digests.values).count > 1 else { return }
        let counts = Dictionary(digests.values.map { ($0, 1) }, uniquingKeysWith: +)
        let (top, count) = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }!
        if count * 2 > digests.count {
            majority = top
            differing = digests.filter { $0.value != top }
        } else {
            differing = digests
        }
    }

    public var isEmpty: Bool { differing.isEmpty }
}
