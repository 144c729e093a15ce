import HeraldCore

/// Every trade heraldd makes for memory or speed, in one place, each with its switch and
/// the figure that justifies it (docs/performance.md, "Tuning"):
///
/// | trade | switch | what it buys |
/// | --- | --- | --- |
/// | start-up code unmapped once ready (`ResidentCode`) | `tuning.drop_startup_code` | 18.1 → 12.1 MB RSS |
/// | real-time threads, within a budget per second | `node.realtime_priority = 0` | 100 % of a 50,000/s flood answered behind a CPU hog (79–99 % without) |
/// | kernel filters on the capture and the gossip socket | `tuning.kernel_filters` | a flood for other addresses or of non-gossip datagrams never wakes heraldd |
/// | libcurl loaded only with `[kubernetes]` (`Sources/CCurl`) | none needed: nothing loads it without `[kubernetes]`; the package names libcurl4 itself (t_package) | 24.0 → 18.1 MB RSS |
/// | buffers: 1 MB capture ring per link, 4 MB gossip receive buffer | fixed | 30 ms of a 100,000/s flood; a full state of 2,048 members |
enum Tuning {
    /// Real-time budgets per second of CPU (`RealTimeBudget`): the gossip thread's work is
    /// a few milliseconds a second; a capture thread answers what it serves (50,000
    /// requests/s take about 40 % of a core).
    static let gossipRealTimeBudget: Duration = .milliseconds(100)
    static let captureRealTimeBudget: Duration = .milliseconds(500)
    /// The kernel's capture ring per link: about 3,000 frames.
    static let captureBuffer: Int32 = 1 << 20
    /// The gossip socket's receive buffer: a full-state exchange with a large cluster
    /// arrives as a burst of datagrams.
    static let gossipReceiveBuffer: Int32 = 4 << 20

    /// First thing once the config is known: no read-around for code from now on.
    static func atStart(_ tuning: TuningSettings) {
        if tuning.dropStartupCode { ResidentCode.mapOnlyWhatRuns() }
    }

    /// Once the daemon is ready: the code that ran only at start-up need not stay resident.
    static func onReady(_ tuning: TuningSettings) {
        if tuning.dropStartupCode { ResidentCode.dropStartupCode() }
    }
}
