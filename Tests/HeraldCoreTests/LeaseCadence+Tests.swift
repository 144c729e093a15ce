import HeraldCore
import Testing

@Suite struct LeaseCadenceTests {
    @Test func aTurnGoesEveryHalfLeaseOnAViewChangeAndAfterALateWakeUp() {
        var cadence = LeaseCadence(lease: .milliseconds(300))
        let ms = Duration.milliseconds(1)
        // (now, view changed, asked to wake by) → posted
        let turns: [(Duration, Bool, Duration?)] = [
            (ms * 0, false, nil),        // the first turn
            (ms * 50, false, ms * 50),   // on time, idle: no
            (ms * 100, true, ms * 100),  // the view changed
            (ms * 200, false, ms * 200), // idle, 100 ms after the last post: no
            (ms * 250, false, ms * 250), // half a lease since the last post
            (ms * 400, false, ms * 320), // 80 ms late: more than a quarter lease
        ]
        let posted = turns.map { cadence.shouldPost(now: $0.0, viewChanged: $0.1, wakeBy: $0.2) }
        #expect(posted == [true, false, true, false, true, true])
        #expect(cadence.longestSleep == ms * 100)
    }

    @Test func workIsOnTimeUpToHalfALease() {
        let cadence = LeaseCadence(lease: .milliseconds(300))
        #expect(cadence.isOnTime(backlog: .milliseconds(150)))
        #expect(!cadence.isOnTime(backlog: .milliseconds(151)))
    }
}
