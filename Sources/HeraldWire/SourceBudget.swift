/// How many gossip packets one source address may send, counted before any is opened: a
/// token bucket per address, refilled at `rate` per second up to `burst`. Peers send a few
/// dozen a second; a flood from one address costs a table lookup per packet instead of a
/// decryption. Bounded: past `capacity` addresses, new ones share one bucket, and
/// addresses idle for `idle` are forgotten.
public struct SourceBudget: Sendable {
    public struct Settings: Equatable, Sendable {
        public var rate: Double
        public var burst: Double
        public var capacity: Int
        public var idle: Duration

        public init(rate: Double = 500, burst: Double = 1000, capacity: Int = 512, idle: Duration = .seconds(10)) {
            self.rate = rate
            self.burst = burst
            self.capacity = capacity
            self.idle = idle
        }
    }

    struct Bucket: Sendable {
        var tokens: Double
        var at: Duration
    }

    public let settings: Settings
    private var buckets: [IPAddress: Bucket] = [:]
    private var overflow: Bucket?
    private var sweptAt: Duration = .zero

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var count: Int { buckets.count }

    /// Whether a packet from `source` may be opened now.
    public mutating func admit(_ source: IPAddress, now: Duration) -> Bool {
        if now - sweptAt >= settings.idle {
            sweptAt = now
            buckets = buckets.filter { now - $0.value.at < settings.idle }
        }
        if var bucket = buckets[source] {
            defer { buckets[source] = bucket }
            return take(&bucket, now: now)
        }
        if buckets.count < settings.capacity {
            var bucket = Bucket(tokens: settings.burst, at: now)
            defer { buckets[source] = bucket }
            return take(&bucket, now: now)
        }
        var shared = overflow ?? Bucket(tokens: settings.burst, at: now)
        defer { overflow = shared }
        return take(&shared, now: now)
    }

    private func take(_ bucket: inout Bucket, now: Duration) -> Bool {
        let elapsed = Double((now - bucket.at) / .milliseconds(1)) / 1000
        bucket.tokens = min(settings.burst, bucket.tokens + max(0, elapsed) * settings.rate)
        bucket.at = now
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }
}
