import HeraldCore
import Testing

@Suite struct LeaseCadenceTests {
    @Test func newsGoesToTheNodeMachineAndAnIdleLoopRenewsEveryHalfLeaseItself() {
        var cadence = LeaseCadence(lease: .milliseconds(300))
        let ms = Duration.milliseconds(1)
        // (now, view changed, asked to wake by) → what the turn does about the lease
        let turns: [(Duration, Bool, Duration?)] = [
            (ms * 0, false, nil),        // the first turn: renew
            (ms * 50, false, ms * 50),   // on time, idle, renewed 50 ms ago: nothing
            (ms * 100, true, ms * 100),  // the view changed: to the node machine
            (ms * 200, false, ms * 200), // idle, 100 ms after the last renewal: nothing
            (ms * 250, false, ms * 250), // half a lease since: renew
            (ms * 400, false, ms * 320), // 80 ms late, more than a quarter lease: to the node machine
        ]
        let renewals = turns.map { cadence.renewal(now: $0.0, viewChanged: $0.1, wakeBy: $0.2) }
        #expect(renewals == [.renew, .none, .post, .none, .renew, .post])
        #expect(cadence.longestSleep == ms * 100)
    }

    @Test func workIsOnTimeUpToHalfALease() {
        let cadence = LeaseCadence(lease: .milliseconds(300))
        #expect(cadence.isOnTime(backlog: .milliseconds(150)))
        #expect(!cadence.isOnTime(backlog: .milliseconds(151)))
    }

    /// Stopped in the middle of a turn, the loop wakes on time for the next one; the turn's
    /// own length is what shows it (t_failover once saw the resumed node answer beside the
    /// new owner: an idle renewal revived its stale assignment).
    @Test func aTurnLongerThanAQuarterLeaseIsAStall() {
        let cadence = LeaseCadence(lease: .milliseconds(300))
        #expect(!cadence.stalled(from: .milliseconds(1000), to: .milliseconds(1075)))
        #expect(cadence.stalled(from: .milliseconds(1000), to: .milliseconds(1076)))
    }
}
