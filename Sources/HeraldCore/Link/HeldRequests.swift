import HeraldWire

/// Requests for addresses a link could serve but did not answer when they came (another
/// node owned them), kept for a moment. When this node takes such an address over, the
/// link answers them at once: a client that asked during a handover gets its answer
/// milliseconds late instead of retransmitting a second later. Bounded in count and age,
/// so a flood keeps only the newest few. Pure: the link decides again with the context of
/// the moment, through `Responder.decide`, and sends what that returns.
public struct HeldRequests: Sendable {
    public struct Settings: Equatable, Sendable {
        public var capacity: Int
        public var maximumAge: Duration

        public init(capacity: Int, maximumAge: Duration) {
            self.capacity = capacity
            self.maximumAge = maximumAge
        }

        /// Half a second: within the first retransmission of every common stack (Linux
        /// and Windows wait 1 s), and within the 500 ms a probing client gives an answer.
        public static let standard = Settings(capacity: 256, maximumAge: .milliseconds(500))
    }

    struct Held: Sendable {
        var frame: [UInt8]
        var address: IPAddress
        var at: Duration
    }

    /// The capture's snap length: no captured frame is longer.
    public static let frameLimit = 256

    public let settings: Settings
    private var ring: [Held] = []
    private var next = 0

    public init(settings: Settings = .standard) { self.settings = settings }

    /// Keeps the request `frame` (for `address`, which nobody here answers now).
    public mutating func hold(_ frame: UnsafeRawBufferPointer, for address: IPAddress, now: Duration) {
        let held = Held(frame: Array(frame.prefix(Self.frameLimit)), address: address, at: now)
        if ring.count < settings.capacity {
            ring.append(held)
        } else {
            ring[next] = held
            next = (next + 1) % settings.capacity
        }
    }

    /// The held requests for any of `addresses` that are still fresh, oldest first; each
    /// is handed out once.
    public mutating func take(for addresses: Set<IPAddress>, now: Duration) -> [[UInt8]] {
        guard !ring.isEmpty, !addresses.isEmpty else { return [] }
        let ordered = ring[next...] + ring[..<next]
        let fresh = ordered.filter { now - $0.at <= settings.maximumAge }
        let taken = fresh.filter { addresses.contains($0.address) }.map(\.frame)
        ring = fresh.filter { !addresses.contains($0.address) }
        next = 0
        return taken
    }
}
