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
    private let pcap: PcapHandle
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
        var version = 0
        var stopping = false
        var tally = LinkTally()
    }

    enum LinkEvent: Sendable {
        case ready
        case conflict(IPAddress, MACAddress)
        case failure(String)
    }

    public init(interface: HostInterface, answering: Set<IPAddress>, readiness: Readiness, logger: Logger,
                settings: AnnouncementScheduler.Settings = .standard) throws(SystemError) {
        guard let mac = interface.mac else { throw SystemError("\(interface.name) has no Ethernet address", errno: 0) }
        self.interface = interface
        self.mac = mac
        pcap = try PcapHandle(interface: interface.name)
        shared = Mutex(Shared(answering: answering))
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        self.readiness = readiness
        self.settings = settings
        var logger = logger
        logger[metadataKey: "iface"] = "\(interface.name)"
        self.logger = logger
    }

    /// Replaces the addresses this link answers for; takes effect within one loop turn.
    public func setOwnership(answering: Set<IPAddress>, ownedElsewhere: Set<IPAddress>) {
        shared.withLock {
            $0.answering = answering
            $0.ownedElsewhere = ownedElsewhere
            $0.version += 1
        }
        wake.signal()
    }

    public var answering: Set<IPAddress> { shared.withLock { $0.answering } }

    public var counters: LinkCounters {
        var counters = shared.withLock { $0.tally }.counters
        counters.kernelDrops = UInt64(pcap.kernelDrops)
        return counters
    }

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
        let origin = ContinuousClock.now
        var scheduler = AnnouncementScheduler(settings: settings)
        var context = ResponderContext(interface: interface.name, mac: mac, answering: [])
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

        while true {
            let (version, answering, elsewhere, stopping) = shared.withLock {
                ($0.version, $0.answering, $0.ownedElsewhere, $0.stopping)
            }
            if stopping { return }
            let now = origin.duration(to: .now)
            if version != applied {
                applied = version
                context.answering = answering
                context.ownedElsewhere = elsewhere
                scheduler.onOwnershipChanged(answering, now: now)
                for message in multicast?.update(for: answering) ?? [] { eventSink.yield(.failure(message)) }
            }
            for address in scheduler.onTick(now: now) {
                for frame in Announcement.frames(for: address, mac: mac) {
                    if let error = pcap.inject(frame) {
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

            let timeout = scheduler.nextDeadline.map { deadline -> Int32 in
                let wait = deadline - origin.duration(to: .now)
                return wait <= .zero ? 0 : Int32(min(wait.milliseconds + 1, 60_000))
            } ?? 60_000
            var fds = [pollfd(fd: pcap.selectableFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && errno != EINTR {
                eventSink.yield(.failure("poll failed: \(System.errorString(errno))"))
                return
            }
            if fds[1].revents != 0 { wake.drain() }
            if fds[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                eventSink.yield(.failure("capture on \(interface.name) stopped (interface removed?)"))
                return
            }
            if fds[0].revents != 0 {
                do {
                    // Bounded, so a flood cannot starve announcements or a stop request.
                    for _ in 0..<16 where try pcap.dispatch(limit: 256, { handle($0, context: context, counters: &pending) }) == 256 {}
                } catch {
                    eventSink.yield(.failure("\(error)"))
                    return
                }
                publish(&pending)
            }
        }
    }

    private func handle(_ bytes: UnsafeRawBufferPointer, context: ResponderContext, counters: inout LinkTally) {
        switch Responder.decide(bytes, context: context) {
        case .reply(let frame, let address):
            counters.requestsReceived[address, default: 0] += 1
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
