import HeraldWire

/// What one link has seen and done since start, defined once for both uses: the link
/// counts with typed keys (`LinkTally`: counting a frame hashes an address, it does not
/// build a string), and reports and metrics read the same fields with text keys
/// (`LinkCounters.Text`, what `heraldctl status` decodes). Every key set is bounded:
/// addresses are the link's servable addresses and drop reasons are kinds (`DropReason.kind`),
/// never a frame's own values.
public struct LinkCounters<Address: Hashable & Sendable, Reason: Hashable & Sendable>: Equatable, Sendable {
    /// Requests (ARP who-has, NDP solicitations) for an address we answer, by address.
    public var requestsReceived: [Address: UInt64] = [:]
    public var responsesSent: [Address: UInt64] = [:]
    public var gratuitousSent: [Address: UInt64] = [:]
    /// Frames that got no answer, by reason.
    public var dropped: [Reason: UInt64] = [:]
    /// Frames from a MAC outside the cluster claiming one of our addresses, by address.
    public var conflicts: [Address: UInt64] = [:]
    /// ARP probes and DAD solicitations sent before serving an address.
    public var probesSent: UInt64 = 0
    /// Adjacent mode: ARP/NDP probes sent to resolve and watch target nodes.
    public var targetProbesSent: UInt64 = 0
    /// Adjacent mode: times an address was answered with another target's MAC, by address.
    public var retargets: [Address: UInt64] = [:]
    public var injectFailures: UInt64 = 0
    /// Frames the kernel dropped before we read them (capture buffer full).
    public var kernelDrops: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { self == Self() }

    public mutating func merge(_ other: Self) {
        requestsReceived.merge(other.requestsReceived, uniquingKeysWith: +)
        responsesSent.merge(other.responsesSent, uniquingKeysWith: +)
        gratuitousSent.merge(other.gratuitousSent, uniquingKeysWith: +)
        dropped.merge(other.dropped, uniquingKeysWith: +)
        conflicts.merge(other.conflicts, uniquingKeysWith: +)
        probesSent += other.probesSent
        targetProbesSent += other.targetProbesSent
        retargets.merge(other.retargets, uniquingKeysWith: +)
        injectFailures += other.injectFailures
        kernelDrops += other.kernelDrops
    }

    /// The same counts under other keys (keys that map to one are added up).
    public func mapKeys<A, R>(_ address: (Address) -> A, _ reason: (Reason) -> R) -> LinkCounters<A, R> {
        func map<K, T>(_ values: [K: UInt64], _ key: (K) -> T) -> [T: UInt64] {
            Dictionary(values.map { (key($0.key), $0.value) }, uniquingKeysWith: +)
        }
        var mapped = LinkCounters<A, R>()
        mapped.requestsReceived = map(requestsReceived, address)
        mapped.responsesSent = map(responsesSent, address)
        mapped.gratuitousSent = map(gratuitousSent, address)
        mapped.dropped = map(dropped, reason)
        mapped.conflicts = map(conflicts, address)
        mapped.probesSent = probesSent
        mapped.targetProbesSent = targetProbesSent
        mapped.retargets = map(retargets, address)
        mapped.injectFailures = injectFailures
        mapped.kernelDrops = kernelDrops
        return mapped
    }
}

/// The link's own counts.
public typealias LinkTally = LinkCounters<IPAddress, DropReason>

extension LinkCounters: Codable where Address == String, Reason == String {}

extension LinkCounters where Address == IPAddress, Reason == DropReason {
    /// Keyed by address text and drop label (`DropReason.label`), for reports and metrics.
    public var text: LinkCounters<String, String> { mapKeys(\.description, \.label) }
}
