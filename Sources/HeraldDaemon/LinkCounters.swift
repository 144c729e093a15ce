import HeraldCore
import HeraldWire

/// What one link has seen and done since start. The link thread adds to a private copy
/// and merges it here after each batch, so the control socket reads a consistent total.
public struct LinkCounters: Codable, Equatable, Sendable {
    /// Requests (ARP who-has, NDP solicitations) for an address we answer, by address.
    public var requestsReceived: [String: UInt64] = [:]
    public var responsesSent: [String: UInt64] = [:]
    public var gratuitousSent: [String: UInt64] = [:]
    /// Frames that got no answer, by `DropReason.label`.
    public var dropped: [String: UInt64] = [:]
    /// Frames from a MAC outside the cluster claiming one of our addresses, by address.
    public var conflicts: [String: UInt64] = [:]
    /// ARP probes and DAD solicitations sent before serving an address.
    public var probesSent: UInt64 = 0
    /// Adjacent mode: ARP/NDP probes sent to resolve and watch target nodes.
    public var targetProbesSent: UInt64 = 0
    /// Adjacent mode: times an address was answered with another target's MAC, by address.
    public var retargets: [String: UInt64] = [:]
    public var injectFailures: UInt64 = 0
    /// Frames the kernel dropped before we read them (capture buffer full).
    public var kernelDrops: UInt64 = 0

    public init() {}
}

/// The link thread's own tally, keyed by values rather than strings so counting a frame
/// costs a hash of an address, not a string allocation. Turned into `LinkCounters` only
/// when someone asks.
struct LinkTally: Equatable, Sendable {
    var requestsReceived: [IPAddress: UInt64] = [:]
    var responsesSent: [IPAddress: UInt64] = [:]
    var gratuitousSent: [IPAddress: UInt64] = [:]
    var dropped: [DropReason: UInt64] = [:]
    var conflicts: [IPAddress: UInt64] = [:]
    var probesSent: UInt64 = 0
    var targetProbesSent: UInt64 = 0
    var retargets: [IPAddress: UInt64] = [:]
    var injectFailures: UInt64 = 0
    var kernelDrops: UInt64 = 0

    var isEmpty: Bool { self == LinkTally() }

    mutating func merge(_ other: LinkTally) {
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

    var counters: LinkCounters {
        func named(_ values: [IPAddress: UInt64]) -> [String: UInt64] {
            Dictionary(values.map { ($0.key.description, $0.value) }, uniquingKeysWith: +)
        }
        var counters = LinkCounters()
        counters.requestsReceived = named(requestsReceived)
        counters.responsesSent = named(responsesSent)
        counters.gratuitousSent = named(gratuitousSent)
        counters.dropped = Dictionary(dropped.map { ($0.key.label, $0.value) }, uniquingKeysWith: +)
        counters.conflicts = named(conflicts)
        counters.probesSent = probesSent
        counters.targetProbesSent = targetProbesSent
        counters.retargets = named(retargets)
        counters.injectFailures = injectFailures
        counters.kernelDrops = kernelDrops
        return counters
    }
}
