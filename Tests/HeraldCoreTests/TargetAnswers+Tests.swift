import HeraldCore
import HeraldWire
import Testing

@Suite struct TargetAnswersTests {
    let service = IPAddress("198.51.100.100")!
    let n1 = IPAddress("198.51.100.31")!
    let n3 = IPAddress("198.51.100.33")!
    let mac1 = MACAddress("02:00:00:00:00:1f")!
    let mac3 = MACAddress("02:00:00:00:00:21")!
    let ms = Duration.milliseconds(1)

    @Test func answersOnlyWithAReachableTargetAndCountsAChangeAcrossAGap() {
        var answers = TargetAnswers(settings: .init(interval: .milliseconds(100)))
        var targets = LinkTargets(nodeFor: [service: n1], names: [n1: "n1", n3: "n3"])
        _ = answers.update(targets, now: .zero)
        _ = answers.onTick(now: .zero)
        #expect(answers.answerMACs(for: [service], targets: targets).isEmpty, "not resolved yet")
        _ = answers.onAnswer(n1, mac: mac1, now: ms)
        #expect(answers.answerMACs(for: [service], targets: targets) == [service: mac1])
        #expect(answers.retargeted([service: mac1], servable: [service]).isEmpty)
        #expect(answers.nodes[n1] == NodeReach(name: "n1", state: .reachable, mac: mac1))

        // n1 goes silent: unanswered, then not answered at all until the new target is known.
        for tick in 1...4 { _ = answers.onTick(now: ms * (100 * tick)) }
        #expect(answers.nodes[n1]?.state == .unreachable)
        #expect(answers.answerMACs(for: [service], targets: targets).isEmpty)
        #expect(answers.retargeted([:], servable: [service]).isEmpty)
        targets.nodeFor = [service: n3]
        _ = answers.update(targets, now: ms * 401)
        #expect(answers.tracker.watched == [n1, n3], "n1 stays watched while listed, to see it come back")
        _ = answers.onTick(now: ms * 401)
        _ = answers.onAnswer(n3, mac: mac3, now: ms * 402)
        #expect(answers.answerMACs(for: [service], targets: targets) == [service: mac3])
        #expect(answers.retargeted([service: mac3], servable: [service]) == [service])
        #expect(answers.retargeted([service: mac3], servable: [service]).isEmpty)
    }

    @Test func localModeWatchesNothing() {
        var answers = TargetAnswers(settings: .init(interval: .milliseconds(100)))
        #expect(answers.update(nil, now: .zero).isEmpty)
        #expect(answers.onTick(now: .zero).isEmpty)
        #expect(answers.tracker.nextDeadline == nil)
    }
}
