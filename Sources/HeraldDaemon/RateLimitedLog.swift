/// Lets log lines about outside input through at a bounded rate, however many senders or
/// frames cause them, and says how many were held back: a flood costs a counter increment,
/// not a log line each. A token bucket: `burst` lines at once, then one per `interval /
/// burst`.
struct RateLimitedLog {
    let burst: Int
    let interval: Duration
    private var tokens: Double
    private var refilled: ContinuousClock.Instant?
    private var suppressed = 0

    init(burst: Int = 1, interval: Duration) {
        self.burst = max(1, burst)
        self.interval = interval
        tokens = Double(self.burst)
    }

    /// `nil`: stay quiet. Otherwise log, and mention the returned number of lines held
    /// back since the last one.
    mutating func admit(now: ContinuousClock.Instant) -> Int? {
        if let refilled {
            tokens = min(Double(burst), tokens + Double(burst) * ((now - refilled) / interval))
        }
        refilled = now
        guard tokens >= 1 else {
            suppressed += 1
            return nil
        }
        tokens -= 1
        defer { suppressed = 0 }
        return suppressed
    }
}
