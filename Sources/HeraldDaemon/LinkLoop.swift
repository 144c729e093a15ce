import Glibc
import HeraldCore
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Answers ARP and NDP on one interface: the shell around a `LinkMachine`. A thread of its
/// own owns the pcap handle and the machine: it waits for frames, the machine's next
/// deadline or news (a new assignment or lease), hands every frame to the machine and
/// injects what it returns (one wake-up per request), and reopens the capture when the
/// interface comes back. It moves bytes and time; every decision is the machine's.
public final class LinkLoop: Service, Sendable {
    public let interface: HostInterface
    let mac: MACAddress
    /// Beats once per loop turn, for the systemd watchdog.
    let heartbeat: Heartbeat
    /// Opened at start so a misconfigured interface fails the start; the link thread owns
    /// it from then on and reopens it after the interface went down and came back.
    private let initialPcap: Mutex<PcapHandle?>
    private let loop: ThreadLoop
    private let settings: LinkMachine.Settings
    private let inbox = Mutex(Inbox())
    private let published = Mutex(Published())
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let node: NodeInbox
    /// The daemon's one clock origin (`Runtime.origin`).
    private let origin: ContinuousClock.Instant
    /// Narrow the capture's kernel filter to what the link watches (`tuning.kernel_filters`).
    private let kernelFilter: Bool
    private let logger: Logger

    /// What the node loop hands the link thread; read at every turn.
    private struct Inbox {
        var assignment: LinkAssignment?
        var assigned = false
        var leaseUntil: ContinuousClock.Instant?
    }

    /// What the link thread shows the rest of the daemon (reports, metrics).
    struct Published: Sendable {
        var serving: Set<IPAddress> = []
        var conflicts: [IPAddress: MACAddress] = [:]
        var answerMACs: [IPAddress: MACAddress] = [:]
        var nodes: [IPAddress: NodeReach] = [:]
        var tally = LinkTally()
    }

    private enum Event: Sendable {
        case link(LinkEvent)
        case carrier(up: Bool, String)
        case failure(String, vip: IPAddress?)
        case normalPriority(SystemError)
    }

    /// SCHED_FIFO priority of the capture thread (0: normal scheduling).
    private let realtimePriority: Int32

    init(interface: HostInterface, settings: LinkMachine.Settings, realtimePriority: Int,
         kernelFilter: Bool, node: NodeInbox, origin: ContinuousClock.Instant, logger: Logger) throws(SystemError) {
        self.origin = origin
        self.kernelFilter = kernelFilter
        self.realtimePriority = Int32(realtimePriority)
        guard let mac = interface.mac else { throw SystemError("\(interface.name) has no Ethernet address", errno: 0) }
        self.interface = interface
        self.mac = mac
        self.settings = settings
        self.node = node
        initialPcap = Mutex(try PcapHandle(interface: interface.name))
        loop = ThreadLoop("link-\(interface.name)")
        heartbeat = Heartbeat("link-\(interface.name)")
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
        var logger = logger
        logger[metadataKey: "iface"] = "\(interface.name)"
        self.logger = logger
    }

    /// What the node machine decided this link answers; applied within one turn.
    func assign(_ assignment: LinkAssignment) {
        let first = inbox.withLock { inbox in
            defer { inbox.assigned = true }
            inbox.assignment = assignment
            return !inbox.assigned
        }
        loop.wake.signal()
        if first {
            logger.info("answering ARP/NDP", metadata: ["vips": "\(assignment.servable.sorted().map(\.description).joined(separator: ","))"])
        }
    }

    /// Answers hold until `until` (with gossip); wakes the thread only when the lease had
    /// lapsed, since then something may be answered again.
    func renewLease(until: ContinuousClock.Instant) {
        let lapsed = inbox.withLock { inbox -> Bool in
            let lapsed = inbox.leaseUntil.map { $0 <= .now } ?? true
            if inbox.leaseUntil.map({ until > $0 }) ?? true { inbox.leaseUntil = until }
            return lapsed
        }
        if lapsed { loop.wake.signal() }
    }

    var state: Published { published.withLock { $0 } }

    public func run() async throws {
        async let handled: Void = handleEvents()
        // The thread says `finished` once it is silent, and closes the capture after that:
        // closing a packet socket waits for the kernel (an RCU grace period, tens of ms),
        // and the handover to peers (gossip leaves next) must not wait for it.
        await loop.run { [self] finished in
            let capture = captureLoop()
            eventSink.finish()
            finished()
            _ = consume capture
        }
        await handled
        logger.info("stopped answering")
    }

    func stop() { loop.stop() }

    private func handleEvents() async {
        for await event in events {
            switch event {
            case .link(.ready), .link(.witness):
                break
            case .link(.serving(let started, let stopped)):
                for address in started { logger.notice("announcing VIP", metadata: ["vip": "\(address)"]) }
                for (address, reason) in stopped {
                    logger.notice("stopped announcing VIP: \(reason)", metadata: ["vip": "\(address)"])
                }
            case .link(.conflict(let address, let foreign, let inUse)):
                // The guard reports each address at most once per 10 s.
                if inUse {
                    logger.warning("address conflict: another host claims a VIP we announce; defending it",
                                   metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
                } else {
                    logger.error("address conflict: another host uses this VIP; not announcing it (probing again every \(settings.conflicts.retryInterval))",
                                 metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
                }
            case .link(.yielded(let address, let foreign, let retryIn)):
                logger.error("address conflict: another host claims this VIP again right after it was defended; giving it up (RFC 5227), probing again in \(retryIn)",
                             metadata: ["vip": "\(address)", "foreign_mac": "\(foreign)"])
            case .link(.resolved(let address)):
                logger.notice("address conflict over: nobody else answers; announcing", metadata: ["vip": "\(address)"])
            case .link(.cleared(let address)):
                logger.info("probed VIP: nobody else answers it", metadata: ["vip": "\(address)"])
            case .link(.neighbors(let changed, let nodes)):
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
            case .carrier(let up, let detail):
                if up {
                    logger.notice("interface is back: \(detail); answering nothing until this node has merged with the cluster again")
                } else {
                    logger.error("interface down: \(detail); answering nothing on it")
                }
            case .failure(let message, let vip):
                logger.error("\(message)", metadata: vip.map { ["vip": "\($0)"] })
            case .normalPriority(let error):
                logger.warning("capture thread at normal priority: cannot use \(error); on a busy host answers may come late (node.realtime_priority, herald.toml(5))")
            }
        }
    }

    // MARK: The link thread

    /// Runs until stopped; returns the capture, still open, for the caller to close.
    private func captureLoop() -> PcapHandle? {
        var urgency = CaptureUrgency()
        var scheduling = RealTimeScheduling(priority: realtimePriority, budget: Tuning.captureRealTimeBudget)
        var pcap = initialPcap.withLock { handle in
            defer { handle = nil }
            return handle
        }
        var machine = LinkMachine(mac: mac, settings: settings)
        var droppedBefore: UInt32 = 0
        var sendFailures = RateLimitedLog(burst: 5, interval: .seconds(10))
        let multicast: MulticastMembership?
        do {
            multicast = try MulticastMembership(interfaceIndex: interface.index)
        } catch {
            multicast = nil
            eventSink.yield(.failure("IPv6 VIPs will only be answered in promiscuous setups: \(error)", vip: nil))
        }
        let carrierWatch: CarrierWatch?
        do {
            carrierWatch = try CarrierWatch(interfaceIndex: interface.index)
        } catch {
            carrierWatch = nil
            eventSink.yield(.failure("cannot watch the interface's carrier (\(error)): a lost carrier is noticed only when the capture fails", vip: nil))
        }
        var carrier = carrierWatch?.current(name: interface.name) ?? true

        func perform(_ outputs: [LinkAction]) {
            for output in outputs {
                switch output {
                case .send(let frame, let why):
                    guard let handle = pcap, let error = handle.inject(frame) else { continue }
                    machine.countInjectFailure()
                    if sendFailures.admit(now: .now) != nil { eventSink.yield(.failure("\(why) failed: \(error)", vip: why.address)) }
                case .groups(let groups):
                    for message in multicast?.update(groups) ?? [] { eventSink.yield(.failure(message, vip: nil)) }
                case .event(let event):
                    // Facts for the node machine go to its inbox, which never drops one; the
                    // journal's stream may, under a burst.
                    if let fact = Self.nodeFact(event, interface: interface.name) { node.post(fact) }
                    eventSink.yield(.link(event))
                }
            }
        }
        func reportCarrier(up: Bool, _ detail: String) {
            node.post(.carrier(interface.name, up: up))
            eventSink.yield(.carrier(up: up, detail))
        }

        if !carrier {
            reportCarrier(up: false, "no carrier")
            perform(machine.onCaptureLost(now: origin.duration(to: .now)))
        }
        // The kernel filter follows what the link watches (a flood for other addresses then
        // never wakes this thread).
        var filtered: Set<IPAddress>?
        func refilter() {
            let watched = machine.watched
            guard kernelFilter, let handle = pcap, watched != filtered else { return }
            if let error = handle.setFilter(CaptureFilter.program(watching: watched)) {
                eventSink.yield(.failure("cannot narrow the capture filter: \(error)", vip: nil))
            }
            filtered = watched
        }
        var readable = false
        var carrierNews = false
        while true {
            // Read the inbox after every wake-up, before touching frames: frames that queued
            // while this process was stopped must meet the current lease, not the old one.
            heartbeat.beat()
            if loop.isStopping { return pcap }
            let (assignment, lease) = inbox.withLock { inbox in
                defer { inbox.assignment = nil }
                return (inbox.assignment, inbox.leaseUntil)
            }
            var now = origin.duration(to: .now)
            if let assignment { perform(machine.onAssignment(assignment, now: now)) }
            if let lease { perform(machine.onLease(until: origin.duration(to: lease), now: now)) }
            if carrierNews, let watch = carrierWatch, let reported = watch.drain(), reported != carrier {
                // Lost: silent at once. Back: capturing again, but silent until the node
                // machine, told of it, decides again (it holds down and merges first).
                carrier = reported
                reportCarrier(up: carrier, carrier ? "carrier back" : "carrier lost")
                perform(carrier ? machine.onCaptureBack(now: origin.duration(to: .now)) : machine.onCaptureLost(now: origin.duration(to: .now)))
            }
            if pcap == nil, carrier, InterfaceDiscovery.isRunning(interface.name), let handle = try? PcapHandle(interface: interface.name) {
                // The interface is back: capture again, and announce what we own at once.
                pcap = handle
                filtered = nil
                droppedBefore = 0
                reportCarrier(up: true, "")
                perform(machine.onCaptureBack(now: now))
            }
            var handled = 0
            if readable, let handle = pcap {
                do {
                    // Bounded, so a flood cannot starve announcements or a stop request.
                    for _ in 0..<16 {
                        let count = try handle.dispatch(limit: 256, { bytes in
                            // Per frame: the process may have been stopped between two of them.
                            perform(machine.onFrame(bytes, now: origin.duration(to: .now)))
                        })
                        handled += count
                        if count < 256 { break }
                    }
                } catch {
                    pcap = nil
                    reportCarrier(up: false, "\(error)")
                    perform(machine.onCaptureLost(now: now))
                }
            }
            var newDrops: UInt64 = 0
            if let handle = pcap {
                let dropped = handle.kernelDrops
                newDrops = UInt64(dropped &- droppedBefore)
                machine.countKernelDrops(newDrops)
                droppedBefore = dropped
            }
            urgency.after(frames: handled, drops: newDrops, now: now)
            if let error = scheduling.update(wanted: urgency.realtime, now: now) { eventSink.yield(.normalPriority(error)) }
            now = origin.duration(to: .now)
            perform(machine.onTick(now: now))
            refilter()
            publish(&machine)

            var deadline = machine.nextDeadline.map { origin + $0 }
            if pcap == nil { deadline = min(deadline ?? .now + .milliseconds(250), .now + .milliseconds(250)) }
            // Until the machine's next deadline, a frame or news; no deadline, no wake-up.
            let timeout = deadline.map { deadline -> Int32 in
                let wait = ContinuousClock.now.duration(to: deadline)
                return wait <= .zero ? 0 : Int32(clamping: wait.milliseconds + 1)
            } ?? -1
            // Without a capture (interface down), poll only the wake-up pipe: fd -1 is ignored.
            var fds = [pollfd(fd: pcap?.selectableFD ?? -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: loop.wake.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: carrierWatch?.fd ?? -1, events: Int16(POLLIN), revents: 0)]
            heartbeat.willWait(milliseconds: timeout)
            _ = poll(&fds, 3, timeout)
            heartbeat.beat()   // awake: what follows must come round within the limit
            if fds[1].revents != 0 { loop.wake.drain() }
            carrierNews = fds[2].revents != 0
            if fds[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                pcap = nil
                reportCarrier(up: false, "capture reported an error (interface down or removed)")
                perform(machine.onCaptureLost(now: origin.duration(to: .now)))
            }
            readable = fds[0].revents & Int16(POLLIN) != 0
        }
    }

    /// What of a link's event the node machine needs to know.
    static func nodeFact(_ event: LinkEvent, interface: String) -> NodeInbox.Event? {
        switch event {
        case .ready: .linkReady(interface)
        case .conflict(let address, let foreign, _), .yielded(let address, let foreign, _): .conflict(address, foreign)
        case .witness(let address, let answers): .witness(address, answers: answers)
        case .neighbors(_, let nodes): .unreachable(interface, LinkMachine.unreachable(in: nodes))
        case .serving, .resolved, .cleared: nil
        }
    }

    private func publish(_ machine: inout LinkMachine) {
        let tally = machine.takeTally()
        let snapshot = (machine.context.answering, machine.conflicts, machine.context.answerMACs)
        let nodes = machine.nodes
        published.withLock { published in
            if !tally.isEmpty { published.tally.merge(tally) }
            (published.serving, published.conflicts, published.answerMACs) = snapshot
            published.nodes = nodes
        }
    }
}

extension LinkSend: CustomStringConvertible {
    public var description: String {
        switch self {
        case .reply(let address): "reply for \(address)"
        case .announcement(let address): "announcement of \(address)"
        case .probe(let address): "probe of \(address)"
        case .targetProbe(let address): "probe of node \(address)"
        }
    }

    var address: IPAddress? {
        switch self {
        case .reply(let address), .announcement(let address), .probe(let address): address
        case .targetProbe: nil
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
