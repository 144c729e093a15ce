import HeraldWire

/// When to send gratuitous ARP / unsolicited NA for the addresses a link has taken over:
/// at once, a short burst after (switches and clients that missed the first one catch
/// up), then a slow periodic refresh (partitioned clients and aged switch tables heal).
/// Time is an input: `now` is the time since any fixed origin.
public struct AnnouncementScheduler: Sendable {
    public struct Settings: Equatable, Sendable {
        /// Offsets after takeover at which to announce; the first is normally zero.
        public var burst: [Duration]
        public var refreshInterval: Duration

        public init(burst: [Duration], refreshInterval: Duration) {
            precondition(!burst.isEmpty, "a burst has at least the immediate announcement")
            self.burst = burst
            self.refreshInterval = refreshInterval
        }

        public static let standard = Settings(
            burst: [.zero, .milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2)],
            refreshInterval: .seconds(30))
    }

    struct Entry: Sendable {
        var takenAt: Duration
        /// Index of the next burst offset; `burst.count` once the burst is over.
        var nextInBurst: Int
        var due: Duration
    }

    public let settings: Settings
    private var entries: [IPAddress: Entry] = [:]

    public init(settings: Settings = .standard) { self.settings = settings }

    public var addresses: Set<IPAddress> { Set(entries.keys) }

    /// Applies a new set of owned addresses: new ones are due at once, released ones are
    /// forgotten (nothing more is sent for them), kept ones keep their schedule.
    public mutating func onOwnershipChanged(_ owned: Set<IPAddress>, now: Duration) {
        entries = entries.filter { owned.contains($0.key) }
        for address in owned where entries[address] == nil {
            entries[address] = Entry(takenAt: now, nextInBurst: 0, due: now + settings.burst[0])
        }
    }

    /// Starts the burst again for owned addresses whose answer changed (adjacent mode: a
    /// new target node's MAC), so clients learn it at once.
    public mutating func restart(_ addresses: Set<IPAddress>, now: Duration) {
        for address in addresses where entries[address] != nil {
            entries[address] = Entry(takenAt: now, nextInBurst: 0, due: now + settings.burst[0])
        }
    }

    /// The addresses to announce now, in address order; advances their schedules.
    public mutating func onTick(now: Duration) -> [IPAddress] {
        var due: [IPAddress] = []
        for (address, var entry) in entries where entry.due <= now {
            due.append(address)
            // Offsets already in the past (the thread was late) are covered by this send.
            while entry.nextInBurst < settings.burst.count, entry.takenAt + settings.burst[entry.nextInBurst] <= now {
                entry.nextInBurst += 1
            }
            entry.due = entry.nextInBurst < settings.burst.count
                ? entry.takenAt + settings.burst[entry.nextInBurst]
                : now + settings.refreshInterval
            entries[address] = entry
        }
        return due.sorted()
    }

    /// When `onTick` next has something to do, or `nil` with nothing owned.
    public var nextDeadline: Duration? { entries.values.map(\.due).min() }
}

/// The frames that announce `address` at `mac`: for IPv4 a gratuitous ARP request and a
/// gratuitous reply, both broadcast (some hosts update their caches from only one of the
/// two); for IPv6 an unsolicited neighbor advertisement to all nodes with Override set.
/// In adjacent mode `hardware` is the target node's MAC, which the ARP sender / NDP
/// target link-layer address carry; the Ethernet source is always `mac`.
public enum Announcement {
    public static func frames(for address: IPAddress, mac: MACAddress, hardware: MACAddress? = nil) -> [[UInt8]] {
        let hardware = hardware ?? mac
        switch address {
        case .v4(let ip):
            let request = ARPPacket(operation: .request, senderMAC: hardware, senderIP: ip, targetMAC: .zero, targetIP: ip)
            let reply = ARPPacket(operation: .reply, senderMAC: hardware, senderIP: ip, targetMAC: .broadcast, targetIP: ip)
            return [request.frame(ethernetDestination: .broadcast, ethernetSource: mac),
                    reply.frame(ethernetDestination: .broadcast, ethernetSource: mac)]
        case .v6(let ip):
            let advertisement = NeighborAdvertisement(solicited: false, override: true, target: ip, targetLinkLayer: hardware)
            return [NDPPacket.frame(.advertisement(advertisement), source: ip, destination: .allNodes,
                                    ethernetDestination: .ipv6Multicast(.allNodes), ethernetSource: mac)]
        }
    }
}
