import CSystemd
import Glibc
import Logging
import ServiceLifecycle

/// Tells systemd (`Type=notify`) when the daemon is ready and when it stops. Harmless
/// without systemd: `sd_notify` does nothing when `NOTIFY_SOCKET` is unset.
public struct SystemdNotifier: Service {
    let logger: Logger
    let status: String
    /// The loops whose progress the watchdog vouches for (links, gossip, metrics).
    let heartbeats: @Sendable () -> [Heartbeat]
    private let ready = Completion()

    init(status: String, logger: Logger, heartbeats: @escaping @Sendable () -> [Heartbeat] = { [] }) {
        self.status = status
        self.logger = logger
        self.heartbeats = heartbeats
    }

    /// The node machine says the daemon is ready (`NodeAction.ready`).
    func markReady() { ready.signal() }

    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    public func run() async throws {
        // A stop before the daemon was ready ends the wait (and sends no READY=1).
        await cancelWhenGracefulShutdown { await ready.wait() }
        guard !Task.isCancelled, !Task.isShuttingDownGracefully else {
            Self.notify("STOPPING=1")
            return
        }
        Self.notify("READY=1\nSTATUS=\(status)")
        logger.info("ready", metadata: ["status": "\(status)"])
        if let interval = Self.watchdogInterval() {
            await feedWatchdog(every: interval / 2, limit: Self.progressLimit(watchdog: interval))
        } else {
            // Parked until shutdown; the group stops this service first.
            try? await gracefulShutdown()
        }
        Self.notify("STOPPING=1")
    }

    /// `WatchdogSec=` of the unit, when systemd asked for pings (`WATCHDOG_USEC`).
    static func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// How late a loop may be (`Heartbeat.lateness`) before the daemon counts as wedged:
    /// half the watchdog interval, but never less than 3 s.
    static func progressLimit(watchdog: Duration) -> Duration {
        max(watchdog / 2, .seconds(3))
    }

    /// The loops more than `limit` late; the daemon is healthy when empty.
    static func stalled(_ beats: [(name: String, lateness: Duration)], limit: Duration) -> [String] {
        beats.filter { $0.lateness > limit }.map(\.name)
    }

    /// Pings systemd while every loop is turning. A wedged loop (a capture thread stuck in
    /// the kernel, a deadlock) stops the pings, and systemd restarts the daemon.
    private func feedWatchdog(every period: Duration, limit: Duration) async {
        logger.info("watchdog on", metadata: ["ping_every": "\(period)", "progress_limit": "\(limit)"])
        var withholding = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let stalled = Self.stalled(heartbeats().map { ($0.name, $0.lateness) }, limit: limit)
            if stalled.isEmpty {
                Self.notify("WATCHDOG=1")
                if withholding { logger.notice("watchdog: every loop is turning again") }
                withholding = false
            } else if !withholding {
                withholding = true
                logger.critical("watchdog: no progress from \(stalled.joined(separator: ", ")) for over \(limit); not pinging systemd, which will restart heraldd")
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }
}
