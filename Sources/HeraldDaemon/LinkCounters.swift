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
    /// Frames from another MAC claiming one of our addresses, by address.
    public var conflicts: [String: UInt64] = [:]
    public var injectFailures: UInt64 = 0
    /// Frames the kernel dropped before we read them (capture buffer full).
    public var kernelDrops: UInt64 = 0

    public init() {}

    mutating func merge(_ other: LinkCounters) {
        requestsReceived.merge(other.requestsReceived, uniquingKeysWith: +)
        responsesSent.merge(other.responsesSent, uniquingKeysWith: +)
        gratuitousSent.merge(other.gratuitousSent, uniquingKeysWith: +)
        dropped.merge(other.dropped, uniquingKeysWith: +)
        conflicts.merge(other.conflicts, uniquingKeysWith: +)
        injectFailures += other.injectFailures
    }

    var isEmpty: Bool { self == LinkCounters() }
}
