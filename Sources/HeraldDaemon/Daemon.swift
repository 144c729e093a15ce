import Glibc
import HeraldControl
import HeraldCore
import HeraldMembership
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Builds the service group from a loaded config and runs it until SIGTERM/SIGINT.
/// Order matters: the group stops services in reverse, so the notifier says STOPPING=1
/// first, the links fall silent next, and the control socket closes last.
public enum Daemon {
    public struct Options: Sendable {
        public var configPath: String
        public var controlSocket: String

        public init(configPath: String, controlSocket: String) {
            self.configPath = configPath
            self.controlSocket = controlSocket
        }
    }

    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }

    /// Runs `body` in a task of `priority` and blocks the calling (main) thread until it
    /// returns its exit status. Nothing awaits the task, so nothing escalates its priority.
    public static func runToCompletion(priority: TaskPriority, _ body: @escaping @Sendable () async -> Int32) -> Int32 {
        let finished = Finished()
        Task.detached(priority: priority) { finished.post(await body()) }
        return finished.wait()
    }

    /// An exit status one thread posts and another blocks for (a POSIX semaphore: the
    /// waiting thread is the main thread, never one of the cooperative pool).
    private final class Finished: @unchecked Sendable {
        private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        private let status = Mutex<Int32>(0)

        init() { sem_init(semaphore, 0, 0) }

        func post(_ value: Int32) {
            status.withLock { $0 = value }
            sem_post(semaphore)
        }

        func wait() -> Int32 {
            while sem_wait(semaphore) != 0 && errno == EINTR {}
            return status.withLock { $0 }
        }
    }

    /// heraldd may switch to the check user (`node.check_user`) to start a check's command,
    /// and to no one else: fenced with a seccomp filter before any other thread starts.
    /// Why it could not, when this process could switch identities (root, or CAP_SETUID);
    /// `nil` otherwise.
    public static func fenceIdentity(checkUser: UserIdentity?) -> String? {
        guard let problem = ConfinedCommand.pinIdentity(to: checkUser) else { return nil }
        let status = (try? System.readFile("/proc/self/status")) ?? ""
        let effective = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") })
        let capabilities = effective.flatMap { UInt64(String($0.dropFirst(7)).trimmingWhitespace, radix: 16) } ?? 0
        let canSwitch = geteuid() == 0 || capabilities & (1 << 7) != 0
        return canSwitch ? problem : nil
    }

    /// Writes to a peer that went away must fail with EPIPE, not end the process.
    public static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    /// The start-up part of `Tuning`; call once the config is loaded, before the daemon runs.
    public static func tune(_ tuning: TuningSettings) { Tuning.atStart(tuning) }

    public static func makeLogger(_ label: String) -> Logger {
        LoggingSystem.bootstrap { HeraldLogHandler(label: $0) }
        return Logger(label: label)
    }

    public static func run(_ options: Options, loaded: LoadedConfig, logger: Logger) async throws {
        let config = loaded.config
        let runtime = Runtime(configPath: options.configPath, loaded: loaded)
        let interfaces = LinkPlan.interfaces(config: config, host: loaded.host)
        let nodeSettings = config.gossip.map {
            NodeMachine.Settings(gossip: MembershipSettings(profile: $0.profile), hasJoinPeers: !$0.join.isEmpty)
        } ?? .standalone
        let linkSettings = LinkMachine.Settings(targets: TargetTracker.Settings(interval: config.node.targetProbeInterval),
                                                usesLease: config.gossip != nil)
        let state = NodeState(NodeMachine(loaded: loaded, settings: nodeSettings, now: .zero), origin: runtime.origin)
        let inbox = NodeInbox()
        let links = try LinkSet(interfaces: interfaces) { interface throws(SystemError) in
            try LinkLoop(interface: interface, settings: linkSettings, realtimePriority: config.node.realtimePriority,
                         kernelFilter: config.tuning.kernelFilters, node: inbox, origin: runtime.origin, logger: logger)
        }
        if interfaces.isEmpty {
            logger.warning("no VIP of this config can be announced by this node; answering nothing",
                           metadata: ["node": "\(loaded.nodeName)"])
        }
        if config.kubernetes != nil && config.gossip == nil {
            logger.warning("\(NodeWarning.kubernetesWithoutGossip)")
        }
        let checks = HealthCheckLoop(vips: allowedVIPs(loaded), user: loaded.checkUser, node: inbox, logger: logger)
        let gossip = try config.gossip.map { settings throws(SystemError) -> GossipLoop in
            guard let bind = UDPSocket.resolve(settings.bind) else {
                throw SystemError("gossip.bind \(settings.bind) is not an address of this host", errno: 0)
            }
            // Bound to every address, it is reached at each of them.
            let destinations = bind.ip.isUnspecified
                ? Set(loaded.host.interfaces.flatMap(\.prefixes).map(\.address).filter { $0.isIPv4 == bind.ip.isIPv4 || !bind.ip.isIPv4 }
                    .map { GossipAddress(ip: $0, port: bind.port) })
                : [bind]
            return try GossipLoop(
                name: loaded.nodeName, address: bind, destinations: destinations, seeds: settings.join,
                seal: try loadSeal(settings), settings: MembershipSettings(profile: settings.profile),
                lease: nodeSettings.lease ?? .zero, origin: runtime.origin, kernelFilter: config.tuning.kernelFilters,
                realtimePriority: config.node.realtimePriority, meta: state.current.meta, node: inbox,
                workBacklog: { links.all.reduce(inbox.turnBacklog) { max($0, $1.heartbeat.lateness) } },
                renewLease: { until in for link in links.all { link.renewLease(until: until) } }, logger: logger)
        }
        let kubernetes = try config.kubernetes.map { settings throws(SystemError) in
            try KubernetesLoop(settings: settings, runtime: runtime, node: inbox, decided: state, logger: logger)
        }
        let reports = Reports(runtime: runtime, node: state, linkSet: links, gossip: gossip, kubernetes: kubernetes, checks: checks)
        let metrics = try config.metrics.map { settings throws(SystemError) in
            try MetricsServer(listen: settings.listen, logger: logger) { reports.metrics }
        }
        let reload = ReloadLoop(runtime: runtime, logger: logger) { new throws(SystemError) in
            // Everything that can fail happens before anything changes.
            let prepared = try links.prepare(interfaces: LinkPlan.interfaces(config: new.config, host: new.host))
            let seal = try new.config.gossip.map { settings throws(SystemError) in try loadSeal(settings) }
            runtime.replace(new)
            links.commit(prepared)
            checks.update(vips: allowedVIPs(new))
            if let seal { gossip?.setSeal(seal) }
            inbox.post(.config(new))
        }

        let control = try ControlServer(path: options.controlSocket, logger: logger) { request in
            request == .reload ? controlReply(reload.reload()) : reports.answer(request)
        }
        let notifier = SystemdNotifier(
            status: "\(config.vips.count) VIP(s) on \(interfaces.map(\.name).joined(separator: ", "))\(config.gossip == nil ? "" : ", gossip")",
            logger: logger,
            heartbeats: { [gossip, metrics] in
                // Not the Kubernetes loop: it waits on the API server, and liveness never does.
                links.all.map(\.heartbeat) + [gossip?.heartbeat, metrics?.heartbeat, control.heartbeat].compactMap { $0 }
            })
        let node = NodeLoop(state: state, inbox: inbox, links: links, gossip: gossip, kubernetes: kubernetes, logger: logger) {
            notifier.markReady()
            Tuning.onReady(config.tuning)
        }
        // The group stops services in reverse, each after the one before has returned:
        // notifier (STOPPING=1), links (silence), Kubernetes, gossip (leave, so peers take
        // over at once), checks, the node machine, reload, metrics, control.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: control)] + (metrics.map { [.init(service: $0)] } ?? []) + [.init(service: reload), .init(service: node),
                                                                                    .init(service: checks)]
        if let gossip { services.append(.init(service: gossip)) }
        if let kubernetes { services.append(.init(service: kubernetes)) }
        services += [.init(service: links), .init(service: notifier)]
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Within the unit's TimeoutStopSec=10s, so a stuck service ends in an error, not a SIGKILL.
        configuration.maximumGracefulShutdownDuration = .seconds(8)
        let group = ServiceGroup(configuration: configuration)
        logger.info("starting", metadata: ["node": "\(loaded.nodeName)", "version": "\(HeraldVersion.current)",
                                           "config": "\(options.configPath)"])
        try await group.run()
        logger.info("stopped")
    }

    /// The VIPs this node may announce, whose health checks it runs.
    static func allowedVIPs(_ loaded: LoadedConfig) -> [VIPConfig] {
        loaded.config.vips.filter { $0.allows(node: loaded.nodeName) }
    }

    static func loadSeal(_ settings: GossipSettings) throws(SystemError) -> GossipSeal {
        let version = UInt8(clamping: settings.wireVersion)
        guard !settings.insecure, let path = settings.keyFile else {
            return GossipSeal(keyring: nil, clusterName: settings.cluster, wireVersion: version)
        }
        switch Keyring.parse(try System.readFile(path)) {
        case .success(let keyring): return GossipSeal(keyring: keyring, clusterName: settings.cluster, wireVersion: version)
        case .failure(let error): throw SystemError("\(path):\(error.line): \(error.message)", errno: 0)
        }
    }
}
