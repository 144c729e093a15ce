import Glibc
import HeraldCore
import HeraldMembership
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

public enum HeraldVersion {
    public static let current = "0.1.0"
}

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

    /// Exit status for a config that does not validate (sysexits EX_CONFIG); the unit
    /// does not restart on it, since restarting cannot fix the file.
    public static let exitConfigError: Int32 = 78

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

    /// Writes to a peer that went away must fail with EPIPE, not end the process.
    public static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    public static func makeLogger(_ label: String) -> Logger {
        LoggingSystem.bootstrap { HeraldLogHandler(label: $0) }
        return Logger(label: label)
    }

    public static func run(_ options: Options, loaded: LoadedConfig, logger: Logger) async throws {
        let config = loaded.config
        let runtime = Runtime(configPath: options.configPath, loaded: loaded)
        let interfaces = LinkPlan.interfaces(config: config, host: loaded.host)
        let readiness = Readiness(links: interfaces.map(\.name) + (config.kubernetes == nil ? [] : ["kubernetes"]))
        let eligibility = Eligibility(interfaces: metaInterfaces(loaded))
        let links = try LinkSet(interfaces: interfaces) { interface throws(SystemError) in
            try LinkService(interface: interface, answering: [], readiness: readiness, logger: logger,
                            targetProbeInterval: config.node.targetProbeInterval,
                            onCarrier: { eligibility.carrier($0, up: $1) },
                            onNeighbors: { eligibility.unreachable($1, on: $0) })
        }
        if interfaces.isEmpty {
            logger.warning("no VIP of this config can be announced by this node; answering nothing",
                           metadata: ["node": "\(loaded.nodeName)"])
        }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var gossip: GossipService?
        var ownership: Ownership?
        var checks: HealthCheckService?
        var kubernetes: KubernetesService?
        // This node as the only member, for electing Service announcers without gossip.
        let me: @Sendable () -> Member = {
            Member(name: loaded.nodeName, address: GossipAddress(ip: .v4(.any), port: 0), incarnation: 0, status: .alive,
                   meta: eligibility.meta.encode(), statusSince: .zero, roundTrip: nil)
        }
        if let gossipSettings = config.gossip {
            let membership = MembershipSettings(profile: gossipSettings.profile)
            guard let bind = UDPSocket.resolve(gossipSettings.bind) else {
                throw SystemError("gossip.bind \(gossipSettings.bind) is not an address of this host", errno: 0)
            }
            let owners = Ownership(runtime: runtime, links: links, lease: membership.suspicionFloor,
                                   joinGrace: gossipSettings.join.isEmpty ? .zero : membership.joinRetryInterval * 2,
                                   logger: logger)
            let service = try GossipService(
                name: loaded.nodeName, address: bind, seeds: gossipSettings.join, seal: try loadSeal(gossipSettings),
                epoch: RunEpoch.next(directory: gossipSettings.stateDirectory, logger: logger), settings: membership, meta: eligibility.meta,
                holdDown: membership.suspicionFloor * 10,
                logger: logger, onView: owners.onView)
            eligibility.attach(service)
            Ownership.startProbing(loaded, links: links)
            checks = HealthCheckService(vips: allowedVIPs(loaded), logger: logger) { eligibility.checks($0) }
            gossip = service
            ownership = owners
            services += [.init(service: service), .init(service: checks!)]
            if let settings = config.kubernetes {
                let service = try KubernetesService(settings: settings, runtime: runtime, readiness: readiness, logger: logger,
                                                    isAllocator: { owners.isAllocator }, members: { owners.current.view },
                                                    onChange: { [gossip] _ in gossip?.requestRefresh() })
                owners.attach(service)
                kubernetes = service
            }
        } else {
            if let settings = config.kubernetes {
                kubernetes = try KubernetesService(settings: settings, runtime: runtime, readiness: readiness, logger: logger,
                                                   isAllocator: { true }, members: { [me()] }, onChange: { service in
                    Ownership.applyStandalone(runtime.loaded, links: links, kubernetes: service, me: me())
                })
                eligibility.attach(listener: { [kubernetes] in
                    Ownership.applyStandalone(runtime.loaded, links: links, kubernetes: kubernetes, me: me())
                    kubernetes?.announcersChanged()
                })
            }
            Ownership.applyStandalone(loaded, links: links, kubernetes: kubernetes, me: me())
        }
        if let kubernetes { services.append(.init(service: kubernetes)) }
        let reports = Reports(runtime: runtime, eligibility: eligibility, linkSet: links, gossip: gossip, ownership: ownership,
                              kubernetes: kubernetes)
        let metrics = try config.metrics.map { settings throws(SystemError) in
            try MetricsService(listen: settings.listen, logger: logger) { reports.metrics }
        }
        let reload = ReloadService(runtime: runtime, logger: logger) { [gossip, checks, kubernetes] new throws(SystemError) in
            // Everything that can fail happens before anything changes.
            let prepared = try links.prepare(interfaces: LinkPlan.interfaces(config: new.config, host: new.host))
            let seal = try new.config.gossip.map { settings throws(SystemError) in try loadSeal(settings) }
            runtime.replace(new)
            links.commit(prepared)
            eligibility.setInterfaces(metaInterfaces(new))
            checks?.update(vips: allowedVIPs(new))
            if let gossip, let seal {
                gossip.setSeal(seal)
                gossip.requestRefresh()
            } else {
                Ownership.applyStandalone(new, links: links, kubernetes: kubernetes, me: me())
            }
        }

        let control = try ControlService(path: options.controlSocket, logger: logger) { request in reports.answer(request) }
        let notifier = SystemdNotifier(
            readiness: readiness,
            status: "\(config.vips.count) VIP(s) on \(interfaces.map(\.name).joined(separator: ", "))\(config.gossip == nil ? "" : ", gossip")",
            logger: logger,
            heartbeats: { [gossip, metrics] in
                // Not the Kubernetes loop: it waits on the API server, and liveness never does.
                links.all.map(\.heartbeat) + [gossip?.heartbeat, metrics?.heartbeat, control.heartbeat].compactMap { $0 }
            },
            onReady: { [gossip] in gossip?.markReadyToServe() })
        // The group stops services in reverse, each after the one before has returned:
        // notifier (STOPPING=1), links (silence), Kubernetes, checks, gossip (leave, so
        // peers take over at once), reload, metrics, control.
        services = [.init(service: control)] + (metrics.map { [.init(service: $0)] } ?? []) + [.init(service: reload)]
            + services + [.init(service: links), .init(service: notifier)]
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Within the unit's TimeoutStopSec=10s, so a stuck service ends in an error, not a SIGKILL.
        configuration.maximumGracefulShutdownDuration = .seconds(8)
        let group = ServiceGroup(configuration: configuration)
        logger.info("starting", metadata: ["node": "\(loaded.nodeName)", "version": "\(HeraldVersion.current)",
                                           "config": "\(options.configPath)"])
        try await group.run()
        logger.info("stopped")
    }

    /// What this node gossips about its interfaces: the usable ones that have a MAC.
    static func metaInterfaces(_ loaded: LoadedConfig) -> [NodeMeta.Interface] {
        loaded.host.usableInterfaces(loaded.config.node).compactMap { interface in
            interface.mac.map { NodeMeta.Interface(name: interface.name, mac: $0, prefixes: interface.prefixes) }
        }
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
