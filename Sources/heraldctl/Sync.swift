import ArgumentParser
import FoundationEssentials
import Glibc
import HeraldControl
import HeraldSystem

/// GitOps by pull: what the packaged herald-sync.timer runs on each host.
struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a git repository of host configs and apply this host's directory: secrets decrypted with the host's age identity, checked, installed atomically, reloaded.",
        discussion: """
            The outcome goes to standard output (the journal, under herald-sync.service) and to \
            STATE/status.json, which heraldd's /metrics reports as herald_sync_*. Exit 0 when the \
            repository's config runs (applied or already in place), 78 when it is invalid here \
            (nothing installed), 1 when heraldd refused it (the previous files are back) or the \
            repository or a secret could not be read.
            """)

    @Option(help: "The git repository (any URL git clones: https, ssh, a path).")
    var repository: String

    @Option(help: "The branch to follow.")
    var branch = "main"

    @Option(help: "This host's directory in the repository (herald.toml, pools.d/); %H is the host name.")
    var directory = "hosts/%H"

    @Option(help: "A directory in the repository whose NAME.sops files are decrypted (sops, with --age-identity) to /etc/herald/NAME (0600, user herald); %H is the host name. None when empty.")
    var secrets = ""

    @Option(help: "The host's age identity, for SOPS.")
    var ageIdentity = "/etc/herald/age.key"

    @Option(help: "The main config to replace; its pools.d is replaced too.")
    var config = "/etc/herald/herald.toml"

    @Option(help: "Where the checkout and status.json live (heraldd reports \(SyncStatus.defaultPath)).")
    var state = "/var/lib/herald/sync"

    @Option(help: "heraldd's control socket.")
    var socket = ControlClient.defaultPath

    func run() throws {
        let previous = SyncStatus.read("\(state)/status.json")
        let outcome = sync()
        var status = SyncStatus(result: outcome.result, revision: outcome.revision, message: outcome.message,
                            lastRun: Double(time(nil)), lastSuccess: previous?.lastSuccess, successRevision: previous?.successRevision)
        if outcome.status == 0 {
            status.lastSuccess = status.lastRun
            status.successRevision = outcome.revision
        }
        if let json = try? JSONEncoder().encode(status) {
            do { try System.writeFileAtomically("\(state)/status.json", String(decoding: json, as: UTF8.self) + "\n", mode: 0o644) } catch {
                Console.error("herald-sync: \(error)")
            }
        }
        let line = "herald-sync: \(outcome.revision.map { "revision \($0): " } ?? "")\(outcome.result): \(outcome.message)"
        if outcome.status == 0 { print(line) } else { Console.error(line) }
        if outcome.status != 0 { throw ExitCode(outcome.status) }
    }

    private func sync() -> (result: String, revision: String?, message: String, status: Int32) {
        let checkout = "\(state)/checkout"
        mkdir(state, 0o755)
        // Fetch from --repository (not the clone's origin: the setting may have moved since)
        // and move to the branch's head, dropping anything local (the checkout is ours, never
        // edited by hand). The first time, or when the checkout no longer fetches (a lock
        // left by a run that was killed, a damaged clone), a fresh shallow clone: nothing is
        // lost, and a run never stays stuck on its own leftovers.
        var fetched = (status: Int32(1), output: "")
        if System.fileExists("\(checkout)/.git") {
            fetched = Self.run(["git", "-C", checkout, "fetch", "--quiet", "--depth", "1", "--", repository, branch])
            if fetched.status == 0 {
                fetched = Self.run(["git", "-C", checkout, "reset", "--quiet", "--hard", "FETCH_HEAD"])
            }
            if fetched.status == 0 { _ = Self.run(["git", "-C", checkout, "clean", "-qfdx"]) }
        }
        if fetched.status != 0 {
            _ = Self.run(["rm", "-rf", checkout])
            fetched = Self.run(["git", "clone", "--quiet", "--depth", "1", "--branch", branch, "--", repository, checkout])
        }
        guard fetched.status == 0 else { return ("fetch-failed", nil, "git: \(fetched.output)", 1) }
        let revision = Self.run(["git", "-C", checkout, "rev-parse", "--short=12", "HEAD"]).output
        let host = System.hostname()
        let hostDirectory = "\(checkout)/\(directory.replacing("%H", with: host))"
        guard System.fileExists("\(hostDirectory)/herald.toml") else {
            return ("invalid", revision, "no herald.toml in \(directory.replacing("%H", with: host)) of the repository", ConfigLoader.exitStatus)
        }
        let folder = "\(checkout)/\(secrets.replacing("%H", with: host))"
        let secretFiles = secrets.isEmpty ? [] : System.listDirectory(folder).filter { $0.hasSuffix(".sops") }
        if let refusal = Self.refusal(checkout: checkout, files: ["\(hostDirectory)/herald.toml"]
            + System.listDirectory("\(hostDirectory)/pools.d").filter { $0.hasSuffix(".toml") }.map { "\(hostDirectory)/pools.d/\($0)" }
            + secretFiles.map { "\(folder)/\($0)" }) {
            return ("invalid", revision, refusal, ConfigLoader.exitStatus)
        }
        let herald = FileSafety.user(named: "herald")
        for file in secretFiles {
            // The secret's bytes as sops gives them: a key file, a certificate, anything.
            // sops sees the age identity and nothing else of root's: a file of the
            // repository may name other key services (Vault, a cloud KMS), and root's
            // tokens for them (environment, ~/.vault-token) must not go there.
            let decrypted = Self.capture(["sops", "--decrypt", "--input-type", "binary", "--output-type", "binary",
                                          "\(folder)/\(file)"],
                                         environment: ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent",
                                                       "SOPS_AGE_KEY_FILE=\(ageIdentity)"])
            guard decrypted.status == 0 else {
                return ("decrypt-failed", revision, "sops \(file): \(Self.trimmed(decrypted.error))", 1)
            }
            let target = "/etc/herald/\(file.dropLast(".sops".count))"
            guard (try? System.readBytes(target)) != decrypted.output else { continue }
            do {
                try System.writeFileAtomically(target, bytes: decrypted.output, mode: 0o600, owner: herald.map { ($0.uid, $0.gid) })
            } catch {
                return ("decrypt-failed", revision, "\(error)", 1)
            }
        }
        let serviceUser = getuid() == 0 ? FileSafety.user(named: "herald") : nil
        do {
            switch try ConfigInstall.apply(source: hostDirectory, target: config, socket: socket, reload: true, serviceUser: serviceUser) {
            case .unchanged: return ("unchanged", revision, "\(config) is already this revision's config", 0)
            case .installed(let verdict?): return ("applied", revision, "installed; heraldd: \(verdict)", 0)
            case .installed(nil): return ("applied", revision, "installed; not reloaded", 0)
            case .installedNotRunning: return ("applied", revision, "installed; heraldd is not running", 0)
            }
        } catch {
            let result = error.status == ConfigLoader.exitStatus ? "invalid" : "refused"
            return (result, revision, error.lines.joined(separator: "; "), error.status)
        }
    }

    /// The names a secret may not take in /etc/herald: the config (checked before it is
    /// installed, which a secret is not), the age identity, and sync.env, which says what
    /// this unit runs as root.
    static let reservedNames: Set<String> = ["herald.toml", "pools.d", "sync.env", "age.key"]

    /// Why the repository's files may not be used, or nil. The repository is trusted with
    /// this host's Herald config, not with the host: every file it gives must lie inside the
    /// checkout once links are followed (a link to /etc/shadow would be read as root and
    /// echoed in an error), and a secret's name must be a plain file name of its own.
    static func refusal(checkout: String, files: [String]) -> String? {
        guard let inside = System.realPath(checkout) else { return "the checkout \(checkout) does not resolve" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for path in files {
            let shown = path.dropFirst(checkout.count + 1)
            guard let real = System.realPath(path), real.hasPrefix(inside + "/") else {
                return "\(shown) leads out of the repository (\(System.realPath(path) ?? "a link that does not resolve")): nothing installed"
            }
            guard path.hasSuffix(".sops") else { continue }
            let name = String(path.split(separator: "/").last!.dropLast(".sops".count))
            if name.isEmpty || reservedNames.contains(name) || name.hasPrefix(".") || !name.allSatisfy(allowed.contains) {
                return "\(shown): a secret may not be named \(name) (/etc/herald/\(name) is Herald's own, or not a plain file name): nothing installed"
            }
        }
        return nil
    }

    /// Runs a command found on PATH with this process's environment; its exit status and
    /// its standard output with standard error, as text without a trailing newline.
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let result = capture(arguments, mergeErrors: true)
        return (result.status, trimmed(result.output))
    }

    static func trimmed(_ bytes: [UInt8]) -> String { trimmed(String(decoding: bytes, as: UTF8.self)) }
    static func trimmed(_ text: String) -> String { text.hasSuffix("\n") ? String(text.dropLast()) : text }

    /// Runs a command found on PATH with `environment` (this process's when nil); its exit
    /// status, its standard output as bytes (with standard error, if `mergeErrors`) and its
    /// standard error (when not merged; the output when it printed nothing there).
    static func capture(_ arguments: [String], environment: [String]? = nil, mergeErrors: Bool = false)
        -> (status: Int32, output: [UInt8], error: [UInt8]) {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0]
        guard pipe(&out) == 0, pipe(&err) == 0 else { return (127, [], Array("cannot make a pipe".utf8)) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, mergeErrors ? out[1] : err[1], 2)
        for fd in out + err { posix_spawn_file_actions_addclose(&actions, fd) }
        var argv = arguments.map { strdup($0) } + [nil]
        var inherited: [String] = []
        var entry = Glibc.environ
        while environment == nil, let pointer = entry.pointee {
            inherited.append(String(cString: pointer))
            entry += 1
        }
        var envp = (environment ?? inherited).map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let started = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, &envp)
        close(out[1])
        close(err[1])
        defer {
            close(out[0])
            close(err[0])
        }
        guard started == 0 else { return (127, [], Array("cannot run \(arguments[0]): \(System.errorString(started))".utf8)) }
        func drain(_ fd: Int32) -> [UInt8] {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                bytes += buffer[..<count]
            }
            return bytes
        }
        // Standard error is small (a message); read it after standard output ends.
        let output = drain(out[0])
        let error = drain(err[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, output, error.isEmpty ? output : error)
    }
}
