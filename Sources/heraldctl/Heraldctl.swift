import ArgumentParser
import FoundationEssentials
import HeraldCore
import HeraldControl
import HeraldWire
import Glibc

@main
struct Heraldctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldctl",
        abstract: "Inspect and check Herald.",
        version: HeraldVersion.current,
        subcommands: [Check.self, Status.self, Members.self, VIPs.self, Explain.self, Keygen.self])
}

struct SocketOptions: ParsableArguments {
    @Option(name: .long, help: "heraldd's control socket.")
    var socket = ControlClient.defaultPath

    @Flag(name: .long, help: "Print the daemon's JSON answer as is.")
    var json = false

    /// Asks the daemon; prints its JSON as is with --json, or returns it decoded.
    func fetch<Report: Decodable>(_ request: ControlRequest, as type: Report.Type) throws -> Report? {
        let raw: [UInt8]
        do {
            raw = try ControlClient.request(request, path: socket)
        } catch {
            throw ValidationError("\(error)")
        }
        if let failure = try? JSONDecoder().decode(ControlErrorReply.self, from: Data(raw)) {
            throw ValidationError("heraldd: \(failure.error)")
        }
        if json {
            print(String(decoding: raw, as: UTF8.self))
            return nil
        }
        do {
            return try JSONDecoder().decode(Report.self, from: Data(raw))
        } catch {
            throw ValidationError("unexpected answer from heraldd (version mismatch?): \(error)")
        }
    }
}

/// Prints rows as aligned columns.
func table(_ rows: [[String]]) {
    guard let columns = rows.map(\.count).max() else { return }
    let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    for row in rows {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
        }
        print(cells.joined(separator: "  "))
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
            throw ExitCode(ConfigLoader.exitStatus)
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the daemon answers and what it has seen.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let status = try options.fetch(.status, as: StatusReport.self) else { return }
        print("node \(status.node), heraldd \(status.version), pid \(status.pid), up \(status.uptimeSeconds)s")
        print("config: \(status.configFiles.joined(separator: ", "))")
        if let gossip = status.gossip {
            print("gossip \(gossip.address) (\(gossip.profile), \(gossip.encrypted ? "encrypted" : "UNENCRYPTED")): "
                  + "\(gossip.alive) alive, \(gossip.suspect) suspect, \(gossip.dead) dead; takeovers \(gossip.takeovers)"
                  + (gossip.holdingDown ? "; HOLDING DOWN" : "") + (gossip.settled ? "" : "; joining")
                  + (gossip.awareness > 0 ? "; local health \(gossip.awareness)" : ""))
            if !gossip.rejected.isEmpty {
                print("  rejected packets: " + gossip.rejected.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
        }
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
    static let configuration = CommandConfiguration(
        commandName: "vips", abstract: "List the configured VIPs and Service addresses, and this node's role for each.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let status = try options.fetch(.status, as: StatusReport.self) else { return }
        // Adjacent mode: where each address's traffic goes.
        let targets = status.vips.contains { $0.targetNode != nil }
        table([["NAME", "ADDRESS", "OWNER", "ROLE", "INTERFACES"] + (targets ? ["TARGET"] : [])]
              + status.vips.map { vip in
                  [vip.name, vip.address, vip.owner ?? "-",
                   vip.foreignMAC.map { "\(vip.role.rawValue) (\($0) answers)" } ?? vip.role.rawValue,
                   vip.interfaces.joined(separator: ",")]
                      + (targets ? [vip.targetNode.map { "\($0) (\(vip.targetMAC ?? "resolving"))" } ?? "-"] : [])
              })
    }
}

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List cluster members as this node sees them.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let report = try options.fetch(.members, as: MembersReport.self) else { return }
        table([["NAME", "ADDRESS", "STATUS", "INCARNATION", "RTT", "INTERFACES"]] + report.members.map { member in
            [member.name + (member.isSelf ? " (this node)" : ""), member.address,
             member.status + (member.holdingDown ? ", holding down" : ""), String(member.incarnation),
             member.roundTripMicroseconds.map { "\($0) µs" } ?? "-", member.interfaces.joined(separator: ",")]
        })
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a VIP's or Service address's candidates in election order and why each is or is not eligible.")

    @OptionGroup var options: SocketOptions

    @Argument(help: "The VIP's address or name, or a Service address or namespace/name.")
    var vip: String

    func run() throws {
        guard let report = try options.fetch(.explain(vip), as: ExplainReport.self) else { return }
        print("\(report.vip) \(report.address): owner \(report.owner ?? "none (no eligible member)")")
        print("candidates in election order (sha256 of \"node#\(report.address)\"):")
        ranking(report.candidates)
        guard let targets = report.targets else { return }
        print("target node \(report.target.map { "\($0) (MAC \(report.targetMAC ?? "not resolved yet"))" } ?? "none (no eligible node)")")
        print("nodes in target order (sha256 of \"node#\(report.address)\"):")
        ranking(targets)
    }

    /// One numbered line per candidate: name, eligible or why not, interfaces (or the
    /// node's resolved address).
    private func ranking(_ candidates: [ExplainReport.Candidate]) {
        table(candidates.enumerated().map { index, candidate in
            ["  \(index + 1).", candidate.name, candidate.eligible ? "eligible" : "no: \(candidate.reason ?? "?")",
             candidate.interfaces.joined(separator: ",")]
        })
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new random gossip key to FILE (mode 0600); with --add, add it to an existing file (key rotation).")

    @Argument(help: "The key file, for example /etc/herald/gossip.key.")
    var file: String

    @Flag(help: "Put the new key first in an existing key file and keep the others (key rotation).")
    var add = false

    @Flag(help: "With --add: put the new key last, so it is accepted but not used to send until it is moved first.")
    var secondary = false

    func run() throws {
        var generator = SystemRandomNumberGenerator()
        let line = Keyring.keyLine((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let existing = try? String(contentsOfFile: file, encoding: .utf8)
        if existing != nil && !add {
            throw ValidationError("\(file) exists; use --add to rotate keys, or remove it first")
        }
        if secondary && !add { throw ValidationError("--secondary needs --add") }
        var kept = existing ?? ""
        if !kept.isEmpty && !kept.hasSuffix("\n") { kept += "\n" }
        let text = secondary ? kept + line + "\n" : line + "\n" + kept
        // heraldd runs as "herald" and must read the file: as root, hand it over.
        let owner = getuid() == 0 ? getpwnam("herald").map { (uid: $0.pointee.pw_uid, gid: $0.pointee.pw_gid) } : nil
        // A new file next to it, flushed, renamed over it: heraldd reloading never sees half a key.
        do {
            try System.writeFileAtomically(file, text, mode: 0o600, owner: owner)
        } catch {
            throw ValidationError("\(error)")
        }
        let ownerText = owner == nil ? "" : ", owner herald"
        print(secondary ? "added a new secondary key to \(file); copy it to every node and reload, then move it first (see docs/operations.md)"
              : add ? "added a new primary key to \(file); copy it to every node, then remove the old key line"
              : "wrote a new gossip key to \(file) (mode 0600\(ownerText)); copy it to every node")
    }
}
