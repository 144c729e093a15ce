import ArgumentParser
import FoundationEssentials
import HeraldCore
import HeraldDaemon

@main
struct Heraldctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldctl",
        abstract: "Inspect and check Herald.",
        version: HeraldVersion.current,
        subcommands: [Check.self, Status.self, VIPs.self])
}

struct SocketOptions: ParsableArguments {
    @Option(name: .long, help: "heraldd's control socket.")
    var socket = ControlClient.defaultPath

    @Flag(name: .long, help: "Print the daemon's JSON answer as is.")
    var json = false

    func fetchStatus() throws -> (StatusReport, [UInt8]) {
        let raw: [UInt8]
        do {
            raw = try ControlClient.request(.status, path: socket)
        } catch {
            throw ValidationError("\(error)")
        }
        if let failure = try? JSONDecoder().decode(ControlErrorReply.self, from: Data(raw)) {
            throw ValidationError("heraldd: \(failure.error)")
        }
        do {
            return (try JSONDecoder().decode(StatusReport.self, from: Data(raw)), raw)
        } catch {
            throw ValidationError("unexpected answer from heraldd (version mismatch?): \(error)")
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a config (and pools.d/ next to it) against this host; exit 78 on errors.")

    @Argument(help: "The main config file.")
    var file = "/etc/herald/herald.toml"

    func run() throws {
        switch ConfigLoader.load(path: file) {
        case .success(let loaded):
            print("\(file): OK (\(loaded.config.pools.count) pool(s), \(loaded.config.vips.count) VIP(s), node \(loaded.nodeName))")
        case .failure(let errors):
            for error in errors.errors { Console.error("\(error)") }
            throw ExitCode(Daemon.exitConfigError)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the daemon answers and what it has seen.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        let (status, raw) = try options.fetchStatus()
        if options.json {
            print(String(decoding: raw, as: UTF8.self))
            return
        }
        print("node \(status.node), heraldd \(status.version), pid \(status.pid), up \(status.uptimeSeconds)s")
        print("config: \(status.configFiles.joined(separator: ", "))")
        for link in status.links {
            let counters = link.counters
            print("\nlink \(link.name) (\(link.mac))")
            print("  answering:  \(link.answering.isEmpty ? "nothing" : link.answering.joined(separator: " "))")
            print("  requests:   \(counters.requestsReceived.values.reduce(0, +))   replies: \(counters.responsesSent.values.reduce(0, +))   gratuitous: \(counters.gratuitousSent.values.reduce(0, +))")
            if !counters.dropped.isEmpty {
                print("  dropped:    " + counters.dropped.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            if !counters.conflicts.isEmpty {
                print("  CONFLICTS:  " + counters.conflicts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            if counters.injectFailures > 0 || counters.kernelDrops > 0 {
                print("  send failures: \(counters.injectFailures)   kernel capture drops: \(counters.kernelDrops)")
            }
        }
    }
}

struct VIPs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vips", abstract: "List the configured VIPs and this node's role for each.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        let (status, raw) = try options.fetchStatus()
        if options.json {
            print(String(decoding: raw, as: UTF8.self))
            return
        }
        let rows = [["NAME", "ADDRESS", "ROLE", "INTERFACES"]]
            + status.vips.map { [$0.name, $0.address, $0.role.rawValue, $0.interfaces.joined(separator: ",")] }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  "))
        }
    }
}
