import FoundationEssentials
import HeraldCore
import Testing

/// The docs name what the code does: a setting that a reload refuses is listed where a user
/// reads about reloading, in docs/configuration.md and heraldd(8).
@Suite struct DocsAgreeTests {
    static func read(_ relative: String) throws -> String {
        let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appending(path: relative), encoding: .utf8)
    }

    /// How a key is written in prose: whole sections as `[gossip]`, `gossip.bind` as `bind`
    /// after a `[gossip]`, others as themselves.
    static func mentioned(_ key: String, in text: String) -> Bool {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        if ["gossip", "metrics", "kubernetes", "tuning"].contains(parts[0]) {
            return text.contains("[\(parts[0])]") && (parts.count == 1 || parts[0] != "gossip" || text.contains(parts[1]))
        }
        return text.contains(key) || text.contains(parts.last!)
    }

    @Test(arguments: ["docs/configuration.md", "man/heraldd.8"])
    func everyRestartOnlySettingIsListed(file: String) throws {
        let text = try Self.read(file)
        let section: Substring
        if file.hasSuffix(".md") {
            let start = try #require(text.firstRange(of: "## Reloading"))
            section = text[start.lowerBound...].prefix(3000)
        } else {
            let start = try #require(text.firstRange(of: ".B SIGHUP"))
            section = text[start.lowerBound...].prefix(2000)
        }
        let missing = ConfigChange.restartOnly.filter { !Self.mentioned($0, in: String(section).replacing("\\", with: "")) }
        #expect(missing.isEmpty, "\(file) does not list \(missing) among the settings a reload refuses")
    }
}
