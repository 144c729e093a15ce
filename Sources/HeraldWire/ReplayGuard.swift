/// Tells fresh gossip packets from replayed ones, by the stamp every version 2 packet
/// carries (`GossipSeal.Stamp`): per sender, the epoch of its current run and a window of
/// the last 64 counters, as IPsec's anti-replay window does. A packet is admitted once; a
/// packet from an earlier epoch (a capture from before the sender restarted) never is; a
/// later epoch means the sender restarted and starts a new window.
///
/// Bounded: `capacity` senders at most, the least recently heard forgotten first. Entries
/// are made only for packets that passed authentication, so only key holders can add
/// senders. State is never forgotten by age, so a capture of a member that left long ago
/// stays refused while this node runs; a node that just started admits the first packet
/// of every sender (see docs/gossip.md, "Threat model").
public struct ReplayGuard: Sendable {
    struct Window: Sendable {
        var epoch: UInt64
        var highest: UInt64
        /// Bit n: counter `highest - n` was seen.
        var seen: UInt64
        var lastUse: UInt64
    }

    public let capacity: Int
    private var windows: [String: Window] = [:]
    private var clock: UInt64 = 0

    public init(capacity: Int = 4096) { self.capacity = max(1, capacity) }

    public var count: Int { windows.count }

    /// Whether to accept a packet stamped `stamp`; records it if so.
    public mutating func admit(_ stamp: GossipSeal.Stamp) -> Bool {
        clock += 1
        guard var window = windows[stamp.sender] else {
            if windows.count >= capacity, let oldest = windows.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                windows[oldest] = nil
            }
            windows[stamp.sender] = Window(epoch: stamp.epoch, highest: stamp.counter, seen: 1, lastUse: clock)
            return true
        }
        if stamp.epoch < window.epoch { return false }
        if stamp.epoch > window.epoch {
            window = Window(epoch: stamp.epoch, highest: stamp.counter, seen: 1, lastUse: clock)
        } else if stamp.counter > window.highest {
            let shift = stamp.counter - window.highest
            window.seen = shift >= 64 ? 1 : window.seen << shift | 1
            window.highest = stamp.counter
        } else {
            let age = window.highest - stamp.counter
            guard age < 64, window.seen & (1 << age) == 0 else { return false }
            window.seen |= 1 << age
        }
        window.lastUse = clock
        windows[stamp.sender] = window
        return true
    }
}
