import HeraldWire

/// Everything one link decides, with no I/O: what it answers now (its assignment, minus
/// what is still being probed or claimed by another host, only under a live lease, and in
/// adjacent mode only with a reachable target's MAC), the reply to each captured frame,
/// when to announce, probe and defend, which nodes it watches, and what it counts. The
/// link's shell captures frames, injects what this returns, and calls `onTick` at
/// `nextDeadline`; every input takes `now` (time since the link started).
///
/// A request for an address the link does not serve now, but could, is held a moment
/// (`HeldRequests`): when the node takes that address over, it is answered at once.
public struct LinkMachine: Sendable {
    public struct Settings: Equatable, Sendable {
        public var announcements: AnnouncementScheduler.Settings
        public var conflicts: ConflictGuard.Settings
        public var targets: TargetTracker.Settings
        public var held: HeldRequests.Settings
        /// With gossip, answers hold only while the node machine renews a lease
        /// (`onLease`); without, always.
        public var usesLease: Bool

        public init(announcements: AnnouncementScheduler.Settings = .standard, conflicts: ConflictGuard.Settings = .standard,
                    targets: TargetTracker.Settings = TargetTracker.Settings(interval: .milliseconds(100)),
                    held: HeldRequests.Settings = .standard, usesLease: Bool) {
            self.announcements = announcements
            self.conflicts = conflicts
            self.targets = targets
            self.held = held
            self.usesLease = usesLease
        }
    }

    public let mac: MACAddress
    public let settings: Settings
    private var scheduler: AnnouncementScheduler
    private var conflictGuard: ConflictGuard
    private var targetAnswers: TargetAnswers
    /// The witness the node asked this link to watch, if any.
    private var witness: TargetTracker
    private var held: HeldRequests
    public private(set) var assignment = LinkAssignment()
    private var leaseUntil: Duration?
    /// Lost the capture while under a lease: silent until the node machine decides again,
    /// since what this node owned while cut off came from a view where it was alone.
    private var silent = false
    public private(set) var capturing = true
    /// What the responder decides with: the addresses answered now, and what else it knows.
    public private(set) var context: ResponderContext
    /// What happened since the shell last took it (`takeTally`).
    public private(set) var tally = LinkTally()
    /// The node machine has said what this link serves (until then there is nothing to
    /// probe, and nothing to be ready for).
    private var assigned = false
    private var reportedReady = false
    /// Whether answers held when `update` last worked out what is answered.
    private var decidedUnderLease = false

    public init(mac: MACAddress, settings: Settings) {
        self.mac = mac
        self.settings = settings
        scheduler = AnnouncementScheduler(settings: settings.announcements)
        conflictGuard = ConflictGuard(settings: settings.conflicts)
        targetAnswers = TargetAnswers(settings: settings.targets)
        // Probed every 100 ms, unreachable after 3 misses, reachable at the first answer.
        witness = TargetTracker(settings: TargetTracker.Settings(interval: .milliseconds(100), misses: 3, rise: 1))
        held = HeldRequests(settings: settings.held)
        context = ResponderContext(mac: mac, answering: [])
    }

    // MARK: What it answers

    /// Every address whose frames this link must see: those it could serve (requests,
    /// and other hosts' claims) and the nodes and witness it watches.
    public var watched: Set<IPAddress> { context.guarded.union(context.neighbors) }

    /// The addresses withheld because another MAC answers them, with that MAC.
    public var conflicts: [IPAddress: MACAddress] { conflictGuard.conflicts }

    /// Adjacent mode: every watched node address, with what is known of it.
    public var nodes: [IPAddress: NodeReach] { targetAnswers.nodes }

    /// Adjacent mode: the nodes that stopped answering on this link.
    public var unreachableNodes: Set<String> { Self.unreachable(in: nodes) }

    /// The names of the nodes in `nodes` that stopped answering.
    public static func unreachable(in nodes: [IPAddress: NodeReach]) -> Set<String> {
        Set(nodes.values.filter { $0.state == .unreachable }.map(\.name))
    }

    /// Whether answers hold at `now`: under a live lease (with gossip), and not silenced
    /// after the capture was lost.
    public func holds(at now: Duration) -> Bool {
        !silent && (!settings.usesLease || leaseUntil.map { now < $0 } ?? false)
    }

    /// When the shell must call `onTick`. Not when the lease runs out: the lease is checked
    /// for every frame and every announcement, so a lapsed lease silences the link at once
    /// without a turn (which would wake an idle link at every renewal); the next turn for
    /// any reason then reports it.
    public var nextDeadline: Duration? {
        [scheduler.nextDeadline, conflictGuard.nextDeadline, targetAnswers.tracker.nextDeadline, witness.nextDeadline]
            .compactMap { $0 }.min()
    }

    /// The shell could not send a frame (counted with the link's other numbers).
    public mutating func countInjectFailure() { tally.injectFailures += 1 }

    /// Frames the kernel dropped before the shell read them (capture buffer full).
    public mutating func countKernelDrops(_ count: UInt64) { tally.kernelDrops += count }

    public mutating func takeTally() -> LinkTally {
        defer { tally = LinkTally() }
        return tally
    }

    // MARK: Inputs

    /// What the node machine says this link answers now.
    public mutating func onAssignment(_ new: LinkAssignment, now: Duration) -> [LinkAction] {
        var outputs: [LinkAction] = []
        let changes = targetAnswers.update(new.targets, now: now)
        let witnessChanges = witness.watch(new.witness.map { [$0] } ?? [], keep: [], now: now)
        assignment = new
        assigned = true
        silent = false
        conflictGuard.onServable(new.servable, now: now)
        context.guarded = new.servable
        context.ownedElsewhere = new.ownedElsewhere
        learnMACs()
        outputs += neighborEvents(changes) + witnessEvents(witnessChanges)
        return outputs + update(now: now)
    }

    /// Answers hold until `until` (with gossip; renewed on every turn of the gossip loop).
    public mutating func onLease(until: Duration, now: Duration) -> [LinkAction] {
        let before = holds(at: now)
        if leaseUntil.map({ until > $0 }) ?? true { leaseUntil = until }
        return holds(at: now) == before ? [] : update(now: now)
    }

    /// One captured frame.
    public mutating func onFrame(_ bytes: UnsafeRawBufferPointer, now: Duration) -> [LinkAction] {
        switch Responder.decide(bytes, context: context) {
        case .reply(let frame, let address):
            tally.requestsReceived[address, default: 0] += 1
            // The process may have been stopped since the lease was checked: check per reply.
            guard holds(at: now) else {
                tally.dropped[.leaseExpired, default: 0] += 1
                return update(now: now)
            }
            tally.responsesSent[address, default: 0] += 1
            return [.send(frame, .reply(address))]
        case .conflict(let address, let foreign):
            // Defended only while it is answered under a live lease (no turn ran at the lapse).
            let answered = context.answering.contains(address) && holds(at: now)
            let actions = conflictGuard.onClaim(address, by: foreign, announcing: answered, now: now)
            return update(now: now) + perform(actions, now: now)
        case .neighbor(let address, let from) where assignment.witness == address:
            // Two statements: in `witnessEvents(witness.onAnswer(…))` the method's `self` is
            // read before its argument runs, so it would judge the witness as it was before
            // this answer (the first answer was never reported).
            let changes = witness.onAnswer(address, mac: from, now: now)
            return witnessEvents(changes)
        case .neighbor(let address, let from):
            let changes = targetAnswers.onAnswer(address, mac: from, now: now)
            guard !changes.isEmpty else { return [] }
            learnMACs()
            return neighborEvents(changes) + update(now: now)
        case .held(let address):
            tally.dropped[.notOurs, default: 0] += 1
            held.hold(bytes, for: address, now: now)
            return []
        case .drop(let reason):
            tally.dropped[reason.kind, default: 0] += 1
            return []
        }
    }

    public mutating func onFrame(_ bytes: [UInt8], now: Duration) -> [LinkAction] {
        bytes.withUnsafeBytes { onFrame($0, now: now) }
    }

    /// Probes, announcements and judgements that are due.
    public mutating func onTick(now: Duration) -> [LinkAction] {
        var outputs: [LinkAction] = []
        var changes: [TargetTracker.Action] = []
        for action in targetAnswers.onTick(now: now) {
            guard case .probe(let address, let unicast) = action else {
                changes.append(action)
                continue
            }
            for frame in AddressProbe.frames(for: address, mac: mac, unicastTo: unicast) where capturing {
                tally.targetProbesSent += 1
                outputs.append(.send(frame, .targetProbe(address)))
            }
        }
        if !changes.isEmpty { learnMACs() }
        outputs += neighborEvents(changes)
        var witnessChanges: [TargetTracker.Action] = []
        for action in witness.onTick(now: now) {
            guard case .probe(let address, let unicast) = action else {
                witnessChanges.append(action)
                continue
            }
            for frame in AddressProbe.frames(for: address, mac: mac, unicastTo: unicast) where capturing {
                tally.targetProbesSent += 1
                outputs.append(.send(frame, .targetProbe(address)))
            }
        }
        outputs += witnessEvents(witnessChanges)
        let judged = conflictGuard.onTick(now: now)
        outputs += perform(judged, now: now)
        // What is answered changes with the targets, the conflict guard or the lease; most
        // turns change none of them and need not work it out again over every address.
        if !changes.isEmpty || !judged.isEmpty || holds(at: now) != decidedUnderLease { outputs += update(now: now) }
        for address in scheduler.onTick(now: now) where capturing && holds(at: now) {
            for frame in Announcement.frames(for: address, mac: mac, hardware: context.answerMACs[address]) {
                tally.gratuitousSent[address, default: 0] += 1
                outputs.append(.send(frame, .announcement(address)))
            }
        }
        if !reportedReady, assigned, !conflictGuard.isProbing {
            reportedReady = true
            outputs.append(.event(.ready))
        }
        return outputs
    }

    /// The capture failed (the interface went down or away).
    public mutating func onCaptureLost(now: Duration) -> [LinkAction] {
        guard capturing else { return [] }
        capturing = false
        if settings.usesLease { silent = true }
        return update(now: now)
    }

    /// The capture is open again: announce what is answered, at once.
    public mutating func onCaptureBack(now: Duration) -> [LinkAction] {
        guard !capturing else { return [] }
        capturing = true
        scheduler.onOwnershipChanged([], now: now)
        scheduler.onOwnershipChanged(context.answering, now: now)
        return update(now: now)
    }

    // MARK: Deciding

    /// Works out what is answered now; when it changed, says so, answers the requests held
    /// for addresses just taken, and restarts announcements.
    private mutating func update(now: Duration) -> [LinkAction] {
        let holds = holds(at: now)
        decidedUnderLease = holds
        let withheld = conflictGuard.withheld
        let targets = assignment.targets
        // Adjacent mode: an address is answered only with a reachable target's MAC.
        var answerMACs = targets.map { targetAnswers.answerMACs(for: assignment.answering, targets: $0) } ?? [:]
        let effective: Set<IPAddress> = holds && capturing
            ? assignment.answering.subtracting(withheld).filter { targets == nil || answerMACs[$0] != nil } : []
        answerMACs = answerMACs.filter { effective.contains($0.key) }
        guard effective != context.answering || answerMACs != context.answerMACs else { return [] }
        var outputs: [LinkAction] = []
        let started = effective.subtracting(context.answering).sorted()
        let stopped = context.answering.subtracting(effective).sorted().map { address in
            (address, reason(notServing: address, holds: holds, withheld: withheld))
        }
        if !started.isEmpty || !stopped.isEmpty { outputs.append(.event(.serving(started: started, stopped: stopped))) }
        // Served before with another node's MAC: announce the new one at once.
        let retargeted = targetAnswers.retargeted(answerMACs, servable: assignment.servable)
        for address in retargeted { tally.retargets[address, default: 0] += 1 }
        if effective.filter({ !$0.isIPv4 }) != context.answering.filter({ !$0.isIPv4 }) {
            outputs.append(.groups(Set(effective.compactMap { if case .v6(let address) = $0 { address.solicitedNodeMulticast } else { nil } })))
        }
        context.answering = effective
        context.answerMACs = answerMACs
        scheduler.onOwnershipChanged(effective, now: now)
        scheduler.restart(retargeted, now: now)
        // Taken over: answer whoever asked for these addresses a moment ago.
        for frame in held.take(for: Set(started), now: now) {
            if case .reply(let reply, let address) = Responder.decide(frame, context: context) {
                tally.requestsReceived[address, default: 0] += 1
                tally.responsesSent[address, default: 0] += 1
                outputs.append(.send(reply, .reply(address)))
            }
        }
        return outputs
    }

    /// The cluster's MACs, and in adjacent mode every target node's too: no claim from
    /// them is a conflict.
    private mutating func learnMACs() {
        context.neighbors = targetAnswers.tracker.watched.union(witness.watched)
        if let cluster = assignment.cluster { conflictGuard.onCluster(cluster.merging(targetAnswers.tracker.cluster)) }
    }

    /// Whether the watched witness answers, when that changed.
    private func witnessEvents(_ changes: [TargetTracker.Action]) -> [LinkAction] {
        changes.compactMap { change in
            guard case .changed(let address) = change, let state = witness.state(of: address), state != .resolving else { return nil }
            return .event(.witness(address, answers: state == .reachable))
        }
    }

    private func neighborEvents(_ changes: [TargetTracker.Action]) -> [LinkAction] {
        let changed = changes.compactMap { if case .changed(let address) = $0 { address } else { nil } }
        return changed.isEmpty ? [] : [.event(.neighbors(changed: changed, nodes: nodes))]
    }

    private mutating func perform(_ actions: [ConflictGuard.Action], now: Duration) -> [LinkAction] {
        var outputs: [LinkAction] = []
        for action in actions {
            switch action {
            case .probe(let address):
                for frame in AddressProbe.frames(for: address, mac: mac) where capturing {
                    tally.probesSent += 1
                    outputs.append(.send(frame, .probe(address)))
                }
            case .claimed(let address, _):
                tally.conflicts[address, default: 0] += 1
            case .report(let address, let foreign, let inUse):
                outputs.append(.event(.conflict(address, foreign, inUse: inUse)))
            case .yielded(let address, let foreign, let retryAt):
                outputs.append(.event(.yielded(address, foreign, retryIn: retryAt - now)))
            case .defend(let address):
                for frame in Announcement.frames(for: address, mac: mac, hardware: context.answerMACs[address]) where capturing {
                    tally.gratuitousSent[address, default: 0] += 1
                    outputs.append(.send(frame, .announcement(address)))
                }
            case .resolved(let address):
                outputs.append(.event(.resolved(address)))
            case .cleared(let address):
                outputs.append(.event(.cleared(address)))
            }
        }
        return outputs
    }

    /// Why an address the link served is no longer answered, for the journal.
    private func reason(notServing address: IPAddress, holds: Bool, withheld: Set<IPAddress>) -> String {
        if !capturing { return "the interface is down" }
        if silent { return "the interface came back; silent until ownership is decided again" }
        if !holds { return "ownership lease expired (no fresh view of the cluster)" }
        if !assignment.answering.contains(address) { return "no longer owned by this node" }
        if withheld.contains(address) { return "another host answers it" }
        return "its target node does not answer on the link"
    }
}

/// What a link's shell does for the machine.
public enum LinkAction: Equatable, Sendable {
    /// Inject this frame.
    case send([UInt8], LinkSend)
    /// Be a member of exactly these solicited-node multicast groups (those of the IPv6
    /// addresses answered): a NIC filters multicast, and the neighbor solicitations for
    /// them would never reach the capture otherwise.
    case groups(Set<IPv6Address>)
    case event(LinkEvent)
}

/// Why a frame is sent, for the message when sending fails.
public enum LinkSend: Equatable, Sendable {
    case reply(IPAddress)
    case announcement(IPAddress)
    case probe(IPAddress)
    case targetProbe(IPAddress)
}

/// What a link tells the rest of the daemon.
public enum LinkEvent: Equatable, Sendable {
    /// Every first probe is judged: the link is ready.
    case ready
    /// What the link answers changed: addresses it started announcing, and the ones it
    /// stopped announcing with the reason.
    case serving(started: [IPAddress], stopped: [(IPAddress, String)])
    /// A foreign MAC claims an address; `inUse`: we announce it (kept and defended).
    case conflict(IPAddress, MACAddress, inUse: Bool)
    /// A foreign MAC claimed an announced address again right after it was defended: given
    /// up (RFC 5227 §2.4(b)), probed again in `retryIn`.
    case yielded(IPAddress, MACAddress, retryIn: Duration)
    /// The witness the node asked about answers on the link, or stopped answering.
    case witness(IPAddress, answers: Bool)
    case resolved(IPAddress)
    /// The first probe of an address found nobody else answering it.
    case cleared(IPAddress)
    /// Adjacent mode: these watched node addresses changed state or MAC; `nodes` is every
    /// watched node as of this change (the shell reports the unreachable ones from it).
    case neighbors(changed: [IPAddress], nodes: [IPAddress: NodeReach])

    public static func == (lhs: LinkEvent, rhs: LinkEvent) -> Bool {
        switch (lhs, rhs) {
        case (.ready, .ready): true
        case let (.serving(a, b), .serving(c, d)): a == c && b.map(\.0) == d.map(\.0) && b.map(\.1) == d.map(\.1)
        case let (.conflict(a, b, c), .conflict(d, e, f)): a == d && b == e && c == f
        case let (.yielded(a, b, c), .yielded(d, e, f)): a == d && b == e && c == f
        case let (.witness(a, b), .witness(c, d)): a == c && b == d
        case let (.resolved(a), .resolved(b)), let (.cleared(a), .cleared(b)): a == b
        case let (.neighbors(a, b), .neighbors(c, d)): a == c && b == d
        default: false
        }
    }
}
