import ArgumentParser
import HeraldDaemon
import HeraldCore

/// heraldd: parse flags, load config, run the service group. Nothing else.
@main
struct Heraldd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldd",
        abstract: "Answer ARP and NDP for virtual IPs on this host.",
        version: HeraldVersion.current)

    @Option(name: .long, help: "Main config file; pools.d/*.toml next to it is read too.")
    var config = "/etc/herald/herald.toml"

    @Option(name: .long, help: "Control socket for heraldctl.")
    var controlSocket = ControlClient.defaultPath

    @Flag(name: .long, help: "Validate the config and exit: 0 when valid, 78 with errors on stderr.")
    var check = false

    func run() async throws {
        Daemon.ignoreSIGPIPE()
        let logger = Daemon.makeLogger("heraldd")
        let loaded: LoadedConfig
        switch ConfigLoader.load(path: config) {
        case .success(let value):
            loaded = value
        case .failure(let errors):
            for error in errors.errors { Console.error("\(error)") }
            if !check { logger.critical("invalid config; not starting", metadata: ["errors": "\(errors.errors.count)"]) }
            throw ExitCode(Daemon.exitConfigError)
        }
        if check {
            print("\(config): OK (\(loaded.config.pools.count) pool(s), \(loaded.config.vips.count) VIP(s), node \(loaded.nodeName))")
            return
        }
        do {
            try await Daemon.run(Daemon.Options(configPath: config, controlSocket: controlSocket), loaded: loaded, logger: logger)
        } catch let error as SystemError {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
    }
}

