import Glibc
import HeraldCore
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the `check` of every VIP this node may announce, each on a thread of its own
/// (a probe blocks for up to its timeout), and reports the set of passing checks when it
/// changes. A node is eligible for a checked VIP only while its check passes.
public final class HealthCheckService: Service, Sendable {
    /// One running check: its thread stops when `stop` is set and the wake signal fires.
    private final class Runner: Sendable {
        let vip: String
        let address: IPAddress
        let check: HealthCheck
        let stop = Mutex(false)
        let wake = WakeSignal()
        let thread: Mutex<DedicatedThread?> = Mutex(nil)

        init(vip: String, address: IPAddress, check: HealthCheck) {
            self.vip = vip
            self.address = address
            self.check = check
        }

        var stopping: Bool { stop.withLock { $0 } }

        func finish() {
            stop.withLock { $0 = true }
            wake.signal()
        }
    }

    let logger: Logger
    let onChange: @Sendable (Set<String>) -> Void
    private let passing = Mutex<Set<String>>([])
    private let runners = Mutex<[String: Runner]>([:])
    private let retired = Mutex<[Runner]>([])
    private let started = Mutex(false)

    public init(vips: [VIPConfig], logger: Logger, onChange: @escaping @Sendable (Set<String>) -> Void) {
        self.logger = logger
        self.onChange = onChange
        runners.withLock { $0 = Self.runners(for: vips) }
    }

    private static func runners(for vips: [VIPConfig]) -> [String: Runner] {
        Dictionary(vips.compactMap { vip in vip.check.map { (vip.name, Runner(vip: vip.name, address: vip.address, check: $0)) } },
                   uniquingKeysWith: { first, _ in first })
    }

    public var passingChecks: Set<String> { passing.withLock { $0 } }

    var isEmpty: Bool { runners.withLock { $0.isEmpty } }

    /// Applies a reloaded config: checks that did not change keep running with their
    /// state (a passing check stays passing), changed and new ones start afresh, removed
    /// ones stop and no longer count as passing.
    func update(vips: [VIPConfig]) {
        let wanted = Self.runners(for: vips)
        let (added, removed) = runners.withLock { current -> ([Runner], [Runner]) in
            var added: [Runner] = []
            var removed: [Runner] = []
            for (name, runner) in current where wanted[name].map({ $0.check != runner.check || $0.address != runner.address }) ?? true {
                removed.append(runner)
                current[name] = nil
            }
            for (name, runner) in wanted where current[name] == nil {
                current[name] = runner
                added.append(runner)
            }
            return (added, removed)
        }
        for runner in removed { runner.finish() }
        retired.withLock { $0 += removed }
        if !removed.isEmpty {
            let now = passing.withLock { set -> Set<String> in
                for runner in removed { set.remove(runner.vip) }
                return set
            }
            onChange(now)
        }
        if started.withLock({ $0 }) { added.forEach(start) }
    }

    private func start(_ runner: Runner) {
        runner.thread.withLock { $0 = DedicatedThread(name: "check-\(runner.vip)") { [self] in loop(runner) } }
    }

    public func run() async throws {
        let initial = runners.withLock { Array($0.values) }
        started.withLock { $0 = true }
        initial.forEach(start)
        await untilShutdown()
        let all = runners.withLock { Array($0.values) } + retired.withLock { $0 }
        for runner in all { runner.finish() }
        for runner in all { runner.thread.withLock { $0 }?.join() }
    }

    private func loop(_ runner: Runner) {
        let (vip, check) = (runner.vip, runner.check)
        var state = CheckState()
        while !runner.stopping {
            let ok = Self.probe(check.probe, timeout: check.timeout, environment: [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HERALD_VIP=\(runner.address)",
                "HERALD_VIP_NAME=\(vip)"])
            if runner.stopping { return }
            if state.record(ok, rise: check.rise, fall: check.fall) {
                let now = passing.withLock { set -> Set<String> in
                    if state.passing { set.insert(vip) } else { set.remove(vip) }
                    return set
                }
                logger.log(level: state.passing ? .info : .warning, "health check \(state.passing ? "passing" : "failing")",
                           metadata: ["vip": "\(runner.address)", "vip_name": "\(vip)", "check": "\(check.probe)"])
                onChange(now)
            }
            var fds = [pollfd(fd: runner.wake.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 1, Int32(check.interval.milliseconds))
        }
    }

    static func probe(_ probe: HealthCheck.Probe, timeout: Duration, environment: [String]) -> Bool {
        switch probe {
        case .tcp(let target):
            guard let address = UDPSocket.resolve(target) else { return false }
            return connects(to: address, timeout: timeout)
        case .command(let command):
            return runs(command, timeout: timeout, environment: environment)
        }
    }

    /// A TCP connect that completes within `timeout`.
    static func connects(to address: GossipAddress, timeout: Duration) -> Bool {
        let fd = socket(address.ip.isIPv4 ? AF_INET : AF_INET6,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var storage = UDPSocket.sockaddr(address)
        let length = socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        if result == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
        guard poll(&fds, 1, Int32(timeout.milliseconds)) == 1 else { return false }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0
    }

    /// `/bin/sh -c command` exits 0 within `timeout`. It runs in a process group of its
    /// own, killed as a whole when it is done or late (nothing it started lingers to pile
    /// up against TasksMax), with `environment` only (PATH and the VIP it checks), and
    /// without the capabilities heraldd was given (setpriv drops the inherited and ambient
    /// sets before sh starts, so a check cannot send raw frames).
    static func runs(_ command: String, timeout: Duration, environment: [String]) -> Bool {
        guard let pid = System.spawn([setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--", "/bin/sh", "-c", command],
                                     environment: environment) else { return false }
        defer { kill(-pid, SIGKILL) }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return (status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0 }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)
        waitpid(pid, &status, 0)
        return false
    }

    /// util-linux's setpriv (Debian's essential set).
    static let setpriv = "/usr/bin/setpriv"
}
