import HeraldCore
import Testing

@Suite struct CheckStateTests {
    @Test func startsFailingAndNeedsRiseThenFallInARow() {
        var state = CheckState()
        #expect(!state.passing)
        let results = [true, true, false, true, false, false, false].map { state.record($0, rise: 2, fall: 3) }
        // Passing after the second pass; a pass in between resets the failure streak;
        // failing again after three failures in a row.
        #expect(results == [false, true, false, false, false, false, true])
        #expect(!state.passing)
    }
}
