import HeraldCore
import Synchronization

/// The config the daemon runs with now. Replaced as a whole by a successful reload;
/// everyone who needs the config reads it here, so nobody holds a stale copy.
final class Runtime: Sendable {
    struct Reloads: Sendable {
        var succeeded: UInt64 = 0
        var failed: UInt64 = 0
        /// The last reload failed: the files on disk are not what runs.
        var stale = false
    }

    let configPath: String
    /// The instant every machine's `now` counts from: one origin for the node, gossip and
    /// link loops, so their durations compare.
    let origin = ContinuousClock.now
    private let current: Mutex<LoadedConfig>
    private let reloadCounts = Mutex(Reloads())

    init(configPath: String, loaded: LoadedConfig) {
        self.configPath = configPath
        current = Mutex(loaded)
    }

    var loaded: LoadedConfig { current.withLock { $0 } }

    func replace(_ loaded: LoadedConfig) { current.withLock { $0 = loaded } }

    var reloads: Reloads { reloadCounts.withLock { $0 } }

    func countReload(ok: Bool) {
        reloadCounts.withLock {
            if ok { $0.succeeded += 1 } else { $0.failed += 1 }
            $0.stale = !ok
        }
    }
}
