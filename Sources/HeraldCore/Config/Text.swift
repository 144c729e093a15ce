extension String {
    /// Without leading and trailing whitespace and newlines (the `FoundationEssentials`
    /// the daemon links has no `trimmingCharacters(in:)`).
    public var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
