import HeraldControl
import HeraldCore
import HeraldSystem
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Live reload, on `heraldctl reload` (the unit's ExecReload: `systemctl reload herald`
/// fails when the new config is refused) or SIGHUP. The new files are read and checked on
/// the side; only a config that validates, changes nothing that needs a restart, and whose
/// new interfaces all open is applied. Anything else leaves the running config as it was,
/// logs why (`FILE:LINE` errors), counts a failed reload, and answers the verdict.
final class ReloadLoop: Service, Sendable {
    let runtime: Runtime
    let logger: Logger
    /// Applies a validated config to the running services; throws if it cannot (a new
    /// interface does not open), having changed nothing.
    let apply: @Sendable (LoadedConfig) throws(SystemError) -> Void
    /// One reload at a time, whether a signal or a control request asked for it.
    private let serial = Mutex(())

    init(runtime: Runtime, logger: Logger, apply: @escaping @Sendable (LoadedConfig) throws(SystemError) -> Void) {
        self.runtime = runtime
        self.logger = logger
        self.apply = apply
    }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            reload()
        }
    }

    @discardableResult
    func reload() -> ReloadReport {
        serial.withLock { _ in reloadOnce() }
    }

    private func reloadOnce() -> ReloadReport {
        SystemdNotifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Heartbeat.monotonicNanoseconds() / 1000)")
        defer { SystemdNotifier.notify("READY=1") }
        let old = runtime.loaded
        let path = runtime.configPath
        logger.info("reloading config", metadata: ["config": "\(path)"])
        let new: LoadedConfig
        switch ConfigLoader.load(path: path) {
        case .success(let loaded):
            new = loaded
        case .failure(let errors):
            return fail(errors.errors.map(\.description))
        }
        let refused = ConfigChange.restartRequired(from: old.config, nodeName: old.nodeName,
                                                   to: new.config, nodeName: new.nodeName, file: path)
        guard refused.isEmpty else { return fail(refused.map(\.description)) }
        do {
            try apply(new)
        } catch {
            return fail([error.description])
        }
        for warning in new.config.warnings { logger.warning("\(warning)") }
        let change = ConfigChange(from: old.config, to: new.config)
        runtime.countReload(ok: true)
        var metadata: Logger.Metadata = ["changes": "\(change.summary)"]
        if !change.addedVIPs.isEmpty { metadata["added"] = "\(change.addedVIPs.joined(separator: ","))" }
        if !change.removedVIPs.isEmpty { metadata["removed"] = "\(change.removedVIPs.joined(separator: ","))" }
        if !change.changedVIPs.isEmpty { metadata["changed"] = "\(change.changedVIPs.joined(separator: ","))" }
        let message = change.isEmpty ? "config reloaded: nothing changed" : "config reloaded"
        logger.notice("\(message)", metadata: metadata)
        return ReloadReport(applied: true, message: change.isEmpty ? message : "\(message): \(change.summary)", errors: [])
    }

    private func fail(_ problems: [String]) -> ReloadReport {
        for problem in problems { logger.error("\(problem)") }
        runtime.countReload(ok: false)
        let message = "reload failed; still running the previous config"
        logger.error("\(message)", metadata: ["errors": "\(problems.count)"])
        return ReloadReport(applied: false, message: message, errors: problems)
    }
}
