import HeraldWire

/// What this node believes about one member of the cluster.
public struct Member: Equatable, Sendable {
    public var name: String
    public var address: GossipAddress
    public var incarnation: UInt64
    public var status: MemberRecord.Status
    /// Opaque to the protocol: Herald puts the node's eligibility here.
    public var meta: [UInt8]
    /// When `status` last changed, on this node's clock.
    public var statusSince: Duration
    /// The round trip of this node's last successful direct probe of the member.
    public var roundTrip: Duration?

    public init(name: String, address: GossipAddress, incarnation: UInt64, status: MemberRecord.Status, meta: [UInt8],
                statusSince: Duration, roundTrip: Duration?) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.status = status
        self.meta = meta
        self.statusSince = statusSince
        self.roundTrip = roundTrip
    }

    /// Up: alive or suspect, so still in every election. Suspicion alone moves no VIP, or
    /// every lost packet would.
    public var isUp: Bool { status == .alive || status == .suspect }

    /// What gossip carries of it: all an election needs (not the round trip or timestamps).
    public var record: MemberRecord {
        MemberRecord(name: name, address: address, incarnation: incarnation, status: status, meta: meta)
    }
}

/// What the shell must do after an input.
public enum MembershipAction: Equatable, Sendable {
    case send([GossipMessage], to: GossipAddress)
    /// A member appeared, changed status or changed metadata: re-run the election.
    case changed(Member)
    /// Another member said this node was `claimed` (suspect or dead, or carried a newer
    /// incarnation of it); this node refuted with a higher incarnation.
    case refuted(claimed: MemberRecord.Status)
    /// A direct probe of `member` was acknowledged after `roundTrip`.
    case measured(member: String, roundTrip: Duration)
    /// No member has answered the join peers `seeds` since this node started `since` ago
    /// (said 3 s after start, then every 30 s while it lasts).
    case alone(seeds: [GossipAddress], since: Duration)
}
