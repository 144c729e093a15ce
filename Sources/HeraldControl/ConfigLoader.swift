import Glibc
import HeraldCore
import HeraldKube
import HeraldWire

/// Reads `herald.toml` and `pools.d/*.toml` next to it, and runs the pure decoder and
/// validator. Also checks what only this host can tell: its interfaces, and the key file
/// and kubeconfig (present, private, readable). `offline` leaves those out, for CI on a
/// repository of host configs whose secrets are encrypted (`heraldctl check --offline`).
public enum ConfigLoader {
    /// Exit status for a config that does not validate (sysexits EX_CONFIG), from heraldd
    /// and `heraldctl check`; the unit does not restart on it, since restarting cannot fix
    /// the file.
    public static let exitStatus: Int32 = 78

    public static func load(path: String, host: HostFacts? = nil, offline: Bool = false) -> Result<LoadedConfig, ConfigErrors> {
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
        if !offline {
            if let gossip = config.gossip, !gossip.insecure, let keyFile = gossip.keyFile,
               let problem = keyFileProblem(keyFile) {
                errors.append(ConfigError(gossip.keyFileLocation ?? SourceLocation(file: path, line: 0), "gossip.key_file", problem))
            }
            if let kubernetes = config.kubernetes, let problem = kubernetesAccessProblem(kubernetes) {
                errors.append(ConfigError(config.sectionLocations["kubernetes"] ?? SourceLocation(file: path, line: 0),
                                          "kubernetes.kubeconfig", problem))
            }
        }
        guard errors.isEmpty else { return .failure(ConfigErrors(errors)) }
        return .success(LoadedConfig(config: config, nodeName: config.node.name ?? host.hostname, host: host,
                                     files: [path] + fragments.map(\.path)))
    }

    /// How heraldd reaches the API server: the kubeconfig, or (without one) the pod's
    /// service account, which a systemd service never has.
    package static func kubernetesAccessProblem(_ settings: KubernetesSettings) -> String? {
        if let kubeconfig = settings.kubeconfig { return kubeconfigProblem(kubeconfig) }
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
    /// parses and names a server and credentials.
    package static func kubeconfigProblem(_ path: String) -> String? {
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
        do {
            _ = try KubeConfigLoader.load(path: path)
        } catch {
            return error.description
        }
        return nil
    }

    /// The gossip key must be readable by us and by nobody else.
    package static func keyFileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot use key file \(path): \(System.errorString(errno))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        guard info.st_mode & 0o077 == 0 else {
            return "\(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
        }
        guard access(path, R_OK) == 0 else { return "cannot read key file \(path): \(System.errorString(errno))" }
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
