/// How much CPU a real-time thread may take: at most `budget` of every `window` of its
/// own CPU time at real-time priority, then normal priority until the window ends. The
/// gossip and capture threads run ahead of a busy host's work so answers and probes are
/// on time, but a flood aimed at them cannot take that host's CPU: past the budget they
/// share it as any other thread does. Pure: the shell reads the thread's CPU clock.
public struct RealTimeBudget: Sendable {
    public var window: Duration
    public var budget: Duration
    private var windowStart: Duration?
    private var cpuAtStart: Duration = .zero

    /// The default, 10 % of a core, is the gossip thread's: its legitimate work stays far
    /// below (a full state of 2,000 members is opened and merged in about a millisecond),
    /// a flood reaches it in a tenth of a second. A capture thread gets more (it answers
    /// every request for what it serves: 50,000/s take about 40 % of a core).
    public init(window: Duration = .seconds(1), budget: Duration = .milliseconds(100)) {
        self.window = window
        self.budget = budget
    }

    /// Whether the thread may run at real-time priority now, having used `cpu` of CPU time
    /// in all (its CPU clock) at `now`.
    public mutating func allows(cpu: Duration, now: Duration) -> Bool {
        if windowStart.map({ now - $0 >= window }) ?? true {
            windowStart = now
            cpuAtStart = cpu
        }
        return cpu - cpuAtStart < budget
    }
}
