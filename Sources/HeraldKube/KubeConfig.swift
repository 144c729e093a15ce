import FoundationEssentials
import Glibc
import HeraldCore

/// How to reach and authenticate to the Kubernetes API server: read from a kubeconfig
/// file, or from the service-account files a pod gets. TLS is always verified.
public struct KubeCredentials: Equatable, Sendable {
    /// PEM from a file, or given inline (a kubeconfig's `*-data` fields, base64-decoded).
    public enum Material: Equatable, Sendable {
        case file(String)
        case data([UInt8])
    }

    /// `https://host:port`, without a trailing slash.
    public var server: String
    /// The CA that signed the server's certificate; `nil`: the system's CAs.
    public var certificateAuthority: Material?
    public var clientCertificate: Material?
    public var clientKey: Material?
    public var token: String?
    /// Read again before each request, as projected service-account tokens rotate.
    public var tokenFile: String?
    public var namespace = "default"

    public init(server: String) { self.server = server }
}

public struct KubeConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

public enum KubeConfigLoader {
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// Reads a kubeconfig file and resolves its current context. File paths in it are
    /// relative to the file's directory, as kubectl reads them.
    public static func load(path: String) throws(KubeConfigError) -> KubeCredentials {
        let text: String
        do {
            text = try readText(path)
        } catch {
            throw KubeConfigError("cannot read kubeconfig \(path): \(error.message)")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(KubeConfigError) -> KubeCredentials {
        let root: YAMLValue
        do {
            root = try YAMLValue.parse(text)
        } catch {
            throw KubeConfigError("kubeconfig \(path): \(error.message)")
        }
        guard case .mapping = root else { throw KubeConfigError("kubeconfig \(path): not a YAML mapping") }
        func named(_ list: String, _ name: String, _ field: String) throws(KubeConfigError) -> YAMLValue {
            guard let entry = (root[list]?.list ?? []).first(where: { $0["name"]?.string == name }) else {
                throw KubeConfigError("kubeconfig \(path): \(list) has no entry named '\(name)'")
            }
            return entry[field] ?? .mapping([:])
        }
        guard let contextName = root["current-context"]?.string, !contextName.isEmpty else {
            throw KubeConfigError("kubeconfig \(path): no current-context")
        }
        let context = try named("contexts", contextName, "context")
        guard let clusterName = context["cluster"]?.string else {
            throw KubeConfigError("kubeconfig \(path): context '\(contextName)' names no cluster")
        }
        let cluster = try named("clusters", clusterName, "cluster")
        let userName = context["user"]?.string
        let user = try userName.map { name throws(KubeConfigError) in try named("users", name, "user") } ?? .mapping([:])
        guard var server = cluster["server"]?.string, server.hasPrefix("https://") else {
            throw KubeConfigError("kubeconfig \(path): cluster '\(clusterName)' needs an https:// server")
        }
        if cluster["insecure-skip-tls-verify"]?.string == "true" {
            throw KubeConfigError("kubeconfig \(path): insecure-skip-tls-verify is refused: Herald always verifies the API server; give certificate-authority or certificate-authority-data")
        }
        if user["exec"] != nil || user["auth-provider"] != nil {
            throw KubeConfigError("kubeconfig \(path): user '\(userName ?? "")' uses exec/auth-provider credentials, which Herald does not run; use a client certificate or a token")
        }
        while server.hasSuffix("/") { server.removeLast() }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        func material(_ fileKey: String, _ dataKey: String, in map: YAMLValue) throws(KubeConfigError) -> KubeCredentials.Material? {
            if let data = map[dataKey]?.string {
                guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters), !bytes.isEmpty else {
                    throw KubeConfigError("kubeconfig \(path): \(dataKey) is not valid base64")
                }
                return .data(Array(bytes))
            }
            if let file = map[fileKey]?.string { return .file(file.hasPrefix("/") ? file : "\(directory)/\(file)") }
            return nil
        }
        var credentials = KubeCredentials(server: server)
        credentials.certificateAuthority = try material("certificate-authority", "certificate-authority-data", in: cluster)
        credentials.clientCertificate = try material("client-certificate", "client-certificate-data", in: user)
        credentials.clientKey = try material("client-key", "client-key-data", in: user)
        credentials.token = user["token"]?.string
        credentials.tokenFile = user["tokenFile"]?.string.map { $0.hasPrefix("/") ? $0 : "\(directory)/\($0)" }
        credentials.namespace = context["namespace"]?.string ?? "default"
        if (credentials.clientCertificate == nil) != (credentials.clientKey == nil) {
            throw KubeConfigError("kubeconfig \(path): user '\(userName ?? "")' needs both a client certificate and its key")
        }
        if credentials.clientCertificate == nil && credentials.token == nil && credentials.tokenFile == nil {
            throw KubeConfigError("kubeconfig \(path): user '\(userName ?? "")' has no credentials (client certificate, token or tokenFile)")
        }
        return credentials
    }

    /// The pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, its token (re-read
    /// before each request) and the cluster CA.
    public static func inCluster(environment: [String: String], directory: String = serviceAccountDirectory) throws(KubeConfigError) -> KubeCredentials {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw KubeConfigError("no kubernetes.kubeconfig set and not in a pod (KUBERNETES_SERVICE_HOST is unset)")
        }
        guard access("\(directory)/token", R_OK) == 0 else {
            throw KubeConfigError("in-cluster credentials: cannot read \(directory)/token")
        }
        var credentials = KubeCredentials(server: host.contains(":") ? "https://[\(host)]:\(port)" : "https://\(host):\(port)")
        credentials.certificateAuthority = .file("\(directory)/ca.crt")
        credentials.tokenFile = "\(directory)/token"
        if let namespace = try? readText("\(directory)/namespace") { credentials.namespace = namespace.trimmingWhitespace }
        return credentials
    }

    static func readText(_ path: String) throws(KubeConfigError) -> String {
        guard let file = fopen(path, "r") else { throw KubeConfigError(String(cString: strerror(errno))) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer[..<count]
            if bytes.count > 4 << 20 { throw KubeConfigError("larger than 4 MB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
