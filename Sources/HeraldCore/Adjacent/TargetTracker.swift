import HeraldWire

/// Adjacent mode: resolves the MACs of target nodes on one link and watches that they
/// still answer, with no daemon on the nodes — only their kernels' ARP/NDP. Each watched
/// node address is probed every `interval`: by broadcast until it is resolved, then
/// unicast to the MAC it answered from (as the kernel's own reachability probes are),
/// and by broadcast again once a probe goes unanswered, in case the node came back with
/// another NIC. Pure: time is an input, frames are the link's business.
///
/// A node is `unreachable` after `misses` probes in a row went unanswered, and reachable
/// again after `rise` answered probes in a row, so a flapping node does not pull traffic
/// back and forth.
public struct TargetTracker: Sendable {
    public struct Settings: Equatable, Sendable {
        public var interval: Duration
        public var misses: Int
        public var rise: Int

        public init(interval: Duration, misses: Int = 3, rise: Int = 3) {
            precondition(misses >= 1 && rise >= 1)
            self.interval = interval
            self.misses = misses
            self.rise = rise
        }
    }

    public enum State: Equatable, Sendable {
        /// Watched, never answered yet.
        case resolving
        case reachable
        case unreachable
    }

    public enum Action: Equatable, Sendable {
        /// Ask who has `address`: to `mac` when given, else by broadcast (or multicast).
        case probe(IPAddress, unicastTo: MACAddress?)
        /// The state or MAC of `address` changed.
        case changed(IPAddress)
    }

    struct Entry: Sendable {
        var state = State.resolving
        var mac: MACAddress?
        /// A probe was sent and nothing has answered since.
        var outstanding = false
        /// Probes in a row that went unanswered.
        var missed = 0
        /// Probes in a row that were answered (counts towards `rise`).
        var answered = 0
        var due: Duration
    }

    public let settings: Settings
    private var entries: [IPAddress: Entry] = [:]

    public init(settings: Settings) { self.settings = settings }

    /// Watches `addresses` from now on (new ones are probed at once) and forgets the
    /// others, except unreachable ones still in `keep`: they stay watched, so the node
    /// is seen when it comes back.
    public mutating func watch(_ addresses: Set<IPAddress>, keep: Set<IPAddress>, now: Duration) -> [Action] {
        var actions: [Action] = []
        for (address, entry) in entries where !addresses.contains(address) {
            if entry.state == .unreachable && keep.contains(address) { continue }
            entries[address] = nil
            actions.append(.changed(address))
        }
        for address in addresses where entries[address] == nil {
            entries[address] = Entry(due: now)
        }
        return actions
    }

    /// Probes that are due, and the nodes that just became unreachable.
    public mutating func onTick(now: Duration) -> [Action] {
        var actions: [Action] = []
        for address in entries.keys.sorted() {
            guard var entry = entries[address], entry.due <= now else { continue }
            if entry.outstanding {
                entry.missed += 1
                entry.answered = 0
                if entry.missed >= settings.misses, entry.state != .unreachable {
                    entry.state = .unreachable
                    actions.append(.changed(address))
                }
            }
            let unicast = entry.state == .reachable && entry.missed == 0 ? entry.mac : nil
            actions.append(.probe(address, unicastTo: unicast))
            entry.outstanding = true
            // From now, not from when it was due: after a stall, the answer gets a full interval.
            entry.due = now + settings.interval
            entries[address] = entry
        }
        return actions
    }

    /// An answer for `address` from `mac` to one of our probes. Taken only while a probe
    /// is outstanding, and, once the node is reachable and probed unicast, only from the
    /// MAC it answers from: a MAC is learned from replies to our own probes, never from
    /// whatever else claims a node's address on the link (which adjacent mode would then
    /// announce, and exempt from conflict detection).
    public mutating func onAnswer(_ address: IPAddress, mac: MACAddress, now: Duration) -> [Action] {
        guard var entry = entries[address], entry.outstanding else { return [] }
        if entry.state == .reachable, entry.missed == 0, let known = entry.mac, known != mac { return [] }
        let before = (entry.state, entry.mac)
        entry.outstanding = false
        entry.answered += 1
        entry.missed = 0
        entry.mac = mac
        switch entry.state {
        case .resolving: entry.state = .reachable
        case .unreachable where entry.answered >= settings.rise: entry.state = .reachable
        default: break
        }
        entries[address] = entry
        return before == (entry.state, entry.mac) ? [] : [.changed(address)]
    }

    public func state(of address: IPAddress) -> State? { entries[address]?.state }

    /// The MAC of every reachable address.
    public var reachable: [IPAddress: MACAddress] {
        entries.reduce(into: [:]) { result, item in
            if item.value.state == .reachable, let mac = item.value.mac { result[item.key] = mac }
        }
    }

    public var unreachable: Set<IPAddress> { Set(entries.filter { $0.value.state == .unreachable }.keys) }

    /// The last MAC each address answered from, whatever its state.
    public var macs: [IPAddress: MACAddress] { entries.compactMapValues(\.mac) }

    /// Every MAC seen answering, reachable or not, with the node address it answered for:
    /// none of them is a foreign claim, except for that node's own address.
    public var cluster: ClusterMACs {
        ClusterMACs(entries.reduce(into: [:]) { own, entry in
            if let mac = entry.value.mac { own[mac, default: []].insert(entry.key) }
        })
    }

    public var watched: Set<IPAddress> { Set(entries.keys) }

    public var nextDeadline: Duration? { entries.values.map(\.due).min() }
}
