import Glibc
import HeraldCore
import HeraldMembership
import HeraldWire
import Logging
import ServiceLifecycle
import UnixSignals

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

    /// Writes to a peer that went away must fail with EPIPE, not end the process.
    public static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    public static func makeLogger(_ label: String) -> Logger {
        LoggingSystem.bootstrap { HeraldLogHandler(label: $0) }
        return Logger(label: label)
    }

    public static func run(_ options: Options, loaded: LoadedConfig, logger: Logger) async throws {
        let config = loaded.config
        let interfaces = LinkPlan.interfaces(config: config, host: loaded.host)
        let readiness = Readiness(links: interfaces.map(\.name))
        let eligibility = Eligibility(interfaces: loaded.host.usableInterfaces(config.node).compactMap { interface in
            interface.mac.map { NodeMeta.Interface(name: interface.name, mac: $0, prefixes: interface.prefixes) }
        })
        let links = try interfaces.map { interface throws(SystemError) in
            try LinkService(interface: interface, answering: [], readiness: readiness, logger: logger,
                            onCarrier: { eligibility.carrier($0, up: $1) })
        }
        if links.isEmpty {
            logger.warning("no VIP of this config can be announced by this node; answering nothing",
                           metadata: ["node": "\(loaded.nodeName)"])
        }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let reports: Reports
        var leave: @Sendable () -> Void = {}
        if let gossipSettings = config.gossip {
            let membership = MembershipSettings(profile: gossipSettings.profile)
            guard let bind = UDPSocket.resolve(gossipSettings.bind) else {
                throw SystemError("gossip.bind \(gossipSettings.bind) is not an address of this host", errno: 0)
            }
            let ownership = Ownership(config: config, host: loaded.host, nodeName: loaded.nodeName, links: links,
                                      lease: membership.suspicionFloor,
                                      joinGrace: gossipSettings.join.isEmpty ? .zero : membership.joinRetryInterval * 2)
            let gossip = try GossipService(
                name: loaded.nodeName, address: bind, seeds: gossipSettings.join, seal: try loadSeal(gossipSettings),
                settings: membership, meta: eligibility.meta,
                holdDown: membership.suspicionFloor * 10,
                logger: logger, onView: ownership.onView)
            eligibility.attach(gossip)
            leave = { gossip.requestLeave() }
            let checks = HealthCheckService(vips: config.vips.filter { $0.allows(node: loaded.nodeName) }, logger: logger) {
                eligibility.checks($0)
            }
            reports = Reports(loaded: loaded, eligibility: eligibility, links: links, gossip: gossip, ownership: ownership, settings: gossipSettings)
            services.append(.init(service: gossip))
            if !checks.checks.isEmpty { services.append(.init(service: checks)) }
        } else {
            // Without gossip every node owns each VIP its name is allowed for.
            let owned = LinkPlan.standaloneOwnership(config: config, nodeName: loaded.nodeName)
            let plan = LinkPlan.make(config: config, host: loaded.host, owned: owned)
            for link in links {
                let answering = plan.addressesByInterface[link.interface.name] ?? []
                link.setOwnership(answering: answering, ownedElsewhere: owned.subtracting(answering))
            }
            reports = Reports(loaded: loaded, eligibility: eligibility, links: links, gossip: nil, ownership: nil, settings: nil)
        }

        let control = try ControlService(path: options.controlSocket, logger: logger) { request in reports.answer(request) }
        let notifier = SystemdNotifier(
            readiness: readiness,
            status: "\(config.vips.count) VIP(s) on \(links.map(\.interface.name).joined(separator: ", "))\(config.gossip == nil ? "" : ", gossip")",
            logger: logger,
            onShutdown: { [leave] in
                for link in links { link.stop() }
                leave()
            })
        // Stopped in reverse: notifier (STOPPING=1), links (silence), checks, gossip (leave), control.
        services = [.init(service: control), .init(service: HangupNotice(logger: logger))] + services
            + links.map { .init(service: $0) } + [.init(service: notifier)]
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("starting", metadata: ["node": "\(loaded.nodeName)", "version": "\(HeraldVersion.current)",
                                           "config": "\(options.configPath)"])
        try await group.run()
        logger.info("stopped")
    }

    static func loadSeal(_ settings: GossipSettings) throws(SystemError) -> GossipSeal {
        guard !settings.insecure, let path = settings.keyFile else { return GossipSeal(keyring: nil, clusterName: settings.cluster) }
        switch Keyring.parse(try System.readFile(path)) {
        case .success(let keyring): return GossipSeal(keyring: keyring, clusterName: settings.cluster)
        case .failure(let error): throw SystemError("\(path):\(error.line): \(error.message)", errno: 0)
        }
    }
}

/// Keeps SIGHUP (`systemctl reload`) from killing the daemon, which is the signal's default.
/// Applying a changed config in place is not built yet: the notice says to restart.
struct HangupNotice: Service {
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.warning("SIGHUP received: live reload is not supported by this version; run 'systemctl restart herald' to apply config changes")
        }
    }
}
