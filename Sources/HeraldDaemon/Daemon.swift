import Glibc
import HeraldCore
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
        let owned = LinkPlan.standaloneOwnership(config: config, nodeName: loaded.nodeName)
        let plan = LinkPlan.make(config: config, host: loaded.host, owned: owned)
        let interfaces = LinkPlan.interfaces(config: config, host: loaded.host)
        let readiness = Readiness(links: interfaces.map(\.name))

        var links: [LinkService] = []
        for interface in interfaces {
            let answering = plan.addressesByInterface[interface.name] ?? []
            let link = try LinkService(interface: interface, answering: answering, readiness: readiness, logger: logger)
            link.setOwnership(answering: answering, ownedElsewhere: owned.subtracting(answering))
            links.append(link)
        }
        if links.isEmpty {
            logger.warning("no VIP of this config is for this node; answering nothing",
                           metadata: ["node": "\(loaded.nodeName)"])
        }

        let started = ContinuousClock.now
        let allLinks = links
        let control = try ControlService(path: options.controlSocket, logger: logger) { command in
            switch command {
            case .status:
                return JSONWriter.encode(statusReport(loaded: loaded, links: allLinks, plan: plan, owned: owned,
                                                      uptime: started.duration(to: .now)).json)
            }
        }
        let notifier = SystemdNotifier(
            readiness: readiness,
            status: "answering \(owned.count) VIP(s) on \(links.map(\.interface.name).joined(separator: ", "))",
            logger: logger)

        let reloadNotice = HangupNotice(logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: control), .init(service: reloadNotice)]
        services += links.map { .init(service: $0) }
        services.append(.init(service: notifier))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("starting", metadata: ["node": "\(loaded.nodeName)", "version": "\(HeraldVersion.current)",
                                           "config": "\(options.configPath)"])
        try await group.run()
        logger.info("stopped")
    }

    static func statusReport(loaded: LoadedConfig, links: [LinkService], plan: LinkPlan, owned: Set<IPAddress>,
                             uptime: Duration) -> StatusReport {
        StatusReport(
            node: loaded.nodeName, version: HeraldVersion.current, pid: getpid(),
            uptimeSeconds: Int(uptime.components.seconds), configFiles: loaded.files,
            links: links.map { link in
                LinkReport(name: link.interface.name, mac: link.mac.description,
                           answering: link.answering.sorted().map(\.description), counters: link.counters)
            },
            vips: loaded.config.vips.map { vip in
                VIPReport(name: vip.name, address: vip.address.description,
                          role: owned.contains(vip.address) ? .announcing : .notEligible,
                          interfaces: plan.addressesByInterface.filter { $0.value.contains(vip.address) }.keys.sorted())
            })
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
