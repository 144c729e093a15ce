import HeraldCore
import Testing

@Suite struct RealTimeBudgetTests {
    @Test func allowsRealTimeUntilTheBudgetIsSpentThenAgainInTheNextWindow() {
        var budget = RealTimeBudget(window: .seconds(1), budget: .milliseconds(100))
        // (CPU used in all, now) in milliseconds: the first window starts at 10 s; 100 ms
        // spent by 10.4 s; CPU used at normal priority does not refill it; a new window at
        // 11 s, spent again by 11.5 s.
        let steps: [(cpu: Int64, now: Int64)] = [(5000, 10_000), (5099, 10_300), (5100, 10_400), (5100, 10_999),
                                                 (5400, 11_000), (5500, 11_500)]
        let allowed = steps.map { budget.allows(cpu: .milliseconds($0.cpu), now: .milliseconds($0.now)) }
        #expect(allowed == [true, true, false, false, true, false])
    }

    @Test func aFloodGetsAtMostTheBudgetOfEverySecond() {
        // A thread that would take all of its CPU at real-time priority: each step of 10 ms
        // it runs at real time, it uses 10 ms; at normal priority, it shares (here: 5 ms).
        var budget = RealTimeBudget()
        var cpu = Duration.zero
        var realTime = Duration.zero
        for step in 0..<1000 {
            let now = Duration.milliseconds(10 * step)
            let allowed = budget.allows(cpu: cpu, now: now)
            if allowed {
                cpu += .milliseconds(10)
                realTime += .milliseconds(10)
            } else {
                cpu += .milliseconds(5)
            }
        }
        #expect(realTime <= .milliseconds(100 * 10), "at most 100 ms of each of the 10 seconds: \(realTime)")
        #expect(realTime >= .milliseconds(90 * 10))
    }
}
