import Glibc
import HeraldCore
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Answers ARP and NDP on one interface. A dedicated thread owns the pcap handle: it waits
/// for frames or the next announcement deadline, runs the pure `Responder` on each frame
/// and injects the reply at once (one wake-up per request), and sends what the
/// `AnnouncementScheduler` says is due. Before it first serves an address it probes it
/// (`ConflictGuard`), and it withholds addresses another host uses. The async side only
/// changes the set of owned addresses, reads counters, and logs what the thread reports.
public final class LinkService: Service, Sendable {
    public let interface: HostInterface
    let mac: MACAddress
    /// Opened at start so a misconfigured interface fails the start; the link thread owns
    /// it from then on and reopens it after the interface went down and came back.
    private let initialPcap: Mutex<PcapHandle?>
    private let wake = WakeSignal()
    private let shared: Mutex<Shared>
    private let events: AsyncStream<LinkEvent>
    private let eventSink: AsyncStream<LinkEvent>.Continuation
    private let readiness: Readiness
    private let logger: Logger
    private let settings: AnnouncementScheduler.Settings
    private let conflictSettings: ConflictGuard.Settings
    private let targetSettings: TargetTracker.Settings
    /// Beats once per loop turn, for the systemd watchdog.
    let heartbeat: Heartbeat

    struct Shared {
        var answering: Set<IPAddress>
        var ownedElsewhere: Set<IPAddress> = []
        /// With gossip, ownership holds only while the gossip loop keeps renewing it: a
        /// daemon that was stopped (SIGSTOP, a stall) wakes up silent instead of answering
        /// from a stale view. `nil`: no lease (standalone VIPs).
        var leaseUntil: ContinuousClock.Instant?
        var version = 0
        /// Every address this link could serve (probed once when it first appears).
        var candidates: Set<IPAddress> = []
        /// MACs of the cluster's members; a claim from one of them is not a conflict.
        /// `nil` until known (gossip has not settled yet).
        var knownMACs: Set<MACAddress>?
        var stopping = false
        var tally = LinkTally()
        /// Published by the thread: addresses withheld because another host uses them,
        /// and what it answers for now (owned, probed, lease held).
        var conflicts: [IPAddress: MACAddress] = [:]
        var serving: Set<IPAddress> = []
        /// Adjacent mode: which node takes the traffic of each address this link could
        /// serve; `nil` in local mode.
        var targets: LinkTargets?
        /// Published by the thread (adjacent mode): the MAC each served address is
        /// answered with, and what the tracker knows of each watched node address.
        var answerMACs: [IPAddress: MACAddress] = [:]
        var nodes: [IPAddress: NodeReach] = [:]
    }

    enum LinkEvent: Sendable {
        case ready
        /// What the link answers for changed: addresses it started announcing, and the ones
        /// it stopped announcing with the reason.
        case serving(started: [IPAddress], stopped: [(IPAddress, String)])
        case cleared(IPAddress)
        case conflict(IPAddress, MACAddress, inUse: Bool)
        case resolved(IPAddress)
        /// Something failed; `vip` when it concerns one address (journal field HERALD_VIP).
        case failure(String, vip: IPAddress? = nil)
        case carrier(up: Bool, String)
        case neighbors([IPAddress: NodeReach], changed: [IPAddress])
    }

    /// Told when the interface goes down or comes back, so eligibility can follow it.
    private let onCarrier: @Sendable (String, Bool) -> Void
    /// Told the nodes that do not answer on this link whenever that may have changed
    /// (adjacent mode).
    private let onNeighbors: @Sendable (String, Set<String>) -> Void

    public init(interface: HostInterface, answering: Set<IPAddress>, readiness: Readiness, logger: Logger,
                settings: AnnouncementScheduler.Settings = .standard,
                conflictSettings: ConflictGuard.Settings = .standard,
                targetProbeInterval: Duration = .milliseconds(100),
                onCarrier: @escaping @Sendable (String, Bool) -> Void = { _, _ in },
                onNeighbors: @escaping @Sendable (String, Set<String>) -> Void = { _, _ in }) throws(SystemError) {
        guard let mac = interface.mac else { throw SystemError("\(interface.name) has no Ethernet address", errno: 0) }
        self.interface = interface
        self.mac = mac
        self.onCarrier = onCarrier
        self.onNeighbors = onNeighbors
        targetSettings = TargetTracker.Settings(interval: targetProbeInterval)
        initialPcap = Mutex(try PcapHandle(interface: interface.name))
        shared = Mutex(Shared(answering: answering))
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        self.readiness = readiness
        self.settings = settings
        self.conflictSettings = conflictSettings
        heartbeat = Heartbeat("link-\(interface.name)")
        var logger = logger
        logger[metadataKey: "iface"] = "\(interface.name)"
        self.logger = logger
    }

    /// Replaces the addresses this link answers for; takes effect within one loop turn.
    public func setOwnership(answering: Set<IPAddress>, ownedElsewhere: Set<IPAddress>,
                             leaseUntil: ContinuousClock.Instant? = nil) {
        shared.withLock {
            $0.answering = answering
            $0.ownedElsewhere = ownedElsewhere
            $0.leaseUntil = leaseUntil
            $0.version += 1
        }
        wake.signal()
    }

    /// Extends the current ownership's lease (never shortens it); wakes the thread only if
    /// it had lapsed.
    public func renewLease(until deadline: ContinuousClock.Instant) {
        let lapsed = shared.withLock { state -> Bool in
            let lapsed = state.leaseUntil.map { $0 <= .now } ?? false
            if let current = state.leaseUntil, current >= deadline { return false }
            state.leaseUntil = deadline
            return lapsed
        }
        if lapsed { wake.signal() }
    }

    /// Sets the addresses this link could ever serve and the cluster's MACs (`nil`: not
    /// known yet). New candidates are probed before they are served.
    public func setCandidates(_ candidates: Set<IPAddress>, knownMACs: Set<MACAddress>?) {
        let changed = shared.withLock { state -> Bool in
            guard state.candidates != candidates || state.knownMACs != knownMACs else { return false }
            state.candidates = candidates
            state.knownMACs = knownMACs
            state.version += 1
            return true
        }
        if changed { wake.signal() }
    }

    /// Adjacent mode: sets which node takes each address's traffic (`nil`: local mode).
    func setTargets(_ targets: LinkTargets?) {
        let changed = shared.withLock { state -> Bool in
            guard state.targets != targets else { return false }
            state.targets = targets
            state.version += 1
            return true
        }
        if changed { wake.signal() }
    }

    /// Adjacent mode: the MAC each served address is answered with.
    var answerMACs: [IPAddress: MACAddress] { shared.withLock { $0.answerMACs } }

    /// Adjacent mode: the node addresses this link watches, and what it knows of each.
    var nodes: [IPAddress: NodeReach] { shared.withLock { $0.nodes } }

    /// Adjacent mode: nodes that stopped answering on this link.
    var unreachableNodes: Set<String> { Set(nodes.values.filter { $0.state == .unreachable }.map(\.name)) }

    /// What this link was told it owns.
    public var answering: Set<IPAddress> { shared.withLock { $0.answering } }

    /// What it answers for now: owned, probed free, and (with gossip) under a live lease.
    public var serving: Set<IPAddress> { shared.withLock { $0.serving } }

    /// Addresses this link withholds because another MAC answers for them.
    public var conflicts: [IPAddress: MACAddress] { shared.withLock { $0.conflicts } }

    public var counters: LinkCounters { shared.withLock { $0.tally }.counters }

    public func run() async throws {
        // The thread signals once it is silent; it closes the capture after that, since
        // closing a packet socket waits for the kernel (an RCU grace period, tens of ms),
        // and the handover to peers (gossip leaves next) must not wait for that.
        let silent = Completion()
        let thread = DedicatedThread(name: "link-\(interface.name)") { [self] in
            let capture = captureLoop()
            silent.signal()
            _ = consume capture
        }
        thread.detach()
        logger.info("answering ARP/NDP", metadata: ["vips": "\(answering.sorted().map(\.description).joined(separator: ","))"])
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await event in events {
                    switch event {
                    case .ready:
                        await readiness.markReady(interface.name)
                    case .serving(let started, let stopped):
                        for address in started {
                            logger.notice("announcing VIP", metadata: ["vip": "\(address)"])
                        }
                        for (address, reason) in stopped {
                            logger.notice("stopped announcing VIP: \(reason)", metadata: ["vip": "\(address)"])
                        }
                    case .cleared(let address):
                        logger.info("probed VIP: nobody else answers it", metadata: ["vip": "\(address)"])
                    case .conflict(let address, let foreign, let inUse):
                        // The guard reports each address at most once per 10 s.
                        if inUse {
                            logger.warning("address conflict: another host claims a VIP we announce; defending it",
                                           metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
                        } else {
                            logger.error("address conflict: another host uses this VIP; not announcing it (probing again every \(conflictSettings.retryInterval))",
                                         metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
                        }
                    case .resolved(let address):
                        logger.notice("address conflict over: nobody else answers; announcing", metadata: ["vip": "\(address)"])
                    case .failure(let message, let vip):
                        logger.error("\(message)", metadata: vip.map { ["vip": "\($0)"] })
                    case .carrier(let up, let detail):
                        if up { logger.notice("interface is back; answering again") } else { logger.error("interface down: \(detail)") }
                        onCarrier(interface.name, up)
                    case .neighbors(let nodes, let changed):
                        for address in changed {
                            guard let node = nodes[address] else { continue }
                            let metadata: Logger.Metadata = ["node": "\(node.name)", "address": "\(address)",
                                                             "mac": "\(node.mac.map(\.description) ?? "-")"]
                            switch node.state {
                            case .reachable: logger.notice("target node answers on the link", metadata: metadata)
                            case .unreachable:
                                logger.warning("target node does not answer on the link; its traffic goes to another node", metadata: metadata)
                            case .resolving: break
                            }
                        }
                        onNeighbors(interface.name, Set(nodes.values.filter { $0.state == .unreachable }.map(\.name)))
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        await silent.wait()
        logger.info("stopped answering")
    }

    func stop() {
        shared.withLock { $0.stopping = true }
        wake.signal()
    }

    // MARK: The link thread

    /// Runs until stopped; returns the capture, still open, for the caller to close.
    private func captureLoop() -> PcapHandle? {
        var pcap = initialPcap.withLock { handle in
            defer { handle = nil }
            return handle
        }
        var droppedBefore: UInt32 = 0
        let origin = ContinuousClock.now
        var scheduler = AnnouncementScheduler(settings: settings)
        var conflictGuard = ConflictGuard(settings: conflictSettings)
        var targetAnswers = TargetAnswers(settings: targetSettings)
        var context = ResponderContext(mac: mac, answering: [])
        var held = HeldRequests()
        var claims: [(IPAddress, MACAddress)] = []
        var answers: [(IPAddress, MACAddress)] = []
        var applied = -1
        var pending = LinkTally()
        var reportedReady = false
        let multicast: MulticastMembership?
        do {
            multicast = try MulticastMembership(interfaceIndex: interface.index)
        } catch {
            multicast = nil
            eventSink.yield(.failure("IPv6 VIPs will only be answered in promiscuous setups: \(error)"))
        }
        defer { eventSink.finish() }

        var readable = false
        var leaseHeld = true
        /// After the interface was lost, with gossip: silent until ownership is decided anew,
        /// since what this node owned while cut off came from a view where it was alone.
        var silentUntilVersionAbove: Int?
        while true {
            // Read the shared state after every wake-up, before touching frames: frames that
            // queued while this process was stopped must meet the current lease, not the old one.
            heartbeat.beat()
            let (version, answering, elsewhere, lease, stopping, candidates, knownMACs, targets) = shared.withLock {
                ($0.version, $0.answering, $0.ownedElsewhere, $0.leaseUntil, $0.stopping, $0.candidates, $0.knownMACs, $0.targets)
            }
            if stopping { return pcap }
            let now = origin.duration(to: .now)
            // Adjacent mode: resolve and watch the target nodes; their MACs are the cluster's too.
            var neighborChanges: [TargetTracker.Action] = []
            if version != applied { neighborChanges += targetAnswers.update(targets, now: now) }
            for (address, from) in answers { neighborChanges += targetAnswers.onAnswer(address, mac: from, now: now) }
            answers.removeAll(keepingCapacity: true)
            for action in targetAnswers.onTick(now: now) {
                guard case .probe(let address, let unicast) = action else {
                    neighborChanges.append(action)
                    continue
                }
                for frame in AddressProbe.frames(for: address, mac: mac, unicastTo: unicast) {
                    if pcap?.inject(frame) == nil, pcap != nil { pending.targetProbesSent += 1 }
                }
            }
            if version != applied || !neighborChanges.isEmpty {
                conflictGuard.onCandidates(candidates, now: now)
                if let knownMACs { conflictGuard.onKnownMACs(knownMACs.union(targetAnswers.tracker.knownMACs)) }
                context.guarded = candidates
                context.neighbors = targetAnswers.tracker.watched
            }
            if !neighborChanges.isEmpty {
                let nodes = targetAnswers.nodes
                shared.withLock { $0.nodes = nodes }
                eventSink.yield(.neighbors(nodes, changed: neighborChanges.compactMap {
                    if case .changed(let address) = $0 { address } else { nil }
                }))
            }
            for (address, foreign) in claims {
                perform(conflictGuard.onClaim(address, by: foreign, announcing: context.answering.contains(address), now: now),
                        pcap: pcap, answerMACs: context.answerMACs, counters: &pending)
            }
            claims.removeAll(keepingCapacity: true)
            perform(conflictGuard.onTick(now: now), pcap: pcap, answerMACs: context.answerMACs, counters: &pending)
            if let silent = silentUntilVersionAbove, version > silent { silentUntilVersionAbove = nil }
            let holds = (lease.map { ContinuousClock.now < $0 } ?? true) && silentUntilVersionAbove == nil
            let withheld = conflictGuard.withheld
            // Adjacent mode: an address is answered only with a reachable target's MAC.
            var answerMACs = targets.map { targetAnswers.answerMACs(for: answering, targets: $0) } ?? [:]
            let effective = holds ? answering.subtracting(withheld).filter { targets == nil || answerMACs[$0] != nil } : Set()
            answerMACs = answerMACs.filter { effective.contains($0.key) }
            if version != applied || holds != leaseHeld || effective != context.answering || answerMACs != context.answerMACs {
                let started = effective.subtracting(context.answering).sorted()
                let stopped = context.answering.subtracting(effective).sorted().map { address in
                    (address, Self.reason(notServing: address, holds: holds, silent: silentUntilVersionAbove != nil,
                                          owned: answering, withheld: withheld))
                }
                if !started.isEmpty || !stopped.isEmpty { eventSink.yield(.serving(started: started, stopped: stopped)) }
                // Taken over: answer whoever asked for these addresses a moment ago.
                if !started.isEmpty, let handle = pcap {
                    var replyContext = context
                    replyContext.answering = effective
                    replyContext.answerMACs = answerMACs
                    for frame in held.take(for: Set(started), now: now) {
                        frame.withUnsafeBytes { bytes in
                            self.handle(bytes, pcap: handle, context: replyContext, lease: holds ? lease : nil, now: now,
                                        counters: &pending, claims: &claims, answers: &answers, held: &held)
                        }
                    }
                }
                applied = version
                leaseHeld = holds
                // Served before with another node's MAC: announce the new one at once.
                let retargeted = targetAnswers.retargeted(answerMACs, candidates: candidates)
                for address in retargeted { pending.retargets[address, default: 0] += 1 }
                context.answering = effective
                context.answerMACs = answerMACs
                context.ownedElsewhere = elsewhere
                scheduler.onOwnershipChanged(effective, now: now)
                scheduler.restart(retargeted, now: now)
                for message in multicast?.update(for: effective) ?? [] { eventSink.yield(.failure(message)) }
                let conflicts = conflictGuard.conflicts
                shared.withLock {
                    $0.conflicts = conflicts
                    $0.serving = effective
                    $0.answerMACs = answerMACs
                }
            }
            if pcap == nil, Self.isUp(interface.name) {
                // The interface is back: capture again, and announce what we own at once.
                pcap = try? PcapHandle(interface: interface.name)
                if pcap != nil {
                    droppedBefore = 0
                    scheduler.onOwnershipChanged([], now: now)
                    scheduler.onOwnershipChanged(context.answering, now: now)
                    eventSink.yield(.carrier(up: true, ""))
                }
            }
            let leaseDeadline = holds ? lease : nil
            if readable, let handle = pcap {
                do {
                    // Bounded, so a flood cannot starve announcements or a stop request.
                    for _ in 0..<16 where try handle.dispatch(limit: 256, {
                        self.handle($0, pcap: handle, context: context, lease: leaseDeadline, now: now, counters: &pending,
                                    claims: &claims, answers: &answers, held: &held)
                    }) == 256 {}
                } catch {
                    pcap = nil
                    if lease != nil { silentUntilVersionAbove = version }
                    eventSink.yield(.carrier(up: false, "\(error)"))
                }
            }
            if let handle = pcap {
                let dropped = handle.kernelDrops
                pending.kernelDrops += UInt64(dropped &- droppedBefore)
                droppedBefore = dropped
            }
            for address in scheduler.onTick(now: now) where pcap != nil && leaseDeadline.map({ ContinuousClock.now < $0 }) ?? true {
                for frame in Announcement.frames(for: address, mac: mac, hardware: context.answerMACs[address]) {
                    if let error = pcap?.inject(frame) {
                        pending.injectFailures += 1
                        eventSink.yield(.failure("sending gratuitous announcement for \(address) failed: \(error)", vip: address))
                    } else {
                        pending.gratuitousSent[address, default: 0] += 1
                    }
                }
            }
            if !reportedReady, !conflictGuard.isProbing {
                reportedReady = true
                eventSink.yield(.ready)
            }
            publish(&pending)

            var deadline = [scheduler.nextDeadline, conflictGuard.nextDeadline, targetAnswers.tracker.nextDeadline].compactMap { $0 }.min()
                .map { origin + $0 }
            if !claims.isEmpty || !answers.isEmpty { deadline = .now }
            if let lease, holds { deadline = min(deadline ?? lease, lease) }
            if pcap == nil { deadline = min(deadline ?? .now + .milliseconds(250), .now + .milliseconds(250)) }
            let timeout = deadline.map { deadline -> Int32 in
                let wait = ContinuousClock.now.duration(to: deadline)
                return wait <= .zero ? 0 : Int32(min(wait.milliseconds + 1, Int64(Heartbeat.maximumWait)))
            } ?? Heartbeat.maximumWait
            // Without a capture (interface down), poll only the wake-up pipe: fd -1 is ignored.
            var fds = [pollfd(fd: pcap?.selectableFD ?? -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { wake.drain() }
            if fds[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                pcap = nil
                if shared.withLock({ $0.leaseUntil }) != nil { silentUntilVersionAbove = shared.withLock { $0.version } }
                eventSink.yield(.carrier(up: false, "capture reported an error (interface down or removed)"))
            }
            readable = fds[0].revents & Int16(POLLIN) != 0
        }
    }

    /// Why an address the link served is no longer answered, for the journal.
    static func reason(notServing address: IPAddress, holds: Bool, silent: Bool, owned: Set<IPAddress>,
                       withheld: Set<IPAddress>) -> String {
        if silent { return "the interface came back; silent until ownership is decided again" }
        if !holds { return "ownership lease expired (no fresh view of the cluster)" }
        if !owned.contains(address) { return "no longer owned by this node" }
        if withheld.contains(address) { return "another host answers it" }
        return "its target node does not answer on the link"
    }

    /// Whether the interface is administratively up with carrier.
    static func isUp(_ name: String) -> Bool { InterfaceDiscovery.isRunning(name) }

    private func handle(_ bytes: UnsafeRawBufferPointer, pcap: PcapHandle, context: ResponderContext,
                        lease: ContinuousClock.Instant?, now: Duration, counters: inout LinkTally,
                        claims: inout [(IPAddress, MACAddress)], answers: inout [(IPAddress, MACAddress)],
                        held: inout HeldRequests) {
        switch Responder.decide(bytes, context: context) {
        case .reply(let frame, let address):
            counters.requestsReceived[address, default: 0] += 1
            // The thread may have been stopped since it read the lease: check it per reply.
            if let lease, ContinuousClock.now >= lease {
                counters.dropped[.leaseExpired, default: 0] += 1
                return
            }
            if let error = pcap.inject(frame) {
                counters.injectFailures += 1
                eventSink.yield(.failure("reply for \(address) failed: \(error)", vip: address))
            } else {
                counters.responsesSent[address, default: 0] += 1
            }
        case .conflict(let address, let foreign):
            // Judged by the guard after the batch: it knows which MACs are the cluster's.
            if claims.count < 1024 { claims.append((address, foreign)) }
        case .neighbor(let address, let from):
            // For the target tracker, after the batch.
            if answers.count < 1024 { answers.append((address, from)) }
        case .held(let address):
            counters.dropped[.notOurs, default: 0] += 1
            held.hold(bytes, for: address, now: now)
        case .drop(let reason):
            counters.dropped[reason.kind, default: 0] += 1
        }
    }

    /// Executes the conflict guard's decisions.
    private func perform(_ actions: [ConflictGuard.Action], pcap: PcapHandle?, answerMACs: [IPAddress: MACAddress],
                         counters: inout LinkTally) {
        for action in actions {
            switch action {
            case .probe(let address):
                for frame in AddressProbe.frames(for: address, mac: mac) {
                    if let error = pcap?.inject(frame) {
                        counters.injectFailures += 1
                        eventSink.yield(.failure("probing \(address) failed: \(error)", vip: address))
                    } else if pcap != nil {
                        counters.probesSent += 1
                    }
                }
            case .claimed(let address, _):
                counters.conflicts[address, default: 0] += 1
            case .report(let address, let foreign, let inUse):
                eventSink.yield(.conflict(address, foreign, inUse: inUse))
            case .defend(let address):
                for frame in Announcement.frames(for: address, mac: mac, hardware: answerMACs[address])
                where pcap?.inject(frame) == nil && pcap != nil {
                    counters.gratuitousSent[address, default: 0] += 1
                }
            case .resolved(let address):
                eventSink.yield(.resolved(address))
            case .cleared(let address):
                eventSink.yield(.cleared(address))
            }
        }
    }

    private func publish(_ pending: inout LinkTally) {
        guard !pending.isEmpty else { return }
        let delta = pending
        shared.withLock { $0.tally.merge(delta) }
        pending = LinkTally()
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
