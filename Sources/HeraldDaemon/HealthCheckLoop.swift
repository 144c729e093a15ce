import Glibc
import HeraldCore
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the `check` of every VIP this node may announce, each on a thread of its own (a
/// probe blocks for up to its timeout), and posts every result to the node loop, whose
/// machine applies rise and fall: whether a check passes is decided there, with or without
/// gossip. A failed run says why in the journal (exit status and the first line of its
/// standard error, a signal, a timeout, a refused connection), at most once a minute per VIP.
final class HealthCheckLoop: Service, Sendable {
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
    private let logger: Logger
    /// The user command checks run as (`node.check_user`), fixed at start.
    private let user: UserIdentity?
    private let runners = Mutex<[String: Runner]>([:])
    /// The last outcome of each VIP's check (by name), for `heraldctl explain`.
    private let outcomes = Mutex<[String: CheckOutcome]>([:])
    /// Runners to start: the first ones, then those a reload adds.
    private let started: AsyncStream<Runner>
    private let starter: AsyncStream<Runner>.Continuation

    init(vips: [VIPConfig], user: UserIdentity?, node: NodeInbox, logger: Logger) {
        self.node = node
        self.user = user
        self.logger = logger
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
        outcomes.withLock { current in
            for runner in removed { current[runner.vip] = nil }
        }
        for runner in added { starter.yield(runner) }
    }

    /// How the last run of VIP `name`'s check ended, if it has run.
    func lastOutcome(_ name: String) -> CheckOutcome? { outcomes.withLock { $0[name] } }

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
        var failures = RateLimitedLog(interval: .seconds(60))
        var previous: CheckOutcome?
        while !runner.loop.isStopping {
            let outcome = probe(runner.check, environment: environment, wake: runner.loop.wake.fd) { runner.loop.isStopping }
            if runner.loop.isStopping { return }
            outcomes.withLock { $0[runner.vip] = outcome }
            if case .failed(let reason) = outcome, let held = failures.admit(now: .now) {
                var metadata: Logger.Metadata = ["vip": "\(runner.address)", "vip_name": "\(runner.vip)", "reason": "\(reason)"]
                if held > 0 { metadata["failures_not_logged"] = "\(held)" }
                logger.warning("health check failed: \(reason)", metadata: metadata)
            } else if outcome.passed, let previous, !previous.passed {
                logger.info("health check passed", metadata: ["vip": "\(runner.address)", "vip_name": "\(runner.vip)"])
            }
            previous = outcome
            node.post(.check(runner.vip, passed: outcome.passed))
            runner.loop.wake.wait(milliseconds: Int32(runner.check.interval.milliseconds))
        }
    }

    private func probe(_ check: HealthCheck, environment: [String], wake: Int32, stopping: () -> Bool) -> CheckOutcome {
        switch check.probe {
        case .tcp(let target):
            guard let address = UDPSocket.resolve(target) else { return .failed("cannot resolve \(target)") }
            return Self.connect(to: address, timeout: check.timeout, wake: wake, stopping: stopping)
        case .command(let command):
            return ConfinedCommand.run(command, as: user, timeout: check.timeout, environment: environment, wake: wake, stopping: stopping)
        }
    }

    /// A TCP connect that completes within `timeout` (abandoned when `stopping()`).
    static func connect(to address: GossipAddress, timeout: Duration, wake: Int32? = nil, stopping: () -> Bool = { false }) -> CheckOutcome {
        let fd = socket(address.ip.isIPv4 ? AF_INET : AF_INET6,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed("socket: \(System.errorString(errno))") }
        defer { close(fd) }
        var storage = UDPSocket.sockaddr(address)
        let length = socklen_t(address.ip.isIPv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let result = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        if result == 0 { return .passed }
        guard errno == EINPROGRESS else { return .failed("connecting to \(address): \(System.errorString(errno))") }
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return .failed("connecting to \(address): no answer within \(timeout.configText)") }
            if stopping() { return .failed("stopped") }
            var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0), pollfd(fd: wake ?? -1, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, nfds_t(fds.count), Int32(clamping: left.milliseconds + 1)) > 0, fds[0].revents != 0 { break }
        }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0 ? .passed : .failed("connecting to \(address): \(System.errorString(error))")
    }
}
