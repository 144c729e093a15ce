/// Protocol timings. The three profiles trade failover speed against tolerance of loss
/// and scheduling hiccups; see docs/gossip.md for the figures behind them.
public struct MembershipSettings: Equatable, Sendable {
    /// One probe per member per interval (scaled up by the local health multiplier).
    public var probeInterval: Duration
    /// Time to wait for a direct ack before asking others to probe indirectly.
    public var probeTimeout: Duration
    /// How many members to ask for an indirect probe.
    public var indirectChecks: Int
    /// Suspicion timeout floor, in probe intervals (times log10 of the cluster size).
    public var suspicionMinIntervals: Int
    /// Suspicion timeout ceiling as a multiple of the floor.
    public var suspicionMaxMultiplier: Int
    /// Independent confirmations that shrink a suspicion to its floor (Lifeguard).
    public var suspicionConfirmations: Int
    /// Retransmissions of each update: this times log10(cluster size + 1), rounded up.
    public var retransmitMultiplier: Int
    /// Full-state sync with one random member (anti-entropy).
    public var pushPullInterval: Duration
    /// One dead member in turn is pinged, and gets a full state if it answers, so
    /// partitions heal soon after they end.
    public var reconnectInterval: Duration
    /// Retry joining the configured peers while alone.
    public var joinRetryInterval: Duration
    /// Local health multiplier ceiling (Lifeguard).
    public var maxAwareness: Int
    /// How long to remember dead members (for partition healing and refutation).
    public var deadRetention: Duration
    /// Budget for piggybacked updates in one packet.
    public var piggybackBytes: Int
    /// Members this node keeps, at most (the oldest departed ones make room first); more
    /// are refused and counted. Every map keyed by what peers say is bounded by it.
    public var maxMembers: Int
    /// Bytes of one full-state (push-pull) message, at most: a larger state goes as
    /// several, each well within a datagram.
    public var fullStateBytes: Int
    /// How long an address that answered a ping of ours may be sent a full state without
    /// being pinged again.
    public var verificationLifetime: Duration

    public init(probeInterval: Duration, probeTimeout: Duration, indirectChecks: Int = 3, suspicionMinIntervals: Int,
                suspicionMaxMultiplier: Int, suspicionConfirmations: Int = 2, retransmitMultiplier: Int = 4,
                pushPullInterval: Duration, reconnectInterval: Duration, joinRetryInterval: Duration = .seconds(1),
                maxAwareness: Int = 8, deadRetention: Duration = .seconds(3600), piggybackBytes: Int = 1200,
                maxMembers: Int = 2048, fullStateBytes: Int = 16 * 1024, verificationLifetime: Duration = .seconds(60)) {
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.indirectChecks = indirectChecks
        self.suspicionMinIntervals = suspicionMinIntervals
        self.suspicionMaxMultiplier = suspicionMaxMultiplier
        self.suspicionConfirmations = suspicionConfirmations
        self.retransmitMultiplier = retransmitMultiplier
        self.pushPullInterval = pushPullInterval
        self.reconnectInterval = reconnectInterval
        self.joinRetryInterval = joinRetryInterval
        self.maxAwareness = maxAwareness
        self.deadRetention = deadRetention
        self.piggybackBytes = piggybackBytes
        self.maxMembers = maxMembers
        self.fullStateBytes = fullStateBytes
        self.verificationLifetime = verificationLifetime
    }

    /// The shortest a suspicion lasts in a small cluster: the soonest a member that stops
    /// answering can be declared dead. The daemon uses it as the ownership lease and as the
    /// longest stall it tolerates.
    public var suspicionFloor: Duration { probeInterval * suspicionMinIntervals }

    /// Default: sub-second failover on a LAN, robust to 10 % loss.
    public static let lan = MembershipSettings(
        probeInterval: .milliseconds(50), probeTimeout: .milliseconds(25), suspicionMinIntervals: 6,
        suspicionMaxMultiplier: 5, pushPullInterval: .seconds(10), reconnectInterval: .milliseconds(250))

    /// Faster detection for quiet, well-behaved links; less margin for loss and stalls.
    public static let fast = MembershipSettings(
        probeInterval: .milliseconds(25), probeTimeout: .milliseconds(12), suspicionMinIntervals: 5,
        suspicionMaxMultiplier: 6, pushPullInterval: .seconds(10), reconnectInterval: .milliseconds(250))

    /// memberlist-like WAN-tolerant timings: seconds, not milliseconds.
    public static let conservative = MembershipSettings(
        probeInterval: .seconds(1), probeTimeout: .milliseconds(500), suspicionMinIntervals: 4,
        suspicionMaxMultiplier: 6, pushPullInterval: .seconds(30), reconnectInterval: .seconds(2))
}
