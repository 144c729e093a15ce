import HeraldCore
import HeraldWire

/// Adjacent mode, as `Ownership` hands it to one link: for each Service address, the
/// node address whose MAC answers for it; every node's address with its name (nodes
/// found unreachable stay watched while listed, so their return is seen); and the nodes
/// other adjacent hosts report unreachable, watched here too.
struct LinkTargets: Equatable, Sendable {
    var nodeFor: [IPAddress: IPAddress] = [:]
    var names: [IPAddress: String] = [:]
    var suspects: Set<IPAddress> = []
}

/// What a link knows of one node address it watches.
struct NodeReach: Equatable, Sendable {
    var name: String
    var state: TargetTracker.State
    var mac: MACAddress?
}

/// Adjacent mode on the link thread: the `TargetTracker` for the nodes the link's
/// addresses go to, which MAC each address is answered with, and which addresses just
/// changed target (to announce at once and count). Pure: the link sends the probes.
struct TargetAnswers {
    private(set) var tracker: TargetTracker
    private var names: [IPAddress: String] = [:]
    /// The MAC each address was last answered with, kept through gaps (a target that
    /// stopped answering) so the next one counts as a change.
    private var lastServed: [IPAddress: MACAddress] = [:]

    init(settings: TargetTracker.Settings) { tracker = TargetTracker(settings: settings) }

    /// New targets from ownership (`nil`: local mode, nothing to watch).
    mutating func update(_ targets: LinkTargets?, now: Duration) -> [TargetTracker.Action] {
        names = targets?.names ?? [:]
        let watched = Set((targets?.nodeFor ?? [:]).values).union(targets?.suspects ?? [])
        return tracker.watch(watched, keep: Set(names.keys), now: now)
    }

    /// The target MAC of each of `answering` whose target answers on the link; in
    /// adjacent mode an address without one is not answered.
    func answerMACs(for answering: Set<IPAddress>, targets: LinkTargets) -> [IPAddress: MACAddress] {
        let reachable = tracker.reachable
        var result: [IPAddress: MACAddress] = [:]
        for address in answering {
            if let node = targets.nodeFor[address], let mac = reachable[node] { result[address] = mac }
        }
        return result
    }

    /// Records what is answered now and returns the addresses answered before with
    /// another node's MAC. Forgets addresses that are no longer `candidates`.
    mutating func retargeted(_ served: [IPAddress: MACAddress], candidates: Set<IPAddress>) -> Set<IPAddress> {
        let changed = Set(served.compactMap { address, mac in lastServed[address].flatMap { $0 != mac ? address : nil } })
        lastServed.merge(served) { _, new in new }
        lastServed = lastServed.filter { candidates.contains($0.key) }
        return changed
    }

    /// Every watched node address, named, with what the tracker knows of it.
    var nodes: [IPAddress: NodeReach] {
        tracker.watched.reduce(into: [:]) { result, address in
            result[address] = NodeReach(name: names[address] ?? address.description,
                                        state: tracker.state(of: address) ?? .resolving, mac: tracker.macs[address])
        }
    }

    mutating func onAnswer(_ address: IPAddress, mac: MACAddress, now: Duration) -> [TargetTracker.Action] {
        tracker.onAnswer(address, mac: mac, now: now)
    }

    mutating func onTick(now: Duration) -> [TargetTracker.Action] { tracker.onTick(now: now) }
}
