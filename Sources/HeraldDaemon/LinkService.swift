import Glibc
import HeraldCore
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Answers ARP and NDP on one interface. A dedicated thread owns the pcap handle: it waits
/// for frames or the next announcement deadline, runs the pure `Responder` on each frame
/// and injects the reply at once (one wake-up per request), and sends what the
/// `AnnouncementScheduler` says is due. The async side only changes the set of owned
/// addresses, reads counters, and logs what the thread reports.
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

    struct Shared {
        var answering: Set<IPAddress>
        var ownedElsewhere: Set<IPAddress> = []
        /// With gossip, ownership holds only while the gossip loop keeps renewing it: a
        /// daemon that was stopped (SIGSTOP, a stall) wakes up silent instead of answering
        /// from a stale view. `nil`: no lease (standalone VIPs).
        var leaseUntil: ContinuousClock.Instant?
        var version = 0
        var stopping = false
        var tally = LinkTally()
    }

    enum LinkEvent: Sendable {
        case ready
        case conflict(IPAddress, MACAddress)
        case failure(String)
        case carrier(up: Bool, String)
    }

    /// Told when the interface goes down or comes back, so eligibility can follow it.
    private let onCarrier: @Sendable (String, Bool) -> Void

    public init(interface: HostInterface, answering: Set<IPAddress>, readiness: Readiness, logger: Logger,
                settings: AnnouncementScheduler.Settings = .standard,
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

    public var answering: Set<IPAddress> { shared.withLock { $0.answering } }

    public var counters: LinkCounters { shared.withLock { $0.tally }.counters }

    public func run() async throws {
        let thread = DedicatedThread(name: "link-\(interface.name)") { [self] in captureLoop() }
        logger.info("answering ARP/NDP", metadata: ["vips": "\(answering.sorted().map(\.description).joined(separator: ","))"])
        var lastConflictLog: [IPAddress: ContinuousClock.Instant] = [:]
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await event in events {
                    switch event {
                    case .ready:
                        await readiness.markReady(interface.name)
                    case .conflict(let address, let foreign):
                        // One line per address per 10 s: a flapping neighbour must not flood the journal.
                        let now = ContinuousClock.now
                        if lastConflictLog[address].map({ now - $0 > .seconds(10) }) ?? true {
                            lastConflictLog[address] = now
                            logger.warning("another host claims a VIP we answer for",
                                           metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
                        }
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
        var context = ResponderContext(mac: mac, answering: [])
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
            let (version, answering, elsewhere, lease, stopping) = shared.withLock {
                ($0.version, $0.answering, $0.ownedElsewhere, $0.leaseUntil, $0.stopping)
            }
            if stopping { return }
            let now = origin.duration(to: .now)
            if let silent = silentUntilVersionAbove, version > silent { silentUntilVersionAbove = nil }
            let holds = (lease.map { ContinuousClock.now < $0 } ?? true) && silentUntilVersionAbove == nil
            if version != applied || holds != leaseHeld {
                applied = version
                leaseHeld = holds
                let effective = holds ? answering : []
                context.answering = effective
                context.ownedElsewhere = elsewhere
                scheduler.onOwnershipChanged(effective, now: now)
                for message in multicast?.update(for: effective) ?? [] { eventSink.yield(.failure(message)) }
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
                        self.handle($0, pcap: handle, context: context, lease: leaseDeadline, counters: &pending)
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
            if !reportedReady {
                reportedReady = true
                eventSink.yield(.ready)
            }
            publish(&pending)

            var deadline = scheduler.nextDeadline.map { origin + $0 }
            if let lease, holds { deadline = min(deadline ?? lease, lease) }
            if pcap == nil { deadline = min(deadline ?? .now + .milliseconds(250), .now + .milliseconds(250)) }
            let timeout = deadline.map { deadline -> Int32 in
                let wait = ContinuousClock.now.duration(to: deadline)
                return wait <= .zero ? 0 : Int32(min(wait.milliseconds + 1, 60_000))
            } ?? 60_000
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
                        lease: ContinuousClock.Instant?, counters: inout LinkTally) {
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
            counters.conflicts[address, default: 0] += 1
            eventSink.yield(.conflict(address, foreign))
        case .drop(let reason):
            counters.dropped[reason, default: 0] += 1
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
