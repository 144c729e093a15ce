/// When the capture thread runs at real-time priority: while frames wait for it (a
/// backlog when it wakes, or the kernel dropping some) and for `hold` after. Not
/// always: a SCHED_FIFO thread is woken on the CPU it last ran on, so an idle link
/// waits for that CPU to wake (an interrupt to a halted virtual CPU: about 100 µs),
/// where at normal priority the scheduler runs it next to the softirq that queued the
/// frame. Measured (make bench, 2 vCPUs): always real-time, 117 µs at p50 on an idle
/// link against 42 µs at normal priority; with a CPU hog on every core, 100 % of a
/// 50,000/s flood answered against 79-99 %. This way: 44 µs and 100 %. Bounded: past
/// its budget in any second (`RealTimeBudget`, half a core) the thread runs at normal
/// priority for the rest of it, so a flood cannot take a core from the host's own work;
/// frames for addresses the link does not watch never reach it (`CaptureFilter`).
public struct CaptureUrgency: Sendable {
    public static let backlog = 32
    public static let hold: Duration = .seconds(5)
    public private(set) var realtime = false
    private var pressureAt: Duration?

    public init() {}

    /// After a wake-up that handled `frames` frames, with `drops` new kernel drops.
    public mutating func after(frames: Int, drops: UInt64, now: Duration) {
        if frames >= Self.backlog || drops > 0 { pressureAt = now }
        realtime = pressureAt.map { now - $0 < Self.hold } ?? false
    }
}
