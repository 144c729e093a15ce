import Glibc
import HeraldCore
import HeraldMembership
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the membership protocol over UDP. A thread of its own owns the socket and the pure
/// `MembershipMachine`: it waits in poll() for a datagram or the instance's next deadline,
/// opens and checks packets (`GossipSeal`, `ReplayGuard`), feeds the instance, and carries
/// out what it returns (seal and send packets). It tells the node loop what it learns —
/// the members when they change, every turn (the links' lease runs from it), a stall — and
/// takes from it the metadata to gossip; what the node answers is decided there, not here.
public final class GossipLoop: Service, Sendable {
    enum Event: Sendable {
        case memberChanged(Member)
        /// Rejected packets, at most one event every 10 s (a flood costs no wake-up of the
        /// logging task per packet): the latest, and how many others since the last event.
        case rejected(GossipAddress, WireError, suppressed: Int)
        case refuted(MemberRecord.Status)
        case unresolved([String])
        case alone([GossipAddress], Duration)
        /// The node machine or a link fell behind by this much (nil: caught up again).
        case unresponsive(Duration?)
        case normalPriority(SystemError)
    }

    /// What reports and metrics show of the protocol.
    struct Stats: Sendable {
        /// This node first, then every member it knows, alive or not.
        var members: [Member] = []
        var awareness = 0
        /// Times a member turned suspect in this node's view.
        var suspicions: UInt64 = 0
        var roundTrips = Histogram.roundTrips()
        /// Packets dropped, by reason (a fixed set: `WireError.reason`).
        /// Packets refused, by reason (`WireError.reason`, and `droppedByKernel`).
        var rejected: [String: UInt64] = [:]
        /// Members refused because the cap was reached.
        var refusedMembers: UInt64 = 0
    }

    let name: String
    let address: GossipAddress
    let settings: MembershipSettings
    let seeds: [HostPort]
    /// The addresses peers may send to (`ReplayGuard.destinations`).
    let destinations: Set<GossipAddress>
    /// Beats once per loop turn, for the systemd watchdog.
    let heartbeat = Heartbeat("gossip")
    private let sealBox: Mutex<GossipSeal>
    private let socket: UDPSocket
    private let loop = ThreadLoop("gossip")
    /// The metadata to gossip, as the node loop last published it.
    private let pending = Mutex<[UInt8]>([])
    private let statsBox = Mutex(Stats())
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let node: NodeInbox
    private let logger: Logger

    /// The node machine's lease (`NodeMachine.Settings.lease`), renewed by the turns this
    /// loop posts.
    private let lease: Duration
    /// The daemon's one clock origin (`Runtime.origin`).
    private let origin: ContinuousClock.Instant

    /// SCHED_FIFO priority of the gossip thread (0: normal scheduling).
    private let realtimePriority: Int32
    /// Renews the links' lease until the instant given (an idle, on-time turn).
    private let renewLease: @Sendable (ContinuousClock.Instant) -> Void
    /// How far behind the work gossip stands for is: the node machine's backlog of turns
    /// and the latest link loop. Past half a lease, this node stops acking probes.
    private let workBacklog: @Sendable () -> Duration

    init(name: String, address: GossipAddress, destinations: Set<GossipAddress>, seeds: [HostPort], seal: GossipSeal,
         settings: MembershipSettings, lease: Duration, origin: ContinuousClock.Instant, kernelFilter: Bool, realtimePriority: Int, meta: NodeMeta, node: NodeInbox,
         workBacklog: @escaping @Sendable () -> Duration, renewLease: @escaping @Sendable (ContinuousClock.Instant) -> Void,
         logger: Logger) throws(SystemError) {
        self.workBacklog = workBacklog
        self.renewLease = renewLease
        self.lease = lease
        self.origin = origin
        self.realtimePriority = Int32(realtimePriority)
        self.name = name
        self.address = address
        self.destinations = destinations
        self.seeds = seeds
        self.settings = settings
        self.node = node
        sealBox = Mutex(seal)
        socket = try UDPSocket(bind: address, filter: kernelFilter ? GossipSeal.socketFilter : nil)
        pending.withLock { $0 = meta.encode() }
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
        var logger = logger
        logger[metadataKey: "gossip"] = "\(address)"
        self.logger = logger
    }

    /// Set by `mergeNow`, taken by the gossip thread at its next turn.
    private let mergeRequested = Atomic<Bool>(false)

    /// Exchange full state with every known member at the next turn (after a cut-off).
    func mergeNow() {
        mergeRequested.store(true, ordering: .relaxed)
        loop.wake.signal()
    }

    /// What this node gossips about itself from now on (the node machine decides it).
    func updateMeta(_ meta: NodeMeta) {
        pending.withLock { $0 = meta.encode() }
        loop.wake.signal()
    }

    var stats: Stats { statsBox.withLock { $0 } }

    var seal: GossipSeal { sealBox.withLock { $0 } }

    /// New keys (a reloaded key file): used from the next packet on.
    func setSeal(_ seal: GossipSeal) { sealBox.withLock { $0 = seal } }

    public func run() async throws {
        logger.info("gossip listening", metadata: ["join": "\(seeds.map(\.description).joined(separator: ","))",
                                                   "encrypted": "\(seal.isEncrypted)", "wire_version": "\(seal.wireVersion)"])
        if !seal.isEncrypted {
            logger.warning("gossip is neither encrypted nor authenticated (insecure = true): anyone who can send UDP to port \(address.port) can move VIPs; use it in a lab only")
        }
        if seal.wireVersion < GossipSeal.currentVersion {
            logger.warning("gossip.wire_version = \(seal.wireVersion): speaking an older Herald's format\(seal.wireVersion == 1 ? ", without replay protection" : ", whose replay protection relies on the clock"); remove it once every host runs this version")
        }
        async let logged: Void = logEvents()
        // On shutdown the loop leaves the cluster (peers take over at once) and ends.
        await loop.run { [self] in gossipLoop() }
        eventSink.finish()
        await logged
        logger.info("left the cluster")
    }

    private func logEvents() async {
        // Member changes come from peers (and, with insecure = true, from anyone): bursts of
        // 30 lines, 30 a minute after that; enough for a real cluster's news, and a forged
        // flood of members ends in a count ("suppressed"), not thousands of lines.
        var changes = RateLimitedLog(burst: 30, interval: .seconds(60))
        for await event in events {
            switch event {
            case .memberChanged(let member):
                guard let suppressed = changes.admit(now: .now) else { break }
                let level: Logger.Level = member.status == .alive ? .info : .warning
                var metadata: Logger.Metadata = ["node": "\(member.name)", "incarnation": "\(member.incarnation)"]
                if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
                logger.log(level: level, "member \(member.status)", metadata: metadata)
            case .rejected(let from, let error, let suppressed):
                let more = suppressed == 0 ? "" : " (and \(suppressed) more rejected packets since the last report)"
                logger.warning("rejected gossip from \(from): \(error)\(more)", metadata: ["reason": "\(error.reason)"])
            case .refuted(let claimed):
                logger.warning("refuted: another member had this node as \(claimed)")
            case .unresponsive(let backlog?):
                logger.error("this node's own work is \(backlog) behind (its node machine or a link is starved): not acking gossip probes, so peers take its VIPs over")
            case .unresponsive(nil):
                logger.notice("this node's work is on time again: acking gossip probes")
            case .normalPriority(let error):
                logger.warning("gossip thread at normal priority: cannot use \(error); on a busy host probes may come late and peers may suspect this node (node.realtime_priority, herald.toml(5))")
            case .unresolved(let names):
                logger.warning("cannot resolve join peers yet: \(names.joined(separator: ", "))")
            case .alone(let peers, let duration):
                // Peers drop packets they cannot authenticate without answering, so
                // silence is all a node with the wrong key or cluster name gets.
                logger.warning("""
                    no answer from join peers \(peers.map(\.description).joined(separator: ", ")) for \(duration): \
                    check that heraldd runs there, that UDP \(address.port) is open, and that gossip.key \
                    and the cluster name match theirs (they log "rejected gossip from \(address)")
                    """)
            }
        }
    }

    /// The reason counted for datagrams the kernel dropped before heraldd saw them: not
    /// Herald gossip or too large (`GossipSeal.socketFilter`), or the receive buffer full.
    static let droppedByKernel = "gossip_dropped_by_kernel"

    // MARK: The gossip thread

    private func gossipLoop() {
        var scheduling = RealTimeScheduling(priority: realtimePriority, budget: Tuning.gossipRealTimeBudget)
        var rng = SystemRandomNumberGenerator()
        var instance = MembershipMachine(name: name, address: address, meta: pending.withLock { $0 }, settings: settings,
                                          now: .zero)
        var replays = ReplayGuard(destinations: destinations, settings: .init(capacity: settings.maxMembers * 2))
        var budget = SourceBudget()
        var rejections = RateLimitedLog(interval: .seconds(10))
        // This run: random, so nothing about it rests on the clock or a state file. Version
        // 2 peers (wire_version = 2, an upgrade) order runs by it: there, the clock.
        var run = seal.wireVersion == 2 ? Self.wallClockMicroseconds() : UInt64.random(in: 1...UInt64.max, using: &rng)
        var counter: UInt64 = 0
        // One byte more than any packet a node sends: a larger datagram shows as such
        // (MSG_TRUNC) without being copied whole.
        var buffer = [UInt8](repeating: 0, count: GossipSeal.maxPacket + 1)
        let resolver = SeedResolver(seeds: seeds) { [loop] in loop.wake.signal() }
        defer { resolver.stop() }
        var resolved: [GossipAddress] = []
        var resolvedVersion = 0
        /// When the last poll was due to return.
        var wakeBy: Duration?
        /// What the node machine last got: the members as elections see them (not their
        /// round trips, which change with every probe), and when the last turn went.
        var published: [MemberRecord]?
        var cadence = LeaseCadence(lease: lease)
        var nextReport = Duration.zero

        func send(_ messages: [GossipMessage], to destination: GossipAddress) {
            counter += 1
            // The nonce is the run and the counter's low 32 bits: a new run before they wrap.
            if counter >= 1 << 32 && seal.wireVersion >= 3 {
                run = UInt64.random(in: 1...UInt64.max, using: &rng)
                counter = 1
            }
            var nonce: [UInt8] = []
            if seal.wireVersion < 3 {
                nonce = (0..<GossipSeal.nonceLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            let stamp = GossipSeal.Stamp(sender: name, run: run, counter: counter, destination: destination)
            _ = socket.send(seal.seal(GossipPayload.encode(messages), stamp: stamp, nonce: nonce), to: destination)
        }

        func execute(_ actions: [MembershipAction]) {
            for action in actions {
                switch action {
                case .send(let messages, let destination):
                    send(messages, to: destination)
                case .changed(let member):
                    if member.status == .suspect { statsBox.withLock { $0.suspicions += 1 } }
                    eventSink.yield(.memberChanged(member))
                case .measured(_, let roundTrip):
                    statsBox.withLock { $0.roundTrips.observe(roundTrip.seconds) }
                case .alone(let seeds, let since):
                    eventSink.yield(.alone(seeds, since))
                case .refuted(let claimed):
                    // No hold-down for this: after a partition the isolated side says the
                    // healthy side is dead. Only what this node observes of itself counts.
                    eventSink.yield(.refuted(claimed))
                }
            }
        }

        while true {
            heartbeat.beat()
            let turnStart = ContinuousClock.now
            let now = origin.duration(to: turnStart)
            // Real time within its budget (a flood of datagrams cannot take the host's CPU).
            if let error = scheduling.update(wanted: true, now: now) { eventSink.yield(.normalPriority(error)) }
            let meta = pending.withLock { $0 }
            if loop.isStopping {
                execute(instance.onLeave())
                return
            }
            if meta != instance.meta { execute(instance.onMetaChanged(meta)) }
            if mergeRequested.exchange(false, ordering: .relaxed) { execute(instance.onMergeNow(now: now)) }
            let backlog = workBacklog()
            if cadence.isOnTime(backlog: backlog) != instance.responsive {
                instance.responsive.toggle()
                eventSink.yield(.unresponsive(instance.responsive ? nil : backlog))
            }
            let seedsNow = resolver.current
            if seedsNow.version != resolvedVersion {
                resolvedVersion = seedsNow.version
                if !seedsNow.unresolved.isEmpty { eventSink.yield(.unresolved(seedsNow.unresolved)) }
                if seedsNow.addresses != resolved {
                    resolved = seedsNow.addresses
                    execute(instance.onJoin(seeds: resolved, now: now))
                }
            }

            for _ in 0..<256 {
                guard let (count, from) = socket.receive(into: &buffer) else { break }
                do throws(WireError) {
                    // Cheap refusals first: no decryption for what no peer would send.
                    guard GossipSeal.acceptsLength(count) else { throw WireError.gossipPacketTooLarge }
                    guard budget.admit(from.ip, now: origin.duration(to: .now)) else { throw WireError.gossipRateLimited }
                    let opened = try seal.open(Array(buffer[..<count]))
                    let messages = try GossipPayload.decode(opened.payload)
                    guard let stamp = opened.stamp else {
                        execute(instance.onPacket(messages, from: from, now: now))
                        continue
                    }
                    let outcome = replays.onPacket(stamp, messages, from: from, now: now, using: &rng)
                    for reply in outcome.replies { send([reply.message], to: reply.to) }
                    for admitted in outcome.admitted { execute(instance.onPacket(admitted.messages, from: admitted.from, now: now)) }
                    if let refused = outcome.refused { throw refused }
                } catch {
                    statsBox.withLock { $0.rejected[error.reason, default: 0] += 1 }
                    // One line at most every 10 s, however many senders there are.
                    if let suppressed = rejections.admit(now: .now) { eventSink.yield(.rejected(from, error, suppressed: suppressed)) }
                }
            }
            if now >= instance.nextDeadline {
                execute(instance.onTick(now: now, using: &rng))
            }
            let members = instance.members.values.sorted { $0.name < $1.name }
            let facts = members.map(\.record)
            let viewChanged = facts != published
            if viewChanged {
                published = facts
                node.post(.view(members))
            }
            switch cadence.renewal(now: now, viewChanged: viewChanged, wakeBy: wakeBy) {
            case .post: node.post(.turn(turnStart, due: wakeBy.map { origin + $0 }))
            case .renew: renewLease(turnStart + lease)
            case .none: break
            }
            // What reports read: at once when the view changed, else once a second (round
            // trips, awareness, the kernel's drops).
            if viewChanged || now >= nextReport {
                nextReport = now + .seconds(1)
                let kernelDrops = UInt64(socket.kernelDrops)
                statsBox.withLock {
                    $0.members = [instance.selfMember] + members
                    $0.awareness = instance.awareness
                    $0.refusedMembers = instance.refusedMembers
                    $0.rejected[Self.droppedByKernel] = kernelDrops == 0 ? nil : kernelDrops
                }
            }

            let turnEnd = origin.duration(to: .now)
            if cadence.stalled(from: now, to: turnEnd) { node.post(.turn(origin + turnEnd, due: turnStart)) }
            let wait = min(instance.nextDeadline - turnEnd, cadence.longestSleep)
            let timeout = wait <= .zero ? 0 : Int32(wait.milliseconds + 1)
            wakeBy = origin.duration(to: .now) + .milliseconds(Int64(timeout))
            var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: loop.wake.fd, events: Int16(POLLIN), revents: 0)]
            heartbeat.willWait(milliseconds: timeout)
            _ = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { loop.wake.drain() }
        }
    }
}

extension GossipLoop {
    static func wallClockMicroseconds() -> UInt64 {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return UInt64(max(clock.tv_sec, 0)) * 1_000_000 + UInt64(max(clock.tv_nsec, 0)) / 1000
    }
}

extension MembershipSettings {
    public init(profile: GossipSettings.Profile) {
        switch profile {
        case .lan: self = .lan
        case .fast: self = .fast
        case .conservative: self = .conservative
        }
    }
}
