import ArgumentParser
import FoundationEssentials
import Glibc
import HeraldControl
import HeraldCore
import HeraldKube
import HeraldSystem
import HeraldWire

@main
struct Heraldctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldctl",
        abstract: "Inspect and check Herald.",
        version: HeraldVersion.current,
        subcommands: [Check.self, Status.self, Members.self, VIPs.self, Explain.self, Reload.self, Apply.self, Sync.self, Keygen.self, ImportMetalLB.self])
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

/// The daemon's warnings, first, on stderr (so `--json` and scripts reading stdout are unaffected).
func printWarnings(_ status: StatusReport) {
    for warning in status.warnings ?? [] { Console.error("WARNING: \(warning)") }
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
        abstract: "Validate configs (and pools.d/ next to each) as heraldd would at start on this host, or --offline; exit 78 on errors.",
        discussion: """
            On a host it runs every check heraldd runs at start, with the same messages: interfaces, addresses \
            and routes, the key file and kubeconfig as heraldd's user reads them, the check user, and who may \
            change a file holding a check's command. With several files (one per host of a repository), hosts \
            of one gossip cluster (those that join one another) must also agree on what is shared — pools, \
            VIPs, cluster settings (their config digest, as heraldctl members shows it).
            """)

    @Argument(help: "Main config files (default /etc/herald/herald.toml).")
    var files: [String] = []

    @Flag(help: "Check without this host: no interfaces, key file or kubeconfig (for CI on a git repository of host configs).")
    var offline = false

    @Option(help: "The user heraldd runs as, who must be able to read the key file and kubeconfig (default: herald when run as root and that user exists, else you).")
    var user: String?

    func run() throws {
        let serviceUser: UserIdentity?
        if let user {
            guard let identity = FileSafety.user(named: user) else { throw ValidationError("no user '\(user)' on this host") }
            serviceUser = identity
        } else {
            serviceUser = getuid() == 0 ? FileSafety.user(named: "herald") : nil
        }
        var failed = false
        var hosts: [(file: String, digest: String, gossip: GossipSettings)] = []
        for file in files.isEmpty ? ["/etc/herald/herald.toml"] : files {
            switch ConfigLoader.load(path: file, offline: offline, serviceUser: serviceUser) {
            case .success(let loaded):
                let digest = ConfigDigest.of(loaded.config)
                for warning in loaded.config.warnings { Console.error("warning: \(warning)") }
                print("\(file): OK (\(loaded.config.pools.count) pool(s), \(loaded.config.vips.count) VIP(s), "
                      + "node \(loaded.nodeName), config digest \(digest))")
                if let gossip = loaded.config.gossip { hosts.append((file, digest, gossip)) }
                if !offline, let kubernetes = loaded.config.kubernetes { checkCluster(kubernetes) }
            case .failure(let errors):
                for error in errors.errors { Console.error("\(error)") }
                failed = true
            }
        }
        for cluster in GossipClusters.group(hosts.map(\.gossip)).map({ $0.map { hosts[$0] } }) where Set(cluster.map(\.digest)).count > 1 {
            Console.error("gossip cluster \"\(cluster[0].gossip.cluster)\" (\(cluster.map(\.file).joined(separator: ", "))): the hosts' shared config differs (pools, VIPs or cluster settings):")
            for (digest, group) in Dictionary(grouping: cluster, by: \.digest).sorted(by: { $0.key < $1.key }) {
                Console.error("  \(digest): \(group.map(\.file).joined(separator: ", "))")
            }
            failed = true
        }
        if failed { throw ExitCode(ConfigLoader.exitStatus) }
    }

    /// What else in the cluster answers for LoadBalancer addresses (strictARP, servicelb,
    /// MetalLB): warnings with the fix, which do not change the exit status.
    private func checkCluster(_ settings: KubernetesSettings) {
        do {
            let credentials = try settings.kubeconfig.map { path throws(KubeConfigError) in try KubeConfigLoader.load(path: path) }
                ?? KubeConfigLoader.inCluster(environment: [:])
            ClusterProbe.report(credentials, finding: { Console.error("warning: kubernetes: \($0)") },
                                unread: { Console.error("note: kubernetes: \($0)") })
        } catch {
            Console.error("note: kubernetes: cannot ask the API server about kube-proxy, servicelb and MetalLB: \(error)")
        }
    }
}

/// A rollout's one step on a host: check, install atomically, reload, and fail loudly.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install herald.toml and pools.d/ from DIRECTORY as heraldd's config, checked first and reloaded after; exit 78 (invalid, nothing installed) or 1 (refused, old files put back).",
        discussion: """
            DIRECTORY holds herald.toml and, optionally, pools.d/*.toml, as /etc/herald does (a host's directory \
            of a git checkout, say). The files are staged next to the config, checked as heraldd checks at start \
            (on this host, for heraldd's user), swapped in (pools.d in one exchange, herald.toml in one rename) \
            and heraldd reloads them. Other files there (the gossip key, the kubeconfig) are left alone.
            """)

    @Argument(help: "The directory with the new herald.toml and pools.d/.")
    var directory: String

    @Option(help: "The main config to replace; its pools.d is replaced too.")
    var config = "/etc/herald/herald.toml"

    @Option(help: "heraldd's control socket.")
    var socket = ControlClient.defaultPath

    @Flag(help: "Install without asking heraldd to reload (for changes that take a restart).")
    var noReload = false

    func run() throws {
        let serviceUser = getuid() == 0 ? FileSafety.user(named: "herald") : nil
        do {
            switch try ConfigInstall.apply(source: directory, target: config, socket: socket, reload: !noReload, serviceUser: serviceUser) {
            case .unchanged: print("\(config): already the config in \(directory); nothing to do")
            case .installed(let verdict?): print("installed \(directory) as \(config); heraldd: \(verdict)")
            case .installed(nil): print("installed \(directory) as \(config); not reloaded (systemctl restart herald to apply it)")
            case .installedNotRunning: print("installed \(directory) as \(config); heraldd is not running (systemctl start herald)")
            }
        } catch {
            for line in error.lines { Console.error(line) }
            throw ExitCode(error.status)
        }
    }
}

/// `systemctl reload herald` runs this (the unit's ExecReload), so the reload fails when
/// heraldd refuses the new config.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Have heraldd re-read its config and say whether it applied it; exit 1 when it refused it (errors on stderr).")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let report = try options.fetch(.reload, as: ReloadReport.self) else { return }
        for error in report.errors { Console.error(error) }
        guard report.applied else {
            Console.error("heraldd: \(report.message)")
            throw ExitCode.failure
        }
        print(report.message)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the daemon answers and what it has seen.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let status = try options.fetch(.status, as: StatusReport.self) else { return }
        printWarnings(status)
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
        printWarnings(status)
        // Adjacent mode: where each address's traffic goes.
        let targets = status.vips.contains { $0.targetNode != nil }
        table([["NAME", "ADDRESS", "OWNER", "ROLE", "INTERFACES"] + (targets ? ["TARGET"] : [])]
              + status.vips.map { vip in
                  [vip.name, vip.address, vip.owner ?? "-", Self.role(vip), vip.interfaces.joined(separator: ",")]
                      + (targets ? [vip.targetNode.map { "\($0) (\(vip.targetMAC ?? "resolving"))" } ?? "-"] : [])
              })
    }

    /// The role and what it depends on: the MAC that answers instead, the VIP the address
    /// is routed via, the member it waits for.
    static func role(_ vip: VIPReport) -> String {
        let role = vip.role.rawValue
        if let mac = vip.foreignMAC { return "\(role) (\(mac) answers)" }
        if let gateway = vip.routedVia { return "\(role) (via \(gateway))" }
        if let heir = vip.waitingFor { return "\(role) (for \(heir), starting)" }
        return role
    }
}

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List cluster members as this node sees them.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        guard let report = try options.fetch(.members, as: MembersReport.self) else { return }
        table([["NAME", "ADDRESS", "STATUS", "INCARNATION", "RTT", "INTERFACES", "VERSION", "MODE", "CONFIG"]]
              + report.members.map { member in
                  [member.name + (member.isSelf ? " (this node)" : ""), member.address,
                   member.status + (member.holdingDown ? ", holding down" : ""), String(member.incarnation),
                   member.roundTripMicroseconds.map { "\($0) µs" } ?? "-", member.interfaces.joined(separator: ","),
                   member.version ?? "-", member.mode ?? "-",
                   (member.configDigest ?? "-") + (member.configDiffers == true ? " DIFFERS" : "")]
              })
        let differing = report.members.filter { $0.configDiffers == true }.map(\.name)
        if !differing.isEmpty {
            print("\nconfig differs on \(differing.joined(separator: ", ")): compare pools.d and the shared VIPs with the other hosts")
        }
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
        for note in report.notes ?? [] { print("note: \(note)") }
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

struct ImportMetalLB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-metallb",
        abstract: "Print MetalLB's IPAddressPool/L2Advertisement manifests (or its legacy config ConfigMap) as a pools.d file.",
        discussion: """
            Reads YAML manifests (several documents per file, or a List from kubectl get -o yaml); - reads \
            standard input. What Herald cannot express is kept as a comment. For example:
              kubectl get ipaddresspools,l2advertisements -A -o yaml | heraldctl import-metallb - > /etc/herald/pools.d/metallb.toml
            """)

    @Argument(help: "Manifest files, or - for standard input.")
    var files: [String]

    func run() throws {
        var sources: [(name: String, text: String)] = []
        for file in files {
            if file == "-" {
                var text = ""
                while let line = readLine(strippingNewline: false) { text += line }
                sources.append(("standard input", text))
            } else {
                do {
                    sources.append((file, try System.readFile(file, limit: 16 << 20)))
                } catch {
                    Console.error("heraldctl import-metallb: \(error)")
                    throw ExitCode.failure
                }
            }
        }
        switch MetalLBImport.convert(sources) {
        case .success(let output):
            print(output.toml, terminator: "")
            if output.pools == 0 { Console.error("no pool of the input is announced: every pool is commented out (see the comments)") }
        case .failure(let error):
            Console.error("heraldctl import-metallb: \(error)")
            throw ExitCode.failure
        }
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
              : add ? "added a new primary key to \(file): every other node must accept it before this one reloads; a rotation without downtime is --add --secondary (docs/operations.md)"
              : "wrote a new gossip key to \(file) (mode 0600\(ownerText)); copy it to every node")
    }
}
