import Glibc
import HeraldControl
import HeraldCore
import HeraldDaemon
import HeraldSystem

/// heraldd: parse flags, load config, run the service group. Nothing else.
///
/// Flags are parsed by hand: swift-argument-parser would load Foundation into the
/// daemon, about 2 MB of resident memory for four flags.
@main
enum Heraldd {
    static let usage = """
        usage: heraldd [--config FILE] [--control-socket PATH] [--check]

        Answer ARP and NDP for virtual IPs on this host.

          --config FILE          main config (default /etc/herald/herald.toml);
                                 pools.d/*.toml next to it is read too
          --control-socket PATH  socket for heraldctl (default \(ControlClient.defaultPath))
          --check                validate the config and exit: 0 when valid,
                                 78 with FILE:LINE errors on stderr
          --version, --help
        """

    struct Flags {
        var config = "/etc/herald/herald.toml"
        var controlSocket = ControlClient.defaultPath
        var check = false
    }

    enum Parsed {
        case run(Flags)
        case exit(String, status: Int32)
    }

    static func parse(_ arguments: [String]) -> Parsed {
        var flags = Flags()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            let (name, inline) = argument.split(separator: "=", maxSplits: 1).map(String.init).splitFirst
            func value() -> String? { inline ?? remaining.popFirst() }
            switch name {
            case "--config":
                guard let path = value() else { return .exit("heraldd: --config needs a FILE\n\n\(usage)", status: 64) }
                flags.config = path
            case "--control-socket":
                guard let path = value() else { return .exit("heraldd: --control-socket needs a PATH\n\n\(usage)", status: 64) }
                flags.controlSocket = path
            case "--check":
                flags.check = true
            case "--version":
                return .exit(HeraldVersion.current, status: 0)
            case "--help", "-h":
                return .exit(usage, status: 0)
            default:
                return .exit("heraldd: unknown argument '\(argument)'\n\n\(usage)", status: 64)
            }
        }
        return .run(flags)
    }

    /// Synchronous on purpose: an async `main` runs as a user-initiated task, and every task
    /// it starts or awaits inherits (or is escalated to) that priority, whose worker
    /// threads libdispatch renices to -4 — which an unprivileged daemon may not do, so it
    /// logged "Failed to set thread priority … errno=13" at every start. The daemon runs in
    /// a task of default priority instead, and the main thread waits for its exit status.
    /// The loops that must not wait run on threads of their own anyway.
    static func main() {
        Daemon.ignoreSIGPIPE()
        let flags: Flags
        switch parse(Array(CommandLine.arguments.dropFirst())) {
        case .run(let parsed):
            flags = parsed
        case .exit(let text, let status):
            if status == 0 { print(text) } else { Console.error(text) }
            Daemon.exit(status)
        }

        let logger = Daemon.makeLogger("heraldd")
        let loaded: LoadedConfig
        switch ConfigLoader.load(path: flags.config) {
        case .success(let value):
            loaded = value
        case .failure(let errors):
            for error in errors.errors { Console.error("\(error)") }
            if !flags.check { logger.critical("invalid config; not starting", metadata: ["errors": "\(errors.errors.count)"]) }
            Daemon.exit(ConfigLoader.exitStatus)
        }
        for warning in loaded.config.warnings {
            if flags.check { Console.error("warning: \(warning)") } else { logger.warning("\(warning)") }
        }
        if flags.check {
            print("\(flags.config): OK (\(loaded.config.pools.count) pool(s), \(loaded.config.vips.count) VIP(s), node \(loaded.nodeName))")
            return
        }
        Daemon.tune(loaded.config.tuning)
        // Before any other thread starts, so every thread is fenced.
        if let problem = Daemon.fenceIdentity(checkUser: loaded.checkUser) {
            logger.critical("cannot fence heraldd's identity changes to the check user: \(problem); not starting")
            Daemon.exit(1)
        }
        let options = Daemon.Options(configPath: flags.config, controlSocket: flags.controlSocket)
        Daemon.exit(Daemon.runToCompletion(priority: .medium) {
            do {
                try await Daemon.run(options, loaded: loaded, logger: logger)
                return 0
            } catch let error as SystemError {
                logger.critical("cannot start: \(error)")
                // An address this host does not have is the config's fault: restarting cannot
                // fix it (78, which the unit does not restart). heraldd checks for it at load;
                // this covers an address that went away in between.
                return error.code == EADDRNOTAVAIL ? ConfigLoader.exitStatus : 1
            } catch {
                logger.critical("stopped: \(error)")
                return 1
            }
        })
    }
}

extension Array where Element == String {
    /// `["--config", "x"]` → ("--config", "x"); `["--check"]` → ("--check", nil).
    var splitFirst: (String, String?) { (self[0], count > 1 ? self[1] : nil) }
}
