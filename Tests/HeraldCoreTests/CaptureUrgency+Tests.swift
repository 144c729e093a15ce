import HeraldCore
import Testing

@Suite struct CaptureUrgencyTests {
    @Test func realTimeOnlyWhileFramesWaitAndForAWhileAfter() {
        var urgency = CaptureUrgency()
        var history: [Bool] = []
        for (frames, drops, second) in [(1, 0, 1), (31, 0, 2), (32, 0, 3), (2, 0, 7), (2, 0, 8), (0, 3, 9)] as [(Int, UInt64, Int64)] {
            urgency.after(frames: frames, drops: drops, now: .seconds(second))
            history.append(urgency.realtime)
        }
        // Idle, a little work: normal priority; a backlog: real-time, held 5 s after it,
        // then normal again; kernel drops: real-time.
        #expect(history == [false, false, true, true, false, true])
    }
}
