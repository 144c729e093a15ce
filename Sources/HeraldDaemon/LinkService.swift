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
    }

    enum LinkEvent: Sendable {
        case ready
        case conflict(IPAddress, MACAddress, inUse: Bool)
        case resolved(IPAddress)
        case failure(String)
        case carrier(up: Bool, String)
    }

    /// Told when the interface goes down or comes back, so eligibility can follow it.
    private let onCarrier: @Sendable (String, Bool) -> Void

    public init(interface: HostInterface, answering: Set<IPAddress>, readiness: Readiness, logger: Logger,
                settings: AnnouncementScheduler.Settings = .standard,
                conflictSettings: ConflictGuard.Settings = .standard,
                onCarrier: @escaping @Sendable (String, Bool) -> Void = { _, _ in }) throws(SystemError) {
        guard let mac = interface.mac else { throw SystemError("\(interface.name) has no Ethernet address", errno: 0) }
        self.interface = interface
        self.mac = mac
        self.onCarrier = onCarrier
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

    /// What this link was told it owns.
    public var answering: Set<IPAddress> { shared.withLock { $0.answering } }

    /// What it answers for now: owned, probed free, and (with gossip) under a live lease.
    public var serving: Set<IPAddress> { shared.withLock { $0.serving } }

    /// Addresses this link withholds because another MAC answers for them.
    public var conflicts: [IPAddress: MACAddress] { shared.withLock { $0.conflicts } }

    public var counters: LinkCounters { shared.withLock { $0.tally }.counters }

    public func run() async throws {
        let thread = DedicatedThread(name: "link-\(interface.name)") { [self] in captureLoop() }
        logger.info("answering ARP/NDP", metadata: ["vips": "\(answering.sorted().map(\.description).joined(separator: ","))"])
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await event in events {
                    switch event {
                    case .ready:
                        await readiness.markReady(interface.name)
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
                    case .failure(let message):
                        logger.error("\(message)")
                    case .carrier(let up, let detail):
                        if up { logger.notice("interface is back; answering again") } else { logger.error("interface down: \(detail)") }
                        onCarrier(interface.name, up)
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        thread.join()
        logger.info("stopped answering")
    }

    func stop() {
        shared.withLock { $0.stopping = true }
        wake.signal()
    }

    // MARK: The link thread

    private func captureLoop() {
        var pcap = initialPcap.withLock { handle in
            defer { handle = nil }
            return handle
        }
        var droppedBefore: UInt32 = 0
        let origin = ContinuousClock.now
        var scheduler = AnnouncementScheduler(settings: settings)
        var conflictGuard = ConflictGuard(settings: conflictSettings)
        var context = ResponderContext(mac: mac, answering: [])
        var claims: [(IPAddress, MACAddress)] = []
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
            let (version, answering, elsewhere, lease, stopping, candidates, knownMACs) = shared.withLock {
                ($0.version, $0.answering, $0.ownedElsewhere, $0.leaseUntil, $0.stopping, $0.candidates, $0.knownMACs)
            }
            if stopping { return }
            let now = origin.duration(to: .now)
            if version != applied {
                conflictGuard.onCandidates(candidates, now: now)
                if let knownMACs { conflictGuard.onKnownMACs(knownMACs) }
                context.guarded = candidates
            }
            for (address, foreign) in claims {
                perform(conflictGuard.onClaim(address, by: foreign, announcing: context.answering.contains(address), now: now),
                        pcap: pcap, counters: &pending)
            }
            claims.removeAll(keepingCapacity: true)
            perform(conflictGuard.onTick(now: now), pcap: pcap, counters: &pending)
            if let silent = silentUntilVersionAbove, version > silent { silentUntilVersionAbove = nil }
            let holds = (lease.map { ContinuousClock.now < $0 } ?? true) && silentUntilVersionAbove == nil
            let withheld = conflictGuard.withheld
            let effective = holds ? answering.subtracting(withheld) : []
            if version != applied || holds != leaseHeld || effective != context.answering {
                applied = version
                leaseHeld = holds
                context.answering = effective
                context.ownedElsewhere = elsewhere
                scheduler.onOwnershipChanged(effective, now: now)
                for message in multicast?.update(for: effective) ?? [] { eventSink.yield(.failure(message)) }
                let conflicts = conflictGuard.conflicts
                shared.withLock {
                    $0.conflicts = conflicts
                    $0.serving = effective
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
                        self.handle($0, pcap: handle, context: context, lease: leaseDeadline, counters: &pending, claims: &claims)
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
                for frame in Announcement.frames(for: address, mac: mac) {
                    if let error = pcap?.inject(frame) {
                        pending.injectFailures += 1
                        eventSink.yield(.failure("sending gratuitous announcement for \(address) failed: \(error)"))
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

            var deadline = [scheduler.nextDeadline, conflictGuard.nextDeadline].compactMap { $0 }.min().map { origin + $0 }
            if !claims.isEmpty { deadline = .now }
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

    /// Whether the interface is administratively up with carrier (`/sys/class/net/X/operstate`).
    static func isUp(_ name: String) -> Bool {
        guard let state = try? System.readFile("/sys/class/net/\(name)/operstate") else { return false }
        return ["up", "unknown"].contains(state.trimmingWhitespace)
    }

    private func handle(_ bytes: UnsafeRawBufferPointer, pcap: PcapHandle, context: ResponderContext,
                        lease: ContinuousClock.Instant?, counters: inout LinkTally, claims: inout [(IPAddress, MACAddress)]) {
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
                eventSink.yield(.failure("reply for \(address) failed: \(error)"))
            } else {
                counters.responsesSent[address, default: 0] += 1
            }
        case .conflict(let address, let foreign):
            // Judged by the guard after the batch: it knows which MACs are the cluster's.
            if claims.count < 1024 { claims.append((address, foreign)) }
        case .drop(let reason):
            counters.dropped[reason, default: 0] += 1
        }
    }

    /// Executes the conflict guard's decisions.
    private func perform(_ actions: [ConflictGuard.Action], pcap: PcapHandle?, counters: inout LinkTally) {
        for action in actions {
            switch action {
            case .probe(let address):
                for frame in AddressProbe.frames(for: address, mac: mac) {
                    if let error = pcap?.inject(frame) {
                        counters.injectFailures += 1
                        eventSink.yield(.failure("probing \(address) failed: \(error)"))
                    } else if pcap != nil {
                        counters.probesSent += 1
                    }
                }
            case .claimed(let address, _):
                counters.conflicts[address, default: 0] += 1
            case .report(let address, let foreign, let inUse):
                eventSink.yield(.conflict(address, foreign, inUse: inUse))
            case .defend(let address):
                for frame in Announcement.frames(for: address, mac: mac) where pcap?.inject(frame) == nil && pcap != nil {
                    counters.gratuitousSent[address, default: 0] += 1
                }
            case .resolved(let address):
                eventSink.yield(.resolved(address))
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
