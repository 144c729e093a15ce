import HeraldWire

/// Adjacent mode, as the node machine hands it to one link: for each Service address,
/// the node address whose MAC answers for it; every node's address with its name (nodes
/// found unreachable stay watched while listed, so their return is seen); and the nodes
/// other adjacent hosts report unreachable, watched here too.
public struct LinkTargets: Equatable, Sendable {
    public var nodeFor: [IPAddress: IPAddress] = [:]
    public var names: [IPAddress: String] = [:]
    public var suspects: Set<IPAddress> = []

    public init(nodeFor: [IPAddress: IPAddress] = [:], names: [IPAddress: String] = [:], suspects: Set<IPAddress> = []) {
        self.nodeFor = nodeFor
        self.names = names
        self.suspects = suspects
    }
}

/// What a link knows of one node address it watches.
public struct NodeReach: Equatable, Sendable {
    public var name: String
    public var state: TargetTracker.State
    public var mac: MACAddress?

    public init(name: String, state: TargetTracker.State, mac: MACAddress?) {
        self.name = name
        self.state = state
        self.mac = mac
    }
}

/// Adjacent mode on the link thread: the `TargetTracker` for the nodes the link's
/// addresses go to, which MAC each address is answered with, and which addresses just
/// changed target (to announce at once and count). Pure: the link sends the probes.
public struct TargetAnswers: Sendable {
    public private(set) var tracker: TargetTracker
    private var names: [IPAddress: String] = [:]
    /// The MAC each address was last answered with, kept through gaps (a target that
    /// stopped answering) so the next one counts as a change.
    private var lastServed: [IPAddress: MACAddress] = [:]

    public init(settings: TargetTracker.Settings) { tracker = TargetTracker(settings: settings) }

    /// New targets from ownership (`nil`: local mode, nothing to watch).
    public mutating func update(_ targets: LinkTargets?, now: Duration) -> [TargetTracker.Action] {
        names = targets?.names ?? [:]
        let watched = Set((targets?.nodeFor ?? [:]).values).union(targets?.suspects ?? [])
        return tracker.watch(watched, keep: Set(names.keys), now: now)
    }

    /// The target MAC of each of `answering` whose target answers on the link; in
    /// adjacent mode an address without one is not answered.
    public func answerMACs(for answering: Set<IPAddress>, targets: LinkTargets) -> [IPAddress: MACAddress] {
        let reachable = tracker.reachable
        var result: [IPAddress: MACAddress] = [:]
        for address in answering {
            if let node = targets.nodeFor[address], let mac = reachable[node] { result[address] = mac }
        }
        return result
    }

    /// Records what is answered now and returns the addresses answered before with
    /// another node's MAC. Forgets addresses that are no longer `servable`.
    public mutating func retargeted(_ served: [IPAddress: MACAddress], servable: Set<IPAddress>) -> Set<IPAddress> {
        let changed = Set(served.compactMap { address, mac in lastServed[address].flatMap { $0 != mac ? address : nil } })
        lastServed.merge(served) { _, new in new }
        lastServed = lastServed.filter { servable.contains($0.key) }
        return changed
    }

    /// Every watched node address, named, with what the tracker knows of it.
    public var nodes: [IPAddress: NodeReach] {
        tracker.watched.reduce(into: [:]) { result, address in
            result[address] = NodeReach(name: names[address] ?? address.description,
                                        state: tracker.state(of: address) ?? .resolving, mac: tracker.macs[address])
        }
    }

    public mutating func onAnswer(_ address: IPAddress, mac: MACAddress, now: Duration) -> [TargetTracker.Action] {
        tracker.onAnswer(address, mac: mac, now: now)
    }

    public mutating func onTick(now: Duration) -> [TargetTracker.Action] { tracker.onTick(now: now) }
}
