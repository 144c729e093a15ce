import Glibc
import HeraldCore
import HeraldKube
import HeraldSystem
import HeraldWire

/// Reads `herald.toml` and `pools.d/*.toml` next to it, and runs the pure decoder and
/// validator. Also checks what only this host can tell: its interfaces, addresses and
/// routes; the key file and kubeconfig (present, private, readable by the user heraldd
/// runs as); the user health checks run as, and that only root can change a file holding
/// a check's command. `offline` leaves those out, for CI on a repository of host configs
/// whose secrets are encrypted (`heraldctl check --offline`). heraldd and `heraldctl
/// check` both load through here, so they accept and refuse the same configs.
public enum ConfigLoader {
    /// Exit status for a config that does not validate (sysexits EX_CONFIG), from heraldd
    /// and `heraldctl check`; the unit does not restart on it, since restarting cannot fix
    /// the file.
    public static let exitStatus: Int32 = 78

    /// `serviceUser`: the user heraldd runs as, when that is not the caller (`heraldctl
    /// check` run as root checks for the unit's user).
    public static func load(path: String, host: HostFacts? = nil, offline: Bool = false,
                            serviceUser: UserIdentity? = nil) -> Result<LoadedConfig, ConfigErrors> {
        let host = host ?? (offline ? HostFacts(hostname: "(its host name)", interfaces: []) : InterfaceDiscovery.hostFacts())
        let main: ConfigFile
        do {
            main = ConfigFile(path: path, text: try System.readFile(path))
        } catch {
            return .failure(ConfigErrors([ConfigError(SourceLocation(file: path, line: 0), "", error.description)]))
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let fragmentDirectory = (directory.isEmpty ? "" : directory) + "/pools.d"
        var fragments: [ConfigFile] = []
        var errors: [ConfigError] = []
        for name in System.listDirectory(fragmentDirectory) where name.hasSuffix(".toml") {
            let fragmentPath = "\(fragmentDirectory)/\(name)"
            do {
                fragments.append(ConfigFile(path: fragmentPath, text: try System.readFile(fragmentPath)))
            } catch {
                errors.append(ConfigError(SourceLocation(file: fragmentPath, line: 0), "", error.description))
            }
        }
        let config: HeraldConfig
        switch ConfigDecoder.decode(main: main, fragments: fragments) {
        case .success(let decoded): config = decoded
        case .failure(let decodeErrors): return .failure(ConfigErrors(errors + decodeErrors.errors))
        }
        errors += ConfigValidator.validate(config, host: offline ? nil : host)
        let nodeName = config.node.name ?? host.hostname
        var checkUser: UserIdentity?
        if !offline {
            let reader = serviceUser ?? FileSafety.currentUser()
            if let gossip = config.gossip, !gossip.insecure, let keyFile = gossip.keyFile,
               let problem = keyFileProblem(keyFile, reader: reader) {
                errors.append(ConfigError(gossip.keyFileLocation ?? SourceLocation(file: path, line: 0), "gossip.key_file", problem))
            }
            if let kubernetes = config.kubernetes, let problem = kubernetesAccessProblem(kubernetes, reader: reader) {
                errors.append(ConfigError(config.sectionLocations["kubernetes"] ?? SourceLocation(file: path, line: 0),
                                          "kubernetes.kubeconfig", problem))
            }
            let checks = commandChecks(config, nodeName: nodeName, serviceUser: reader)
            checkUser = checks.user
            errors += checks.errors
        }
        guard errors.isEmpty else { return .failure(ConfigErrors(errors)) }
        return .success(LoadedConfig(config: config, nodeName: nodeName, host: host, files: [path] + fragments.map(\.path),
                                     checkUser: checkUser))
    }

    /// The user health-check commands run as, and what stands against running them: no
    /// such user, one that is root or heraldd's own, or a command that others than root
    /// could change (in its config file, or the program it names).
    private static func commandChecks(_ config: HeraldConfig, nodeName: String, serviceUser: UserIdentity)
        -> (user: UserIdentity?, errors: [ConfigError]) {
        var errors: [ConfigError] = []
        let commands = config.vips.filter { $0.allows(node: nodeName) }.compactMap { vip -> (VIPConfig, String)? in
            guard case .command(let command)? = vip.check?.probe else { return nil }
            return (vip, command)
        }
        let user = FileSafety.user(named: config.node.checkUser)
        let location = config.node.checkUserLocation ?? commands.first?.0.location ?? SourceLocation(file: "", line: 0)
        if let user, user.uid == 0 {
            errors.append(ConfigError(location, "node.check_user", "'\(user.name)' has uid 0: health checks never run as root"))
        } else if let user, !commands.isEmpty, user.uid == serviceUser.uid, serviceUser.uid != 0 {
            errors.append(ConfigError(location, "node.check_user", "'\(user.name)' is the user heraldd runs as, who can read the gossip key, the kubeconfig and the control socket: checks need a user of their own (the package's is \(NodeSettings.defaultCheckUser))"))
        } else if user == nil, !commands.isEmpty {
            errors.append(ConfigError(location, "node.check_user", "no user '\(config.node.checkUser)' on this host to run health-check commands as: the package creates \(NodeSettings.defaultCheckUser) (systemd-sysusers herald.conf); or name another unprivileged user"))
        }
        var examined: Set<String> = []
        for (vip, command) in commands {
            let file = vip.location.file
            if examined.insert(file).inserted, let problem = FileSafety.changeableByOthers(FileSafety.absolute(file)) {
                errors.append(ConfigError(vip.location, "vip.check.command", "\(file) holds a command check, but \(problem); a check runs a command on this host, so only root may change the file and its directories: chown root:root \(file) && chmod go-w \(file)"))
            }
            let program = String(command.trimmingWhitespace.prefix { $0 != " " && $0 != "\t" })
            if program.hasPrefix("/"), examined.insert(program).inserted, let problem = FileSafety.changeableByOthers(program) {
                errors.append(ConfigError(vip.location, "vip.check.command", "the check's program \(program): \(problem); only root may change a program heraldd runs: chown root:root \(program) && chmod go-w \(program)"))
            }
        }
        return (user, errors)
    }

    /// How heraldd reaches the API server: the kubeconfig, or (without one) the pod's
    /// service account, which a systemd service never has.
    package static func kubernetesAccessProblem(_ settings: KubernetesSettings, reader: UserIdentity) -> String? {
        if let kubeconfig = settings.kubeconfig { return kubeconfigProblem(kubeconfig, reader: reader) }
        let environment = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"].reduce(into: [String: String]()) {
            $0[$1] = System.environment($1)
        }
        do {
            _ = try KubeConfigLoader.inCluster(environment: environment)
            return nil
        } catch {
            return "\(error); a host service needs kubernetes.kubeconfig = a kubeconfig for heraldd (see herald.toml(5))"
        }
    }

    /// A kubeconfig holds credentials: it must be a regular file nobody but its owner and
    /// group may change and others may not read (root:herald 0640 is the usual), that
    /// `reader` (heraldd's user) can read, and that parses and names a server and credentials.
    package static func kubeconfigProblem(_ path: String, reader: UserIdentity) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot use kubeconfig \(path): \(System.errorString(errno))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        let mode = String(info.st_mode & 0o777, radix: 8)
        guard info.st_mode & 0o022 == 0 else {
            return "\(path) can be changed by group or others (mode \(mode)); run: chmod 640 \(path)"
        }
        guard info.st_mode & 0o004 == 0 else {
            return "\(path) holds credentials and others can read it (mode \(mode)); run: chmod 640 \(path)"
        }
        if let problem = FileSafety.unreadable(info, by: reader) {
            return "cannot use kubeconfig \(path): \(problem); run: chown root:\(reader.name) \(path) && chmod 640 \(path)"
        }
        do {
            _ = try KubeConfigLoader.load(path: path)
        } catch {
            return error.description
        }
        return nil
    }

    /// The gossip key must be readable by `reader` (heraldd's user) and by nobody else.
    package static func keyFileProblem(_ path: String, reader: UserIdentity) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot use key file \(path): \(System.errorString(errno))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        guard info.st_mode & 0o077 == 0 else {
            return "\(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
        }
        if let problem = FileSafety.unreadable(info, by: reader) {
            return "cannot use key file \(path): \(problem); run: chown \(reader.name):\(reader.name) \(path)"
        }
        do {
            if case .failure(let error) = Keyring.parse(try System.readFile(path, limit: 64 << 10)) {
                return "\(path)\(error.line > 0 ? ":\(error.line)" : ""): \(error.message)"
            }
        } catch {
            return error.description
        }
        return nil
    }
}
