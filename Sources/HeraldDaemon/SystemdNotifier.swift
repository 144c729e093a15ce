import CSystemd
import ServiceLifecycle
import Logging

/// Tells systemd (`Type=notify`) when the daemon is ready and when it stops. Harmless
/// without systemd: `sd_notify` does nothing when `NOTIFY_SOCKET` is unset.
public struct SystemdNotifier: Service {
    let readiness: Readiness
    let logger: Logger
    let status: String

    public init(readiness: Readiness, status: String, logger: Logger) {
        self.readiness = readiness
        self.status = status
        self.logger = logger
    }

    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    public func run() async throws {
        await readiness.waitUntilReady()
        guard !Task.isCancelled else { return }
        Self.notify("READY=1\nSTATUS=\(status)")
        logger.info("ready", metadata: ["status": "\(status)"])
        // Parked until shutdown; the group stops this service first, so STOPPING=1 goes out
        // before the links fall silent.
        try? await gracefulShutdown()
        Self.notify("STOPPING=1")
    }
}
