import CSystemd
import ServiceLifecycle
import Logging

/// Tells systemd (`Type=notify`) when the daemon is ready and when it stops. Harmless
/// without systemd: `sd_notify` does nothing when `NOTIFY_SOCKET` is unset.
public struct SystemdNotifier: Service {
    let readiness: Readiness
    let logger: Logger
    let status: String
    /// Run first thing on shutdown: silence the links and leave the cluster at once, so the
    /// handover does not wait for the orderly stop of every service.
    let onShutdown: @Sendable () -> Void

    public init(readiness: Readiness, status: String, logger: Logger, onShutdown: @escaping @Sendable () -> Void = {}) {
        self.readiness = readiness
        self.status = status
        self.logger = logger
        self.onShutdown = onShutdown
    }

    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    public func run() async throws {
        await readiness.waitUntilReady()
        guard !Task.isCancelled else { return }
        Self.notify("READY=1\nSTATUS=\(status)")
        logger.info("ready", metadata: ["status": "\(status)"])
        // Parked until shutdown; the group stops this service first.
        try? await gracefulShutdown()
        onShutdown()
        Self.notify("STOPPING=1")
    }
}
