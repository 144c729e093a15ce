/// The rhythm between the gossip loop, the node machine and the links. What the links
/// answer holds for a `lease` after the gossip loop last turned on time: an idle loop renews
/// it itself (no wake-up of the node loop), a turn with news — the view changed, or the loop
/// woke late, which may be a stall — goes to the node machine (`NodeMachine.onTurn`), which
/// decides (a hold-down after a stall) before it renews. This says which, and how long the
/// loop may sleep, so answers never lapse while the cluster is idle. And the other way:
/// gossip acks probes only while the node's own work is on time.
public struct LeaseCadence: Sendable {
    /// What a turn does about the lease.
    public enum Renewal: Equatable, Sendable {
        /// Nothing: renewed less than half a lease ago.
        case none
        /// On time and nothing new: renew the links' lease directly, to `now + lease`.
        case renew
        /// News for the node machine: post the turn; it renews after deciding.
        case post
    }

    public let lease: Duration
    private var lastRenewed: Duration?

    public init(lease: Duration) { self.lease = lease }

    /// The longest the gossip loop may sleep: a third of the lease.
    public var longestSleep: Duration { lease / 3 }

    /// The turn at `now`: posted when the view changed or the loop woke more than a quarter
    /// lease after `wakeBy` (the machine tells a stall from idleness); otherwise renewed
    /// directly every half lease.
    public mutating func renewal(now: Duration, viewChanged: Bool, wakeBy: Duration?) -> Renewal {
        let late = wakeBy.map { now - $0 > lease / 4 } ?? false
        let due = lastRenewed.map { now - $0 >= lease / 2 } ?? true
        guard viewChanged || late || due else { return .none }
        lastRenewed = now
        return viewChanged || late ? .post : .renew
    }

    /// Whether the turn that started at `start` and ended at `end` was itself stopped or
    /// starved: a process stopped in the middle of a turn wakes on time for the next one,
    /// so lateness alone would miss it, and an idle renewal would revive the links' stale
    /// assignment. Such a turn goes to the node machine as one due at its start.
    public func stalled(from start: Duration, to end: Duration) -> Bool { end - start > lease / 4 }

    /// Whether this node's own work (the node machine's backlog of turns, the latest link
    /// loop) is on time: at most half a lease behind. A node that is not acks no probe, so
    /// its peers take its VIPs over instead of it staying half alive.
    public func isOnTime(backlog: Duration) -> Bool { backlog <= lease / 2 }
}
