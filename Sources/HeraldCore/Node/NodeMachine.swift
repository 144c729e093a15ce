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
/// - a node goes through phases (`NodePhase`): `joining` (it believes it is alone and takes
///   nothing until it has heard a peer or the join grace has passed, so it does not grab
///   every VIP while joining), `startingUp` (its links are probing: it gossips so, and the
///   owner of a VIP keeps it until this node can answer), then `serving`;
/// - a node that was cut off (an interface came back) or stalled (the gossip loop turned
///   far later than it asked to: the process was stopped or starved) holds down:
///   ineligible for `holdDown`, so it does not snatch VIPs back from a fresher view;
/// - what the links answer holds for a `lease` after the gossip loop last turned
///   (`onTurn`): a daemon that was stopped wakes up silent, not answering from a stale view;
/// - a node that loses most of the members it could reach at once may be the one cut off
///   (a partition, a dead switch port on its side): it takes none of their addresses until
///   its witness (`node.witness`, by default the gateway) answers on the link; if the
///   witness is silent too, it is cut off and stays so until the members are back.
public struct NodeMachine: Sendable {
    public struct Settings: Equatable, Sendable {
        /// With gossip: how long answers hold after the gossip loop last turned; `nil`
        /// without gossip (no lease: the node is its own authority).
        public var lease: Duration?
        public var holdDown: Duration
        public var joinGrace: Duration
        /// The longest the gossip loop may turn late before it counts as a stall.
        public var stallLimit: Duration
        /// With `[kubernetes]`: how long readiness waits for the API server's first lists
        /// (with it down at boot the VIPs still start, and Services follow once it answers).
        public var kubernetesListWait: Duration = .seconds(10)
        /// With gossip: how long the view must go without a new member before this node,
        /// starting up, becomes eligible. When every host starts at once (a power cut), each
        /// first sees only some of the others and would elect itself from that.
        public var viewSettle: Duration = .zero
        /// With gossip: how long an address stays where it is (with its owner, or nobody) for
        /// the member it goes to while that member is still starting (its links probing, its
        /// Kubernetes lists late); bounded so a member stuck starting cannot hold it for long.
        public var startupWait: Duration = .zero

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
            viewSettle = min(membership.probeInterval * 4, .seconds(1))
            startupWait = viewSettle + .seconds(2)
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
    public private(set) var phase: NodePhase
    /// Ready: every link has probed its addresses, and with `[kubernetes]` the first lists
    /// came in (or `kubernetesListWait` passed). The daemon tells systemd once (`.ready`).
    public private(set) var isReady = false
    private var readyLinks: Set<String> = []
    private var kubernetesListed = false
    private let startedAt: Duration
    /// When a member this node had not seen alive last came up in its view.
    private var viewGrewAt: Duration
    /// The addresses kept where they are for a member still starting (see `decide`): the
    /// member each waits for (its heir), and since when.
    public private(set) var waits: [IPAddress: (heir: String, since: Duration)] = [:]

    /// The announcer of every address that has one (VIPs and Service addresses).
    public private(set) var owners: [IPAddress: String] = [:]
    /// Every member in election order for each configured VIP, with why each is passed
    /// over: what `owners` was decided from (Service addresses: `announcements`).
    public private(set) var vipRankings: [IPAddress: [Election.Ranked]] = [:]
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
    /// Whether this node may be the one cut off (see the type's comment).
    public private(set) var isolation = Isolation.none
    /// Members that stopped answering (suspect or dead, not left) lately, and when.
    private var departedAt: [String: Duration] = [:]
    private var aliveBefore: Set<String> = []
    /// Service addresses another host was seen announcing while this node has no gossip.
    private var reportedUnsharedAddresses: Set<IPAddress> = []

    public var isGossiping: Bool { settings.lease != nil }

    public init(loaded: LoadedConfig, settings: Settings, now: Duration) {
        self.loaded = loaded
        self.settings = settings
        startedAt = now
        viewGrewAt = now
        phase = settings.lease == nil ? .serving : settings.joinGrace == .zero ? .startingUp : .joining
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
                        holdingDown: holdingDownUntil != nil, startingUp: phase != .serving,
                        unreachableNodes: unreachable.values.reduce(into: Set<String>()) { $0.formUnion($1) }.sorted(),
                        about: NodeMeta.About(version: HeraldVersion.current, mode: loaded.config.node.mode.rawValue,
                                              configDigest: configDigest))
    }

    /// What the operator should fix, now.
    public var warnings: [NodeWarning] {
        var warnings: [NodeWarning] = []
        if isMissingKubernetesNode { warnings.append(.notAKubernetesNode(loaded.nodeName)) }
        if loaded.config.kubernetes != nil && !isGossiping { warnings.append(.kubernetesWithoutGossip) }
        if !drift.isEmpty { warnings.append(.configsDiffer(drift, me: loaded.nodeName)) }
        return warnings
    }

    /// What this node does for `address` (a VIP or a Service address), as last decided.
    public func role(of address: IPAddress) -> AddressRole {
        if owned.contains(address) { return .announcing }
        if let ranked = vipRankings[address]?.first(where: { $0.name == loaded.nodeName }), ranked.ineligibility != nil {
            return .notEligible
        }
        if owners[address] != nil { return .standby }
        return waits[address] != nil ? .waiting : .unowned
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

    /// Whether this node allocates Service addresses: the first member that is up, by name, so
    /// exactly one does at a time and another takes over when it fails.
    public var isAllocator: Bool {
        phase != .joining && view.filter(\.isUp).map(\.name).min() == loaded.nodeName
    }

    public var nextDeadline: Duration? {
        [holdingDownUntil, phase == .joining ? startedAt + settings.joinGrace : nil,
         phase == .startingUp && isReady ? viewGrewAt + settings.viewSettle : nil,
         waits.values.map(\.since).min().map { $0 + settings.startupWait },
         !isReady && waitsForKubernetes ? startedAt + settings.kubernetesListWait : nil].compactMap { $0 }.min()
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
        // Suspects count as lost here: in a partition every member is suspected within a
        // probe round or two, long before the first is declared dead and its VIPs move.
        let alive = Set(members.filter { $0.status == .alive }.map(\.name))
        for name in aliveBefore.subtracting(alive) where members.first(where: { $0.name == name })?.status != .left {
            departedAt[name] = now
        }
        for name in alive { departedAt[name] = nil }
        departedAt = departedAt.filter { now - $0.value < settings.holdDown }
        if !alive.subtracting(aliveBefore).isEmpty { viewGrewAt = now }
        aliveBefore = alive
        return reconsiderIsolation(alive: alive) + decide(now: now)
    }

    /// The witness answers on its link, or stopped answering.
    public mutating func onWitness(_ address: IPAddress, answers: Bool, now: Duration) -> [NodeAction] {
        switch isolation {
        case .asking(let lost, let witness) where witness.address == address:
            isolation = answers ? .none : .cutOff(lost: lost, witness: witness)
        case .cutOff(_, let witness) where witness.address == address && answers:
            isolation = .none
        default:
            return []
        }
        // The witness answers: those losses are real, and not asked about again.
        if isolation == .none { departedAt = [:] }
        return [.isolation(isolation)] + decide(now: now)
    }

    /// Enters or leaves the suspicion of being cut off, as the view changes.
    private mutating func reconsiderIsolation(alive: Set<String>) -> [NodeAction] {
        switch isolation {
        case .none:
            // Lost more of the members it could reach than it still reaches.
            let lost = Set(departedAt.keys)
            guard !lost.isEmpty, lost.count > alive.count, let witness = witnessOnLink else { return [] }
            isolation = .asking(lost: lost, witness: witness)
        case .asking(let lost, let witness), .cutOff(let lost, let witness):
            // Most of them are back: the view merged, nothing left to protect.
            if lost.intersection(alive).count * 2 > lost.count {
                isolation = .none
                break
            }
            // More were lost meanwhile: theirs stay theirs too.
            let more = lost.union(departedAt.keys)
            guard more != lost else { return [] }
            if case .asking = isolation { isolation = .asking(lost: more, witness: witness) } else {
                isolation = .cutOff(lost: more, witness: witness)
            }
        }
        return [.isolation(isolation)]
    }

    /// The witness this node asks and the interface it is on: `node.witness`, or the default
    /// gateway on a subnet of an interface Herald uses; `nil` without one.
    public var witnessOnLink: Witness? {
        let usable = loaded.host.usableInterfaces(loaded.config.node)
        let address: IPAddress?
        switch loaded.config.node.witness {
        case .none: address = nil
        case .address(let configured): address = configured
        case .gateway: address = loaded.host.gateways.first { gateway in usable.contains { $0.subnet(containing: gateway) != nil } }
        }
        guard let address, let interface = usable.first(where: { $0.subnet(containing: address) != nil }) else { return nil }
        return Witness(address: address, interface: interface.name)
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
    /// was cut off: it holds down before taking VIPs back, and merges its view with every
    /// member at once rather than at the next anti-entropy round, so that what it took
    /// while alone is settled before it answers anything again.
    public mutating func onCarrier(_ interface: String, up: Bool, now: Duration) -> [NodeAction] {
        let changed = up ? down.remove(interface) != nil : down.insert(interface).inserted
        guard changed else { return [] }
        return (up ? startHoldDown(now: now) + (isGossiping ? [.mergeNow] : []) : []) + decide(now: now)
    }

    /// Adjacent mode: the nodes that do not answer on `interface`.
    public mutating func onUnreachable(_ nodes: Set<String>, on interface: String, now: Duration) -> [NodeAction] {
        guard (unreachable[interface] ?? []) != nodes else { return [] }
        unreachable[interface] = nodes.isEmpty ? nil : nodes
        return decide(now: now)
    }

    /// The link on `interface` has probed its addresses.
    public mutating func onLinkReady(_ interface: String, now: Duration) -> [NodeAction] {
        guard readyLinks.insert(interface).inserted else { return [] }
        return becomeReady(now: now)
    }

    /// The Kubernetes watchers have listed every kind once.
    public mutating func onKubernetesListed(now: Duration) -> [NodeAction] {
        guard !kubernetesListed else { return [] }
        kubernetesListed = true
        return becomeReady(now: now)
    }

    private var waitsForKubernetes: Bool { loaded.config.kubernetes != nil && !kubernetesListed }

    /// Ready once every link this config uses is, and the Kubernetes lists came in or
    /// their wait is over: with gossip, this node may now be elected.
    private mutating func becomeReady(now: Duration) -> [NodeAction] {
        guard !isReady else { return [] }
        let links = Set(LinkPlan.interfaces(config: loaded.config, host: loaded.host).map(\.name))
        guard links.isSubset(of: readyLinks) else { return [] }
        let withoutKubernetes = waitsForKubernetes
        guard !withoutKubernetes || now - startedAt >= settings.kubernetesListWait else { return [] }
        isReady = true
        return [.ready(withoutKubernetes: withoutKubernetes)] + decide(now: now)
    }

    public mutating func onTick(now: Duration) -> [NodeAction] {
        var actions = becomeReady(now: now)
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
        // The phase first: what this node gossips about itself depends on it.
        if phase == .joining, peers.contains(where: \.isUp) || now - startedAt >= settings.joinGrace { phase = .startingUp }
        if phase == .startingUp, isReady, now - viewGrewAt >= settings.viewSettle {
            phase = .serving
            actions.append(.eligible)
        }
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
        let settled = phase != .joining
        let members = view
        let config = loaded.config
        var services = kubernetes.map { ServiceAnnouncements($0, config: config, members: members, current: owners) } ?? ServiceAnnouncements()
        let electorate = Election.Electorate(members)
        vipRankings = Dictionary(config.vips.map { ($0.address, Election.rank($0, in: electorate)) }, uniquingKeysWith: { first, _ in first })
        var newOwners = services.owners
        if settled {
            for (address, ranking) in vipRankings {
                if let owner = ranking.first(where: { $0.ineligibility == nil })?.name { newOwners[address] = owner }
            }
        } else {
            newOwners = [:]
        }
        // The member an address goes to is still starting (every host started at once, or
        // that host's Kubernetes lists came late): every node leaves the address where it is,
        // with its owner or with nobody, rather than hand it to the next member for a moment,
        // which would answer beside that member, or beside MetalLB's speaker on that host
        // during a migration. For at most `startupWait`, so a member stuck starting does not
        // keep it unanswered.
        var awaiting: [IPAddress: Election.Awaiting] = [:]
        if settled {
            awaiting = services.awaiting
            for (address, ranking) in vipRankings {
                if let waiting = Election.awaiting(ranking, current: owners[address]) { awaiting[address] = waiting }
            }
        }
        var waitsNow: [IPAddress: (heir: String, since: Duration)] = [:]
        for (address, waiting) in awaiting where newOwners[address] != waiting.keeper {
            let since = waits[address]?.since ?? now
            guard now - since < settings.startupWait else { continue }
            waitsNow[address] = (waiting.heir, since)
            newOwners[address] = waiting.keeper
            // A Service's nodeAssigned Event names the owner: not one that waits.
            if services.awaiting[address] != nil { services.owners[address] = waiting.keeper }
        }
        waits = waitsNow
        // Maybe cut off: the addresses of the members lost at once stay theirs.
        if let lost = isolation.lost {
            for (address, owner) in owners where lost.contains(owner) && newOwners[address] == loaded.nodeName {
                newOwners[address] = owner
            }
        }
        // A routed pool's addresses: no link answers them (they are on no local subnet); their
        // traffic comes through the gateway VIP, so that VIP's owner is theirs (and says so
        // in their Events).
        let vipAddresses = Dictionary(config.vips.map { ($0.name, $0.address) }, uniquingKeysWith: { first, _ in first })
        for (address, gateway) in services.routed {
            let owner = vipAddresses[gateway].flatMap { newOwners[$0] }
            newOwners[address] = owner
            services.owners[address] = owner
        }
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
        let servable = LinkPlan.make(config: all, host: loaded.host,
                                       owned: LinkPlan.standaloneOwnership(config: all, nodeName: loaded.nodeName))
        // Until settled the cluster's MACs are not known, so probe answers wait to be judged.
        let cluster: ClusterMACs? = settled ? ClusterMACs(members.reduce(into: [:]) { own, member in
            for interface in NodeMeta.decode(member.meta)?.interfaces ?? [] {
                own[interface.mac, default: []].formUnion(interface.prefixes.map(\.address))
            }
        }) : nil
        let targets: LinkTargets? = config.node.mode == .adjacent
            ? LinkTargets(nodeFor: services.targets.mapValues(\.address), names: services.nodeAddresses, suspects: services.suspects)
            : nil
        for interface in LinkPlan.interfaces(config: config, host: loaded.host).map(\.name) {
            let mine = servable.addressesByInterface[interface] ?? []
            let served = answering.addressesByInterface[interface] ?? []
            let assignment = LinkAssignment(
                answering: served, ownedElsewhere: newOwned.subtracting(served), servable: mine, cluster: cluster,
                // Each link watches the targets of the addresses it could serve, and the
                // reported nodes only if it serves Service addresses at all.
                targets: targets.map { targets in
                    let nodeFor = targets.nodeFor.filter { mine.contains($0.key) }
                    return LinkTargets(nodeFor: nodeFor, names: targets.names, suspects: nodeFor.isEmpty ? [] : targets.suspects)
                },
                witness: isolation.witness.flatMap { $0.interface == interface ? $0.address : nil })
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

/// What a node does for one address.
public enum AddressRole: String, Equatable, Sendable {
    /// It owns the address and its links answer for it.
    case announcing
    /// Another node owns it; this one would take over.
    case standby
    /// This node may not own it (the ranking says why).
    case notEligible
    /// Nobody owns it.
    case unowned
    /// Nobody owns it while the member it goes to starts (`NodeMachine.waits`), for at
    /// most `startupWait`.
    case waiting
}

/// Where a node is in joining the cluster. Without gossip a node is its own authority and
/// always `serving`. A hold-down (`NodeMachine.holdingDownUntil`) is not a phase: a penalty
/// any phase may carry.
public enum NodePhase: Equatable, Sendable {
    /// It has heard no member, and the join grace has not passed: it elects nothing, so a
    /// node that restarts does not take every VIP while it believes it is alone.
    case joining
    /// It has joined, and its links are still probing their addresses or its view is still
    /// growing (`Settings.viewSettle`): it elects, but gossips `startingUp`, so no VIP is
    /// handed to it before it can answer or while it knows only part of the cluster.
    case startingUp
    /// It elects and may be elected.
    case serving
}

/// A node's witness: an address on the LAN it asks (by ARP or NDP on one of its links)
/// whether it is the one cut off.
public struct Witness: Equatable, Sendable {
    public var address: IPAddress
    public var interface: String
}

/// Whether a node may be the one cut off from the cluster.
public enum Isolation: Equatable, Sendable {
    case none
    /// It lost `lost` at once, more than it still reaches: the witness is being asked, and
    /// their addresses stay theirs meanwhile.
    case asking(lost: Set<String>, witness: Witness)
    /// The witness did not answer either: this node is the one cut off. It keeps what it
    /// had, takes nothing of theirs, and keeps asking.
    case cutOff(lost: Set<String>, witness: Witness)

    public var lost: Set<String>? {
        switch self {
        case .none: nil
        case .asking(let lost, _), .cutOff(let lost, _): lost
        }
    }

    public var witness: Witness? {
        switch self {
        case .none: nil
        case .asking(_, let witness), .cutOff(_, let witness): witness
        }
    }
}

/// What one link answers, as the node machine decides it.
public struct LinkAssignment: Equatable, Sendable {
    /// Addresses this link answers for (owned here, on its subnet).
    public var answering: Set<IPAddress>
    /// Addresses this node owns on other links (to tell `wrongInterface` from `notOurs`).
    public var ownedElsewhere: Set<IPAddress>
    /// Every address this link could ever serve: probed once when it first appears.
    public var servable: Set<IPAddress>
    /// The cluster's MACs (a claim from one is a handover, not a conflict, except for the
    /// member's own addresses); `nil` until known.
    public var cluster: ClusterMACs?
    /// Adjacent mode: the node each address's traffic goes to; `nil` in local mode.
    public var targets: LinkTargets?
    /// An address to watch on this link (probe it, and report whether it answers): the
    /// node's witness, while it wonders whether it is cut off.
    public var witness: IPAddress?

    public init(answering: Set<IPAddress> = [], ownedElsewhere: Set<IPAddress> = [], servable: Set<IPAddress> = [],
                cluster: ClusterMACs? = nil, targets: LinkTargets? = nil, witness: IPAddress? = nil) {
        self.answering = answering
        self.ownedElsewhere = ownedElsewhere
        self.servable = servable
        self.cluster = cluster
        self.targets = targets
        self.witness = witness
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
    /// Exchange full state with every known member now (after a cut-off).
    case mergeNow
    /// Whether this node may be the one cut off changed.
    case isolation(Isolation)
    /// This node finished starting and may now be elected.
    case eligible
    /// Ready (tell systemd): every link has probed; `withoutKubernetes`: the API server's
    /// first lists did not come within `kubernetesListWait`, and Services follow later.
    case ready(withoutKubernetes: Bool)
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
        for member in view where member.isUp {
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
