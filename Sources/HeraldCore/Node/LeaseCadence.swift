/// The rhythm between the gossip loop and the node machine. Each gossip turn the node
/// machine hears of (`NodeMachine.onTurn`) renews what the links answer for a `lease`; this
/// says when the loop must post a turn and how long it may sleep, so answers never lapse
/// while the cluster is idle, and a stall is reported the moment the loop wakes from it.
/// And the other way: gossip acks probes only while the node's own work is on time.
public struct LeaseCadence: Sendable {
    public let lease: Duration
    private var lastPosted: Duration?

    public init(lease: Duration) { self.lease = lease }

    /// The longest the gossip loop may sleep: a third of the lease.
    public var longestSleep: Duration { lease / 3 }

    /// Whether the turn at `now` goes to the node machine: when the view changed, when the
    /// loop woke more than a quarter lease after `wakeBy` (the machine tells a stall from
    /// idleness), and otherwise every half lease. Not every turn: each post wakes the node
    /// loop.
    public mutating func shouldPost(now: Duration, viewChanged: Bool, wakeBy: Duration?) -> Bool {
        let late = wakeBy.map { now - $0 > lease / 4 } ?? false
        guard viewChanged || late || lastPosted.map({ now - $0 >= lease / 2 }) ?? true else { return false }
        lastPosted = now
        return true
    }

    /// Whether this node's own work (the node machine's backlog of turns, the latest link
    /// loop) is on time: at most half a lease behind. A node that is not acks no probe, so
    /// its peers take its VIPs over instead of it staying half alive.
    public func isOnTime(backlog: Duration) -> Bool { backlog <= lease / 2 }
}
