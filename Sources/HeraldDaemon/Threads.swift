import CLinux
import Glibc
import HeraldCore
import HeraldSystem
import ServiceLifecycle
import Synchronization

/// The one way the daemon runs a loop that blocks (in poll, pcap, a health check, an HTTP
/// request): on a thread of its own, never on the cooperative pool. `run` starts `body` on
/// a detached thread and returns when the body calls `finished` (or returns), so nothing
/// waits in `pthread_join`; a graceful shutdown (or cancellation) sets `isStopping` and
/// signals `wake`, which the body polls alongside its own descriptors. Work a body does
/// after `finished` (closing a capture, which waits for the kernel) holds up nobody.
final class ThreadLoop: Sendable {
    let name: String
    /// Readable when the loop should look at `isStopping` (or other news) at once.
    let wake = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    private let done = Completion()

    init(_ name: String) { self.name = name }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.signal()
    }

    /// Sleeps for `duration` unless stopped meanwhile (then false). Wake-ups are drained
    /// on the way: the caller reads what is new after.
    func sleep(_ duration: Duration) -> Bool {
        let end = ContinuousClock.now + duration
        while !isStopping {
            let left = ContinuousClock.now.duration(to: end)
            guard left > .zero else { return true }
            wake.wait(milliseconds: Int32(clamping: left.milliseconds + 1))
        }
        return false
    }

    /// Runs `body` on a thread of its own until it finishes; stops it when the service
    /// group shuts down gracefully or the task is cancelled.
    func run(_ body: @escaping @Sendable (_ finished: @escaping @Sendable () -> Void) -> Void) async {
        let done = done
        Thread.start(name: name) {
            body { done.signal() }
            done.signal()
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await done.wait()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Runs `body` until it returns (stopped by `stop`), for loops that finish as a whole.
    func run(_ body: @escaping @Sendable () -> Void) async {
        await run { _ in body() }
    }
}

/// Threads of our own: detached ones for loops (nobody joins them; `ThreadLoop` awaits
/// their work instead), and short-lived joined ones for work done in parallel.
enum Thread {
    /// CPU time the calling thread has used.
    static var cpuTime: Duration {
        var clock = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &clock)
        return .seconds(clock.tv_sec) + .nanoseconds(clock.tv_nsec)
    }

    /// Runs the calling thread at SCHED_FIFO `priority`, ahead of every normal thread on
    /// the host (the kernel still keeps 5 % of each second for them), or with `nil` back
    /// at normal scheduling. Throws when this process may not (no CAP_SYS_NICE and
    /// RLIMIT_RTPRIO below `priority`).
    static func runInRealTime(priority: Int32?) throws(SystemError) {
        var parameters = sched_param()
        parameters.sched_priority = priority ?? 0
        let result = pthread_setschedparam(pthread_self(), priority == nil ? SCHED_OTHER : SCHED_FIFO, &parameters)
        guard result == 0 else { throw SystemError(priority.map { "real-time priority \($0)" } ?? "normal scheduling", errno: result) }
    }

    /// Starts `body` on a new thread named `name` (what `top -H` shows; 15 bytes at most).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        pthread_detach(create(name: name, body))
    }

    /// Runs `body(0)` … `body(count - 1)` at once, `body(0)` on the calling thread and the
    /// others on threads named `name`, and returns when all have returned. For a thread
    /// that may block (never the cooperative pool).
    static func parallel(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) {
        let others = (1..<max(1, count)).map { index in create(name: name) { body(index) } }
        body(0)
        for thread in others { pthread_join(thread, nil) }
    }

    private static func create(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
        final class Box: @unchecked Sendable {
            let name: [CChar]
            let body: @Sendable () -> Void
            init(_ name: [CChar], _ body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        var thread = pthread_t()
        let truncated = Array(name.utf8.prefix(15)).map { CChar(bitPattern: $0) } + [0]
        let box = Unmanaged.passRetained(Box(truncated, body)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            // The thread names itself (prctl): naming another thread writes to /proc, which
            // the unit's ProtectProc hides.
            _ = box.name.withUnsafeBufferPointer { pthread_setname_np(pthread_self(), $0.baseAddress!) }
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        return thread
    }
}

/// A one-shot signal a thread sets and async code awaits, so waiting for a thread never
/// blocks the cooperative pool (as `pthread_join` would). A cancelled waiter returns at once.
final class Completion: Sendable {
    private struct State {
        var done = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    init() {}

    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.done || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Parks the calling task until the service group shuts down (or the task is cancelled).
func untilShutdown() async {
    await withTaskCancellationHandler {
        try? await gracefulShutdown()
    } onCancel: {}
}

/// Whether a loop is making progress, for the watchdog. A loop beats at the top of every
/// turn and as soon as its poll() returns, and says how long it will wait before it
/// blocks (`willWait`); it is late when it
/// overstays that wait, or, while it runs, goes longer than the limit without a turn. A
/// loop waiting for a packet with no deadline is never late: loops sleep until their next
/// deadline or packet, not on a fixed cap.
final class Heartbeat: Sendable {
    let name: String
    private let last: Atomic<Int64>
    /// While the loop waits: when it is due back (nanoseconds, monotonic), `Int64.max`
    /// without a deadline; 0 while it runs.
    private let dueBack = Atomic<Int64>(0)

    init(_ name: String) {
        self.name = name
        last = Atomic(Self.monotonicNanoseconds())
    }

    func beat() {
        last.store(Self.monotonicNanoseconds(), ordering: .relaxed)
        dueBack.store(0, ordering: .relaxed)
    }

    /// The loop is about to block in poll() for `milliseconds` (negative: until a packet or
    /// a wake-up comes).
    func willWait(milliseconds: Int32) {
        dueBack.store(milliseconds < 0 ? Int64.max : Self.monotonicNanoseconds() + Int64(milliseconds) * 1_000_000,
                      ordering: .relaxed)
    }

    /// How long the loop is behind: past the end of its wait, or since its last beat while
    /// it runs.
    var lateness: Duration {
        let now = Self.monotonicNanoseconds()
        let due = dueBack.load(ordering: .relaxed)
        if due == Int64.max { return .zero }
        if due != 0 { return .nanoseconds(max(0, now - due)) }
        return .nanoseconds(now - last.load(ordering: .relaxed))
    }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

/// A loop thread's scheduling: real time at `priority` while the loop wants it and within
/// its `RealTimeBudget`, normal otherwise. `priority` 0: always normal.
struct RealTimeScheduling {
    let priority: Int32
    private var budget: RealTimeBudget
    private var running = false
    private var refused = false
    private var checkedAt = Duration.zero

    init(priority: Int32, budget: Duration) {
        self.priority = priority
        self.budget = RealTimeBudget(budget: budget)
    }

    /// Switches the calling thread if needed. Returns why it cannot, the first time (it
    /// then stays at normal priority).
    mutating func update(wanted: Bool, now: Duration) -> SystemError? {
        guard priority > 0, !refused else { return nil }
        // The thread's CPU clock is a system call: read every 20 ms of wall time at most,
        // so a budget may be overrun by that much.
        if wanted && running && now - checkedAt < .milliseconds(20) { return nil }
        checkedAt = now
        let realtime = wanted && budget.allows(cpu: Thread.cpuTime, now: now)
        guard realtime != running else { return nil }
        do throws(SystemError) {
            try Thread.runInRealTime(priority: realtime ? priority : nil)
            running = realtime
            return nil
        } catch {
            refused = true
            return error
        }
    }
}
