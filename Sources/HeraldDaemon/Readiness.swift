/// Collects "ready" from every link so `READY=1` goes to systemd only once each link is
/// open and has sent its first announcements.
public actor Readiness {
    private var pending: Set<String>
    private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0

    public init(links: [String]) { pending = Set(links) }

    func markReady(_ link: String) {
        pending.remove(link)
        if pending.isEmpty { resumeAll() }
    }

    /// Returns once every link is ready, or when the calling task is cancelled (a
    /// shutdown before the daemon was ready must not wait for it).
    public func waitUntilReady() async {
        if pending.isEmpty { return }
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if pending.isEmpty || Task.isCancelled {
                    continuation.resume()
                } else {
                    waiters[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.resume(id) }
        }
    }

    private func resume(_ id: Int) { waiters.removeValue(forKey: id)?.resume() }

    private func resumeAll() {
        let all = waiters.values
        waiters.removeAll()
        all.forEach { $0.resume() }
    }
}
