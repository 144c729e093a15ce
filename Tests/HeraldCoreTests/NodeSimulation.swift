import HeraldCore
import HeraldMembership
import HeraldTestKit
import HeraldWire

/// Whole nodes in virtual time, with real links on a simulated Ethernet segment. Each node
/// runs the node machine on its membership instance and one `LinkMachine` on eth0, wired as
/// heraldd wires them: the gossip loop's turns go through `LeaseCadence` (renewing the
/// links' lease itself or posting the turn), the node machine's assignments and leases go
/// to the link, and the link's events (ready, conflict, witness, neighbours) come back as
/// facts. Every frame a link sends crosses the segment: to the other nodes' links, to the
/// gateway and neighbour hosts (which answer ARP for their own address, as a kernel does),
/// and to a client whose capture the tests read. Deterministic for a seed.
///
/// The segment follows the cluster's groups: a partition or a cut link splits it too, so
/// a node on one side neither hears nor is heard by the other. The client, the gateway
/// (`gatewayGroup`) and the neighbours sit in group 0 unless told otherwise.
struct NodeSimulation {
    /// One node's host: its link on eth0, and whether that link has carrier.
    struct Host {
        var link: LinkMachine
        var carrier = true
        var cadence: LeaseCadence?
    }

    /// A frame the client's capture saw.
    struct Heard {
        let at: Duration
        let frame: Frame
    }

    static let clientMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
    static let clientIP = IPv4Address("198.51.100.2")!
    static let gateway = IPAddress("198.51.100.1")!

    /// The group the gateway, every node's witness, is in; `nil`: the gateway is down.
    var gatewayGroup: Int? = 0
    /// Other hosts on the segment (group 0) that answer ARP for their own address, as
    /// Kubernetes nodes in adjacent mode.
    var neighbours: [IPAddress: MACAddress] = [:]
    /// Every change of a node's isolation, in order: "time node state".
    var isolationTrace: [String] = []
    /// Everything the client's capture saw (ARP only), in order.
    var heard: [Heard] = []

    var cluster: Simulation
    var machines: [String: NodeMachine] = [:]
    var hosts: [String: Host] = [:]
    /// Stopped (SIGSTOP): nothing runs, nothing answers, state kept.
    var stopped: Set<String> = []
    var crashed: Set<String> = []
    /// Every owner change any node logged, in order: "time node address from→to".
    var trace: [String] = []
    let settings: NodeMachine.Settings
    let linkSettings: LinkMachine.Settings
    /// How often a gossip loop turns (it turns on every packet and timer; this is coarser).
    let step = Duration.milliseconds(10)
    private var views: [String: [Member]] = [:]
    private var due: [String: Duration] = [:]

    var names: [String] { cluster.names }
    var now: Duration { cluster.now }

    /// `size` nodes (node-0 …) with the config `toml` (gossip on, node-0 the join peer),
    /// each with eth0 on 198.51.100.0/24.
    init(size: Int, seed: UInt64, profile: MembershipSettings = .lan, toml: String, gossip: Bool = true) {
        settings = gossip ? NodeMachine.Settings(gossip: profile, hasJoinPeers: size > 1) : .standalone
        linkSettings = LinkMachine.Settings(usesLease: gossip)
        var machines: [String: NodeMachine] = [:]
        for index in 0..<size {
            let name = "node-\(index)"
            machines[name] = NodeMachine(loaded: Self.loaded(toml, node: name, index: index), settings: settings, now: .zero)
        }
        cluster = Simulation(size: size, seed: seed, settings: profile) { machines[$0]!.meta.encode() }
        self.machines = machines
        for name in cluster.names {
            hosts[name] = freshHost(name)
            apply(name, machines[name]!.onTick(now: .zero))
        }
    }

    private func freshHost(_ name: String) -> Host {
        Host(link: LinkMachine(mac: Self.mac(of: name), settings: linkSettings), cadence: settings.lease.map(LeaseCadence.init))
    }

    static func mac(of name: String) -> MACAddress {
        MACAddress(0x02, 0, 0, 0, 1, UInt8(Int(name.dropFirst("node-".count))!))
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
                tickLink(name)
                turn(name)
                // NodeLoop's alarm: a deadline (hold-down, join grace) ends on time.
                if let deadline = machines[name]!.nextDeadline, deadline <= now { apply(name, machines[name]!.onTick(now: now)) }
            }
        }
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

    /// One turn of `name`'s gossip loop: a changed view goes to the node machine; the
    /// lease is renewed or the turn posted as `LeaseCadence` says (as GossipLoop does).
    private mutating func turn(_ name: String) {
        let members = cluster.nodes[name]!.instance.members.values.sorted { $0.name < $1.name }
        let viewChanged = members != views[name]
        if viewChanged {
            views[name] = members
            apply(name, machines[name]!.onView(members, now: now))
        }
        if var cadence = hosts[name]!.cadence {
            let renewal = cadence.renewal(now: now, viewChanged: viewChanged, wakeBy: due[name])
            hosts[name]!.cadence = cadence
            switch renewal {
            case .none: break
            case .renew: link(name) { $0.onLease(until: $1 + cadence.lease, now: $1) }
            case .post: apply(name, machines[name]!.onTurn(now: now, due: due[name]))
            }
        } else {
            apply(name, machines[name]!.onTick(now: now))
        }
        due[name] = now + step
    }

    private mutating func tickLink(_ name: String) {
        for _ in 0..<8 {
            guard let deadline = hosts[name]!.link.nextDeadline, deadline <= now else { return }
            link(name) { $0.onTick(now: $1) }
        }
    }

    /// Carries out what a node's machine decided, as NodeLoop does.
    mutating func apply(_ name: String, _ actions: [NodeAction]) {
        for action in actions {
            switch action {
            case .assign(_, let assignment):
                link(name) { $0.onAssignment(assignment, now: $1) }
            case .lease(let until):
                link(name) { $0.onLease(until: until, now: $1) }
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

    /// Runs one input of `name`'s link and carries out what it returns, as LinkLoop does:
    /// frames onto the segment, facts to the node machine.
    private mutating func link(_ name: String, _ input: (inout LinkMachine, Duration) -> [LinkAction]) {
        let now = self.now
        let actions = input(&hosts[name]!.link, now)
        for action in actions {
            switch action {
            case .send(let frame, _): transmit(frame, from: name)
            case .groups: break
            case .event(.ready): apply(name, machines[name]!.onLinkReady("eth0", now: now))
            case .event(.conflict(let address, let foreign, _)), .event(.yielded(let address, let foreign, _)):
                apply(name, machines[name]!.onConflict(address, from: foreign, now: now))
            case .event(.witness(let address, let answers)):
                apply(name, machines[name]!.onWitness(address, answers: answers, now: now))
            case .event(.neighbors(_, let nodes)):
                apply(name, machines[name]!.onUnreachable(LinkMachine.unreachable(in: nodes), on: "eth0", now: now))
            case .event(.serving), .event(.resolved), .event(.cleared): break
            }
        }
    }

    // MARK: The segment

    /// The segment group a node's link is in (its cluster group), or nil with no carrier.
    private func segment(_ name: String) -> Int? {
        guard isRunning(name), hosts[name]!.carrier else { return nil }
        return cluster.group[name, default: 0]
    }

    /// Delivers a frame a node sent to everyone on its side of the segment whose MAC it is
    /// addressed to (or all, broadcast and multicast), at once.
    private mutating func transmit(_ bytes: [UInt8], from sender: String) {
        guard let group = segment(sender), let frame = try? Frame.decode(bytes) else { return }
        deliver(bytes, frame: frame, group: group, except: sender)
    }

    private mutating func deliver(_ bytes: [UInt8], frame: Frame, group: Int, except sender: String?) {
        let destination = switch frame { case .arp(let ethernet, _), .ndp(let ethernet, _): ethernet.destination }
        let toAll = destination.isBroadcast || destination.isMulticast
        for name in names where name != sender && segment(name) == group && (toAll || destination == Self.mac(of: name)) {
            link(name) { $0.onFrame(bytes, now: $1) }
        }
        if group == 0, toAll || destination == Self.clientMAC, case .arp = frame { heard.append(Heard(at: now, frame: frame)) }
        // The gateway and the neighbours answer requests for their own address.
        guard case .arp(_, let packet) = frame, packet.operation == .request else { return }
        var answering = neighbours.filter { _ in group == 0 }
        if gatewayGroup == group { answering[Self.gateway] = MACAddress(0x02, 0, 0, 0, 0, 0x01) }
        guard let mac = answering[.v4(packet.targetIP)] else { return }
        let reply = ARPPacket(operation: .reply, senderMAC: mac, senderIP: packet.targetIP, targetMAC: packet.senderMAC,
                              targetIP: packet.senderIP)
        let replyBytes = reply.frame(ethernetDestination: packet.senderMAC, ethernetSource: mac)
        deliver(replyBytes, frame: .arp(EthernetHeader(destination: packet.senderMAC, source: mac, etherType: EtherType.arp), reply),
                group: group, except: nil)
    }

    static func request(for address: IPAddress) -> [UInt8] {
        guard case .v4(let target) = address else { preconditionFailure("the simulated client asks ARP only") }
        return ARPPacket(operation: .request, senderMAC: clientMAC, senderIP: clientIP, targetMAC: .zero, targetIP: target)
            .frame(ethernetDestination: .broadcast, ethernetSource: clientMAC)
    }

    /// The client asks for `address` (an ARP request on its side of the segment); what is
    /// answered lands in `heard`, now or later (a request held until a takeover).
    mutating func ask(_ address: IPAddress) {
        let bytes = Self.request(for: address)
        deliver(bytes, frame: try! Frame.decode(bytes)!, group: 0, except: nil)
    }

    /// The gratuitous announcements of `address` the client saw after `after`, by sender.
    func announcements(of address: IPAddress, after: Duration) -> [MACAddress] {
        heard.filter { $0.at > after }.compactMap { heard in
            guard case .arp(_, let packet) = heard.frame, packet.isGratuitous, .v4(packet.senderIP) == address else { return nil }
            return packet.senderMAC
        }
    }

    // MARK: What the LAN sees

    func isRunning(_ name: String) -> Bool { !stopped.contains(name) && !crashed.contains(name) }

    /// The nodes that would answer a request for `address` now, from a client on their
    /// side of the segment: each link is asked (a copy, so nothing is held or counted).
    func answerers(_ address: IPAddress) -> [String] {
        let bytes = Self.request(for: address)
        return names.filter { name in
            guard segment(name) != nil else { return false }
            var copy = hosts[name]!.link
            return copy.onFrame(bytes, now: now).contains { if case .send(_, .reply) = $0 { true } else { false } }
        }
    }

    func answerer(_ address: IPAddress) -> String? {
        let all = answerers(address)
        return all.count == 1 ? all[0] : nil
    }

    /// What `name`'s link was last assigned for adjacent mode.
    func targets(_ name: String) -> LinkTargets? { hosts[name]!.link.assignment.targets }

    // MARK: Faults

    /// The process dies (kill -9): silent at once, declared dead by the others later.
    mutating func crash(_ name: String) {
        crashed.insert(name)
        cluster.crash(name)
    }

    /// SIGTERM: the node leaves the cluster (the others take over at once) and its links
    /// fall silent.
    mutating func terminate(_ name: String) {
        cluster.leave(name)
        crashed.insert(name)
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
        terminate(name)
        run(for: .milliseconds(200))
        start(name)
    }

    /// A new process for a node that was terminated or crashed: fresh state, joining
    /// through the other nodes, its link probing before it claims anything.
    mutating func start(_ name: String) {
        var machine = NodeMachine(loaded: machines[name]!.loaded, settings: settings, now: now)
        var node = Simulation.Node(instance: MembershipMachine(
            name: name, address: cluster.address(name), meta: machine.meta.encode(), settings: cluster.nodes[name]!.instance.settings,
            now: now))
        let joined = node.instance.onJoin(seeds: names.filter { $0 != name }.map(cluster.address), now: now)
        cluster.nodes[name] = node
        cluster.execute(joined, by: name)
        crashed.remove(name)
        hosts[name] = freshHost(name)
        views[name] = nil
        due[name] = nil
        let first = machine.onTick(now: now)
        machines[name] = machine
        apply(name, first)
    }

    /// The node's link goes down (`ip link set down`): no gossip in or out, no frames, the
    /// capture fails and the node hears the carrier go.
    mutating func cut(_ name: String) {
        cluster.group[name] = 1000 + (names.firstIndex(of: name) ?? 0)
        hosts[name]!.carrier = false
        link(name) { $0.onCaptureLost(now: $1) }
        apply(name, machines[name]!.onCarrier("eth0", up: false, now: now))
    }

    mutating func uncut(_ name: String) {
        cluster.group[name] = nil
        hosts[name]!.carrier = true
        apply(name, machines[name]!.onCarrier("eth0", up: true, now: now))
        link(name) { $0.onCaptureBack(now: $1) }
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

    /// The Kubernetes watchers have listed every kind once (readiness waits for it).
    mutating func listed(_ name: String) {
        apply(name, machines[name]!.onKubernetesListed(now: now))
    }

    mutating func unreachable(_ name: String, _ nodes: Set<String>) {
        apply(name, machines[name]!.onUnreachable(nodes, on: "eth0", now: now))
    }
}
