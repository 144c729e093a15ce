import Glibc
import HeraldCore
import HeraldMembership
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the membership protocol over UDP. A dedicated thread owns the socket and the pure
/// `MembershipInstance`: it waits in poll() for a datagram or the instance's next deadline,
/// feeds the instance, and executes what it returns (seal and send packets, report view
/// changes). The same single-owner loop as the link threads; no event loop of its own.
public final class GossipService: Service, Sendable {
    public struct View: Sendable {
        /// This node first, then every member it knows, alive or not.
        public var members: [Member]
        public var awareness: Int
        public var holdingDown: Bool
    }

    enum Event: Sendable {
        case memberChanged(Member)
        case rejected(GossipAddress, WireError)
        case refuted(MemberRecord.Status)
        case stalled(Duration)
        case holdDown(Bool)
        case eligible
        case unresolved([String])
        case alone([GossipAddress], Duration)
    }

    let name: String
    let address: GossipAddress
    let settings: MembershipSettings
    private let sealBox: Mutex<GossipSeal>
    /// Beats once per loop turn, for the systemd watchdog.
    let heartbeat = Heartbeat("gossip")
    let seeds: [HostPort]
    /// This run's epoch (`GossipSeal.Stamp`): larger than any earlier run's.
    let epoch: UInt64
    /// How long a node that was declared dead, or stalled, stays ineligible.
    let holdDown: Duration
    private let socket: UDPSocket
    private let wake = WakeSignal()
    private let shared: Mutex<Shared>
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    /// Called after every turn with the view and the instant the turn began; ownership
    /// leases run from that instant, so a turn interrupted by SIGSTOP renews nothing.
    private let onView: @Sendable (View, _ changed: Bool, _ takenAt: ContinuousClock.Instant) -> Void
    private let logger: Logger

    /// The longest the loop may go without a turn (the ownership lease is the same).
    var stallLimit: Duration { settings.suspicionFloor }

    struct Shared {
        var stopping = false
        var leaving = false
        var holdDownRequested = false
        var readyToServe = false
        var baseMeta: NodeMeta
        var metaVersion = 0
        var view: View
        var rejected: [String: UInt64] = [:]
        var refreshRequested = false
        var stats = Stats()
    }

    public init(name: String, address: GossipAddress, seeds: [HostPort], seal: GossipSeal, epoch: UInt64,
                settings: MembershipSettings, meta: NodeMeta, holdDown: Duration, logger: Logger,
                onView: @escaping @Sendable (View, _ changed: Bool, _ takenAt: ContinuousClock.Instant) -> Void) throws(SystemError) {
        self.name = name
        self.address = address
        self.seeds = seeds
        self.epoch = epoch
        sealBox = Mutex(seal)
        self.settings = settings
        self.holdDown = holdDown
        self.onView = onView
        socket = try UDPSocket(bind: address)
        let me = Member(name: name, address: address, incarnation: 0, status: .alive, meta: meta.encode(), statusSince: .zero,
                        roundTrip: nil)
        shared = Mutex(Shared(baseMeta: meta, view: View(members: [me], awareness: 0, holdingDown: false)))
        (events, eventSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
        var logger = logger
        logger[metadataKey: "gossip"] = "\(address)"
        self.logger = logger
    }

    /// New eligibility (interfaces, health checks): gossiped with a higher incarnation.
    public func updateMeta(_ meta: NodeMeta) {
        shared.withLock {
            $0.baseMeta = meta
            $0.metaVersion += 1
        }
        wake.signal()
    }

    /// The node is ready to answer (its links have probed, it has joined): from now on it
    /// is eligible for VIPs. Until then it gossips `startingUp`, so no owner hands a VIP
    /// to it before it can answer.
    public func markReadyToServe() {
        shared.withLock { $0.readyToServe = true }
        wake.signal()
    }

    /// Hold down now: this node knows it was cut off (an interface came back).
    public func requestHoldDown() {
        shared.withLock { $0.holdDownRequested = true }
        wake.signal()
    }

    public var view: View { shared.withLock { $0.view } }

    /// What the metrics report about the protocol.
    struct Stats: Sendable {
        /// Times a member turned suspect in this node's view.
        var suspicions: UInt64 = 0
        var roundTrips = Histogram.roundTrips()
    }

    var stats: Stats { shared.withLock { $0.stats } }

    public var seal: GossipSeal { sealBox.withLock { $0 } }

    /// New keys (a reloaded key file): used from the next packet on.
    public func setSeal(_ seal: GossipSeal) { sealBox.withLock { $0 = seal } }

    /// Re-run the election on the next turn although the view did not change (the config did).
    public func requestRefresh() {
        shared.withLock { $0.refreshRequested = true }
        wake.signal()
    }

    /// Gossip packets dropped, by reason.
    public var rejected: [String: UInt64] { shared.withLock { $0.rejected } }

    public func run() async throws {
        let thread = DedicatedThread(name: "gossip") { [self] in loop() }
        logger.info("gossip listening", metadata: ["join": "\(seeds.map(\.description).joined(separator: ","))",
                                                   "encrypted": "\(seal.isEncrypted)", "wire_version": "\(seal.wireVersion)"])
        if !seal.isEncrypted {
            logger.warning("gossip is neither encrypted nor authenticated (insecure = true): anyone who can send UDP to port \(address.port) can move VIPs; use it in a lab only")
        }
        if seal.wireVersion == 1 {
            logger.warning("gossip.wire_version = 1: speaking the format of Herald 0.1, without replay protection; remove it once every host runs this version")
        }
        // About rejected packets: one line at most every 10 s, however many senders there are.
        var rejections = RateLimitedLog(interval: .seconds(10))
        // Member changes come from peers (and, with insecure = true, from anyone): bursts of
        // 30 lines, 30 a minute after that; enough for a real cluster's news, and a forged
        // flood of members ends in a count ("suppressed"), not thousands of lines.
        var changes = RateLimitedLog(burst: 30, interval: .seconds(60))
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await event in events {
                    switch event {
                    case .memberChanged(let member):
                        guard let suppressed = changes.admit(now: .now) else { break }
                        let level: Logger.Level = member.status == .alive ? .info : .warning
                        var metadata: Logger.Metadata = ["node": "\(member.name)", "incarnation": "\(member.incarnation)"]
                        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
                        logger.log(level: level, "member \(member.status)", metadata: metadata)
                    case .rejected(let from, let error):
                        if let suppressed = rejections.admit(now: .now) {
                            let more = suppressed == 0 ? "" : " (and \(suppressed) more rejected packets since the last report)"
                            logger.warning("rejected gossip from \(from): \(error)\(more)", metadata: ["reason": "\(error.reason)"])
                        }
                    case .refuted(let claimed):
                        logger.warning("refuted: another member had this node as \(claimed)")
                    case .stalled(let duration):
                        logger.warning("gossip loop stalled for \(duration) (stopped or starved); holding VIPs back until the view is fresh")
                    case .holdDown(let on):
                        logger.notice(on ? "holding down: not eligible for VIPs for \(holdDown)" : "hold-down over: eligible again")
                    case .eligible:
                        logger.info("ready to serve: eligible for VIPs")
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
            } onGracefulShutdown: {
                self.requestLeave()
            }
        } onCancel: {
            self.requestLeave()
        }
        thread.join()
        logger.info("left the cluster")
    }

    func requestLeave() {
        shared.withLock { $0.leaving = true }
        wake.signal()
    }

    // MARK: The gossip thread

    private func loop() {
        defer { eventSink.finish() }
        let origin = ContinuousClock.now
        var rng = SystemRandomNumberGenerator()
        var (baseMeta, appliedMeta) = shared.withLock { ($0.baseMeta, $0.metaVersion) }
        var holdingDownUntil: Duration?
        var startingUp = true
        func meta() -> [UInt8] {
            var meta = baseMeta
            meta.holdingDown = holdingDownUntil != nil
            meta.startingUp = startingUp
            return meta.encode()
        }
        var instance = MembershipInstance(name: name, address: address, meta: meta(), settings: settings, now: .zero)
        var replays = ReplayGuard(capacity: settings.maxMembers * 2)
        var counter: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        let resolver = SeedResolver(seeds: seeds) { [wake] in wake.signal() }
        defer { resolver.stop() }
        var resolved: [GossipAddress] = []
        var resolvedVersion = 0
        /// When the last poll was due to return; a turn much later than that means this
        /// process was stopped or starved (not merely idle: Lifeguard may stretch the wait).
        var wakeBy: Duration?
        var changed = true
        var nextAloneWarning = Duration.seconds(3)

        func execute(_ actions: [MembershipAction], now: Duration) {
            for action in actions {
                switch action {
                case .send(let messages, let destination):
                    var nonce = [UInt8](repeating: 0, count: GossipSeal.nonceLength)
                    for index in nonce.indices { nonce[index] = UInt8.random(in: 0...255, using: &rng) }
                    counter += 1
                    let stamp = GossipSeal.Stamp(sender: name, epoch: epoch, counter: counter)
                    _ = socket.send(seal.seal(GossipPayload.encode(messages), stamp: stamp, nonce: nonce), to: destination)
                case .changed(let member):
                    changed = true
                    if member.status == .suspect { shared.withLock { $0.stats.suspicions += 1 } }
                    eventSink.yield(.memberChanged(member))
                case .measured(_, let roundTrip):
                    shared.withLock { $0.stats.roundTrips.observe(roundTrip.seconds) }
                case .refuted(let claimed):
                    // No hold-down for this: after a partition the isolated side says the
                    // healthy side is dead. Only what this node observes of itself counts.
                    eventSink.yield(.refuted(claimed))
                }
            }
        }
        func startHoldDown(_ now: Duration) {
            if holdingDownUntil == nil { eventSink.yield(.holdDown(true)) }
            holdingDownUntil = now + holdDown
            execute(instance.onMetaChanged(meta(), now: now), now: now)
            changed = true
        }

        while true {
            heartbeat.beat()
            let turnStart = ContinuousClock.now
            let now = origin.duration(to: turnStart)
            let (stopping, leaving, newMeta, metaVersion, holdDownRequested, refresh, ready) = shared.withLock { state in
                defer {
                    state.holdDownRequested = false
                    state.refreshRequested = false
                }
                return (state.stopping, state.leaving, state.baseMeta, state.metaVersion, state.holdDownRequested,
                        state.refreshRequested, state.readyToServe)
            }
            if refresh { changed = true }
            if startingUp && ready {
                startingUp = false
                eventSink.yield(.eligible)
                execute(instance.onMetaChanged(meta(), now: now), now: now)
                changed = true
            }
            if holdDownRequested { startHoldDown(now) }
            if leaving {
                execute(instance.onLeave(now: now), now: now)
                publish(instance, holdingDown: holdingDownUntil != nil, changed: true, takenAt: turnStart)
                return
            }
            if stopping { return }
            // Woken far later than asked: we were stopped or starved, and others may have
            // declared us dead and moved our VIPs.
            if let wakeBy, now - wakeBy > stallLimit {
                eventSink.yield(.stalled(now - wakeBy))
                startHoldDown(now)
            }
            if let until = holdingDownUntil, now >= until {
                holdingDownUntil = nil
                eventSink.yield(.holdDown(false))
                execute(instance.onMetaChanged(meta(), now: now), now: now)
                changed = true
            }
            if metaVersion != appliedMeta {
                appliedMeta = metaVersion
                baseMeta = newMeta
                execute(instance.onMetaChanged(meta(), now: now), now: now)
                changed = true
            }
            let seedsNow = resolver.current
            if seedsNow.version != resolvedVersion {
                resolvedVersion = seedsNow.version
                if !seedsNow.unresolved.isEmpty { eventSink.yield(.unresolved(seedsNow.unresolved)) }
                if seedsNow.addresses != resolved {
                    resolved = seedsNow.addresses
                    execute(instance.onJoin(seeds: resolved, now: now), now: now)
                }
            }

            for _ in 0..<256 {
                guard let (count, from) = socket.receive(into: &buffer) else { break }
                do throws(WireError) {
                    let opened = try seal.open(Array(buffer[..<count]))
                    if let stamp = opened.stamp, !replays.admit(stamp) { throw WireError.gossipReplayed }
                    let messages = try GossipPayload.decode(opened.payload)
                    execute(instance.onPacket(messages, from: from, now: now, using: &rng), now: now)
                } catch {
                    shared.withLock { $0.rejected[error.reason, default: 0] += 1 }
                    eventSink.yield(.rejected(from, error))
                }
            }
            if now >= instance.nextDeadline {
                execute(instance.onTick(now: now, using: &rng), now: now)
            }
            if !resolved.isEmpty && now >= nextAloneWarning {
                if !instance.members.values.contains(where: \.isCandidate) { eventSink.yield(.alone(resolved, now)) }
                nextAloneWarning = now + .seconds(30)
            }
            publish(instance, holdingDown: holdingDownUntil != nil, changed: changed, takenAt: turnStart)
            changed = false

            // Wake at least three times per lease so ownership never lapses while idle.
            let deadline = min(instance.nextDeadline, holdingDownUntil ?? .seconds(Int64.max / 2))
            let wait = min(deadline - origin.duration(to: .now), stallLimit / 3, .milliseconds(Int64(Heartbeat.maximumWait)))
            let timeout = wait <= .zero ? 0 : Int32(wait.milliseconds + 1)
            wakeBy = origin.duration(to: .now) + .milliseconds(Int64(timeout))
            var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, timeout)
            if fds[1].revents != 0 { wake.drain() }
        }
    }

    private func publish(_ instance: MembershipInstance, holdingDown: Bool, changed: Bool, takenAt: ContinuousClock.Instant) {
        let view = View(members: [instance.selfMember] + instance.members.values.sorted { $0.name < $1.name },
                        awareness: instance.awareness, holdingDown: holdingDown)
        if changed { shared.withLock { $0.view = view } }
        onView(view, changed, takenAt)
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
