import FoundationEssentials
import HeraldSystem

/// What `heraldctl sync` last did: it writes this to STATE/status.json after every run,
/// and heraldd's /metrics reports it (`herald_sync_*`).
public struct SyncStatus: Codable, Equatable, Sendable {
    /// Where the packaged herald-sync.service keeps it.
    public static let defaultPath = "/var/lib/herald/sync/status.json"

    /// applied, unchanged, invalid, refused, fetch-failed or decrypt-failed.
    public var result: String
    /// The repository's revision it ran on (none when it could not fetch).
    public var revision: String?
    public var message: String
    /// Unix time of this run.
    public var lastRun: Double
    /// Unix time of the last run that left this host on its repository's config, and that revision.
    public var lastSuccess: Double?
    public var successRevision: String?

    public init(result: String, revision: String?, message: String, lastRun: Double, lastSuccess: Double?, successRevision: String?) {
        self.result = result
        self.revision = revision
        self.message = message
        self.lastRun = lastRun
        self.lastSuccess = lastSuccess
        self.successRevision = successRevision
    }

    /// The status at `path`, or nil when there is none (sync never ran) or it does not decode.
    public static func read(_ path: String) -> SyncStatus? {
        guard let text = try? System.readFile(path) else { return nil }
        return try? JSONDecoder().decode(SyncStatus.self, from: Data(Array(text.utf8)))
    }
}
