import Glibc
import HeraldControl
import HeraldCore
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the `check` of every VIP this node may announce, each on a thread of its own (a
/// probe blocks for up to its timeout), and posts every result to the node service, whose
/// machine applies rise and fall: whether a check passes is decided there, with or without
/// gossip.
final class HealthCheckService: Service, Sendable {
    /// One running check: its thread stops when `loop` is stopped.
    private final class Runner: Sendable {
        let vip: String
        let address: IPAddress
        let check: HealthCheck
        let loop: ThreadLoop

        init(vip: String, address: IPAddress, check: HealthCheck) {
            self.vip = vip
            self.address = address
            self.check = check
            loop = ThreadLoop("check-\(vip)")
        }
    }

    private let node: NodeInbox
    private let runners = Mutex<[String: Runner]>([:])
    /// Runners to start: the first ones, then those a reload adds.
    private let started: AsyncStream<Runner>
    private let starter: AsyncStream<Runner>.Continuation

    init(vips: [VIPConfig], node: NodeInbox) {
        self.node = node
        (started, starter) = AsyncStream.makeStream()
        let initial = Self.runners(for: vips)
        runners.withLock { $0 = initial }
        for runner in initial.values.sorted(by: { $0.vip < $1.vip }) { starter.yield(runner) }
    }

    private static func runners(for vips: [VIPConfig]) -> [String: Runner] {
        Dictionary(vips.compactMap { vip in vip.check.map { (vip.name, Runner(vip: vip.name, address: vip.address, check: $0)) } },
                   uniquingKeysWith: { first, _ in first })
    }

    /// Applies a reloaded config: checks that did not change keep running, changed and new
    /// ones start afresh, removed ones stop.
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
        for runner in removed { runner.loop.stop() }
        for runner in added { starter.yield(runner) }
    }

    func run() async throws {
        // Each runner stops on the graceful shutdown (a probe in flight is abandoned within
        // 100 ms, and a command's process group killed), and the group waits for all.
        await withDiscardingTaskGroup { group in
            for await runner in started.cancelOnGracefulShutdown() {
                group.addTask { [self] in await runner.loop.run { self.probeLoop(runner) } }
            }
        }
    }

    private func probeLoop(_ runner: Runner) {
        let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HERALD_VIP=\(runner.address)",
                           "HERALD_VIP_NAME=\(runner.vip)"]
        while !runner.loop.isStopping {
            let ok = Self.probe(runner.check.probe, timeout: runner.check.timeout, environment: environment) { runner.loop.isStopping }
            if runner.loop.isStopping { return }
            node.post(.check(runner.vip, passed: ok))
            runner.loop.wake.wait(milliseconds: Int32(runner.check.interval.milliseconds))
        }
    }

    static func probe(_ probe: HealthCheck.Probe, timeout: Duration, environment: [String],
                      stopping: () -> Bool = { false }) -> Bool {
        switch probe {
        case .tcp(let target):
            guard let address = UDPSocket.resolve(target) else { return false }
            return connects(to: address, timeout: timeout, stopping: stopping)
        case .command(let command):
            return runs(command, timeout: timeout, environment: environment, stopping: stopping)
        }
    }

    /// A TCP connect that completes within `timeout` (abandoned when `stopping()`).
    static func connects(to address: GossipAddress, timeout: Duration, stopping: () -> Bool = { false }) -> Bool {
        let fd = socket(address.ip.isIPv4 ? AF_INET : AF_INET6,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var storage = UDPSocket.sockaddr(address)
        let length = socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        if result == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        let deadline = ContinuousClock.now + timeout
        var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero, !stopping() else { return false }
            if poll(&fds, 1, Int32(min(left, .milliseconds(100)).milliseconds + 1)) == 1 { break }
        }
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
    static func runs(_ command: String, timeout: Duration, environment: [String], stopping: () -> Bool = { false }) -> Bool {
        guard let pid = System.spawn([setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--", "/bin/sh", "-c", command],
                                     environment: environment) else { return false }
        defer { kill(-pid, SIGKILL) }
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline && !stopping() {
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
