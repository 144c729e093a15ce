import HeraldCore
import HeraldMembership
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// What producers tell the node: posted from any thread (the gossip loop, the Kubernetes
/// watchers, health-check runners, links, reload), handled in order by `NodeLoop`.
/// Producers send facts, never decisions.
final class NodeInbox: Sendable {
    enum Event: Sendable {
        /// Gossip: the other members, when they changed.
        case view([Member])
        /// Gossip: the loop turned at this instant (the links' lease runs from it), having
        /// asked to wake by `due`.
        case turn(ContinuousClock.Instant, due: ContinuousClock.Instant?)
        case kubernetes(KubernetesFacts)
        /// One result of the health check of a VIP (by name).
        case check(String, passed: Bool)
        case carrier(String, up: Bool)
        /// Adjacent mode: the nodes that do not answer on an interface.
        case unreachable(String, Set<String>)
        /// The witness answers on the link, or stopped answering.
        case witness(IPAddress, answers: Bool)
        /// A link saw another MAC claim an address.
        case conflict(IPAddress, MACAddress)
        /// The link on this interface has probed its addresses.
        case linkReady(String)
        /// The Kubernetes watchers listed every kind once.
        case kubernetesListed
        /// A reloaded config (its links already opened).
        case config(LoadedConfig)
        /// The machine's `nextDeadline` passed.
        case tick
    }

    let events: AsyncStream<Event>
    private let sink: AsyncStream<Event>.Continuation
    /// Kubernetes facts describe every Service: only the newest matters. Posted while an
    /// older one still waits, they replace it instead of queueing behind it (10,000
    /// Services changing faster than the machine digests them must not pile up).
    private let newestFacts = Mutex<KubernetesFacts?>(nil)

    /// When the gossip loop last posted a turn, and when the node loop last took one
    /// (monotonic nanoseconds): a turn outstanding for long means the node machine is
    /// starved, and gossip stops answering for a node that does no work.
    private let turnPosted = Atomic<Int64>(0)
    private let turnHandled = Atomic<Int64>(0)

    init() { (events, sink) = AsyncStream.makeStream() }

    /// How long the oldest turn posted has waited unhandled (zero when none waits).
    var turnBacklog: Duration {
        let posted = turnPosted.load(ordering: .relaxed)
        guard turnHandled.load(ordering: .relaxed) < posted else { return .zero }
        return .nanoseconds(Heartbeat.monotonicNanoseconds() - posted)
    }

    func tookTurn() { turnHandled.store(Heartbeat.monotonicNanoseconds(), ordering: .relaxed) }

    func post(_ event: Event) {
        if case .turn = event, turnHandled.load(ordering: .relaxed) >= turnPosted.load(ordering: .relaxed) {
            turnPosted.store(Heartbeat.monotonicNanoseconds(), ordering: .relaxed)
        }
        if case .kubernetes(let facts) = event {
            let queued = newestFacts.withLock { slot in
                defer { slot = facts }
                return slot != nil
            }
            if queued { return }
        }
        sink.yield(event)
    }

    /// Signalled whenever the node loop takes Kubernetes facts.
    let factsTaken = WakeSignal()

    /// The event to handle for one taken from `events`: for Kubernetes facts, the newest.
    func newest(_ event: Event) -> Event {
        guard case .kubernetes = event, let facts = newestFacts.withLock({ $0.take() }) else { return event }
        factsTaken.signal()
        return .kubernetes(facts)
    }

    /// Whether Kubernetes facts wait to be handled.
    var factsPending: Bool { newestFacts.withLock { $0 != nil } }
}

/// The node machine as last decided, readable from any thread (reports, metrics, the
/// Kubernetes loop); only `NodeLoop` changes it.
final class NodeState: Sendable {
    /// The instant the machine's `now` counts from.
    let origin: ContinuousClock.Instant
    private let machine: Mutex<NodeMachine>

    init(_ machine: NodeMachine, origin: ContinuousClock.Instant) {
        self.origin = origin
        self.machine = Mutex(machine)
    }

    var current: NodeMachine { machine.withLock { $0 } }

    fileprivate func update<R>(_ body: (inout NodeMachine) -> R) -> R { machine.withLock { body(&$0) } }
}

/// The one consumer of everything that may change what this node answers: it drains the
/// inbox into the node machine (`NodeMachine`) and carries out what the machine decides
/// — links, gossiped metadata, Kubernetes Events, the journal. One owner, one order: a
/// slow producer cannot overwrite a newer decision with one built from an older snapshot.
final class NodeLoop: Service, Sendable {
    private let state: NodeState
    private let inbox: NodeInbox
    private let links: LinkSet
    private let gossip: GossipLoop?
    private let kubernetes: KubernetesLoop?
    private let logger: Logger
    /// Ready: tell systemd, and drop the start-up code.
    private let onReady: @Sendable () -> Void

    init(state: NodeState, inbox: NodeInbox, links: LinkSet, gossip: GossipLoop?, kubernetes: KubernetesLoop?,
         logger: Logger, onReady: @escaping @Sendable () -> Void) {
        self.state = state
        self.inbox = inbox
        self.links = links
        self.gossip = gossip
        self.kubernetes = kubernetes
        self.logger = logger
        self.onReady = onReady
    }

    func run() async throws {
        // The first decision (standalone VIPs, links to probe) before any event comes.
        apply(state.update { $0.onTick(now: .zero) })
        var alarm: (at: Duration, task: Task<Void, Never>)?
        defer { alarm?.task.cancel() }
        for await posted in inbox.events.cancelOnGracefulShutdown() {
            let event = inbox.newest(posted)
            let now = state.origin.duration(to: .now)
            let (actions, deadline) = state.update { machine -> ([NodeAction], Duration?) in
                (Self.handle(event, &machine, now: now, origin: state.origin), machine.nextDeadline)
            }
            apply(actions)
            if case .turn = event { inbox.tookTurn() }
            // A deadline (hold-down, join grace) ends on time even if nothing else happens.
            if deadline != alarm?.at {
                alarm?.task.cancel()
                alarm = deadline.map { deadline in
                    (deadline, Task { [inbox, origin = state.origin] in
                        guard (try? await Task.sleep(until: origin + deadline)) != nil else { return }
                        inbox.post(.tick)
                    })
                }
            }
        }
    }

    private static func handle(_ event: NodeInbox.Event, _ machine: inout NodeMachine, now: Duration,
                               origin: ContinuousClock.Instant) -> [NodeAction] {
        switch event {
        case .view(let members): machine.onView(members, now: now)
        case .turn(let at, let due): machine.onTurn(now: origin.duration(to: at), due: due.map(origin.duration(to:)))
        case .kubernetes(let facts): machine.onKubernetes(facts, now: now)
        case .check(let name, let passed): machine.onCheck(name, passed: passed, now: now)
        case .carrier(let interface, let up): machine.onCarrier(interface, up: up, now: now)
        case .unreachable(let interface, let nodes): machine.onUnreachable(nodes, on: interface, now: now)
        case .witness(let address, let answers): machine.onWitness(address, answers: answers, now: now)
        case .conflict(let address, let mac): machine.onConflict(address, from: mac, now: now)
        case .linkReady(let interface): machine.onLinkReady(interface, now: now)
        case .kubernetesListed: machine.onKubernetesListed(now: now)
        case .config(let loaded): machine.onConfig(loaded, now: now)
        case .tick: machine.onTick(now: now)
        }
    }

    /// Carries out what the machine decided.
    private func apply(_ actions: [NodeAction]) {
        guard !actions.isEmpty else { return }
        let machine = state.current
        let name = machine.loaded.nodeName
        for action in actions {
            switch action {
            case .assign(let interface, let assignment):
                links[interface]?.assign(assignment)
            case .lease(let until):
                for link in links.all { link.renewLease(until: state.origin + until) }
            case .meta(let meta):
                gossip?.updateMeta(meta)
            case .ownerChanged(let address, let from, let to):
                if to == name {
                    logger.notice(from.map { "taking over VIP from \($0)" } ?? "VIP elected to this node",
                                  metadata: ["vip": "\(address)", "node": "\(name)"])
                } else {
                    logger.notice(to.map { "handing VIP over to \($0)" } ?? "releasing VIP: no eligible node",
                                  metadata: ["vip": "\(address)", "node": "\(to ?? "")"])
                }
            case .announcersChanged:
                kubernetes?.announcersChanged()
            case .checkChanged(let vip, let passing):
                let address = machine.loaded.config.vips.first { $0.name == vip }?.address
                logger.log(level: passing ? .info : .warning, "health check \(passing ? "passing" : "failing")",
                           metadata: ["vip": "\(address.map(\.description) ?? "")", "vip_name": "\(vip)"])
            case .stalled(let duration):
                logger.warning("gossip loop stalled for \(duration) (stopped or starved); holding VIPs back until the view is fresh")
            case .mergeNow:
                gossip?.mergeNow()
            case .isolation(.none):
                logger.notice("the cluster is reachable (the witness answers, or the members are back): deciding as usual")
            case .isolation(.asking(let lost, let witness)):
                logger.warning("lost most of the cluster at once (\(lost.sorted().joined(separator: ", "))): asking the witness \(witness.address) on \(witness.interface) whether this host is the one cut off before taking their VIPs",
                               metadata: ["iface": "\(witness.interface)"])
            case .isolation(.cutOff(let lost, let witness)):
                logger.error("cut off: the witness \(witness.address) does not answer either; not taking the VIPs of \(lost.sorted().joined(separator: ", ")) until they are back",
                             metadata: ["iface": "\(witness.interface)"])
            case .holdDown(let on):
                logger.notice(on ? "holding down: not eligible for VIPs for \(machine.settings.holdDown)"
                                 : "hold-down over: eligible again")
            case .eligible:
                logger.info("ready to serve: eligible for VIPs")
            case .ready(let withoutKubernetes):
                if withoutKubernetes {
                    logger.warning("the API server has not answered the first lists in \(machine.settings.kubernetesListWait.components.seconds) s; starting without Services")
                }
                onReady()
            case .missingKubernetesNode(true):
                logger.error("\(NodeWarning.notAKubernetesNode(name))", metadata: ["node": "\(name)"])
            case .missingKubernetesNode(false):
                logger.notice("this host is a Kubernetes Node now", metadata: ["node": "\(name)"])
            case .configDrift(let drift):
                if drift.isEmpty {
                    logger.notice("config agrees across the cluster", metadata: ["config_digest": "\(machine.configDigest)"])
                } else {
                    logger.warning("\(NodeWarning.configsDiffer(drift, me: name))", metadata: ["config_digest": "\(machine.configDigest)"])
                }
            case .announcedElsewhereWithoutGossip(let address, let mac):
                logger.error("""
                    another host answers this Service address, and this host has no [gossip]: each host with [kubernetes] \
                    and no [gossip] allocates and announces every Service address by itself. Give the hosts [gossip] \
                    (docs/configuration.md), or run Herald on one host only.
                    """, metadata: ["vip": "\(address)", "foreign_mac": "\(mac)"])
            }
        }
    }
}
