import HeraldCore
import HeraldMembership
import HeraldTestKit
import HeraldWire

/// Whole nodes in virtual time: each simulated member runs the node machine on top of its
/// membership instance, as heraldd does (the gossip loop posts the view and a turn, the
/// machine's metadata goes back into gossip), and its links are modelled as "who answers
/// this address now": what the machine assigned, under a live lease, while the process
/// runs and the link has carrier. Deterministic for a seed.
struct NodeSimulation {
    /// One node's links, as the machine drives them.
    struct Links {
        var answering: [String: Set<IPAddress>] = [:]
        var targets: [String: LinkTargets] = [:]
        var leaseUntil: Duration?
        var carrier = true
        /// Lost the capture under a lease: silent until the machine assigns again (as
        /// `LinkMachine` is).
        var silent = false
        /// The witness the machine asked the link to watch, and what the link last said.
        var witness: IPAddress?
        var witnessAnswers: Bool?
    }

    /// The group (`cluster.group`) the gateway, every node's witness, is in: a node hears it
    /// while in the same group with carrier; `nil`: the gateway is down.
    var gatewayGroup: Int? = 0
    /// Every change of a node's isolation, in order: "time node state".
    var isolationTrace: [String] = []

    var cluster: Simulation
    var machines: [String: NodeMachine] = [:]
    var links: [String: Links] = [:]
    /// Stopped (SIGSTOP): nothing runs, nothing answers, state kept.
    var stopped: Set<String> = []
    var crashed: Set<String> = []
    /// Every owner change any node logged, in order: "time node address from→to".
    var trace: [String] = []
    let settings: NodeMachine.Settings
    /// How often a gossip loop turns (it turns on every packet and timer; this is coarser).
    let step = Duration.milliseconds(10)
    /// When a node's links have probed (`onLinkReady`), after it starts.
    let probing = Duration.milliseconds(200)
    private var views: [String: [Member]] = [:]
    private var due: [String: Duration] = [:]
    private var startedAt: [String: Duration] = [:]
    private var ready: Set<String> = []

    var names: [String] { cluster.names }
    var now: Duration { cluster.now }

    /// `size` nodes (node-0 …) with the config `toml` (gossip on, node-0 the join peer),
    /// each with eth0 on 198.51.100.0/24.
    init(size: Int, seed: UInt64, profile: MembershipSettings = .lan, toml: String, gossip: Bool = true) {
        settings = gossip ? NodeMachine.Settings(gossip: profile, hasJoinPeers: size > 1) : .standalone
        var machines: [String: NodeMachine] = [:]
        for index in 0..<size {
            let name = "node-\(index)"
            machines[name] = NodeMachine(loaded: Self.loaded(toml, node: name, index: index), settings: settings, now: .zero)
        }
        cluster = Simulation(size: size, seed: seed, settings: profile) { machines[$0]!.meta.encode() }
        self.machines = machines
        for name in cluster.names {
            links[name] = Links()
            startedAt[name] = .zero
            apply(name, machines[name]!.onTick(now: .zero))
        }
    }

    static func host(index: Int) -> HostFacts {
        HostFacts(hostname: "node-\(index)", interfaces: [HostInterface(
            name: "eth0", index: 2, mac: MACAddress(0x02, 0, 0, 0, 1, UInt8(index)), isUp: true, isBroadcast: true,
            isLoopback: false, isVirtual: false, hasMaster: false,
            prefixes: [IPPrefix(address: IPAddress("198.51.100.\(10 + index)")!, length: 24),
                       IPPrefix(address: IPAddress("2001:db8:100::\(10 + index)")!, length: 64)])],
            gateways: [IPAddress("198.51.100.1")!])
    }

    static func loaded(_ toml: String, node: String, index: Int) -> LoadedConfig {
        guard case .success(let config) = ConfigDecoder.decode(main: ConfigFile(path: "sim.toml", text: toml)) else {
            preconditionFailure("the simulation's config does not decode:\n\(toml)")
        }
        return LoadedConfig(config: config, nodeName: node, host: host(index: index))
    }

    // MARK: Running

    mutating func run(for duration: Duration) {
        let end = now + duration
        while now < end {
            cluster.run(for: min(step, end - now))
            for name in names where isRunning(name) {
                turn(name)
                askWitness(name)
            }
        }
    }

    /// The link watching the witness reports whether it answers, when that changed.
    private mutating func askWitness(_ name: String) {
        guard let witness = links[name]!.witness else { return }
        let answers = links[name]!.carrier && gatewayGroup != nil && cluster.group[name, default: 0] == gatewayGroup
        guard answers != links[name]!.witnessAnswers else { return }
        links[name]!.witnessAnswers = answers
        apply(name, machines[name]!.onWitness(witness, answers: answers, now: now))
    }

    /// Runs until `condition` holds (checked every step); the time it took, or nil.
    mutating func runUntil(_ limit: Duration, _ condition: (NodeSimulation) -> Bool) -> Duration? {
        let start = now
        while now - start < limit {
            if condition(self) { return now - start }
            run(for: step)
        }
        return condition(self) ? now - start : nil
    }

    /// One turn of `name`'s gossip loop, as GossipLoop posts it to the node loop.
    private mutating func turn(_ name: String) {
        let members = cluster.nodes[name]!.instance.members.values.sorted { $0.name < $1.name }
        if members != views[name] {
            views[name] = members
            apply(name, machines[name]!.onView(members, now: now))
        }
        if !ready.contains(name), now - startedAt[name]! >= probing {
            ready.insert(name)
            let loaded = machines[name]!.loaded
            for interface in LinkPlan.interfaces(config: loaded.config, host: loaded.host) {
                apply(name, machines[name]!.onLinkReady(interface.name, now: now))
            }
        }
        apply(name, machines[name]!.onTurn(now: now, due: due[name]))
        due[name] = now + step
    }

    /// Carries out what a node's machine decided, as NodeLoop does.
    mutating func apply(_ name: String, _ actions: [NodeAction]) {
        for action in actions {
            switch action {
            case .assign(let interface, let assignment):
                links[name]!.answering[interface] = assignment.answering
                links[name]!.targets[interface] = assignment.targets
                links[name]!.silent = false
                if assignment.witness != links[name]!.witness {
                    links[name]!.witness = assignment.witness
                    links[name]!.witnessAnswers = nil
                }
            case .lease(let until):
                links[name]!.leaseUntil = max(links[name]!.leaseUntil ?? until, until)
            case .meta(let meta):
                let sent = cluster.nodes[name]!.instance.onMetaChanged(meta.encode())
                cluster.execute(sent, by: name)
            case .ownerChanged(let address, let from, let to):
                trace.append("\(now) \(name) \(address) \(from ?? "-")→\(to ?? "-")")
            case .mergeNow:
                cluster.execute(cluster.nodes[name]!.instance.onMergeNow(now: now), by: name)
            case .isolation(let isolation):
                isolationTrace.append("\(now) \(name) \(isolation)")
            case .announcersChanged, .checkChanged, .stalled, .holdDown, .eligible, .ready, .missingKubernetesNode, .configDrift,
                 .announcedElsewhereWithoutGossip:
                break
            }
        }
    }

    // MARK: What the LAN sees

    func isRunning(_ name: String) -> Bool { !stopped.contains(name) && !crashed.contains(name) }

    /// The nodes that answer for `address` now.
    func answerers(_ address: IPAddress) -> [String] {
        names.filter { name in
            guard isRunning(name), let link = links[name], link.carrier, !link.silent,
                  settings.lease == nil || link.leaseUntil.map({ now < $0 }) ?? false else { return false }
            return link.answering.values.contains { $0.contains(address) }
        }
    }

    func answerer(_ address: IPAddress) -> String? {
        let all = answerers(address)
        return all.count == 1 ? all[0] : nil
    }

    // MARK: Faults

    /// The process dies (kill -9): silent at once, declared dead by the others later.
    mutating func crash(_ name: String) {
        crashed.insert(name)
        cluster.crash(name)
    }

    /// SIGSTOP: nothing runs until `resume`, and the state is kept.
    mutating func stop(_ name: String) {
        stopped.insert(name)
        cluster.crash(name)
    }

    /// SIGCONT: the process runs again from where it was.
    mutating func resume(_ name: String) {
        stopped.remove(name)
        cluster.resume(name)
    }

    /// A rolling restart's step: SIGTERM (the node leaves, so the others take over at once),
    /// 200 ms, then a new process with fresh state that joins through the other nodes.
    mutating func restart(_ name: String) {
        cluster.leave(name)
        crashed.insert(name)
        run(for: .milliseconds(200))
        var machine = NodeMachine(loaded: machines[name]!.loaded, settings: settings, now: now)
        var node = Simulation.Node(instance: MembershipMachine(
            name: name, address: cluster.address(name), meta: machine.meta.encode(), settings: cluster.nodes[name]!.instance.settings,
            now: now))
        let joined = node.instance.onJoin(seeds: names.filter { $0 != name }.map(cluster.address), now: now)
        cluster.nodes[name] = node
        cluster.execute(joined, by: name)
        crashed.remove(name)
        links[name] = Links()
        views[name] = nil
        due[name] = nil
        ready.remove(name)
        startedAt[name] = now
        let first = machine.onTick(now: now)
        machines[name] = machine
        apply(name, first)
    }

    /// The node's link goes down: no gossip in or out, nothing answered, and the node
    /// hears the carrier go (`ip link set down`).
    mutating func cut(_ name: String) {
        cluster.group[name] = 1000 + (names.firstIndex(of: name) ?? 0)
        links[name]!.carrier = false
        if settings.lease != nil { links[name]!.silent = true }
        apply(name, machines[name]!.onCarrier("eth0", up: false, now: now))
    }

    mutating func uncut(_ name: String) {
        cluster.group[name] = nil
        links[name]!.carrier = true
        apply(name, machines[name]!.onCarrier("eth0", up: true, now: now))
    }

    /// Splits the cluster: nodes in different sides cannot reach each other.
    mutating func partition(_ sides: [[String]]) {
        for (index, side) in sides.enumerated() { for name in side { cluster.group[name] = index } }
    }

    mutating func heal() { cluster.group = [:] }

    // MARK: Inputs a node gets from outside gossip

    mutating func check(_ name: String, vip: String, passed: Bool) {
        apply(name, machines[name]!.onCheck(vip, passed: passed, now: now))
    }

    mutating func reload(_ name: String, toml: String) {
        apply(name, machines[name]!.onConfig(Self.loaded(toml, node: name, index: names.firstIndex(of: name)!), now: now))
    }

    mutating func kubernetes(_ name: String, _ facts: KubernetesFacts) {
        apply(name, machines[name]!.onKubernetes(facts, now: now))
    }

    mutating func unreachable(_ name: String, _ nodes: Set<String>) {
        apply(name, machines[name]!.onUnreachable(nodes, on: "eth0", now: now))
    }
}
