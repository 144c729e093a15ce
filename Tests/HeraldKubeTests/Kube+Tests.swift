import CLinux
import FoundationEssentials
import Glibc
import HeraldKube
import HeraldSystem
import HeraldTestKit
import Synchronization
import Testing
@testable import HeraldDaemon

/// The test API server (Tests/support/kube-apiserver.py) on a loopback port, with its own
/// CA and client certificates (Tests/support/kube-pki.sh). Stopped when released.
final class TestAPIServer: @unchecked Sendable {
    let directory: String
    let address: String
    private var pid: pid_t = 0

    static let support: String = {
        // #filePath is ROOT/Tests/HeraldKubeTests/Kube+Tests.swift.
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        return parts.dropLast(2).joined(separator: "/") + "/support"
    }()

    init() throws {
        var template = Array("/tmp/herald-kube-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template))
        address = "127.0.0.1:\(Int.random(in: 20000...45000))"
        #expect(Self.run(["/bin/bash", "\(Self.support)/kube-pki.sh", directory, address]) == 0)
        let token = try String(contentsOfFile: "\(directory)/token", encoding: .utf8).trimmingWhitespace
        pid = spawn(["/usr/bin/python3", "\(Self.support)/kube-apiserver.py", "--listen", address,
                            "--cert", "\(directory)/server.crt", "--key", "\(directory)/server.key",
                            "--client-ca", "\(directory)/ca.crt", "--token", token], environment: Self.environment) ?? 0
        // Ready when it answers /version (at most 10 s).
        let admin = try credentials("admin")
        for _ in 0..<100 {
            if (try? KubeHTTP(credentials: admin).request("GET", "/version")) != nil { return }
            usleep(100_000)
        }
        Issue.record("test API server did not start")
    }

    deinit {
        if pid > 0 {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        _ = Self.run(["/bin/rm", "-rf", directory])
    }

    func kubeconfig(_ name: String) -> String { "\(directory)/\(name).kubeconfig" }

    func credentials(_ name: String) throws -> KubeCredentials { try KubeConfigLoader.load(path: kubeconfig(name)) }

    /// A request as the admin (kubectl's identity).
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: String? = nil) throws -> [UInt8] {
        try KubeHTTP(credentials: credentials("admin")).request(method, path, body: body.map { Array($0.utf8) })
    }

    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    static func run(_ arguments: [String]) -> Int32 {
        guard let pid = spawn(arguments, environment: environment) else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (status >> 8) & 0xFF
    }
}

func serviceJSON(_ name: String, annotations: String = "{}") -> String {
    """
    {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","annotations":\(annotations)},
     "spec":{"type":"LoadBalancer","selector":{"app":"\(name)"},"ports":[{"port":80,"protocol":"TCP"}]}}
    """
}

@Suite(.serialized) struct KubeClientTests {
    @Test func everyKindOfCredentialWorksAndBadOnesSayWhy() async throws {
        let server = try TestAPIServer()
        try server.admin("POST", "/api/v1/namespaces/default/services", serviceJSON("web"))
        for name in ["herald", "herald-inline", "herald-token"] {
            let credentials = try server.credentials(name)
            let body = try await offPool { Result { try KubeHTTP(credentials: credentials).request("GET", "/api/v1/services") } }.get()
            let list = try JSONDecoder().decode(ObjectList<KubeService>.self, from: Data(body))
            #expect(list.items.map(\.key) == ["default/web"], "with \(name)")
        }
        // A wrong token: 401, reported as a credentials problem.
        var wrongToken = try server.credentials("herald-token")
        wrongToken.token = "not-the-token"
        let wrong = wrongToken
        let refused = await offPool { Result { try KubeHTTP(credentials: wrong).request("GET", "/api/v1/services") } }
        #expect(throws: KubeError.unauthorized(401, "Unauthorized")) { try refused.get() }
        // A server certificate our CA did not sign: the TLS handshake fails.
        var otherCA = try server.credentials("herald")
        otherCA.certificateAuthority = .file("/etc/ssl/certs/ca-certificates.crt")
        let untrusted = otherCA
        let rejected = await offPool { Result { try KubeHTTP(credentials: untrusted).request("GET", "/api/v1/services") } }
        #expect { try rejected.get() } throws: { error in
            guard case KubeError.transport(let message) = error else { return false }
            return message.lowercased().contains("certificate") || message.lowercased().contains("ssl")
        }
    }

    @Test func aKubeconfigNestedDeepIsRefusedAtTheLimit() {
        // libyaml slows down with the square of the depth: 100,000 levels took > 25 s.
        let deep = "apiVersion: v1\nclusters: " + String(repeating: "[", count: 100_000) + "\n"
        do {
            _ = try KubeConfigLoader.parse(deep, path: "k")
            Issue.record("a kubeconfig nested 100,000 deep was accepted")
        } catch {
            #expect("\(error)".contains("nested more than 64 deep"), "\(error)")
        }
    }

    @Test func kubeconfigProblemsAreNamed() throws {
        let base = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: c
              cluster:
                server: https://198.51.100.5:6443/
                certificate-authority: ca.crt
            users:
            - name: u
              user:
                tokenFile: token
            contexts:
            - name: x
              context: {cluster: c, user: u, namespace: infra}
            current-context: x
            """
        let credentials = try KubeConfigLoader.parse(base, path: "/etc/herald/kubeconfig")
        #expect(credentials.server == "https://198.51.100.5:6443")
        #expect(credentials.certificateAuthority == .file("/etc/herald/ca.crt"))
        #expect(credentials.tokenFile == "/etc/herald/token")
        #expect(credentials.namespace == "infra")
        let insecure = base.replacing("certificate-authority: ca.crt", with: "insecure-skip-tls-verify: true")
        #expect(throws: KubeConfigError("kubeconfig k: insecure-skip-tls-verify is refused: Herald always verifies the API server; give certificate-authority or certificate-authority-data")) {
            try KubeConfigLoader.parse(insecure, path: "k")
        }
        let noUser = base.replacing("tokenFile: token", with: "username: bob")
        #expect(throws: KubeConfigError("kubeconfig k: user 'u' has no credentials (client certificate, token or tokenFile)")) {
            try KubeConfigLoader.parse(noUser, path: "k")
        }
        #expect(throws: KubeConfigError("kubeconfig k: contexts has no entry named 'y'")) {
            try KubeConfigLoader.parse(base.replacing("current-context: x", with: "current-context: y"), path: "k")
        }
        #expect(throws: KubeConfigError("no kubernetes.kubeconfig set and not in a pod (KUBERNETES_SERVICE_HOST is unset)")) {
            try KubeConfigLoader.inCluster(environment: [:])
        }
    }

    @Test func aStaleStatusWriteIsAConflict() async throws {
        let server = try TestAPIServer()
        let created = try JSONDecoder().decode(KubeService.self, from: Data(try server.admin("POST", "/api/v1/namespaces/default/services", serviceJSON("web"))))
        try server.admin("PATCH", "/api/v1/namespaces/default/services/web", #"{"metadata":{"labels":{"x":"y"}}}"#)
        var stale = created
        stale.status = KubeService.Status(loadBalancer: .init(ingress: [.init(ip: "198.51.100.100")]))
        let body = try JSONEncoder().encode(stale)
        let credentials = try server.credentials("herald")
        let result = await offPool { Result { try KubeHTTP(credentials: credentials).request("PUT", "/api/v1/namespaces/default/services/web/status", body: Array(body)) } }
        #expect { try result.get() } throws: { error in
            if case KubeError.conflict = error { true } else { false }
        }
    }

    @Test func theWatcherSeesEveryChangeAndRelistsAfter410() async throws {
        let server = try TestAPIServer()
        try server.admin("POST", "/api/v1/namespaces/default/services", serviceJSON("a"))
        let seen = Mutex<[String]>([])
        let errors = Mutex<[String]>([])
        let watcher = try Watcher<KubeService>(credentials: try server.credentials("herald"), path: "/api/v1/services", onUpdate: { update in
            let line = switch update {
            case .replaced(let all): "replaced " + all.map(\.key).sorted().joined(separator: ",")
            case .added(let service): "added \(service.key)"
            case .modified(let service): "modified \(service.key) \(service.status?.loadBalancer?.ingress?.compactMap(\.ip) ?? [])"
            case .deleted(let service): "deleted \(service.key)"
            }
            seen.withLock { $0.append(line) }
        }, onError: { error, _ in errors.withLock { $0.append("\(error)") } })
        let finished = Task { await offPool { watcher.run() } }
        func waitFor(_ line: String) async -> Bool {
            for _ in 0..<100 {
                if seen.withLock({ $0.contains(line) }) { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        #expect(await waitFor("replaced default/a"))
        try server.admin("POST", "/api/v1/namespaces/default/services", serviceJSON("b"))
        #expect(await waitFor("added default/b"))
        let b = try JSONDecoder().decode(KubeService.self, from: Data(try server.admin("GET", "/api/v1/namespaces/default/services/b")))
        var updated = b
        updated.status = KubeService.Status(loadBalancer: .init(ingress: [.init(ip: "198.51.100.101")]))
        try server.admin("PUT", "/api/v1/namespaces/default/services/b/status", String(decoding: try JSONEncoder().encode(updated), as: UTF8.self))
        #expect(await waitFor("modified default/b [\"198.51.100.101\"]"))
        // History is compacted and every watch is cut: the watcher's next watch gets 410
        // and it lists again, seeing what changed meanwhile.
        try server.admin("DELETE", "/api/v1/namespaces/default/services/a")
        try server.admin("POST", "/debug/compact")
        try server.admin("POST", "/debug/close")
        try server.admin("POST", "/api/v1/namespaces/default/services", serviceJSON("c"))
        #expect(await waitFor("replaced default/b,default/c") || seen.withLock { $0.contains("added default/c") })
        // Whether the watcher relisted (410) or caught the deletion before the cut, the
        // objects it reported add up to what the server holds.
        var known: Set<String> = []
        for line in seen.withLock({ $0 }) {
            let words = line.split(separator: " ")
            switch words[0] {
            case "replaced": known = Set(words.count > 1 ? words[1].split(separator: ",").map(String.init) : [])
            case "added", "modified": known.insert(String(words[1]))
            default: known.remove(String(words[1]))
            }
        }
        #expect(known == ["default/b", "default/c"], "\(seen.withLock { $0 })")
        watcher.stop()
        await finished.value
        #expect(errors.withLock { $0 }.isEmpty, "\(errors.withLock { $0 })")
    }

    @Test func aListKeepsTheObjectsThatDecodeAndSaysWhichDidNot() throws {
        let body = #"{"metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a","namespace":"default"}},{"metadata":{"name":42}},{"metadata":{"name":"c"}}]}"#
        let list = try JSONDecoder().decode(ObjectList<KubeService>.self, from: Data(body.utf8))
        #expect(list.items.map(\.key) == ["default/a", "default/c"])
        #expect(list.skipped.count == 1)
    }

    @Test func backoffDoublesToItsCapWithJitter() {
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        var random = SplitMix64(state: 7)
        let delays = (0..<10).map { _ in backoff.next(using: &random) }
        for (index, delay) in delays.enumerated() {
            let base = min(Duration.milliseconds(500) * (1 << index), .seconds(30))
            #expect(delay >= base * 0.8 && delay <= base * 1.2, "attempt \(index): \(delay)")
        }
        backoff.reset()
        #expect(backoff.next(using: &random) <= .milliseconds(600))
    }
}

/// Starts `arguments[0]` (a path) as the leader of a new process group (so it can be
/// killed with everything it starts), with `environment` only, standard input and output
/// on /dev/null, every other descriptor closed and every signal at its default (the test
/// process ignores SIGPIPE; a child would inherit that). `nil` if it cannot be started.
func spawn(_ arguments: [String], environment: [String]) -> pid_t? {
    var pid: pid_t = 0
    var argv = arguments.map { strdup($0) } + [nil]
    var envp = environment.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
    _ = withUnsafeMutablePointer(to: &actions) { posix_spawn_file_actions_addclosefrom_np($0, 3) }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var reset = sigset_t()
    sigemptyset(&reset)
    sigaddset(&reset, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &reset)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
    guard posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp) == 0 else { return nil }
    return pid
}
