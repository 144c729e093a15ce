import HeraldMembership
import HeraldWire

/// Many membership instances on an in-memory network, in virtual time. Deterministic for
/// a seed: events are ordered by (time, sequence number), randomness comes from one
/// generator. Every packet goes through the real codec (encode, then decode). The node
/// simulation (HeraldCoreTests) runs a node machine on top of each member.
public struct Simulation {
    public struct Node {
        public var instance: MembershipMachine
        public var running = true
        var scheduledTick: Duration?
        public var sent = 0

        public init(instance: MembershipMachine) { self.instance = instance }
    }

    public enum EventKind {
        case tick(String)
        case deliver([UInt8], from: GossipAddress, to: String)
    }

    struct Event {
        var time: Duration
        var order: UInt64
        var kind: EventKind
    }

    public var rng: SplitMix64
    public var now: Duration = .zero
    public var nodes: [String: Node] = [:]
    public var names: [String] = []
    var byAddress: [GossipAddress: String] = [:]
    var heap: [Event] = []
    var order: UInt64 = 0
    public var loss = 0.0
    public var delay: ClosedRange<Int64> = 100...600  // microseconds
    /// Nodes in different groups cannot reach each other.
    public var group: [String: Int] = [:]
    /// Every status change seen by anyone: (time, observer, member, status).
    public var changes: [(Duration, String, String, MemberRecord.Status)] = []

    /// `size` members named node-0…, node-0 the seed everyone joins; `meta` is what each
    /// gossips about itself (its name by default).
    public init(size: Int, seed: UInt64, settings: MembershipSettings = .lan,
                meta: (String) -> [UInt8] = { Array($0.utf8) }) {
        rng = SplitMix64(state: seed)
        for index in 0..<size {
            let name = "node-\(index)"
            let address = GossipAddress(ip: .v4(IPv4Address(10, 0, UInt8(index / 256), UInt8(index % 256))), port: 7946)
            names.append(name)
            byAddress[address] = name
            nodes[name] = Node(instance: MembershipMachine(name: name, address: address, meta: meta(name),
                                                            settings: settings, now: .zero))
        }
        let seed = nodes[names[0]]!.instance.address
        for name in names {
            let actions = nodes[name]!.instance.onJoin(seeds: [seed], now: .zero)
            execute(actions, by: name)
        }
    }

    public func address(_ name: String) -> GossipAddress { nodes[name]!.instance.address }

    public mutating func push(_ time: Duration, _ kind: EventKind) {
        order += 1
        heap.append(Event(time: time, order: order, kind: kind))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard (heap[child].time, heap[child].order) < (heap[parent].time, heap[parent].order) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Event? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            for child in [left, right] where child < heap.count
                && (heap[child].time, heap[child].order) < (heap[smallest].time, heap[smallest].order) {
                smallest = child
            }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    public mutating func execute(_ actions: [MembershipAction], by name: String) {
        for action in actions {
            switch action {
            case .send(let messages, let destination):
                nodes[name]!.sent += 1
                guard let target = byAddress[destination] else { continue }
                if group[name, default: 0] != group[target, default: 0] { continue }
                if loss > 0 && Double.random(in: 0..<1, using: &rng) < loss { continue }
                let latency = Duration.microseconds(Int64.random(in: delay, using: &rng))
                push(now + latency, .deliver(GossipPayload.encode(messages), from: nodes[name]!.instance.address, to: target))
            case .changed(let member):
                changes.append((now, name, member.name, member.status))
            case .refuted, .measured, .alone:
                break
            }
        }
        scheduleTick(name)
    }

    mutating func scheduleTick(_ name: String) {
        guard nodes[name]!.running else { return }
        let deadline = max(nodes[name]!.instance.nextDeadline, now)
        if let scheduled = nodes[name]!.scheduledTick, scheduled <= deadline { return }
        nodes[name]!.scheduledTick = deadline
        push(deadline, .tick(name))
    }

    public mutating func run(for duration: Duration) {
        let end = now + duration
        while let event = pop() {
            if event.time > end {
                push(event.time, event.kind)
                break
            }
            now = event.time
            switch event.kind {
            case .tick(let name):
                guard nodes[name]!.running, nodes[name]!.scheduledTick == event.time else { continue }
                nodes[name]!.scheduledTick = nil
                let actions = nodes[name]!.instance.onTick(now: now, using: &rng)
                execute(actions, by: name)
            case .deliver(let bytes, let from, let to):
                guard nodes[to]!.running else { continue }
                let messages = try! GossipPayload.decode(bytes)
                let actions = nodes[to]!.instance.onPacket(messages, from: from, now: now)
                execute(actions, by: to)
            }
        }
        now = end
    }

    public mutating func crash(_ name: String) {
        nodes[name]!.running = false
        nodes[name]!.scheduledTick = nil
    }

    /// Takes a crashed (or stopped) member back: it runs again from the state it had, as a
    /// process does after SIGCONT. What was sent to it meanwhile is lost.
    public mutating func resume(_ name: String) {
        nodes[name]!.running = true
        scheduleTick(name)
    }

    public mutating func leave(_ name: String) {
        let actions = nodes[name]!.instance.onLeave()
        execute(actions, by: name)
        nodes[name]!.running = false
    }

    /// The status `observer` holds for `member`.
    public func status(of member: String, at observer: String) -> MemberRecord.Status? {
        nodes[observer]!.instance.members[member]?.status
    }

    public var running: [String] { names.filter { nodes[$0]!.running } }

    /// Whether every running node sees every running node as a candidate, and nobody else.
    public var converged: Bool {
        let alive = running
        return alive.allSatisfy { observer in
            let members = nodes[observer]!.instance.members
            return members.values.filter(\.isUp).count == alive.count - 1
                && alive.allSatisfy { $0 == observer || members[$0]?.isUp == true }
        }
    }

    /// Runs in steps until `condition` holds; returns the virtual time it took, or nil.
    public mutating func runUntil(_ limit: Duration, step: Duration? = nil, _ condition: (Simulation) -> Bool) -> Duration? {
        // Checking costs O(n²) for convergence: check less often in big clusters.
        let step = step ?? (names.count > 50 ? .milliseconds(250) : .milliseconds(10))
        let start = now
        while now - start < limit {
            if condition(self) { return now - start }
            run(for: step)
        }
        return condition(self) ? now - start : nil
    }
}
