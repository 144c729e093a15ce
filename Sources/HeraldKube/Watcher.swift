import FoundationEssentials
import Glibc
import HeraldSystem
import Synchronization

/// Retry delays after errors: doubling from `initial` to `maximum`, each with ±20 %
/// jitter so that many daemons do not hit a recovering API server in step. Pure: the
/// randomness comes in.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    public mutating func next(using random: inout some RandomNumberGenerator) -> Duration {
        let base = min(initial * (1 << min(attempt, 20)), maximum)
        attempt += 1
        return base * Double.random(in: 0.8...1.2, using: &random)
    }

    public mutating func reset() { attempt = 0 }
}

/// Keeps a local copy of one kind of object current, the way client-go's reflector does:
/// list (remembering the resourceVersion), then watch from that version with bookmarks;
/// when the watch ends, watch again from the last version seen; on 410 Gone list again;
/// on errors back off with jitter and list again; and list again every `resync` anyway.
/// Blocking: `run()` belongs on a dedicated thread, `stop()` ends it from anywhere.
public final class Watcher<Object: KubeObject>: Sendable {
    public typealias Update = ObjectUpdate<Object>

    public let path: String
    public let resync: Duration
    private let http: KubeHTTP
    private let stream: KubeHTTP
    private let onUpdate: @Sendable (Update) -> Void
    private let onError: @Sendable (KubeError, _ retryIn: Duration) -> Void
    /// Told about each object that does not decode (left out, the rest kept).
    private let onSkip: @Sendable (String) -> Void
    private let stopping = Atomic<Bool>(false)
    /// Ends a back-off wait at once when stopped.
    private let wake = WakeSignal()

    /// `path`: the collection, e.g. `/api/v1/services`.
    public init(credentials: KubeCredentials, path: String, resync: Duration = .seconds(600),
                onUpdate: @escaping @Sendable (Update) -> Void,
                onError: @escaping @Sendable (KubeError, Duration) -> Void,
                onSkip: @escaping @Sendable (String) -> Void = { _ in }) throws(KubeError) {
        self.path = path
        self.resync = resync
        http = try KubeHTTP(credentials: credentials)
        stream = try KubeHTTP(credentials: credentials)
        self.onUpdate = onUpdate
        self.onError = onError
        self.onSkip = onSkip
    }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        http.stop()
        stream.stop()
    }

    public func run() {
        var random = SystemRandomNumberGenerator()
        var backoff = Backoff()
        while !stopping.load(ordering: .relaxed) {
            do {
                var version = try list()
                backoff.reset()
                let listedAt = ContinuousClock.now
                // Watch until the resync is due; each watch runs at most 5 minutes.
                while ContinuousClock.now - listedAt < resync {
                    let started = ContinuousClock.now
                    guard let next = try watch(from: version) else { break }
                    version = next
                    // A server that ends every watch at once must not get a tight loop.
                    if ContinuousClock.now - started < .seconds(1) { sleep(.seconds(1)) }
                }
            } catch .stopped {
                return
            } catch {
                let delay = backoff.next(using: &random)
                onError(error, delay)
                sleep(delay)
            }
        }
    }

    /// Lists everything; returns the version to watch from.
    private func list() throws(KubeError) -> String {
        let body = try http.request("GET", path)
        let decoded: ObjectList<Object>
        do {
            decoded = try JSONDecoder().decode(ObjectList<Object>.self, from: Data(body))
        } catch {
            throw KubeError.malformed("list \(path): \(error)")
        }
        for reason in decoded.skipped { onSkip("list \(path): \(reason)") }
        onUpdate(.replaced(decoded.items))
        return decoded.metadata.resourceVersion ?? "0"
    }

    /// One watch from `version`. Returns the version to continue from, or nil when the
    /// version is too old (410) and a list is needed.
    private func watch(from version: String) throws(KubeError) -> String? {
        var current = version
        var gone = false
        var failure: KubeError?
        let separator = path.contains("?") ? "&" : "?"
        do {
            // The server ends a watch after timeoutSeconds; the deadline catches one that does not.
            try stream.stream("\(path)\(separator)watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=\(version)",
                              idleLimit: .seconds(90), deadline: .seconds(330)) { line in
                do {
                    switch try WatchEvent<Object>.decode(line) {
                    case .added(let object):
                        current = object.metadata.resourceVersion ?? current
                        onUpdate(.added(object))
                    case .modified(let object):
                        current = object.metadata.resourceVersion ?? current
                        onUpdate(.modified(object))
                    case .deleted(let object):
                        current = object.metadata.resourceVersion ?? current
                        onUpdate(.deleted(object))
                    case .bookmark(let next):
                        if !next.isEmpty { current = next }
                    case .error(let status):
                        if status.code == 410 { gone = true } else { failure = .status(status.code ?? 0, status.message ?? "watch error") }
                        return false
                    }
                    return true
                } catch KubeError.malformed(let message) where !message.hasPrefix("watch event type") {
                    // One object that does not decode: skip it, keep watching.
                    onSkip("watch \(path): \(message)")
                    return true
                } catch let error as KubeError {
                    failure = error
                    return false
                } catch {
                    failure = .malformed("\(error)")
                    return false
                }
            }
        } catch KubeError.gone {
            return nil
        }
        if let failure { throw failure }
        return gone ? nil : current
    }

    private func sleep(_ delay: Duration) {
        let deadline = ContinuousClock.now + delay
        while !stopping.load(ordering: .relaxed) {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return }
            let (seconds, attoseconds) = left.components
            wake.wait(milliseconds: Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
        }
    }
}
