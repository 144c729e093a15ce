/// Rise/fall hysteresis for one health check: a failing check needs `rise` passes in a
/// row to pass, a passing one `fall` failures in a row to fail. Starts failing, so a node
/// is not elected for a VIP before its check has passed.
public struct CheckState: Equatable, Sendable {
    public private(set) var passing = false
    private var streak = 0

    public init() {}

    /// Records one result; returns true when `passing` changed.
    public mutating func record(_ ok: Bool, rise: Int, fall: Int) -> Bool {
        if ok == passing {
            streak = 0
            return false
        }
        streak += 1
        guard streak >= (ok ? rise : fall) else { return false }
        passing = ok
        streak = 0
        return true
    }
}
