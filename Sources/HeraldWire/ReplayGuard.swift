/// Tells fresh gossip packets from replayed ones, without a clock or a state file.
///
/// Every version 3 packet carries its sender's run (a random number drawn at start), a
/// counter that grows by one per packet, and the address it was sent to
/// (`GossipSeal.Stamp`). A packet for another address is refused. For each sender the
/// guard knows one run, confirmed, and a window of the last 64 counters of it, as IPsec's
/// anti-replay window does: a packet of that run is admitted once. A packet of any other
/// run — the sender restarted, or a capture of an earlier run is replayed — is held (the
/// latest one per sender) and the sender is challenged at the packet's source address with
/// a random nonce; only the running sender can answer it, sealed with its current run,
/// which then becomes the confirmed one (and the held packet is admitted if it is of that
/// run). So a restarted node is heard again after one round trip, whatever its clock or
/// state directory, and a replayed capture never is. Challenges are answered whoever asks,
/// with a response no larger than the challenge.
///
/// Version 2 packets (`gossip.wire_version = 2`, a rolling upgrade) carry no destination
/// and an epoch that grows across restarts instead of a random run: their windows follow
/// the old rule (a later epoch restarts the window, an earlier one is refused).
///
/// Bounded: `capacity` confirmed senders (the least recently heard forgotten first) and
/// `pendingCapacity` challenged ones (the oldest dropped first), one held packet each.
/// Entries are made only for packets that passed authentication.
public struct ReplayGuard: Sendable {
    public struct Settings: Equatable, Sendable {
        public var capacity: Int
        public var pendingCapacity: Int
        /// A sender is challenged again no sooner than this (its answer may have been lost).
        public var challengeInterval: Duration

        public init(capacity: Int = 4096, pendingCapacity: Int = 64, challengeInterval: Duration = .milliseconds(100)) {
            self.capacity = max(1, capacity)
            self.pendingCapacity = max(1, pendingCapacity)
            self.challengeInterval = challengeInterval
        }
    }

    /// What to do with one packet.
    public struct Outcome: Equatable, Sendable {
        /// Messages to hand to the membership protocol, with the address each came from:
        /// this packet's, and a held one its confirmation released.
        public var admitted: [Admitted] = []
        /// Challenges and responses to send.
        public var replies: [Reply] = []
        /// Why (part of) the packet was refused, for the counters.
        public var refused: WireError?

        public init() {}
    }

    public struct Admitted: Equatable, Sendable {
        public var messages: [GossipMessage]
        public var from: GossipAddress

        public init(messages: [GossipMessage], from: GossipAddress) {
            self.messages = messages
            self.from = from
        }
    }

    public struct Reply: Equatable, Sendable {
        public var message: GossipMessage
        public var to: GossipAddress

        public init(message: GossipMessage, to: GossipAddress) {
            self.message = message
            self.to = to
        }
    }

    struct Window: Sendable {
        var run: UInt64
        var highest: UInt64
        /// Bit n: counter `highest - n` was seen.
        var seen: UInt64
        var lastUse: UInt64
        var legacy: Bool

        /// Records `counter`; false if it was seen or is older than the window.
        mutating func admit(_ counter: UInt64) -> Bool {
            if counter > highest {
                let shift = counter - highest
                seen = shift >= 64 ? 1 : seen << shift | 1
                highest = counter
                return true
            }
            let age = highest - counter
            guard age < 64, seen & (1 << age) == 0 else { return false }
            seen |= 1 << age
            return true
        }
    }

    struct Pending: Sendable {
        var nonce: UInt64
        var challengedAt: Duration
        var held: (stamp: GossipSeal.Stamp, messages: [GossipMessage], from: GossipAddress)?
    }

    public let settings: Settings
    /// The addresses packets may be sent to: this node's gossip address (or, bound to every
    /// address, each of them with its port).
    public var destinations: Set<GossipAddress>
    private var windows: [String: Window] = [:]
    private var pending: [String: Pending] = [:]
    private var clock: UInt64 = 0

    public init(destinations: Set<GossipAddress>, settings: Settings = Settings()) {
        self.destinations = destinations
        self.settings = settings
    }

    /// Senders with a confirmed run.
    public var count: Int { windows.count }

    /// Senders challenged and not yet answered.
    public var pendingCount: Int { pending.count }

    /// One authenticated packet: its stamp, its messages and the address it came from.
    public mutating func onPacket(_ stamp: GossipSeal.Stamp, _ messages: [GossipMessage], from source: GossipAddress,
                                  now: Duration, using rng: inout some RandomNumberGenerator) -> Outcome {
        var outcome = Outcome()
        clock += 1
        guard let destination = stamp.destination else {
            if admitLegacy(stamp) { outcome.admitted.append(Admitted(messages: messages, from: source)) } else {
                outcome.refused = .gossipReplayed
            }
            return outcome
        }
        guard destinations.contains(destination) else {
            outcome.refused = .gossipWrongDestination
            return outcome
        }
        var rest: [GossipMessage] = []
        var confirming = false
        for message in messages {
            switch message {
            case .challenge(let nonce):
                outcome.replies.append(Reply(message: .response(nonce: nonce), to: source))
            case .response(let nonce):
                if pending[stamp.sender]?.nonce == nonce { confirming = true }
            default:
                rest.append(message)
            }
        }
        if confirming, let answered = pending.removeValue(forKey: stamp.sender) {
            confirm(stamp)
            if let held = answered.held, held.stamp.run == stamp.run, windows[stamp.sender]!.admit(held.stamp.counter) {
                outcome.admitted.append(Admitted(messages: held.messages, from: held.from))
            }
            if !rest.isEmpty { outcome.admitted.append(Admitted(messages: rest, from: source)) }
            return outcome
        }
        if var window = windows[stamp.sender], window.run == stamp.run, !window.legacy {
            if window.admit(stamp.counter) {
                window.lastUse = clock
                windows[stamp.sender] = window
                if !rest.isEmpty { outcome.admitted.append(Admitted(messages: rest, from: source)) }
            } else {
                outcome.refused = .gossipReplayed
            }
            return outcome
        }
        // Another run than the confirmed one (or none): hold the packet and ask.
        guard !rest.isEmpty else { return outcome }
        var entry = pending[stamp.sender]
        if entry.map({ now - $0.challengedAt >= settings.challengeInterval }) ?? true {
            if entry == nil, pending.count >= settings.pendingCapacity,
               let oldest = pending.min(by: { ($0.value.challengedAt, $0.key) < ($1.value.challengedAt, $1.key) })?.key {
                pending[oldest] = nil
            }
            let nonce = UInt64.random(in: 1...UInt64.max, using: &rng)
            entry = Pending(nonce: nonce, challengedAt: now, held: nil)
            outcome.replies.append(Reply(message: .challenge(nonce: nonce), to: source))
        }
        entry!.held = (stamp, rest, source)
        pending[stamp.sender] = entry
        return outcome
    }

    private mutating func confirm(_ stamp: GossipSeal.Stamp) {
        if windows[stamp.sender] == nil, windows.count >= settings.capacity,
           let oldest = windows.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            windows[oldest] = nil
        }
        windows[stamp.sender] = Window(run: stamp.run, highest: stamp.counter, seen: 1, lastUse: clock, legacy: false)
    }

    /// Version 2: a later epoch starts a new window, an earlier one is a replay.
    private mutating func admitLegacy(_ stamp: GossipSeal.Stamp) -> Bool {
        guard var window = windows[stamp.sender], window.legacy else {
            if windows[stamp.sender] == nil, windows.count >= settings.capacity,
               let oldest = windows.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                windows[oldest] = nil
            }
            windows[stamp.sender] = Window(run: stamp.run, highest: stamp.counter, seen: 1, lastUse: clock, legacy: true)
            return true
        }
        if stamp.run < window.run { return false }
        if stamp.run > window.run {
            window = Window(run: stamp.run, highest: stamp.counter, seen: 1, lastUse: clock, legacy: true)
        } else {
            guard window.admit(stamp.counter) else { return false }
        }
        window.lastUse = clock
        windows[stamp.sender] = window
        return true
    }
}
